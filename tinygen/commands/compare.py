"""`tinygen compare MODEL`: the reference interpreter against TFLM, bit for bit.

Runs the same samples (from --input, or --samples N random full-range ones)
through tinygen's interpreter and TFLM's Python interpreter and prints what the
model contains (ops per type), a row for each sample that differs (largest
difference, and the op whose output diverges first) and for the first few
bit-exact ones (every sample with --verbose), and the bit-exact count. Exit 1 on any mismatch, 2 when TFLM is
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


SHOW_ROWS = 10  # per-sample rows printed without --verbose (every mismatch is shown)


def sample_diffs(ours: list[np.ndarray], gold: list[np.ndarray], n: int) -> list[tuple[bool, float]]:
    """(bit-exact, max |diff|) per sample over every output."""
    rows = []
    for s in range(n):
        exact = True
        worst = 0
        for a, b in zip(ours, gold):
            a_s = np.asarray(a[s])
            b_s = np.asarray(b[s]).reshape(a_s.shape)
            if a_s.dtype.kind == "f":
                d = np.abs(a_s.astype(np.float64) - b_s.astype(np.float64))
                worst = max(worst, float(d.max()) if d.size else 0.0)
                exact &= a_s.tobytes() == b_s.astype(a_s.dtype).tobytes()
            else:
                d = np.abs(a_s.astype(np.int64) - b_s.astype(np.int64))
                worst = max(worst, int(d.max()) if d.size else 0)
                exact &= bool(np.array_equal(a_s, b_s))
        rows.append((bool(exact), worst))
    return rows


_TENSORS_CHILD = """
import sys, numpy as np
from pathlib import Path
from tflite_micro.python.tflite_micro import runtime
import tflite
d = Path(sys.argv[1])
buf = (d / "model.tflite").read_bytes()
sg = tflite.Model.GetRootAsModel(buf, 0).Subgraphs(0)
total = sum(int(np.prod(sg.Tensors(i).ShapeAsNumpy())) * 8 for i in range(sg.TensorsLength())
            if not sg.Tensors(i).ShapeIsNone())
it = runtime.Interpreter.from_bytes(buf, arena_size=max(256 * 1024, 2 * total + 256 * 1024),
                                    intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
with np.load(d / "inputs.npz") as z:
    for i in range(len(z.files)):
        it.set_input(np.ascontiguousarray(z[f"arr_{i}"][0]), i)
it.invoke()
out = {}
for i in range(sg.TensorsLength()):
    name = sg.Tensors(i).Name().decode("utf-8", "replace")
    try:
        out[name] = np.asarray(it.GetTensor(i, 0)["tensor_data"])
    except Exception:
        pass
np.savez(d / "tensors.npz", **{f"t{k}": v for k, v in enumerate(out.values())})
(d / "names.txt").write_text("\\n".join(out))
"""


def intermediate_tensors(model: Path, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Every tensor TFLM computed for ONE sample (inputs [1, *shape]), by tensor name.
    In a child process: TFLM can crash on some models."""
    import os
    import subprocess
    import sys
    import tempfile

    from tinygen.golden import GoldenError

    with tempfile.TemporaryDirectory(prefix="tinygen_cmp_") as tmp:
        d = Path(tmp)
        (d / "model.tflite").write_bytes(Path(model).read_bytes())
        np.savez(d / "inputs.npz", *[np.asarray(a) for a in inputs])
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        try:
            r = subprocess.run([sys.executable, "-c", _TENSORS_CHILD, str(d)], capture_output=True, text=True,
                               timeout=600, env=env)
        except subprocess.TimeoutExpired:
            raise GoldenError("TFLM did not finish") from None
        if r.returncode != 0 or not (d / "tensors.npz").exists():
            tail = (r.stderr or "").strip().splitlines()[-1:] or [f"exit status {r.returncode}"]
            raise GoldenError(f"TFLM could not report its intermediate tensors: {tail[0]}")
        names = (d / "names.txt").read_text().split("\n")
        with np.load(d / "tensors.npz") as z:
            return {name: z[f"t{k}"] for k, name in enumerate(names)}


def first_divergence(model: Path, graph: Graph, inputs: list[np.ndarray], sample: int) -> str | None:
    """Which op's output first differs from TFLM's on `sample`: both sides keep
    every intermediate tensor (TFLM: kPreserveAllTensors, in a child process),
    matched by tensor name in execution order. None when it cannot be told."""
    from tinygen.ref import Interpreter

    try:
        theirs = intermediate_tensors(model, [a[sample:sample + 1] for a in inputs])
    except TinygenError:
        return None
    interp = Interpreter(graph)
    interp.run([a[sample:sample + 1] for a in inputs], keep=True)
    for op in graph.ops:
        for ti in op.outputs:
            t = graph.tensors[ti]
            mine = interp.values.get(ti)
            other = theirs.get(t.name)
            if mine is None or other is None or mine[0].size != other.size:
                continue
            mine0 = np.asarray(mine[0]).reshape(-1)
            other = np.asarray(other).reshape(-1)
            if mine0.dtype != other.dtype or mine0.tobytes() != other.tobytes():
                d = np.abs(mine0.astype(np.float64) - other.astype(np.float64))
                return (f"op {op.index} {op.type} (output '{t.name}'): {int((d != 0).sum())} of {d.size} "
                        f"values differ, max |diff| {d.max():g}")
    return None


@click.command("compare")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--input", "-i", "input_path", type=click.Path(dir_okay=False, path_type=Path), metavar="IN.npy",
              help="samples to compare on ([N, *input_shape]; .npz keyed by name for several inputs)")
@click.option("--samples", "-n", type=click.IntRange(1, 100000), default=None,
              help="compare on N random full-range samples instead (default 16)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed for --samples")
@click.option("--verbose", "-v", is_flag=True, help="a row for every sample (default: every mismatch, "
              f"bit-exact ones up to {SHOW_ROWS} rows, and a count)")
def command(model, input_path, samples, seed, verbose=False):
    """Check the reference interpreter against TFLM bit for bit (exit 1 on any difference).

    The comparison is end to end (every model output, per sample). The op
    table counts the ops per type; for a sample that differs, both
    interpreters' intermediate tensors are compared to name the op whose
    output diverges first.
    """
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
    from tinygen.commands._common import progress_bar

    with progress_bar(total=2, desc="compare", unit="interpreter") as bar:
        bar.set_postfix_str("tinygen")
        ours = run_reference(graph, inputs)
        bar.update(1)
        bar.set_postfix_str("TFLM")
        gold = run_tflm(model, inputs)
        bar.update(1)

    if len(gold) != len(ours):
        raise CheckFailed(f"TFLM produced {len(gold)} outputs, tinygen {len(ours)}")
    rows = sample_diffs(ours, gold, n)
    bad_samples = [s for s, (exact, _) in enumerate(rows) if not exact]

    # Per op type: how many, and for differing samples where the difference starts.
    first: Counter = Counter()
    notes: dict[int, str] = {}
    for s in bad_samples[:3]:  # a few are enough to locate it (each reruns TFLM)
        where = first_divergence(model, graph, inputs, s)
        if where is not None:
            notes[s] = where
            first[where.split()[2]] += 1
    counts = Counter(op.type for op in graph.ops)
    click.echo(f"{model.name}: {len(graph.ops)} ops; end-to-end comparison of every output on {n} sample(s)")
    width = max([len(k) for k in counts] + [len("op type")])
    head = f"  {'op type':<{width}}  {'count':>5}"
    if first:
        head += "  first divergence (of the differing samples checked)"
    click.echo(head)
    for op_type, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        line = f"  {op_type:<{width}}  {c:>5}"
        if first.get(op_type):
            line += f"  {first[op_type]}"
        click.echo(line)

    click.echo("")
    # Every differing sample, then bit-exact ones up to SHOW_ROWS rows (all with --verbose).
    passes = [s for s in range(n) if rows[s][0]]
    room = len(passes) if verbose else max(SHOW_ROWS - len(bad_samples), 0)
    shown = sorted(bad_samples + passes[:room])
    click.echo(f"{'sample':>6}  {'bit-exact':<9}  {'max |diff|':>10}")
    for s in shown:
        exact, worst = rows[s]
        click.echo(f"{s:>6}  {'yes' if exact else 'NO':<9}  {worst:>10}"
                   + (f"  first differs at {notes[s]}" if s in notes else ""))
    if len(passes) > room:
        click.echo(f"... {len(passes) - room} more bit-exact (--verbose lists every sample)")
    click.echo(f"bit-exact: {n - len(bad_samples)}/{n} samples")
    if bad_samples:
        raise CheckFailed(f"{len(bad_samples)} of {n} samples differ from TFLM")
    click.echo(f"all {n} samples bit-exact with TFLM")
