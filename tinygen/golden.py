"""The golden reference: TensorFlow Lite Micro's own Python interpreter.

`run_tflm(model, inputs)` runs TFLM (tflite_micro.python.tflite_micro.runtime)
on a batch of samples in ONE child process and returns one [N, *output_shape]
array per model output. `run_tflm_many(jobs)` runs several models in one child
(tests: one process start instead of dozens).

TFLM runs in a child process because it can crash hard (e.g. a double free on
some models): the parent then gets a GoldenError, not a dead process. Each
sample is invoked after `reset()` so no state leaks between samples.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tinygen.errors import TinygenError

INSTALL_HINT = "the TFLM Python package (tflite-micro) is not installed: pip install tinygen[dev]"


class GoldenError(TinygenError):
    """TFLM could not run the model (missing, refused it, or crashed)."""


class TflmMissing(GoldenError):
    """tflite_micro is not importable."""


def tflm_available() -> bool:
    try:
        import importlib.util
        return importlib.util.find_spec("tflite_micro") is not None
    except (ImportError, ValueError):
        return False


def _model_bytes(model) -> bytes:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    return Path(model).read_bytes()


def run_tflm(model, inputs: list[np.ndarray], timeout: float = 600.0) -> list[np.ndarray]:
    """Run TFLM on N samples: inputs[i] is [N, *input_shape_i]. Returns [N, *output_shape_j] arrays."""
    result = run_tflm_many([(model, inputs)], timeout=timeout)[0]
    if isinstance(result, Exception):
        raise result
    return result


def run_tflm_many(jobs: list[tuple[object, list[np.ndarray]]], timeout: float = 1200.0) -> list:
    """Several (model, inputs) jobs in one child process.

    Returns, per job, the list of output arrays or a GoldenError (TFLM refused
    the model, or the child died before reaching it).
    """
    if not tflm_available():
        raise TflmMissing(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="tinygen_tflm_") as tmp:
        tmp = Path(tmp)
        for k, (model, inputs) in enumerate(jobs):
            job = tmp / f"job{k:04d}"
            job.mkdir()
            (job / "model.tflite").write_bytes(_model_bytes(model))
            np.savez(job / "inputs.npz", *[np.asarray(a) for a in inputs])
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        try:
            proc = subprocess.run([sys.executable, "-m", "tinygen.golden", str(tmp)],
                                  capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise GoldenError(f"TFLM did not finish within {timeout:.0f} s") from None
        tail = " | ".join((proc.stderr or proc.stdout or "").strip().splitlines()[-3:])
        how = f"exit status {proc.returncode}" if proc.returncode >= 0 else f"signal {-proc.returncode}"
        results: list = []
        for k in range(len(jobs)):
            job = tmp / f"job{k:04d}"
            if (job / "outputs.npz").exists():
                with np.load(job / "outputs.npz") as z:
                    results.append([z[f"arr_{i}"] for i in range(len(z.files))])
            elif (job / "error.txt").exists():
                results.append(GoldenError("TFLM refused this model: " + (job / "error.txt").read_text().strip()))
            else:
                results.append(GoldenError(f"TFLM crashed on this model ({how}): {tail}"))
        return results


def _run_one(runtime, buf: bytes, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import tflite  # the schema package: number of outputs and tensor sizes

    sg = tflite.Model.GetRootAsModel(buf, 0).Subgraphs(0)
    n_out = sg.OutputsLength()
    # Arena: every tensor's bytes (no planning assumed) plus room for TFLM's own structures.
    total = 0
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        count = int(np.prod(t.ShapeAsNumpy())) if not t.ShapeIsNone() else 1
        total += count * 8
    arena = max(256 * 1024, 2 * total + 256 * 1024)
    interp = runtime.Interpreter.from_bytes(buf, arena_size=arena)
    n = inputs[0].shape[0] if inputs else 1
    outs: list[list[np.ndarray]] = []
    for s in range(n):
        interp.reset()
        for i, arr in enumerate(inputs):
            interp.set_input(np.ascontiguousarray(arr[s]), i)
        interp.invoke()
        outs.append([np.array(interp.get_output(j), copy=True) for j in range(n_out)])
    return [np.stack([o[j] for o in outs]) for j in range(n_out)]


def _child(folder: str) -> None:
    """Child-process side: every job folder gets outputs.npz or error.txt."""
    from tflite_micro.python.tflite_micro import runtime

    for job in sorted(Path(folder).glob("job*")):
        buf = (job / "model.tflite").read_bytes()
        with np.load(job / "inputs.npz") as z:
            inputs = [z[f"arr_{i}"] for i in range(len(z.files))]
        try:
            result = _run_one(runtime, buf, inputs)
        except Exception as exc:  # noqa: BLE001 - reported per job to the parent
            (job / "error.txt").write_text(f"{type(exc).__name__}: {exc}")
            continue
        np.savez(job / "outputs.npz", *result)


if __name__ == "__main__":
    _child(sys.argv[1])
