"""Reference interpreter speed vs TFLM's Python interpreter, same run, same inputs.

For every model in ../shared/models that tinygen supports: milliseconds per
inference of
- tinygen batched:  Interpreter.run on N samples at once, divided by N
- tinygen single:   Interpreter.run on one sample at a time
- TFLM:             set_input + invoke + get_output per sample (its only mode)
and the ratio tinygen/TFLM (below 1 = tinygen faster). Outputs are also checked
bit for bit, so a fast wrong answer cannot pass unnoticed.

    python benchmarks/bench_interpreter.py [--samples 64] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# TFLM runs on one thread; give numpy's BLAS one too (also faster for these small GEMMs on a busy machine).
# Must be set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"


import numpy as np  # noqa: E402  (after the thread settings above)


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--models", default=str(SHARED))
    args = ap.parse_args(argv)

    from tflite_micro.python.tflite_micro import runtime

    from tinygen.commands.compare import random_inputs
    from tinygen.errors import UnsupportedOpError
    from tinygen.model import load_model
    from tinygen.ref import Interpreter

    models = sorted(Path(args.models).glob("*.tflite"))
    if not models:
        print(f"no models in {args.models}", file=sys.stderr)
        return 2
    rows = []
    for path in models:
        graph = load_model(path)
        try:
            interp = Interpreter(graph)
        except UnsupportedOpError as exc:
            rows.append((path.stem, None, None, None, f"skipped: {exc}"))
            continue
        n = args.samples
        inputs = random_inputs(graph, n, seed=0)
        t_batch = _best(lambda: interp.run(inputs), args.repeat) / n
        ours = interp.run(inputs)
        k = min(n, 16)
        singles = [[a[i:i + 1] for a in inputs] for i in range(k)]
        t_single = _best(lambda: [interp.run(s) for s in singles], args.repeat) / k

        tflm = runtime.Interpreter.from_bytes(path.read_bytes(), arena_size=4 << 20)
        n_out = len(graph.outputs)
        gold = [[None] * n for _ in range(n_out)]

        def run_tflm():
            for s in range(n):
                for i, a in enumerate(inputs):
                    tflm.set_input(a[s], i)
                tflm.invoke()
                for j in range(n_out):
                    gold[j][s] = tflm.get_output(j)

        t_tflm = _best(run_tflm, args.repeat) / n
        exact = all(np.array_equal(o, np.stack(g).reshape(o.shape)) for o, g in zip(ours, gold))
        rows.append((path.stem, t_batch * 1e3, t_single * 1e3, t_tflm * 1e3, "bit-exact" if exact else "MISMATCH"))

    head = f"{'model':<30} {'tinygen batched':>15} {'tinygen single':>14} {'TFLM':>9} {'batched/TFLM':>12} " \
           f"{'single/TFLM':>11}  check"
    print(f"ms per inference, {args.samples} random samples, best of {args.repeat}")
    print(head)
    print("-" * len(head))
    for name, tb, ts, tt, note in rows:
        if tb is None:
            print(f"{name:<30} {'':>15} {'':>14} {'':>9} {'':>12} {'':>11}  {note}")
            continue
        print(f"{name:<30} {tb:>15.3f} {ts:>14.3f} {tt:>9.3f} {tb / tt:>12.2f} {ts / tt:>11.2f}  {note}")
    return 0 if all(r[4] != "MISMATCH" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
