"""`tinygen verify` against a simulated device (no QEMU): a TCP server that
speaks tinygen's device protocol, computes with the reference interpreter and
can be told to get one output byte wrong -- a device that computes wrongly but
sends perfectly good frames. Verify must catch that (exit 1) and must pass
the honest device (exit 0)."""
from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import MODELS

MODEL = MODELS / "mlperf_tiny_ad_fc.tflite"


class SimulatedDevice:
    def __init__(self, model: Path, wrong_sample: int | None = None, model_hash: str | None = None):
        from tinygen.codegen.emit import model_hash_of_file
        from tinygen.model import load_model
        from tinygen.ref import Interpreter

        self.graph = load_model(model)
        self.interp = Interpreter(self.graph)
        self.wrong_sample = wrong_sample
        t_in, t_out = self.graph.input_tensors()[0], self.graph.output_tensors()[0]
        self.t_in, self.t_out = t_in, t_out
        spec = lambda t: {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "bytes": t.nbytes}  # noqa: E731
        self.info = {"protocol": 1, "board": "simulated", "cycle_unit": "cycles", "profile": False,
                     "model": {"name": model.stem, "hash": model_hash or model_hash_of_file(model),
                               "backend": "portable", "inputs": [spec(t_in)], "outputs": [spec(t_out)],
                               "input_bytes": t_in.nbytes, "output_bytes": t_out.nbytes, "layers": []}}
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.invokes = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        from tinygen.device import protocol as p

        conn, _ = self.server.accept()
        reader = p.FrameReader()
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                reader.feed(data)
                while (frame := reader.pop()) is not None:
                    if frame.type == p.CMD_INFO:
                        reply = json.dumps(self.info).encode()
                    elif frame.type == p.CMD_INVOKE:
                        x = np.frombuffer(frame.payload, dtype=self.t_in.dtype).reshape(1, *self.t_in.shape)
                        y = bytearray(self.interp.run([x])[0].tobytes())
                        if self.invokes == self.wrong_sample:
                            y[len(y) // 2] ^= 0x01
                        self.invokes += 1
                        reply = struct.pack("<Q", 1000 + self.invokes) + bytes(y)
                    else:
                        conn.sendall(p.encode_frame(p.RSP_ERROR, frame.seq, bytes([p.ERR_COMMAND]) + b"no"))
                        continue
                    conn.sendall(p.encode_frame(frame.type | p.RESPONSE_FLAG, frame.seq, reply))

    def close(self) -> None:
        self.server.close()


def _verify(url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinygen.cli", "verify", str(MODEL), "--port", url, *extra],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def model(require_shared):
    return MODEL


def test_honest_device_passes(model, tmp_path):
    dev = SimulatedDevice(model)
    try:
        r = _verify(dev.url, "--random", "3", "--seed", "4", "--report", str(tmp_path / "r.json"))
    finally:
        dev.close()
    assert r.returncode == 0, r.stderr
    assert "bit-exact: 3/3" in r.stdout
    rep = json.loads((tmp_path / "r.json").read_text())
    assert [s["bit_exact"] for s in rep["samples"]] == [True, True, True]
    assert rep["cycle_unit"] == "cycles" and rep["cycles_min"] == 1001


def test_one_wrong_byte_fails_with_exit_1(model):
    dev = SimulatedDevice(model, wrong_sample=1)
    try:
        r = _verify(dev.url, "--random", "3")
    finally:
        dev.close()
    assert r.returncode == 1
    assert "MISMATCH" in r.stdout and "bit-exact: 2/3" in r.stdout
    assert "1 of 3 samples differ" in r.stderr


def test_device_running_another_model_fails_with_exit_1(model):
    dev = SimulatedDevice(model, model_hash="0123456789abcdef")
    try:
        r = _verify(dev.url, "--random", "1")
    finally:
        dev.close()
    assert r.returncode == 1
    assert "runs another model" in r.stderr and "0123456789abcdef" in r.stderr


def test_verify_input_file_and_bad_usage(model, tmp_path):
    from tinygen.model import load_model

    t = load_model(model).input_tensors()[0]
    x = np.random.default_rng(0).integers(-128, 128, size=(2, *t.shape), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    dev = SimulatedDevice(model)
    try:
        r = _verify(dev.url, "--input", str(tmp_path / "x.npy"))
    finally:
        dev.close()
    assert r.returncode == 0 and "bit-exact: 2/2" in r.stdout, r.stderr
    # usage errors: one line, exit 2
    r = subprocess.run([sys.executable, "-m", "tinygen.cli", "verify", str(model), "--random", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--port" in r.stderr and "Traceback" not in r.stderr
    np.save(tmp_path / "bad.npy", x.astype(np.float32))
    r = _verify("socket://127.0.0.1:9", "--input", str(tmp_path / "bad.npy"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
