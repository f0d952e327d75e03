"""Reliability of `tinygen flash` against the real emulated bootloader: chunks
refused or lost are retried, what slips past the checksum is caught by the
read-back and rewritten, and a flash that cannot complete says so (exit 1)
and never reports success.

The faults are injected at the client's side of the line (a corrupting
wrapper around the port), so each case is exact and repeatable; the
end-to-end run through tinygen's fault-injecting TCP proxy is in
test_flash_e2e.py.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tinygen.device import stm32boot as sb
from tinygen.device.bootloader import Emulator, bootloader_elf
from tinygen.errors import CheckFailed, TinygenError

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed"),
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed"),
]

FLASH = 0x08000000


@pytest.fixture
def emu():
    bootloader_elf()
    with Emulator(serial="tcp", boot0=True) as e:
        yield e


@pytest.fixture
def bl(emu):
    client = sb.connect(emu.url, timeout=0.5)
    yield client
    client.port.close()


class FaultyLine:
    """Wraps a port; `fault(data, n) -> data` may change the n-th write."""

    def __init__(self, port, fault):
        self._port, self._fault, self.n = port, fault, 0

    def write(self, data):
        self.n += 1
        return self._port.write(self._fault(bytes(data), self.n))

    def __getattr__(self, name):
        return getattr(self._port, name)

    def __setattr__(self, name, value):
        if name == "timeout":
            self._port.timeout = value
        else:
            object.__setattr__(self, name, value)


def _is_write_data(data: bytes) -> bool:
    return len(data) > 5 and data[0] == len(data) - 3


def test_corrupted_and_lost_chunks_are_retried(bl):
    """Every 7th data frame has a flipped bit (checksum catches it: NACK), every
    11th is cut short (the bootloader waits inside the frame: timeout, resync).
    The image still goes in exactly."""
    frames = {"seen": 0, "faults": 0}

    def fault(data, n):
        if _is_write_data(data):
            frames["seen"] += 1
            k = frames["seen"]
            if k % 7 == 0:
                frames["faults"] += 1
                return data[:10] + bytes([data[10] ^ 0x04]) + data[11:]
            if k % 11 == 0:
                frames["faults"] += 1
                return data[: len(data) // 2]
        return data

    bl.port = FaultyLine(bl.port, fault)
    image = os.urandom(10 * 1024 + 100)
    report = sb.flash_image(bl, image, FLASH, go=False, progress=False)
    assert frames["faults"] >= 6
    # At least one retry per fault (more when a resync programmed a damaged frame
    # and its page had to be erased again).
    assert report.verified and report.chunk_retries >= frames["faults"]
    bl.port = bl.port._port
    got = b"".join(bl.read_memory(FLASH + o, min(256, len(image) - o)) for o in range(0, len(image), 256))
    assert got == image


def test_readback_catches_what_slips_through(bl):
    """A corruption that keeps the checksum valid (the same bit flipped in two
    bytes) is written and ACKed; verification finds it, the page is erased and
    written again."""
    state = {"done": False}

    def fault(data, n):
        if _is_write_data(data) and not state["done"]:
            state["done"] = True
            b = bytearray(data)
            b[5] ^= 0x10
            b[6] ^= 0x10
            return bytes(b)
        return data

    bl.port = FaultyLine(bl.port, fault)
    image = os.urandom(4096)
    report = sb.flash_image(bl, image, FLASH, go=False, progress=False)
    assert state["done"] and report.repaired_pages == [0]
    bl.port = bl.port._port
    assert b"".join(bl.read_memory(FLASH + o, 256) for o in range(0, 4096, 256)) == image


def test_persistent_corruption_fails_never_succeeds(bl):
    """Every attempt at one chunk is silently corrupted: exit-1 failure, not success."""
    def fault(data, n):
        if _is_write_data(data) and data[1:5] == bytes(4):   # the chunk whose data starts 00 00 00 00
            b = bytearray(data)
            b[5] ^= 0x10
            b[6] ^= 0x10
            return bytes(b)
        return data

    image = bytearray(os.urandom(2048))
    image[512:516] = bytes(4)
    bl.port = FaultyLine(bl.port, fault)
    with pytest.raises(CheckFailed, match="verification failed"):
        sb.flash_image(bl, bytes(image), FLASH, go=False, progress=False)


def test_programmed_garbage_is_erased_and_rewritten(bl):
    """A damaged frame that got programmed (bytes no longer erased where the
    next chunk goes) makes that chunk's writes fail: its page is erased again
    and rewritten from its first chunk."""
    real_erase = bl.erase
    state = {"erases": 0}

    def erase_then_damage(pages):
        real_erase(pages)
        state["erases"] += 1
        if state["erases"] == 1:
            bl.write_memory(FLASH + 0x4000 + 512, b"\x00" * 16)   # page 1, third chunk

    bl.erase = erase_then_damage
    image = os.urandom(0x4000 + 2048)
    report = sb.flash_image(bl, image, FLASH, go=False, attempts=2, progress=False)
    assert report.repaired_pages == [1] and state["erases"] == 2
    got = b"".join(bl.read_memory(FLASH + o, 256) for o in range(0x4000, len(image), 256))
    assert got == image[0x4000:]


def test_refused_chunk_fails_after_bounded_retries(bl):
    """A chunk the bootloader always refuses (flash not erased: erase skipped)
    fails after exactly `attempts` tries with a clear error."""
    bl.get()
    bl.erase(None)
    bl.write_memory(FLASH, b"\x00" * 256)
    bl.erase = lambda pages: None           # the erase is "lost"
    with pytest.raises(CheckFailed, match=r"writing 0x08000000 failed after 3 attempts"):
        sb.flash_image(bl, b"\x01" * 256, FLASH, go=False, attempts=3, progress=False)


def test_dead_line_fails(bl):
    """Nothing gets through any more (the line went dead mid-flash)."""
    def fault(data, n):
        return data if n < 12 else b""
    bl.port = FaultyLine(bl.port, fault)
    with pytest.raises(CheckFailed, match="no longer answers"):
        sb.flash_image(bl, os.urandom(1024), FLASH, go=False, attempts=2, progress=False)


def test_unknown_chip_id_is_refused(bl, monkeypatch):
    monkeypatch.delitem(sb.DEVICES, 0x413)
    with pytest.raises(TinygenError, match="unknown chip ID 0x413"):
        sb.flash_image(bl, b"\x00" * 16, FLASH, progress=False)


def test_image_must_fit(bl):
    with pytest.raises(TinygenError, match="does not fit"):
        sb.flash_image(bl, b"\x00" * 1024, 0x080FFC00 + 4, progress=False)
    with pytest.raises(TinygenError, match="outside the flash"):
        sb.flash_image(bl, b"\x00" * 16, 0x20000000, progress=False)


def test_cli_exit_statuses(emu, tmp_path):
    """The CLI: too big -> 2; a normal flash -> 0 with the report."""
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x00" * (1024 * 1024 + 4))
    cmd = [sys.executable, "-m", "tinygen.cli", "flash", "--port", emu.url, "-q"]
    r = subprocess.run(cmd + [str(big)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "does not fit" in r.stderr
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(3000))
    r = subprocess.run(cmd + [str(small), "--no-go", "--raw"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "0x413" in r.stdout and "verified: read back identical" in r.stdout
