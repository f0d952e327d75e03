"""tinygen's numpy reference interpreter: one module per op family, pure functions
of (params from tinygen.quant.params, numpy arrays), bit-exact with TFLM.

`Interpreter(graph).run([x])` runs a whole graph on N samples at once.
"""
from tinygen.ref.interpreter import Interpreter, run_graph

__all__ = ["Interpreter", "run_graph"]
