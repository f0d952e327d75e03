"""End to end on the emulated board, with the user's commands only:

  tinygen generate MODEL -o DIR --target mps2-an386 && tinygen build DIR
  tinygen emulate mps2-an386 --bootloader --serial tcp:127.0.0.1:PORT   (or pty)
  tinygen flash DIR/build/firmware.bin --port socket://127.0.0.1:PORT  (or stm32flash on the pty)
  tinygen verify MODEL --port ... --random 8        -> bit-exact, exit 0
  tinygen verify OTHER_MODEL --port ...             -> refused, exit 1
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinygen.device.bootloader import bootloader_elf, free_tcp_port

SHARED = Path(__file__).resolve().parents[2] / "shared"
MODEL = SHARED / "models" / "tflm_hello_world_int8.tflite"
OTHER_MODEL = SHARED / "models" / "mlperf_tiny_ad_fc.tflite"

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed"),
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed"),
    pytest.mark.skipif(not MODEL.is_file() or not OTHER_MODEL.is_file(),
                       reason=f"shared models not found under {SHARED}/models"),
]


def tinygen(*args, timeout=300, check=True):
    r = subprocess.run([sys.executable, "-m", "tinygen.cli", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"tinygen {' '.join(map(str, args))} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("e2e") / "hello"
    tinygen("generate", MODEL, "-o", out, "--target", "mps2-an386")
    tinygen("build", out)
    assert (out / "build" / "firmware.bin").is_file()
    bootloader_elf()
    return out


class Emulate:
    """`tinygen emulate mps2-an386 --bootloader --serial SERIAL` in the background."""

    def __init__(self, serial: str):
        self.serial = serial

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "tinygen.cli", "emulate", "mps2-an386",
                                      "--bootloader", "--serial", self.serial],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.pty = None
        if self.serial == "pty":
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.pty is None:
                line = self.proc.stdout.readline()
                if not line and self.proc.poll() is not None:
                    break
                m = re.search(r"serial:\s*(/dev/pts/\d+)", line)
                if m:
                    self.pty = m.group(1)
            assert self.pty, "tinygen emulate --serial pty did not print 'serial: /dev/pts/N'"
        else:   # wait until QEMU listens (a probe connection, closed at once: QEMU takes the next)
            port = int(self.serial.rsplit(":", 1)[1])
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline and self.proc.poll() is None, "emulator did not listen"
                    time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def test_flash_then_verify_over_tcp(project):
    port = free_tcp_port()
    url = f"socket://127.0.0.1:{port}"
    with Emulate(f"tcp:127.0.0.1:{port}"):
        t0 = time.monotonic()
        r = tinygen("flash", project / "build" / "firmware.bin", "--port", url, "-q", timeout=600)
        flash_s = time.monotonic() - t0
        assert "verified: read back identical" in r.stdout and "started: GO 0x08000000" in r.stdout
        print(f"\nflash of {(project / 'build' / 'firmware.bin').stat().st_size} bytes: {flash_s:.2f} s "
              f"(CLI)\n{r.stdout}")
        r = tinygen("verify", MODEL, "--port", url, "--random", "8", timeout=600)
        r = tinygen("verify", OTHER_MODEL, "--port", url, "--random", "1", check=False, timeout=600)
        assert r.returncode == 1, r.stdout + r.stderr


@pytest.mark.skipif(shutil.which("stm32flash") is None, reason="stm32flash not installed")
def test_stm32flash_then_verify_over_pty(project):
    with Emulate("pty") as emu:
        r = subprocess.run(["stm32flash", "-m", "8n1", "-b", "115200", "-w", str(project / "build" / "firmware.bin"),
                            "-v", "-g", "0x08000000", emu.pty], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        tinygen("verify", MODEL, "--port", emu.pty, "--random", "8", timeout=600)


def test_flash_through_a_faulty_line(project):
    """`tinygen flash` through tinygen's fault-injecting proxy (bytes dropped and
    bits flipped both ways): damaged chunks are retried, damaged read-backs are
    re-read, and the image that runs is verified bit-exact afterwards."""
    from tinygen.device import stm32boot as sb
    from tinygen.device.faultproxy import FaultProxy

    port = free_tcp_port()
    with Emulate(f"tcp:127.0.0.1:{port}"):
        with FaultProxy("127.0.0.1", port, drop=2.5e-4, flip=5e-4,
                        seed=int(os.environ.get('TG_FAULT_SEED', 5))) as proxy:
            r = tinygen("flash", project, "--port", proxy.url, "--no-go", "--timeout", "0.5", "-q",
                        check=False, timeout=600)
            stats = proxy.stats()
        damaged = sum(d["dropped"] + d["flipped"] for d in stats.values())
        print(f"\nfault proxy: {stats}\n{r.stdout}")
        assert damaged >= 5, stats
        assert r.returncode == 0, r.stdout + r.stderr
        assert "verified: read back identical" in r.stdout
        # Start it over the clean line (a GO whose answer the proxy damaged would
        # rightly be reported as a failure) and prove the flashed image is right.
        bl = sb.connect(f"socket://127.0.0.1:{port}", timeout=2.0)
        sb.start(bl, 0x08000000)
        bl.port.close()
        tinygen("verify", MODEL, "--port", f"socket://127.0.0.1:{port}", "--random", "8", timeout=600)


def test_flash_that_cannot_complete_says_so(project):
    """A line that damages most frames: the flash fails with exit 1 and a reason,
    within its retry budget, and never claims success."""
    from tinygen.device.faultproxy import FaultProxy

    port = free_tcp_port()
    with Emulate(f"tcp:127.0.0.1:{port}"):
        with FaultProxy("127.0.0.1", port, drop=0.02, flip=0.02, seed=3, directions="to_device") as proxy:
            t0 = time.monotonic()
            r = tinygen("flash", project, "--port", proxy.url, "--timeout", "0.3", "--retries", "3", "-q",
                        check=False, timeout=600)
            took = time.monotonic() - t0
    assert r.returncode == 1, r.stdout + r.stderr
    assert "failed" in r.stderr and "verified" not in r.stdout and "started" not in r.stdout
    assert took < 120


def test_elf_and_bin_give_the_same_image(project):
    """`tinygen flash DIR/build/firmware.elf` writes exactly what objcopy put in
    firmware.bin, at 0x08000000 (the application region 0x00010000 seen as flash)."""
    from tinygen.commands.flash import load_firmware

    address, image, _ = load_firmware(project / "build" / "firmware.elf", None)
    assert address == 0x08000000
    assert image == (project / "build" / "firmware.bin").read_bytes()
    assert load_firmware(project, None)[:2] == (0x08000000, image)
