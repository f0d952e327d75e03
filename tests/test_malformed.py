"""Malformed models: tinygen refuses them with one clear line, never a crash or hang.

Mutants of the shared models (../shared/models; seeded, so every run sees the
same ones): bit flips, byte and int32 overwrites, truncation, random bytes
(with and without the TFL3 identifier), zeroed regions and duplicated chunks.
Three in four mutations land in the flatbuffer's structure (tables, vectors,
offsets) rather than inside weight data, where a flip only changes a weight.

Each mutant must either
- raise TinygenError from load_model (a one-line message), or
- load into a Graph that `inspect`'s report handles and on which the
  reference interpreter either refuses with TinygenError (an unsupported op)
  or runs to the end on a random input;
any other exception, or more than PER_MUTANT_SECONDS on one mutant, fails.
Interpreting every loaded mutant would be slow (most differ from the original
only in a weight's value); the interpreter runs once per distinct graph
STRUCTURE (ops, options, shapes, dtypes, quantization, small integer
constants), which is what a mutation can make the interpreter trip over.

A sample of mutants also goes through the real command line (`python -m
tinygen.cli inspect`), checking the exit status (0 or 2) and the one-line,
traceback-free error.
"""
from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tinygen.errors import TinygenError
from tinygen.model import load_model_bytes
from tinygen.model.ir import Graph

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
MUTANTS_PER_MODEL = 110
CLI_SAMPLE = 30
PER_MUTANT_SECONDS = 10.0
SEED = 20261203


def _models() -> list[Path]:
    if not SHARED_MODELS.is_dir():
        pytest.skip(f"shared models folder {SHARED_MODELS} is absent (the fuzzer mutates the real models there)")
    models = sorted(SHARED_MODELS.glob("*.tflite"))
    if not models:
        pytest.skip(f"no .tflite files in {SHARED_MODELS}")
    return models


# ------------------------------------------------------------------ mutants

def _data_regions(buf: bytes) -> list[tuple[int, int]]:
    """Byte ranges of the constant-data vectors (weights); the rest is structure."""
    import tflite

    regions = []
    try:
        model = tflite.Model.GetRootAsModel(buf, 0)
        for i in range(model.BuffersLength()):
            b = model.Buffers(i)
            n = b.DataLength()
            if n > 0:
                o = b._tab.Offset(4)  # field `data`
                start = b._tab.Vector(o)
                regions.append((start, start + n))
    except Exception:
        return []
    return regions


def _position(rng: random.Random, n: int, regions: list[tuple[int, int]]) -> int:
    """A byte position, outside weight data three times in four."""
    if regions and rng.random() < 0.75:
        for _ in range(20):
            p = rng.randrange(n)
            if not any(a <= p < b for a, b in regions):
                return p
    return rng.randrange(n)


def mutate(buf: bytes, rng: random.Random, regions: list[tuple[int, int]]) -> tuple[str, bytes]:
    b = bytearray(buf)
    n = len(b)
    kind = rng.choice(["flip", "overwrite", "int32", "truncate", "random", "zero", "duplicate"])
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            b[_position(rng, n, regions)] ^= 1 << rng.randrange(8)
    elif kind == "overwrite":
        p, k = _position(rng, n, regions), rng.randint(1, 16)
        b[p:p + k] = rng.randbytes(k)
    elif kind == "int32":  # offsets, lengths and indices are 32-bit: hit them with telling values
        p = _position(rng, n - 4, regions) & ~3
        v = rng.choice([0, 1, -1, 2**31 - 1, -2**31, n, n - 4, n + 4, 2**30, rng.randrange(2**32) - 2**31])
        b[p:p + 4] = (v & 0xFFFFFFFF).to_bytes(4, "little")
    elif kind == "truncate":
        b = b[:rng.randrange(n)]
    elif kind == "random":
        b = bytearray(rng.randbytes(rng.randint(0, 4096)))
        if len(b) >= 8 and rng.random() < 0.7:
            b[4:8] = b"TFL3"
    elif kind == "zero":
        p, k = _position(rng, n, regions), rng.randint(1, 256)
        b[p:p + k] = bytes(len(b[p:p + k]))
    else:  # duplicate a chunk somewhere else (shifts every later offset)
        p, k, q = rng.randrange(n), rng.randint(1, 256), rng.randrange(n)
        b[q:q] = b[p:p + k]
    return kind, bytes(b)


def all_mutants() -> list[tuple[str, str, bytes]]:
    """(model name, mutation kind, bytes) for every model, seeded."""
    rng = random.Random(SEED)
    out = []
    for path in _models():
        buf = path.read_bytes()
        regions = _data_regions(buf)
        for _ in range(MUTANTS_PER_MODEL):
            kind, mb = mutate(buf, rng, regions)
            out.append((path.name, kind, mb))
    return out


# ----------------------------------------------------------- in-process check

def _structure_key(g: Graph) -> str:
    h = hashlib.sha1()
    for t in g.tensors:
        h.update(repr((t.shape, t.dtype)).encode())
        if t.quant is not None:
            h.update(t.quant.scale.tobytes() + t.quant.zero_point.tobytes() + bytes([t.quant.axis & 0xFF]))
        if t.data is not None and t.data.dtype.kind in "iu" and t.data.size <= 64:
            h.update(t.data.tobytes())  # paddings, axes, shapes: small integer constants steer kernels
    for op in g.ops:
        h.update(repr((op.type, op.inputs, op.outputs, sorted(op.options.as_dict().items(), key=str))).encode())
    h.update(repr((g.inputs, g.outputs)).encode())
    return h.hexdigest()


def _random_inputs(g: Graph, rng: np.random.Generator) -> list[np.ndarray]:
    xs = []
    for t in g.input_tensors():
        dt = np.dtype(t.dtype)
        shape = (1,) + tuple(t.shape)
        if dt.kind in "iu":
            info = np.iinfo(dt)
            xs.append(rng.integers(info.min, int(info.max) + 1, shape, dtype=dt))
        elif dt.kind == "f":
            xs.append(rng.standard_normal(shape).astype(dt))
        else:
            xs.append(np.zeros(shape, dt))
    return xs


class _Budget:
    """Raise TimeoutError in the main thread after `seconds` (SIGALRM); a no-op elsewhere."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.armed = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")

    def _fire(self, *_):
        raise TimeoutError(f"more than {self.seconds} s")

    def __enter__(self):
        if self.armed:
            self.old = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)
        self.elapsed = time.perf_counter() - self.start
        return False


def check_mutant(buf: bytes, seen: set[str], rng: np.random.Generator) -> str:
    """'refused' / 'unsupported' / 'ran' / 'loaded' (same structure already ran); raises on a bug."""
    try:
        g = load_model_bytes(buf, "mutant")
    except TinygenError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and "Traceback" not in msg, repr(msg)
        return "refused"
    key = _structure_key(g)
    if key in seen:
        return "loaded"
    seen.add(key)
    from tinygen.commands.inspect import format_report, model_report
    from tinygen.ref.interpreter import Interpreter

    format_report(model_report(g))  # `tinygen inspect` (stats, support check) must cope too

    try:
        interp = Interpreter(g)
    except TinygenError:
        return "unsupported"
    try:
        interp.run(_random_inputs(g, rng))
    except TinygenError:
        return "unsupported"
    return "ran"


@pytest.mark.slow
def test_every_mutant_is_refused_cleanly_or_runs():
    mutants = all_mutants()
    assert len(mutants) >= 1000
    seen: set[str] = set()
    rng = np.random.default_rng(SEED)
    outcomes: dict[str, int] = {}
    failures = []
    slowest = (0.0, "")
    for name, kind, buf in mutants:
        label = f"{name} {kind} ({len(buf)} bytes, sha1 {hashlib.sha1(buf).hexdigest()[:12]})"
        try:
            with _Budget(PER_MUTANT_SECONDS) as budget:
                outcome = check_mutant(buf, seen, rng)
        except Exception as exc:  # anything but TinygenError is a bug: collect, report all at the end
            failures.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        slowest = max(slowest, (budget.elapsed, label))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(f"\n{len(mutants)} mutants: {outcomes}; slowest {slowest[0]:.2f} s ({slowest[1]})")
    assert not failures, f"{len(failures)} mutants broke tinygen:\n" + "\n".join(failures[:20])
    # the fuzzer must exercise both sides, or it is not testing anything
    assert outcomes.get("refused", 0) > 100 and outcomes.get("ran", 0) + outcomes.get("loaded", 0) > 100


@pytest.mark.slow
def test_command_line_refuses_mutants_with_one_line(tmp_path):
    """A sample through `python -m tinygen.cli inspect`: exit 0 or 2, one line on stderr, no traceback."""
    mutants = all_mutants()
    rng = random.Random(SEED + 1)
    rng.shuffle(mutants)
    refused, loaded = [], []
    for m in mutants:  # classify just enough of them
        if len(refused) >= CLI_SAMPLE - 5 and len(loaded) >= 5:
            break
        try:
            load_model_bytes(m[2], "mutant")
            if len(loaded) < 5:
                loaded.append((m, 0))
        except TinygenError:
            if len(refused) < CLI_SAMPLE - 5:
                refused.append((m, 2))
    problems = []
    procs = []
    for k, ((name, kind, buf), expect) in enumerate(refused + loaded):
        f = tmp_path / f"mutant_{k}_{kind}.tflite"
        f.write_bytes(buf)
        procs.append((f, name, expect))

    def run(item):
        f, name, expect = item
        return item, subprocess.run([sys.executable, "-m", "tinygen.cli", "inspect", str(f)],
                                    capture_output=True, text=True, timeout=120)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, procs))
    for (f, name, expect), proc in results:
        lines = proc.stderr.strip().splitlines()
        if proc.returncode != expect:
            problems.append(f"{f.name} ({name}): exit {proc.returncode}, expected {expect}: {proc.stderr.strip()}")
        elif expect == 2 and (len(lines) != 1 or not lines[0].startswith(f"error: {f}: ")):
            problems.append(f"{f.name}: stderr is not one 'error: <file>: ...' line: {proc.stderr!r}")
        if "Traceback" in proc.stderr or "Traceback" in proc.stdout:
            problems.append(f"{f.name}: traceback shown")
    assert not problems, "\n".join(problems)


# ------------------------------------------------- what the fuzzer found, pinned
# Each was a crash or a runaway allocation before the reader checked for it.

def _fc(x_shape=(1, 4), y_shape=(1, 2), y_zp=0, x_scale=0.5):
    from flatbuffer_builder import T, single_op_model

    return single_op_model(
        "FULLY_CONNECTED",
        inputs=[T("x", x_shape, "int8", x_scale, 0), T("w", (2, 4), "int8", 0.1, 0, data=np.ones((2, 4))),
                T("b", (2,), "int32", 0.05, 0, data=np.zeros(2))],
        outputs=[T("y", y_shape, "int8", 0.25, y_zp)],
        options=("FullyConnectedOptions", {"fused_activation_function": 0}))


def _conv(dilation=1, kernel=3, padding=0):
    from flatbuffer_builder import T, single_op_model

    return single_op_model(
        "CONV_2D",
        inputs=[T("x", (1, 8, 8, 1), "int8", 0.5, 0),
                T("w", (2, kernel, kernel, 1), "int8", [0.1, 0.2], 0, data=np.ones((2, kernel, kernel, 1)), axis=0),
                T("b", (2,), "int32", [0.05, 0.1], 0, data=np.zeros(2))],
        outputs=[T("y", (1, 8, 8, 2), "int8", 0.25, 0)],
        options=("Conv2DOptions", {"padding": padding, "stride_w": 1, "stride_h": 1,
                                   "dilation_w_factor": 1, "dilation_h_factor": dilation}))


@pytest.mark.parametrize("build,match", [
    (lambda: _fc(x_shape=(1 << 20, 1 << 20, 1 << 20, 4)), r"tinygen accepts tensors up to"),  # 2**62 elements
    (lambda: _fc(y_zp=300), r"zero point outside the int8 range"),
    (lambda: _fc(x_scale=0.0), r"quantization scale <= 0"),
    (lambda: _fc(x_shape=(1, 0)), r"zero-sized dimension"),
    (lambda: _conv(dilation=1 << 24), r"window spans 33,554,433 rows \(3 taps, dilation 16777216\)"),
    (lambda: _conv(dilation=0), r"option dilation_h_factor is 0"),
])
def test_structural_nonsense_is_a_format_error(build, match):
    pytest.importorskip("flatbuffer_builder")
    with pytest.raises(TinygenError, match=match):
        load_model_bytes(build(), "m")


def test_fully_connected_output_shape_must_follow_from_the_weights():
    """A 2-unit layer declaring a 1x67108880 output: refused before any allocation."""
    pytest.importorskip("flatbuffer_builder")
    from tinygen.ref.interpreter import Interpreter

    g = load_model_bytes(_fc(y_shape=(1, 67108880)), "m")
    with pytest.raises(TinygenError, match="does not hold 1x2 values"):
        Interpreter(g)


def test_sound_builder_models_load():
    """The pinned cases above differ from these sound models only in the corrupted field."""
    pytest.importorskip("flatbuffer_builder")
    from tinygen.ref.interpreter import Interpreter

    for buf in (_fc(), _conv(dilation=2, padding=0)):
        g = load_model_bytes(buf, "m")
        Interpreter(g).run(_random_inputs(g, np.random.default_rng(0)))
