"""tinygen's emulated STM32 bootloader (firmware/bootloader/) in QEMU, driven by
tinygen's AN3155 client (tinygen/device/stm32boot.py) over a TCP serial port.

Every command of the protocol, its refusals (bad checksum, complement,
address, programming over unerased flash), the BOOT0 flag and the start of an
application (GO and the automatic start without BOOT0).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tinygen.device import stm32boot as sb
from tinygen.device.bootloader import Emulator, bootloader_elf
from tinygen.errors import TinygenError

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed"),
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed"),
]

APP_DIR = Path(__file__).parent / "data" / "bootloader_app"
FLASH = 0x08000000
HELLO = b"tinygen test app\n"


@pytest.fixture(scope="module")
def test_app(tmp_path_factory) -> tuple[Path, bytes]:
    """The tiny echo application (tests/data/bootloader_app): (elf, bin)."""
    out = tmp_path_factory.mktemp("app")
    elf = out / "app.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-std=c99", "-Wall", "-Wextra",
                    "-Werror", "-Os", "-nostdlib", "-ffreestanding", "-T", str(APP_DIR / "app.ld"),
                    str(APP_DIR / "app.c"), "-o", str(elf)], check=True)
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(out / "app.bin")], check=True)
    return elf, (out / "app.bin").read_bytes()


@pytest.fixture
def emu():
    bootloader_elf()  # build outside the QEMU start-up
    with Emulator(serial="tcp", boot0=True) as e:
        yield e


@pytest.fixture
def bl(emu):
    client = sb.connect(emu.url, timeout=2.0)
    yield client
    client.port.close()


def raw(bl: sb.Stm32Bootloader, data: bytes, n: int = 1) -> bytes:
    bl._write(data)
    return bl._read(n)


def test_identity(bl):
    version, commands = bl.get()
    assert version == 0x31
    assert set(commands) == {0x00, 0x01, 0x02, 0x11, 0x21, 0x31, 0x44}
    assert bl.get_version() == (0x31, 0, 0)
    assert bl.get_id() == 0x413
    assert sb.DEVICES[0x413].flash_size == 1024 * 1024


def test_repeated_sync_is_nacked(bl):
    assert raw(bl, b"\x7f") == bytes([sb.NACK])
    assert bl.sync() == "nack"       # the client takes it as "already synced"
    assert bl.get_id() == 0x413


def test_stale_bytes_at_open(emu):
    """Bytes already waiting in the input buffer are thrown away before syncing."""
    first = sb.connect(emu.url)
    first._write(sb.command_frame(sb.CMD_GET))       # its reply is never read
    time.sleep(0.2)
    first.port.close()
    second = sb.connect(emu.url, timeout=2.0)         # answer: NACK (already synced)
    assert second.get_id() == 0x413
    second.port.close()


def test_erase_write_read(bl):
    bl.get()
    bl.erase(None)                                    # mass erase (0xFFFF)
    assert bl.read_memory(FLASH, 256) == b"\xff" * 256
    assert bl.read_memory(FLASH + 0xFFF00, 256) == b"\xff" * 256   # last bytes of the 1 MiB
    data = os.urandom(256)
    bl.write_memory(FLASH + 0x4000, data)             # sector 1
    assert bl.read_memory(FLASH + 0x4000, 256) == data
    bl.write_memory(FLASH + 0x4000, data)             # same bytes again: accepted
    with pytest.raises(sb.Nack):                      # bits that need an erase: refused
        bl.write_memory(FLASH + 0x4000, bytes(b ^ 0xFF for b in data))
    assert bl.read_memory(FLASH + 0x4000, 256) == data
    bl.write_memory(FLASH + 0x20000, data[:4])         # sector 5 (128 KiB)
    bl.erase([1])                                     # extended erase of sector 1 only
    assert bl.read_memory(FLASH + 0x4000, 256) == b"\xff" * 256
    assert bl.read_memory(FLASH + 0x20000, 4) == data[:4]
    # Legacy ERASE (0x43, one-byte page numbers) is served too.
    bl.commands = (sb.CMD_ERASE,)
    bl.erase([5])
    assert bl.read_memory(FLASH + 0x20000, 4) == b"\xff" * 4
    # READ of 1 byte and of the last byte of the window.
    assert bl.read_memory(FLASH + 0xFFFFF, 1) == b"\xff"


def test_sector_layout_matches_client(bl):
    """The client's page table for 0x413 is the bootloader's: erasing sector n
    clears exactly [start, start+size) of the client's table."""
    bl.get()
    dev = sb.DEVICES[0x413]
    pages = dev.pages()
    assert len(pages) == 12 and pages[4] == (FLASH + 0x10000, 0x10000)
    bl.erase(None)
    for n in (3, 4, 5):
        start, size = pages[n]
        for a in (start - 4, start, start + size - 4, start + size):
            bl.write_memory(a, b"\x00\x00\x00\x00")
        bl.erase([n])
        assert bl.read_memory(start - 4, 4) == b"\x00" * 4
        assert bl.read_memory(start, 4) == b"\xff" * 4
        assert bl.read_memory(start + size - 4, 4) == b"\xff" * 4
        assert bl.read_memory(start + size, 4) == b"\x00" * 4
        bl.erase(None)


def test_ram_write_read(bl):
    data = os.urandom(64)
    bl.write_memory(0x20001000, data)
    assert bl.read_memory(0x20001000, 64) == data


def test_refusals(bl):
    bl.get()
    # Bad complement of a command byte.
    assert raw(bl, bytes([sb.CMD_GET, 0x00])) == bytes([sb.NACK])
    # Unknown command.
    assert raw(bl, sb.command_frame(0x63)) == bytes([sb.NACK])
    # Bad address checksum.
    assert raw(bl, sb.command_frame(sb.CMD_READ_MEMORY)) == bytes([sb.ACK])
    assert raw(bl, b"\x08\x00\x00\x00\x00") == bytes([sb.NACK])
    # Addresses outside the window and the user RAM: bootloader code, its RAM, past the flash.
    for address in (0x00000000, 0x00010000, 0x203F0000, 0x08100000, 0x1FFF0000):
        with pytest.raises(sb.Nack):
            bl.read_memory(address, 4)
        with pytest.raises(sb.Nack):
            bl.write_memory(address, b"\x00" * 4)
    # A read running past the end of the window.
    with pytest.raises(sb.Nack):
        bl.read_memory(0x080FFF00 + 4, 256)
    # Bad READ length complement.
    assert raw(bl, sb.command_frame(sb.CMD_READ_MEMORY)) == bytes([sb.ACK])
    assert raw(bl, sb.address_frame(FLASH)) == bytes([sb.ACK])
    assert raw(bl, b"\x03\x03") == bytes([sb.NACK])
    # Bad WRITE checksum: nothing written.
    bl.erase(None)
    assert raw(bl, sb.command_frame(sb.CMD_WRITE_MEMORY)) == bytes([sb.ACK])
    assert raw(bl, sb.address_frame(FLASH)) == bytes([sb.ACK])
    frame = bytearray(sb.write_frame(b"\x12\x34\x56\x78"))
    frame[-1] ^= 1
    assert raw(bl, bytes(frame)) == bytes([sb.NACK])
    assert bl.read_memory(FLASH, 4) == b"\xff" * 4
    # Extended erase: bad checksum, page past the last sector, bank 2 of a single-bank part.
    for frame in (b"\x00\x00\x00\x01\x00", sb.extended_erase_frame([12]), b"\xff\xfd\x02"):
        assert raw(bl, sb.command_frame(sb.CMD_EXTENDED_ERASE)) == bytes([sb.ACK])
        assert raw(bl, frame) == bytes([sb.NACK])
    # GO to an erased window (no valid vector table) is refused.
    with pytest.raises(sb.Nack):
        bl.go(FLASH)
    assert bl.get_id() == 0x413      # still in step after all that


def test_flash_and_go(bl, test_app):
    _, image = test_app
    report = sb.flash_image(bl, image, FLASH, progress=False)
    assert report.verified and report.started and report.pages == [0]
    assert bl._read(len(HELLO), timeout=5) == HELLO          # the application runs
    bl._write(b"abc")
    assert bl._read(3, timeout=5) == b"bcd"


def test_go_to_ram(bl, test_app):
    """GO to RAM: a vector table written there is started like one in flash."""
    _, image = test_app
    bl.get()
    # The app is position-dependent (runs at 0x00010000): put it in the window, and
    # a RAM vector table pointing at its reset handler.
    bl.erase([0])
    bl.write_memory(FLASH, image + b"\xff" * (-len(image) % 4))
    bl.write_memory(0x20002000, image[:8])
    bl.go(0x20002000)
    assert bl._read(len(HELLO), timeout=5) == HELLO


def test_resync_after_lost_bytes(bl):
    """A frame cut short (bytes lost on the line) leaves the bootloader waiting
    inside it; resync brings it back without a reset."""
    bl.get()
    assert raw(bl, sb.command_frame(sb.CMD_WRITE_MEMORY)) == bytes([sb.ACK])
    assert raw(bl, sb.address_frame(0x20003000)) == bytes([sb.ACK])
    bl._write(b"\xff" + b"\x00" * 100)     # 256 bytes announced, 100 sent
    bl.resync()
    assert bl.get_id() == 0x413


def test_app_starts_without_boot0(test_app):
    """No BOOT0 flag + a valid application: it starts at once (the normal
    `tinygen emulate DIR` path)."""
    elf, _ = test_app
    with Emulator(serial="tcp", boot0=False, app_elf=elf) as e:
        port = sb.open_port(e.url)
        # QEMU's server socket drops what the app prints before we connect, so
        # the greeting may be gone: the echo proves the application runs.
        port.timeout = 0.3
        port.read(4096)
        port.write(b"x")
        port.timeout = 5
        assert port.read(1) == b"y"
        port.close()


def test_flashing_a_running_application_is_refused(test_app):
    """BOOT0 forgotten: the application runs and does not speak AN3155 -> a
    clear error (exit 2 in the CLI) naming BOOT0, not a hang or a bogus flash."""
    elf, _ = test_app
    with Emulator(serial="tcp", boot0=False, app_elf=elf) as e:
        with pytest.raises(TinygenError, match="BOOT0"):
            sb.connect(e.url, timeout=0.3)


def test_boot0_keeps_the_bootloader(test_app):
    """With the flag, a valid preloaded application does not start."""
    elf, image = test_app
    with Emulator(serial="tcp", boot0=True, app_elf=elf) as e:
        bl = sb.connect(e.url, timeout=2.0)
        assert bl.sync() == "nack"
        assert bl.read_memory(FLASH, len(image)) == image[:len(image)]
        bl.port.close()


def test_no_app_stays_in_bootloader():
    """No flag but nothing valid in flash: the bootloader serves the protocol."""
    with Emulator(serial="tcp", boot0=False) as e:
        bl = sb.connect(e.url, timeout=2.0)
        assert bl.get_id() == 0x413
        bl.port.close()
