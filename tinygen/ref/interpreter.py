"""The numpy reference interpreter ("host emulator"): runs a Graph bit-exactly
as TFLM's reference kernels do, on N samples at once.

    interp = Interpreter(graph)          # derives every op's params once
    outs = interp.run([x])               # x: [N, *input_shape] -> [[N, *output_shape], ...]

Unsupported ops (or op variants) raise UnsupportedOpError naming the op and its
position when the Interpreter is built, never a wrong answer at run time.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from tinygen.errors import TinygenError, UnsupportedOpError
from tinygen.model.ir import Graph, Op, shape_str
from tinygen.quant.params import derive_op_params
from tinygen.ref import activations, conv, elementwise, fully_connected, pooling, quantize, shape_ops


def _const(graph: Graph, index: int):
    if index < 0:
        return None
    return graph.tensors[index].data


class Interpreter:
    """Bit-exact reference execution of a Graph (see module docstring)."""

    def __init__(self, graph: Graph, params: dict | None = None):
        self.graph = graph
        self.params = {}
        self._steps: list[tuple[Op, Callable, list[int]]] = []
        for op in graph.ops:
            p = params[op.index] if params and op.index in params else derive_op_params(graph, op)
            self.params[op.index] = p
            self._steps.append((op, self._kernel(op, p), self._data_inputs(op)))

    # -- building ----------------------------------------------------------
    def _data_inputs(self, op: Op) -> list[int]:
        """Tensor indices the kernel takes as activations (weights are bound at build time)."""
        t = op.type
        if t in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "RESHAPE", "SQUEEZE", "EXPAND_DIMS",
                 "PAD", "PADV2", "MEAN", "STRIDED_SLICE", "SOFTMAX", "LOGISTIC", "TANH", "RELU", "RELU6",
                 "RELU_N1_TO_1", "LEAKY_RELU", "HARD_SWISH", "QUANTIZE", "DEQUANTIZE", "AVERAGE_POOL_2D",
                 "MAX_POOL_2D"):
            return [op.inputs[0]]
        if t in ("ADD", "SUB", "MUL"):
            return [op.inputs[0], op.inputs[1]]
        if t == "CONCATENATION":
            return list(op.inputs)
        raise UnsupportedOpError(t, op.index, "tinygen has no kernel for this op")

    def _kernel(self, op: Op, p) -> Callable:
        g = self.graph
        t = op.type
        if t == "CONV_2D":
            w, b = _const(g, op.inputs[1]), _const(g, op.inputs[2] if len(op.inputs) > 2 else -1)
            prep = conv.prepare_conv2d(p, w, b)
            return lambda x: conv.conv2d(p, x, w, b, prep)
        if t == "DEPTHWISE_CONV_2D":
            w, b = _const(g, op.inputs[1]), _const(g, op.inputs[2] if len(op.inputs) > 2 else -1)
            prep = conv.prepare_depthwise_conv2d(p, w, b)
            return lambda x: conv.depthwise_conv2d(p, x, w, b, prep)
        if t == "FULLY_CONNECTED":
            w, b = _const(g, op.inputs[1]), _const(g, op.inputs[2] if len(op.inputs) > 2 else -1)
            prep = fully_connected.prepare_fully_connected(p, w, b)
            return lambda x: fully_connected.fully_connected(p, x, w, b, prep)
        simple = {
            "AVERAGE_POOL_2D": pooling.average_pool2d, "MAX_POOL_2D": pooling.max_pool2d,
            "ADD": elementwise.add_sub, "SUB": elementwise.add_sub, "MUL": elementwise.mul,
            "SOFTMAX": activations.softmax, "LOGISTIC": activations.logistic, "TANH": activations.tanh,
            "RELU": activations.relu, "RELU6": activations.relu, "RELU_N1_TO_1": activations.relu,
            "LEAKY_RELU": activations.leaky_relu, "HARD_SWISH": activations.hard_swish,
            "QUANTIZE": quantize.quantize, "DEQUANTIZE": quantize.dequantize,
            "RESHAPE": shape_ops.reshape, "SQUEEZE": shape_ops.reshape, "EXPAND_DIMS": shape_ops.reshape,
            "PAD": shape_ops.pad, "PADV2": shape_ops.pad, "CONCATENATION": shape_ops.concatenation,
            "STRIDED_SLICE": shape_ops.strided_slice, "MEAN": shape_ops.mean,
        }
        fn = simple.get(t)
        if fn is None:
            raise UnsupportedOpError(t, op.index, "tinygen has no kernel for this op")
        return lambda *xs: fn(p, *xs)

    # -- running -----------------------------------------------------------
    def run(self, inputs: list[np.ndarray], keep: bool = False) -> list[np.ndarray]:
        """Run N samples: inputs[i] is [N, *graph input i shape] of its dtype.

        Returns one [N, *output shape] array per graph output. With keep=True the
        intermediate tensors stay available in `self.values` (tensor index -> array).
        """
        g = self.graph
        if len(inputs) != len(g.inputs):
            raise TinygenError(f"model has {len(g.inputs)} inputs, got {len(inputs)}")
        n = None
        values: dict[int, np.ndarray] = {}
        for idx, arr in zip(g.inputs, inputs):
            t = g.tensors[idx]
            arr = np.asarray(arr)
            if arr.dtype != np.dtype(t.dtype) or tuple(arr.shape[1:]) != tuple(t.shape):
                raise TinygenError(
                    f"input '{t.name}' must be [N, {shape_str(t.shape)}] {t.dtype}, "
                    f"got {shape_str(arr.shape)} {arr.dtype}")
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise TinygenError("all inputs must have the same number of samples")
            values[idx] = arr
        refs = self._last_uses()
        for step, (op, fn, data_ins) in enumerate(self._steps):
            args = []
            for i in data_ins:
                if i in values:
                    args.append(values[i])
                else:
                    t = g.tensors[i]
                    if t.data is None:
                        raise TinygenError(f"op {op.index} ({op.type}) reads tensor '{t.name}' before it is computed")
                    args.append(np.broadcast_to(t.data, (n,) + tuple(t.shape)))
            out = fn(*args)
            values[op.outputs[0]] = out
            if not keep:
                for i in refs.get(step, ()):
                    values.pop(i, None)
        if keep:
            self.values = values
        return [values[i] if i in values else np.broadcast_to(g.tensors[i].data, (n,) + g.tensors[i].shape).copy()
                for i in g.outputs]

    def _last_uses(self) -> dict[int, list[int]]:
        """Step -> tensors no later step reads (freed to keep memory flat on big N)."""
        if hasattr(self, "_free"):
            return self._free
        last: dict[int, int] = {}
        for step, (op, _, ins) in enumerate(self._steps):
            for i in ins:
                last[i] = step
        keep = set(self.graph.outputs)
        free: dict[int, list[int]] = {}
        for i, step in last.items():
            if i not in keep:
                free.setdefault(step, []).append(i)
        self._free = free
        return free


def run_graph(graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """One-shot convenience: Interpreter(graph).run(inputs)."""
    return Interpreter(graph).run(inputs)
