"""The device protocol (docs/protocol.md): framing, CRCs, resynchronisation, retries.

Host-side framing is checked on its own; the device side (firmware/common,
C) is checked through a real host firmware, over a link that drops, flips and
inserts bytes in both directions: every answer must still be exactly the
reference interpreter's, and nothing may hang.
"""
from __future__ import annotations

import random
import socket
import struct
import subprocess
import threading
import time
import zlib

import numpy as np
import pytest

from codegen_helpers import generate_host, make
from conftest import MODELS
from tinygen.device.link import Link, ProcessLink, SerialLink
from tinygen.device.protocol import (CMD_INVOKE, CMD_PING, CorruptFrame, DeviceError, DeviceSession, FrameReader,
                                     crc16, encode_frame)
from tinygen.errors import TinygenError


# ---------------------------------------------------------------- framing only

def test_crc_known_values():
    assert crc16(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE check value
    frame = encode_frame(0x02, 7, b"abc")
    assert frame[:2] == b"\xA5\x5A"
    assert struct.unpack_from("<I", frame, len(frame) - 4)[0] == zlib.crc32(frame[2:8] + b"abc")


@pytest.mark.parametrize("payload", [b"", b"\x00", b"\xA5\x5A" * 9, bytes(range(256)) * 3])
def test_round_trip(payload):
    r = FrameReader()
    r.feed(encode_frame(0x82, 200, payload))
    f = r.pop()
    assert (f.type, f.seq, f.payload) == (0x82, 200, payload)
    assert r.pop() is None


def test_every_single_byte_corruption_is_caught():
    frame = encode_frame(0x82, 3, bytes(range(40)))
    for pos in range(len(frame)):
        for flip in (0x01, 0x80, 0xFF):
            bad = bytearray(frame)
            bad[pos] ^= flip
            r = FrameReader()
            r.feed(bytes(bad))
            try:
                got = r.pop()
            except CorruptFrame:
                continue
            assert got is None, f"corrupted byte {pos} accepted"


def test_resync_after_garbage():
    rng = random.Random(1)
    frames = [encode_frame(0x81, k, bytes(rng.randrange(256) for _ in range(rng.randrange(60)))) for k in range(20)]
    stream = b""
    for f in frames:
        stream += bytes(rng.choice([0xA5, 0x5A, rng.randrange(256)]) for _ in range(rng.randrange(30))) + f
    r = FrameReader()
    got = []
    for i in range(0, len(stream), 7):  # arrives in pieces
        r.feed(stream[i:i + 7])
        while True:
            try:
                f = r.pop()
            except CorruptFrame:
                continue
            if f is None:
                break
            got.append(f.seq)
    assert got == list(range(20))


# ------------------------------------------------------------- with a device

@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    """A built host firmware of the smallest shared int8 model, and its graph."""
    path = MODELS / "tflm_hello_world_int8.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent (tests read real models from ../shared)")
    from tinygen.model import load_model

    g = load_model(path)
    d = tmp_path_factory.mktemp("proto_fw")
    generate_host(g, d, model_path=path)
    make(d)
    return d / "build" / "firmware", g


class FaultyLink(Link):
    """Wraps a link; drops, flips and inserts bytes with probability p (both directions)."""

    def __init__(self, inner: Link, p: float, seed: int):
        self.inner, self.p, self.rng = inner, p, random.Random(seed)
        self.description = "faulty " + inner.description
        self.faults = 0

    def _mangle(self, data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            x = self.rng.random()
            if x < self.p / 3:
                self.faults += 1
                continue  # dropped
            if x < 2 * self.p / 3:
                self.faults += 1
                b ^= 1 << self.rng.randrange(8)  # flipped
            elif x < self.p:
                self.faults += 1
                out.append(self.rng.randrange(256))  # inserted
            out.append(b)
        return bytes(out)

    def write(self, data: bytes) -> None:
        self.inner.write(self._mangle(data))

    def read(self, n: int, timeout: float) -> bytes:
        return self._mangle(self.inner.read(n, timeout))

    def close(self) -> None:
        self.inner.close()


def _samples(g, n, seed):
    rng = np.random.default_rng(seed)
    t = g.tensors[g.inputs[0]]
    return rng.integers(-128, 128, size=(n, *t.shape), dtype=np.int8)


def test_session_basics(firmware):
    exe, g = firmware
    with ProcessLink([exe]) as link:
        s = DeviceSession(link, timeout=2)
        assert s.ping(b"hello\xA5\x5A") == b"hello\xA5\x5A"
        info = s.info()
        assert info["protocol"] == 1 and info["model"]["input_bytes"] == g.tensors[g.inputs[0]].nbytes
        with pytest.raises(DeviceError, match="length"):
            s.request(CMD_INVOKE, b"\x00" * (info["model"]["input_bytes"] + 1))
        with pytest.raises(DeviceError, match="unknown command"):
            s.request(0x33, b"")
        with pytest.raises(DeviceError, match="no invoke yet"):
            s.profile()
        # garbage on the raw link between requests is skipped by the device
        link.write(b"\xA5\x5A\x00garbage\xA5" * 5)
        assert s.ping(b"x") == b"x"
        assert s.retries == 0


def test_faulty_link_results_still_exact(firmware):
    from tinygen.ref import Interpreter

    exe, g = firmware
    x = _samples(g, 16, seed=5)
    ref = Interpreter(g).run([x])[0]
    with FaultyLink(ProcessLink([exe]), p=0.01, seed=3) as link:
        s = DeviceSession(link, timeout=0.2, attempts=25)
        for k in range(len(x)):
            out, _ = s.invoke(x[k].tobytes())
            assert np.frombuffer(out, np.int8).reshape(ref[k].shape).tolist() == ref[k].tolist()
            assert s.ping(bytes([k]) * 40) == bytes([k]) * 40  # more traffic through the faulty link
    assert link.faults > 0 and s.retries > 0


def test_silent_device_times_out():
    with ProcessLink(["/bin/sleep", "30"]) as link:
        s = DeviceSession(link, timeout=0.2, attempts=2)
        t0 = time.monotonic()
        with pytest.raises(TinygenError, match="did not answer"):
            s.ping()
        assert time.monotonic() - t0 < 3


def test_dead_device_is_reported():
    with ProcessLink(["/bin/true"]) as link:
        time.sleep(0.1)
        with pytest.raises(TinygenError, match="exited"):
            DeviceSession(link, timeout=1).ping()


def test_serial_url_link(firmware):
    """SerialLink over socket:// (as QEMU's -serial tcp:...) bridged to the host firmware."""
    exe, g = firmware
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)

    def bridge():
        conn, _ = srv.accept()
        def up():
            while (data := conn.recv(4096)):
                proc.stdin.write(data)
            proc.stdin.close()
        threading.Thread(target=up, daemon=True).start()
        while (data := proc.stdout.read1(4096) if hasattr(proc.stdout, "read1") else proc.stdout.read(1)):
            conn.sendall(data)
        conn.close()

    threading.Thread(target=bridge, daemon=True).start()
    try:
        with SerialLink(f"socket://127.0.0.1:{port}") as link:
            s = DeviceSession(link, timeout=2)
            assert s.info()["board"] == "host"
            assert s.request(CMD_PING, b"via socket") == b"via socket"
    finally:
        proc.kill()
        proc.wait()
        srv.close()
