"""The end-to-end flow every example runs, as the `tinygen` commands a user would type.

    data -> tinygen train -> tinygen quantize -> tinygen generate -> tinygen build
         -> tinygen emulate (background QEMU board with the serial bootloader)
         -> tinygen flash -> tinygen verify (bit for bit, on the held-out rows)
         -> accuracy on the device vs float

Each example's run.py calls `main(Example(...))`. Every command is printed
before it runs. Options (run.py --help):

  --out DIR          work folder (default: <example>/out, never the committed files)
  --host-only        stop after quantize (no C build, no emulator)
  --port N           TCP port for the emulated board's serial line (default: a free one)
  --update-models    also copy model.keras/.tflite/.labels.json into the example folder
                     (how the committed models were made)

Accuracy on the device: `tinygen verify` runs the held-out inputs on the board
and compares every output with tinygen's reference interpreter bit for bit.
Classification accuracy on the device is scored from the top-1 class verify's
--report JSON records for every sample as the device answered it; for
regression, verify having passed bit for bit, the device outputs ARE the
reference outputs from `tinygen run`, which this script then scores (and says so).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TINYGEN = [sys.executable, "-m", "tinygen.cli"]
TARGET = "mps2-an386"


@dataclass
class Example:
    name: str
    folder: Path                 # examples/<name>
    data_file: str               # written by make_data.py, e.g. "data.csv"
    train_args: list[str] = field(default_factory=list)


def sh(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    shown = " ".join(shlex.quote(a) for a in (["tinygen"] + args[len(TINYGEN):] if args[:len(TINYGEN)] == TINYGEN
                                                 else args))
    print(f"\n$ {shown}", flush=True)
    proc = subprocess.run(args, cwd=cwd)
    if check and proc.returncode != 0:
        raise SystemExit(f"[{proc.returncode}] command failed: {shown}")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def held_out(out: Path, data_path: Path, meta: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows quantize scored (same reader, same seeded split), as float features and class indices."""
    from tinygen.train import data as D
    from tinygen.train.ptq import load_calibration

    shape = tuple(meta["input_shape"])
    ds = load_calibration(data_path, meta, int(np.prod(shape)))
    if ds.x_test is not None:
        x, y = ds.x_test, ds.y_test
    else:
        _, te = D.split_indices(len(ds.x), float(meta.get("test_fraction", 0.2)), int(meta.get("seed", 0)))
        x, y = ds.x[te], (None if ds.y is None else ds.y[te])
    x = D.reshape_features(x, shape, str(data_path))
    if y is not None and meta.get("task") == "classification":
        y = D.encode_labels(y, meta["labels"], str(data_path))
    elif y is not None:
        y = y.astype(np.float64).reshape(len(y), -1)
    return x, y


def score(outputs: np.ndarray, y: np.ndarray, meta: dict) -> str:
    o = outputs.reshape(len(outputs), -1).astype(np.float64)
    if meta["task"] == "classification":
        return f"accuracy {100 * np.mean(np.argmax(o, 1) == y):.2f}%"
    deq = (o - meta["output_zero_point"]) * meta["output_scale"]
    return f"RMSE {np.sqrt(np.mean((deq - y) ** 2)):.4f}"


def read_report(report: Path) -> dict:
    """verify's --report JSON ({} if absent or unreadable)."""
    try:
        r = json.loads(report.read_text())
    except (OSError, ValueError):
        return {}
    return r if isinstance(r, dict) else {}


def main(ex: Example, argv: list[str] | None = None) -> None:
    """Run the example; Ctrl-C stops the emulator (the finally in _run), says
    'interrupted' and exits 130 -- no traceback."""
    try:
        _run(ex, argv)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr, flush=True)
        raise SystemExit(130) from None


def _run(ex: Example, argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=f"tinygen example '{ex.name}': data to a verified model on an "
                                             "emulated Cortex-M4 board")
    ap.add_argument("--out", type=Path, default=ex.folder / "out")
    ap.add_argument("--host-only", action="store_true", help="stop after quantize")
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--update-models", action="store_true",
                    help="copy the trained/quantized model into the example folder (the committed files)")
    a = ap.parse_args(argv)
    out: Path = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    root = ex.folder.resolve().parents[1]
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = f"{root}{os.pathsep}{env_path}" if env_path else str(root)

    # Commands run inside `out` with relative names, as a user would type them there.
    data = out / ex.data_file
    sh([sys.executable, str(ex.folder.resolve() / "make_data.py"), "-o", ex.data_file], out)
    sh(TINYGEN + ["train", ex.data_file, *ex.train_args, "-o", "model.keras", "--force"], out)
    sh(TINYGEN + ["quantize", "model.keras", "--calibration", ex.data_file, "-o", "model.tflite", "--force"], out)
    meta = json.loads((out / "model.labels.json").read_text())

    if a.update_models:
        same = (ex.folder / "model.tflite").exists() and \
            (ex.folder / "model.tflite").read_bytes() == (out / "model.tflite").read_bytes()
        # A .keras file carries its save date: keep the committed one when it quantizes to the same bytes.
        for f in (("model.tflite", "model.labels.json") if same else ("model.keras", "model.tflite",
                                                                      "model.labels.json")):
            shutil.copyfile(out / f, ex.folder / f)
        # the committed sidecar should not name this machine's work folder
        side = json.loads((ex.folder / "model.labels.json").read_text())
        for k in ("data", "quantized_from", "calibration"):
            if k in side:
                side[k] = Path(side[k]).name
        (ex.folder / "model.labels.json").write_text(json.dumps(side, indent=1) + "\n")
        print(f"\nupdated {ex.folder.name}/model.keras, model.tflite, model.labels.json")

    # Held-out inputs, quantized exactly as the int8 model's input expects, [N, 1, *shape].
    from tinygen.train.ptq import quantize_input

    x, y = held_out(out, data, meta)
    q = quantize_input(x, meta["input_scale"], meta["input_zero_point"])[:, None]
    np.save(out / "heldout_x.npy", q)
    if y is not None:
        np.save(out / "heldout_y.npy", y)
    sh(TINYGEN + ["run", "model.tflite", "--input", "heldout_x.npy", "--output", "host_y.npy", "--force"], out)
    host = np.load(out / "host_y.npy")
    float_m = meta.get("float_metrics", {})
    if a.host_only:
        _summary(ex, meta, float_m, host, y, None, "", time.perf_counter() - t_start)
        return

    fw = out / "fw"
    if fw.exists():
        shutil.rmtree(fw)  # our own work folder from a previous run
    sh(TINYGEN + ["generate", "model.tflite", "-o", "fw", "--target", TARGET], out)
    sh(TINYGEN + ["build", "fw"], out)
    port = a.port or free_port()
    cmd = TINYGEN + ["emulate", TARGET, "--bootloader", "--serial", f"tcp:127.0.0.1:{port}"]
    print(f"\n$ tinygen emulate {TARGET} --bootloader --serial tcp:127.0.0.1:{port} &", flush=True)
    emu = subprocess.Popen(cmd, cwd=out, start_new_session=True)
    try:
        time.sleep(2.0)
        if emu.poll() is not None:
            raise SystemExit(f"the emulator exited ({emu.returncode}) before flashing")
        url = f"socket://127.0.0.1:{port}"
        sh(TINYGEN + ["flash", "fw/build/firmware.bin", "--port", url], out)
        report = out / "verify.json"
        report.unlink(missing_ok=True)  # our own file from a previous run
        v = sh(TINYGEN + ["verify", "model.tflite", "--port", url, "--input", "heldout_x.npy",
                          "--report", "verify.json"], out, check=False)
    finally:
        if emu.poll() is None:
            os.killpg(emu.pid, signal.SIGTERM)  # the process group this script started
            try:
                emu.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(emu.pid, signal.SIGKILL)
    if v.returncode != 0:
        raise SystemExit(f"verify failed (exit {v.returncode}): the device does not match the reference")
    rep = read_report(report)
    samples = rep.get("samples") or []
    if rep.get("count") != len(host) or rep.get("bit_exact") != len(host):
        raise SystemExit(f"verify's report does not show {len(host)} bit-exact samples: {report}")
    top1 = [s.get("top1") for s in samples]
    if meta["task"] == "classification" and len(top1) == len(host) and None not in top1:
        dev = np.eye(len(meta["labels"]), dtype=np.int64)[np.asarray(top1)]  # one-hot of the device's top-1
        how = "top-1 classes the device reported (verify --report)"
    else:
        dev, how = host, "verify: every output bit-exact with the reference, scored here"
    _summary(ex, meta, float_m, host, y, dev, how, time.perf_counter() - t_start,
             bit_exact=(int(rep["bit_exact"]), int(rep["count"])))


def _summary(ex, meta, float_m, host, y, dev, how, seconds, bit_exact: tuple[int, int] | None = None) -> None:
    print(f"\n== {ex.name}: {meta['task']} on {len(host)} held-out rows ==")
    if bit_exact is not None:
        print(f"  bit-exact {bit_exact[0]}/{bit_exact[1]} on the device (every output identical to the "
              "host reference)")
    if meta["task"] == "classification" and "accuracy" in float_m:
        print(f"  float (Keras)            accuracy {100 * float_m['accuracy']:.2f}%")
    elif "rmse" in float_m:
        print(f"  float (Keras)            RMSE {float_m['rmse']:.4f}")
    if y is not None:
        print(f"  int8 host (reference)    {score(host, y, meta)}")
        if dev is not None:
            print(f"  int8 ON THE DEVICE       {score(dev, y, meta)}   ({how})")
            if meta["task"] == "classification":
                pred = np.argmax(dev.reshape(len(dev), -1), 1)
                per = [f"{name} {100 * np.mean(pred[y == k] == k):.1f}% ({int(np.sum(y == k))})"
                       for k, name in enumerate(meta["labels"]) if np.any(y == k)]
                print(f"  on the device per class  {', '.join(per)}")
    print(f"  total {seconds:.0f} s")
