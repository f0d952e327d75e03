"""`tinygen compare MODEL`: the reference interpreter against TFLM, bit for bit.

Runs the same samples (from --input, or --samples N random full-range ones)
through tinygen's interpreter and TFLM's Python interpreter and prints what the
model contains (ops per type) and, per sample, whether every output is
bit-exact and the largest difference. Exit 1 on any mismatch, 2 when TFLM is
not installed or the input is bad.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
import numpy as np

from tinygen.commands.run import load_inputs, run_reference
from tinygen.errors import CheckFailed, TinygenError
from tinygen.model import load_model
from tinygen.model.ir import Graph


def random_inputs(graph: Graph, n: int, seed: int) -> list[np.ndarray]:
    """n full-range random samples per input ([n, *shape], the input's dtype)."""
    rng = np.random.default_rng(seed)
    out = []
    for t in graph.input_tensors():
        dt = np.dtype(t.dtype)
        if dt.kind in "iu":
            info = np.iinfo(dt)
            out.append(rng.integers(info.min, info.max, size=(n,) + tuple(t.shape), dtype=dt, endpoint=True))
        elif dt.kind == "f":
            out.append(rng.standard_normal((n,) + tuple(t.shape)).astype(dt))
        else:
            raise TinygenError(f"cannot make random data for input '{t.name}' of type {t.dtype}")
    return out


@click.command("compare")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--input", "-i", "input_path", type=click.Path(dir_okay=False, path_type=Path), metavar="IN.npy",
              help="samples to compare on ([N, *input_shape]; .npz keyed by name for several inputs)")
@click.option("--samples", "-n", type=click.IntRange(1, 100000), default=None,
              help="compare on N random full-range samples instead (default 16)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed for --samples")
def command(model, input_path, samples, seed):
    """Check the reference interpreter against TFLM bit for bit (exit 1 on any difference)."""
    from tinygen.golden import INSTALL_HINT, run_tflm, tflm_available

    if input_path is not None and samples is not None:
        raise TinygenError("pass either --input or --samples, not both")
    if not tflm_available():
        raise TinygenError(INSTALL_HINT)
    graph = load_model(model)
    if input_path is not None:
        inputs, _ = load_inputs(graph, input_path)
    else:
        inputs = random_inputs(graph, samples or 16, seed)
    n = inputs[0].shape[0]
    ours = run_reference(graph, inputs)
    gold = run_tflm(model, inputs)

    counts = Counter(op.type for op in graph.ops)
    click.echo(f"{model.name}: {len(graph.ops)} ops")
    width = max(len(k) for k in counts) if counts else 4
    for op_type, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        click.echo(f"  {op_type:<{width}}  {c:>3}")

    if len(gold) != len(ours):
        raise CheckFailed(f"TFLM produced {len(gold)} outputs, tinygen {len(ours)}")
    click.echo("")
    click.echo(f"{'sample':>6}  {'bit-exact':<9}  {'max |diff|':>10}")
    bad = 0
    for s in range(n):
        exact = True
        worst = 0
        for a, b in zip(ours, gold):
            a_s = np.asarray(a[s])
            b_s = np.asarray(b[s]).reshape(a_s.shape)
            if a_s.dtype.kind == "f":
                d = np.abs(a_s.astype(np.float64) - b_s.astype(np.float64))
                worst = max(worst, float(d.max()) if d.size else 0.0)
                exact &= np.array_equal(a_s.view(np.uint32) if a_s.dtype == np.float32 else a_s,
                                        b_s.astype(a_s.dtype).view(np.uint32) if a_s.dtype == np.float32 else b_s)
            else:
                d = np.abs(a_s.astype(np.int64) - b_s.astype(np.int64))
                worst = max(worst, int(d.max()) if d.size else 0)
                exact &= bool(np.array_equal(a_s, b_s))
        bad += not exact
        click.echo(f"{s:>6}  {'yes' if exact else 'NO':<9}  {worst:>10}")
    click.echo("")
    if bad:
        raise CheckFailed(f"{bad} of {n} samples differ from TFLM")
    click.echo(f"all {n} samples bit-exact with TFLM")
