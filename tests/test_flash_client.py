"""The AN3155 client without a device: frames and checksums (values worked
out from the application note's rules), the page tables, firmware files
(.bin/.elf/project directory), the sync tolerance cases on a scripted port,
and the CLI's bad-input contract (exit 2, one line)."""
from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading

import pytest

from tinygen.commands.flash import elf_image, load_firmware
from tinygen.device import stm32boot as sb
from tinygen.errors import TinygenError


# ---- frames -------------------------------------------------------------------

def test_checksums_and_frames():
    assert sb.xor(b"") == 0 and sb.xor(b"\x01\x02\x04") == 7 and sb.xor(b"\xff\xff") == 0
    assert sb.command_frame(0x31) == b"\x31\xce"
    assert sb.command_frame(0x00) == b"\x00\xff"
    assert sb.address_frame(0x08000000) == b"\x08\x00\x00\x00\x08"
    assert sb.address_frame(0x20003000) == b"\x20\x00\x30\x00\x10"
    assert sb.address_frame(0x12345678) == bytes([0x12, 0x34, 0x56, 0x78, 0x12 ^ 0x34 ^ 0x56 ^ 0x78])
    assert sb.write_frame(b"\x01\x02\x03\x04") == b"\x03\x01\x02\x03\x04" + bytes([3 ^ 1 ^ 2 ^ 3 ^ 4])
    f = sb.write_frame(bytes(range(256)))
    assert len(f) == 258 and f[0] == 0xFF and f[-1] == sb.xor(f[:-1])
    assert sb.read_length_frame(256) == b"\xff\x00"
    assert sb.read_length_frame(1) == b"\x00\xff"
    assert sb.extended_erase_frame(None) == b"\xff\xff\x00"
    assert sb.extended_erase_frame([0]) == b"\x00\x00\x00\x00\x00"
    assert sb.extended_erase_frame([1, 2]) == b"\x00\x01\x00\x01\x00\x02" + bytes([1 ^ 1 ^ 2])
    assert sb.erase_frame(None) == b"\xff\x00"
    assert sb.erase_frame([0, 5]) == b"\x01\x00\x05" + bytes([1 ^ 5])


@pytest.mark.parametrize("bad", [b"", bytes(257)])
def test_write_frame_limits(bad):
    with pytest.raises(ValueError):
        sb.write_frame(bad)


def test_frame_limits():
    for n in (0, 257):
        with pytest.raises(ValueError):
            sb.read_length_frame(n)
    with pytest.raises(ValueError):
        sb.address_frame(1 << 32)
    with pytest.raises(ValueError):
        sb.erase_frame([256])


# ---- devices ------------------------------------------------------------------------

def test_f4_sector_table():
    dev = sb.DEVICES[0x413]
    pages = dev.pages()
    assert [s // 1024 for _, s in pages] == [16, 16, 16, 16, 64] + [128] * 7
    assert pages[-1][0] + pages[-1][1] == 0x08100000
    assert dev.pages_for(0x08000000, 1) == [0]
    assert dev.pages_for(0x08000000, 0x4000) == [0]
    assert dev.pages_for(0x08000000, 0x4001) == [0, 1]
    assert dev.pages_for(0x0800FFFC, 8) == [3, 4]
    assert dev.pages_for(0x08020000, 0x20000) == [5]


def test_every_known_device_table_covers_its_flash():
    for dev in sb.DEVICES.values():
        pages = dev.pages()
        assert pages[0][0] == dev.flash_base
        assert pages[-1][0] + pages[-1][1] == dev.flash_base + dev.flash_size, dev.name
    l4r5 = sb.DEVICES[0x470]
    assert len(l4r5.pages()) == 512      # dual-bank: 2 x 256 pages of 4 KiB


# ---- firmware files -----------------------------------------------------------------

def _elf(segments: list[tuple[int, int, bytes]]) -> bytes:
    """A minimal 32-bit little-endian ELF with PT_LOAD segments (type, paddr, data)."""
    phoff = 52
    data_off = phoff + 32 * len(segments)
    header = bytearray(b"\x7fELF" + bytes([1, 1, 1]) + bytes(9))
    header += struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, 0, phoff, 0, 0, 52, 32, len(segments), 0, 0, 0)
    phdrs, blobs = b"", b""
    for p_type, paddr, blob in segments:
        phdrs += struct.pack("<8I", p_type, data_off + len(blobs), paddr, paddr, len(blob), len(blob), 5, 4)
        blobs += blob
    return bytes(header) + phdrs + blobs


def test_elf_image_from_load_segments():
    elf = _elf([(1, 0x00010000, b"\x01\x02\x03\x04"), (1, 0x00010008, b"\x05\x06"), (4, 0, b"note")])
    base, image = elf_image(elf, "x.elf")
    assert base == 0x00010000
    assert image == b"\x01\x02\x03\x04\xff\xff\xff\xff\x05\x06"


def test_load_firmware_kinds(tmp_path):
    # An ELF linked for the emulated board's application region goes to 0x08000000+.
    (tmp_path / "emu.elf").write_bytes(_elf([(1, 0x00010100, b"abcd")]))
    assert load_firmware(tmp_path / "emu.elf", None)[:2] == (0x08000100, b"abcd")
    # An ELF linked for a real STM32 keeps its address; --address overrides.
    (tmp_path / "real.elf").write_bytes(_elf([(1, 0x08004000, b"abcd")]))
    assert load_firmware(tmp_path / "real.elf", None)[0] == 0x08004000
    assert load_firmware(tmp_path / "real.elf", 0x08008000)[0] == 0x08008000
    # A .bin goes to --address, default 0x08000000.
    (tmp_path / "a.bin").write_bytes(b"1234")
    assert load_firmware(tmp_path / "a.bin", None)[:2] == (0x08000000, b"1234")
    # A project directory: DIR/build/firmware.bin.
    (tmp_path / "proj" / "build").mkdir(parents=True)
    with pytest.raises(TinygenError, match="tinygen build"):
        load_firmware(tmp_path / "proj", None)
    (tmp_path / "proj" / "build" / "firmware.bin").write_bytes(b"xyzw")
    assert load_firmware(tmp_path / "proj", None)[1] == b"xyzw"
    with pytest.raises(TinygenError, match="not an ELF|no loadable"):
        load_firmware_bad = tmp_path / "bad.elf"
        load_firmware_bad.write_bytes(_elf([(4, 0, b"note")]))
        load_firmware(load_firmware_bad, None)


# ---- the client on a scripted port --------------------------------------------------

class ScriptedPort:
    """A pyserial-like port: `pending` holds bytes already waiting at open;
    `answer(written) -> bytes` is what the device sends back to each write."""

    def __init__(self, answer, pending: bytes = b""):
        self.answer = answer
        self.inbox = bytearray(pending)
        self.timeout = 0
        self.written = bytearray()

    def write(self, data):
        self.written += data
        self.inbox += self.answer(bytes(data))

    def flush(self):
        pass

    def read(self, n):
        out = bytes(self.inbox[:n])
        del self.inbox[:n]
        return out

    def reset_input_buffer(self):
        self.inbox.clear()

    def close(self):
        pass


def test_sync_tolerates_zero_byte_before_ack():
    port = ScriptedPort(lambda d: b"\x00\x79" if d == b"\x7f" else b"")
    assert sb.Stm32Bootloader(port, timeout=0.2).sync() == "ack"


def test_sync_drops_stale_bytes():
    """Stale bytes (an old ACK among them) must not be taken for the answer."""
    port = ScriptedPort(lambda d: b"\x1f" if d == b"\x7f" else b"", pending=b"\x79\x79\x55")
    assert sb.Stm32Bootloader(port, timeout=0.2).sync() == "nack"


def test_sync_accepts_nack_of_a_repeated_sync():
    port = ScriptedPort(lambda d: b"\x1f" if d == b"\x7f" else b"")
    assert sb.Stm32Bootloader(port, timeout=0.2).sync() == "nack"


def test_sync_without_answer_times_out():
    port = ScriptedPort(lambda d: b"")
    with pytest.raises(sb.Timeout):
        sb.Stm32Bootloader(port, timeout=0.1).sync(budget=0.25)
    assert port.written == b"\x7f\x7f\x7f"


def test_every_read_has_a_timeout():
    """A reply cut short is a Timeout, never a hang."""
    port = ScriptedPort(lambda d: b"\x79\x01\x04" if d == b"\x02\xfd" else b"")  # GET_ID missing a byte
    bl = sb.Stm32Bootloader(port, timeout=0.1)
    with pytest.raises(sb.Timeout):
        bl.get_id()


# ---- the CLI's bad-input contract ---------------------------------------------------

def _tinygen(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "tinygen.cli", "flash", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_cli_missing_file(tmp_path):
    r = _tinygen(str(tmp_path / "nope.bin"), "--port", "socket://127.0.0.1:1")
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_cli_port_that_does_not_open(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"\x00" * 16)
    r = _tinygen(str(tmp_path / "a.bin"), "--port", "/dev/does-not-exist-tinygen")
    assert r.returncode == 2 and "cannot open port /dev/does-not-exist-tinygen" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_no_answer_to_sync(tmp_path):
    """A port that opens but where nothing answers: exit 2 with the BOOT0 hint."""
    (tmp_path / "a.bin").write_bytes(b"\x00" * 16)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    conns = []
    threading.Thread(target=lambda: conns.append(server.accept()), daemon=True).start()
    try:
        r = _tinygen(str(tmp_path / "a.bin"), "--port", f"socket://127.0.0.1:{server.getsockname()[1]}",
                     "--timeout", "0.2")
    finally:
        server.close()
    assert r.returncode == 2
    assert "no answer from the bootloader" in r.stderr and "BOOT0" in r.stderr


def test_cli_bad_address(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"\x00" * 16)
    r = _tinygen(str(tmp_path / "a.bin"), "--port", "socket://127.0.0.1:1", "--address", "0x08000002")
    assert r.returncode == 2 and "aligned" in r.stderr
