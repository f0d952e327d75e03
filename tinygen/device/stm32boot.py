"""Client of the STM32 system bootloader's USART protocol (ST AN3155).

Talks to a real STM32 started with BOOT0 high (8 data bits, even parity,
1 stop bit) or to tinygen's emulated bootloader (firmware/bootloader/) over
any pyserial URL: socket://HOST:PORT, /dev/pts/N, /dev/ttyACM0, COM3.

Protocol summary (AN3155):
  host 0x7F -> ACK 0x79 (sync; an already-synced part answers NACK 0x1F)
  command byte + its complement -> ACK/NACK, then per command:
  address = 4 bytes MSB first + XOR of the 4 -> ACK/NACK
  WRITE: N-1, N data bytes, XOR(N-1, data) -> ACK/NACK (N <= 256)
  READ:  N-1, its complement -> ACK, then N bytes
  EXTENDED ERASE: 2-byte count-1, 2-byte page numbers, XOR of all -> ACK/NACK
                  (0xFFFF + 0x00: mass erase)

`Stm32Bootloader` does one command at a time with a timeout on every read;
`flash_image` is the whole flashing job (erase, write with retries, read-back
verification with repair, GO) that `tinygen flash` runs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

from tinygen.errors import CheckFailed, TinygenError

ACK = 0x79
NACK = 0x1F
SYNC = 0x7F

CMD_GET = 0x00
CMD_GET_VERSION = 0x01
CMD_GET_ID = 0x02
CMD_READ_MEMORY = 0x11
CMD_GO = 0x21
CMD_WRITE_MEMORY = 0x31
CMD_ERASE = 0x43
CMD_EXTENDED_ERASE = 0x44

MAX_BLOCK = 256
MASS_ERASE = 0xFFFF

KIB = 1024


# ---- errors -----------------------------------------------------------------

class BootloaderError(Exception):
    """A command failed on the wire (NACK, timeout, unexpected byte)."""


class Nack(BootloaderError):
    """The bootloader answered NACK."""


class Timeout(BootloaderError):
    """Fewer bytes than expected arrived before the timeout."""


class PortError(BootloaderError):
    """The port itself failed (unplugged adapter, closed socket)."""


class NoLongerAnswering(CheckFailed):
    """The bootloader stopped answering mid-job (exit 1: the flash is incomplete)."""


# ---- frames (pure functions: unit-tested without a device) -------------------

def xor(data: Iterable[int]) -> int:
    """AN3155 checksum: XOR of the bytes."""
    c = 0
    for b in data:
        c ^= b
    return c


def command_frame(cmd: int) -> bytes:
    return bytes([cmd, cmd ^ 0xFF])


def address_frame(address: int) -> bytes:
    if not 0 <= address <= 0xFFFFFFFF:
        raise ValueError(f"address out of range: {address:#x}")
    a = address.to_bytes(4, "big")
    return a + bytes([xor(a)])


def write_frame(data: bytes) -> bytes:
    """N-1, the data, XOR of both (1..256 bytes)."""
    if not 1 <= len(data) <= MAX_BLOCK:
        raise ValueError(f"a write block is 1..{MAX_BLOCK} bytes, not {len(data)}")
    head = bytes([len(data) - 1])
    return head + data + bytes([xor(head + data)])


def read_length_frame(n: int) -> bytes:
    if not 1 <= n <= MAX_BLOCK:
        raise ValueError(f"a read block is 1..{MAX_BLOCK} bytes, not {n}")
    return bytes([n - 1, (n - 1) ^ 0xFF])


def extended_erase_frame(pages: list[int] | None) -> bytes:
    """Page list -> count-1, pages (2 bytes each, MSB first), XOR; None -> mass erase."""
    if pages is None:
        body = MASS_ERASE.to_bytes(2, "big")
        return body + bytes([xor(body)])
    if not 1 <= len(pages) <= 0xFFF0:
        raise ValueError("extended erase takes 1..65520 pages")
    body = (len(pages) - 1).to_bytes(2, "big") + b"".join(p.to_bytes(2, "big") for p in pages)
    return body + bytes([xor(body)])


def erase_frame(pages: list[int] | None) -> bytes:
    """Legacy ERASE: count-1, 1-byte pages, XOR; None -> 0xFF 0x00 (global erase)."""
    if pages is None:
        return bytes([0xFF, 0x00])
    if not 1 <= len(pages) <= 255 or any(not 0 <= p <= 255 for p in pages):
        raise ValueError("legacy erase takes 1..255 pages numbered 0..255")
    body = bytes([len(pages) - 1, *pages])
    return body + bytes([xor(body)])


# ---- devices ------------------------------------------------------------------

@dataclass(frozen=True)
class Device:
    """What tinygen needs to know of a part: its flash and how it is paged."""

    pid: int
    name: str
    flash_base: int
    flash_size: int
    page_sizes: tuple[int, ...]   # first pages; the last size repeats to the end
    note: str = ""

    def pages(self) -> list[tuple[int, int]]:
        """(start address, size) of every erase page/sector, in order."""
        out, addr, i = [], self.flash_base, 0
        end = self.flash_base + self.flash_size
        while addr < end:
            size = self.page_sizes[min(i, len(self.page_sizes) - 1)]
            out.append((addr, size))
            addr += size
            i += 1
        return out

    def pages_for(self, start: int, length: int) -> list[int]:
        """Numbers of the pages that [start, start+length) touches."""
        end = start + length
        return [i for i, (a, s) in enumerate(self.pages()) if a < end and a + s > start]


_F2F4 = (16 * KIB,) * 4 + (64 * KIB, 128 * KIB)
_F7 = (32 * KIB,) * 4 + (128 * KIB, 256 * KIB)

# Product IDs per ST AN2606; flash layouts per the parts' reference manuals.
DEVICES: dict[int, Device] = {d.pid: d for d in (
    Device(0x413, "STM32F405/407/415/417", 0x08000000, 1024 * KIB, _F2F4,
           "also tinygen's emulated bootloader (QEMU mps2-an386)"),
    Device(0x423, "STM32F401xB/C", 0x08000000, 256 * KIB, _F2F4),
    Device(0x433, "STM32F401xD/E", 0x08000000, 512 * KIB, _F2F4),
    Device(0x431, "STM32F411", 0x08000000, 512 * KIB, _F2F4),
    Device(0x421, "STM32F446", 0x08000000, 512 * KIB, _F2F4),
    Device(0x441, "STM32F412", 0x08000000, 1024 * KIB, _F2F4),
    Device(0x449, "STM32F74x/75x", 0x08000000, 1024 * KIB, _F7),
    Device(0x435, "STM32L43x/44x", 0x08000000, 256 * KIB, (2 * KIB,)),
    Device(0x462, "STM32L45x/46x", 0x08000000, 512 * KIB, (2 * KIB,)),
    Device(0x415, "STM32L47x/48x", 0x08000000, 1024 * KIB, (2 * KIB,)),
    Device(0x461, "STM32L496/4A6", 0x08000000, 1024 * KIB, (2 * KIB,)),
    Device(0x470, "STM32L4R5/L4R7/L4R9/L4S", 0x08000000, 2048 * KIB, (4 * KIB,),
           "2 MiB in dual-bank mode (DBANK=1, the factory setting): 4 KiB pages, 0-255 bank 1, "
           "256-511 bank 2; with DBANK=0 pages are 8 KiB"),
)}


def describe_devices() -> str:
    return ", ".join(f"0x{d.pid:03X} {d.name}" for d in DEVICES.values())


# ---- the port ------------------------------------------------------------------

def open_port(url: str, baudrate: int = 115200, open_timeout: float = 3.0):
    """Open a pyserial URL as 8E1 (the ROM bootloader's framing). Ports without
    parity (sockets; ptys, which some kernels refuse PARENB on) fall back to
    8N1: they carry bytes, not line signals. TinygenError if it won't open."""
    import serial  # pyserial

    deadline = time.monotonic() + open_timeout
    while True:
        try:
            return _open_8e1(serial, url, baudrate)
        except (serial.SerialException, OSError, ValueError) as exc:
            # An emulator may still be coming up: socket:// is retried briefly.
            if not url.startswith("socket://") or time.monotonic() >= deadline:
                raise TinygenError(f"cannot open port {url}: {exc}") from None
            time.sleep(0.1)


def _open_8e1(serial, url: str, baudrate: int):
    port = serial.serial_for_url(url, baudrate=baudrate, bytesize=serial.EIGHTBITS,
                                 parity=serial.PARITY_NONE, stopbits=serial.STOPBITS_ONE,
                                 timeout=0.5, write_timeout=5.0)
    try:
        port.parity = serial.PARITY_EVEN
        port.timeout = 0.5          # every later reconfiguration must work too
    except Exception:  # noqa: BLE001 - termios.error, SerialException, ValueError: no parity here
        port.close()
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.5, write_timeout=5.0)
    return port


# ---- the client ------------------------------------------------------------------

class Stm32Bootloader:
    """One AN3155 session on an open pyserial port."""

    def __init__(self, port, timeout: float = 1.0, log: Callable[[str], None] | None = None):
        self.port = port
        self.timeout = timeout
        self.log = log or (lambda msg: None)
        self.version: int | None = None
        self.commands: tuple[int, ...] = ()
        self._timeout_set: float | None = None
        self.retries = 0          # chunk retries over the session (reported)
        self.resyncs = 0

    # -- bytes (port failures become PortError: a dead line, not a crash)
    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except Exception as exc:  # noqa: BLE001 - SerialException, OSError, ...
            raise PortError(f"writing to the port failed: {exc}") from None

    def _port_read(self, n: int) -> bytes:
        try:
            return self.port.read(n)
        except Exception as exc:  # noqa: BLE001
            raise PortError(f"reading the port failed: {exc}") from None

    def _set_timeout(self, seconds: float) -> None:
        # Setting a pyserial timeout reprograms the tty (a tcsetattr): only on change.
        seconds = max(seconds, 0.0)
        if self._timeout_set != seconds:
            self.port.timeout = seconds
            self._timeout_set = seconds

    def _read(self, n: int, timeout: float | None = None) -> bytes:
        """Exactly n bytes, or Timeout (after `timeout` seconds, at most twice that)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self._set_timeout(timeout)
        buf = bytearray()
        while len(buf) < n:
            buf += self._port_read(n - len(buf))
            if len(buf) < n and time.monotonic() >= deadline:
                raise Timeout(f"timed out after {len(buf)} of {n} bytes")
        return bytes(buf)

    def drain(self, quiet: float = 0.05) -> int:
        """Throw away input until the line has been quiet for `quiet` seconds."""
        try:
            self.port.reset_input_buffer()
        except Exception:  # noqa: BLE001 - not every port type has a buffer to reset
            pass
        dropped = 0
        while True:
            self._set_timeout(quiet)
            data = self._port_read(4096)
            if not data:
                return dropped
            dropped += len(data)

    def _ack(self, timeout: float | None = None, what: str = "") -> None:
        b = self._read(1, timeout)[0]
        if b == ACK:
            return
        if b == NACK:
            raise Nack(f"NACK{' to ' + what if what else ''}")
        raise BootloaderError(f"byte 0x{b:02x} instead of ACK{' to ' + what if what else ''}")

    def _command(self, cmd: int) -> None:
        self._write(command_frame(cmd))
        self._ack(what=f"command 0x{cmd:02x}")

    # -- session
    def sync(self, budget: float | None = None) -> str:
        """Send 0x7F (again every `timeout` seconds, for `budget` seconds, default
        max(3 timeouts, 3 s)) until the bootloader answers. Returns 'ack' (fresh
        sync) or 'nack' (it was already synced). Ignores 0x00 and stale bytes."""
        budget = max(3 * self.timeout, 3.0) if budget is None else budget
        self.drain()
        deadline = time.monotonic() + budget
        sent = 0
        while time.monotonic() < deadline:
            self._write(bytes([SYNC]))
            sent += 1
            wait_until = min(deadline, time.monotonic() + self.timeout)
            while time.monotonic() < wait_until:
                self._set_timeout(min(self.timeout, 0.25))
                b = self._port_read(1)
                if not b:
                    continue
                if b[0] in (ACK, NACK):
                    # NACK: a repeated sync, the part is listening already. Either
                    # way, answers to any earlier unanswered 0x7F may follow: drop them.
                    if sent > 1 or b[0] == NACK:
                        self.drain(0.1)
                    return "ack" if b[0] == ACK else "nack"
                # 0x00 (some parts/adapters emit one as the line comes up) or stale bytes
        raise Timeout("no answer to sync")

    def resync(self, budget: float = 3.0) -> None:
        """Bring a bootloader that may be stuck inside a frame (bytes lost on the
        line) back to waiting for a command, without a reset.

        Feeds it 0x00 bytes: inside a frame they complete it (it then answers,
        usually NACK); between frames every pair 0x00 0x00 is a command whose
        complement is wrong, answered NACK whatever the alignment. Once anything
        answers, GET_ID (a full exchange) proves the bootloader is in step;
        if not, one more byte shifts the alignment and it tries again."""
        self.resyncs += 1
        deadline = time.monotonic() + budget
        burst = 8
        while time.monotonic() < deadline:
            self._write(b"\x00" * burst)
            self._set_timeout(0.03)
            if not self._port_read(64):
                continue
            self.drain(0.03)
            try:
                self.get_id()
                return
            except BootloaderError:
                self.drain(0.03)
                burst = 1
        raise Timeout("the bootloader does not answer any more")

    # -- commands
    def get(self) -> tuple[int, tuple[int, ...]]:
        self._command(CMD_GET)
        n = self._read(1)[0]
        body = self._read(n + 1)
        self._ack(what="GET")
        self.version, self.commands = body[0], tuple(body[1:])
        return self.version, self.commands

    def get_version(self) -> tuple[int, int, int]:
        self._command(CMD_GET_VERSION)
        v = self._read(3)
        self._ack(what="GET_VERSION")
        return v[0], v[1], v[2]

    def get_id(self) -> int:
        self._command(CMD_GET_ID)
        n = self._read(1)[0]
        pid = self._read(n + 1)
        self._ack(what="GET_ID")
        return int.from_bytes(pid[:2], "big")

    def read_memory(self, address: int, n: int) -> bytes:
        self._command(CMD_READ_MEMORY)
        self._write(address_frame(address))
        self._ack(what=f"READ address 0x{address:08x}")
        self._write(read_length_frame(n))
        self._ack(what="READ length")
        return self._read(n)

    def write_memory(self, address: int, data: bytes) -> None:
        self._command(CMD_WRITE_MEMORY)
        self._write(address_frame(address))
        self._ack(what=f"WRITE address 0x{address:08x}")
        self._write(write_frame(data))
        self._ack(what=f"WRITE data at 0x{address:08x}")

    def erase(self, pages: list[int] | None) -> None:
        """Erase pages (None: the whole flash) with EXTENDED ERASE when the part
        announces it, else the legacy ERASE."""
        extended = CMD_EXTENDED_ERASE in self.commands or CMD_ERASE not in self.commands
        n = 64 if pages is None else len(pages)
        timeout = max(self.timeout, 5.0 + 2.0 * n)
        if extended:
            self._command(CMD_EXTENDED_ERASE)
            self._write(extended_erase_frame(pages))
        else:
            self._command(CMD_ERASE)
            self._write(erase_frame(pages))
        self._ack(timeout=timeout, what="ERASE")

    def go(self, address: int) -> None:
        self._command(CMD_GO)
        self._write(address_frame(address))
        self._ack(what=f"GO 0x{address:08x}")


# ---- the flashing job ------------------------------------------------------------

@dataclass
class FlashReport:
    device: Device
    version: int
    address: int
    size: int
    pages: list[int]
    seconds: float
    chunk_retries: int
    repaired_pages: list[int]
    verified: bool
    started: bool


def connect(url: str, baudrate: int = 115200, timeout: float = 1.0, log=None) -> Stm32Bootloader:
    """Open the port, sync and GET: a session with a bootloader that answers
    properly, or TinygenError (exit 2) saying why not."""
    port = open_port(url, baudrate)
    bl = Stm32Bootloader(port, timeout=timeout, log=log)
    hint = (f"is BOOT0 high and the board reset (emulator: `tinygen emulate mps2-an386 --bootloader`)? "
            f"is the baud rate ({baudrate}) right and nothing else using the port?")
    try:
        bl.sync()
    except BootloaderError:
        port.close()
        raise TinygenError(f"no answer from the bootloader on {url}: {hint}") from None
    for attempt in range(2):
        try:
            bl.get()
            return bl
        except BootloaderError as exc:
            if attempt:
                port.close()
                raise TinygenError(f"something answers on {url} but not as an STM32 bootloader ({exc}): "
                                   f"an application running? {hint}") from None
            bl.drain()
    raise AssertionError("unreachable")


def _with_retries(bl: Stm32Bootloader, what: str, fn, attempts: int):
    last = None
    for attempt in range(attempts):
        try:
            return fn()
        except BootloaderError as exc:
            last = exc
            bl.retries += 1
            bl.log(f"{what}: {exc}; retrying ({attempt + 1}/{attempts})")
            try:
                bl.resync()
            except BootloaderError:
                raise NoLongerAnswering(f"{what} failed ({exc}) and the bootloader no longer answers: "
                                  "check the connection, reset the board into its bootloader and "
                                  "flash again") from None
    raise CheckFailed(f"{what} failed after {attempts} attempts ({last})")


def identify(bl: Stm32Bootloader, attempts: int = 3) -> tuple[int, Device]:
    if bl.version is None:
        _with_retries(bl, "GET", bl.get, attempts)
    pid = _with_retries(bl, "GET_ID", bl.get_id, attempts)
    dev = DEVICES.get(pid)
    if dev is None:
        raise TinygenError(f"unknown chip ID 0x{pid:03X}: tinygen knows {describe_devices()}")
    return pid, dev


def start(bl: Stm32Bootloader, address: int, attempts: int = 3) -> None:
    """GO. A NACK is retried (the bootloader is still listening); a lost or
    garbled answer is not (the application may already be running and must not
    be fed resync bytes): that is a failure to report, not success."""
    for attempt in range(attempts):
        try:
            bl.go(address)
            return
        except Nack:
            bl.retries += 1
            bl.log(f"GO 0x{address:08X} refused (NACK); retrying ({attempt + 1}/{attempts})")
            bl.resync()
        except BootloaderError as exc:
            raise CheckFailed(f"GO 0x{address:08X} was not acknowledged ({exc}): the application may "
                              "or may not be running; reset the board") from None
    raise CheckFailed(f"the bootloader refused GO 0x{address:08X} {attempts} times (no valid vector "
                      "table there?)")


def flash_image(bl: Stm32Bootloader, image: bytes, address: int, *, verify: bool = True,
                go: bool = True, attempts: int = 5, progress: bool = True,
                check: Callable[[Device, int, bytes], None] | None = None) -> FlashReport:
    """Erase, write (256-byte chunks, each retried), verify (re-erasing and
    rewriting pages that read back wrong) and start an image. Raises
    TinygenError (exit 2) for an image that does not fit, CheckFailed (exit 1)
    when the flash cannot be completed. `check(device, address, image)` runs
    once the chip is known and BEFORE anything is erased (it raises to refuse)."""
    from tqdm import tqdm

    t0 = time.monotonic()
    _, dev = identify(bl, attempts)
    if not image:
        raise TinygenError("the image is empty")
    end = dev.flash_base + dev.flash_size
    if not dev.flash_base <= address < end:
        raise TinygenError(f"address 0x{address:08X} is outside the flash of {dev.name} "
                           f"(0x{dev.flash_base:08X}-0x{end - 1:08X})")
    if address + len(image) > end:
        raise TinygenError(f"the image ({len(image)} bytes at 0x{address:08X}) does not fit the "
                           f"{dev.flash_size // KIB} KiB flash of {dev.name} (ends 0x{end:08X})")
    if check is not None:
        check(dev, address, image)
    if len(image) % 4:   # flash programs whole words; pad like an erased flash reads
        image = image + b"\xff" * (4 - len(image) % 4)
    pages = dev.pages_for(address, len(image))
    page_table = dev.pages()
    chunks = [(address + off, image[off:off + MAX_BLOCK]) for off in range(0, len(image), MAX_BLOCK)]

    def erase(pgs: list[int]) -> None:
        _with_retries(bl, f"erasing pages {pgs[0]}..{pgs[-1]}", lambda: bl.erase(pgs), attempts)

    repaired: list[int] = []

    def write(chunks_: list[tuple[int, bytes]], desc: str) -> None:
        """Write the chunks in order. A chunk that keeps being refused usually
        means its flash is no longer erased (a damaged frame got programmed
        while the line was being resynchronised): erase its page(s) and write
        them again from their first chunk, at most twice."""
        recoveries, i = 0, 0
        with tqdm(total=sum(len(c) for _, c in chunks_), unit="B", unit_scale=True, desc=desc,
                  disable=None if progress else True, leave=False) as bar:
            while i < len(chunks_):
                a, data = chunks_[i]
                try:
                    _with_retries(bl, f"writing 0x{a:08X}", lambda: bl.write_memory(a, data), attempts)
                except NoLongerAnswering:
                    raise
                except CheckFailed:
                    if recoveries >= 2:
                        raise
                    recoveries += 1
                    pgs = dev.pages_for(a, len(data))
                    bl.log(f"writing 0x{a:08X} keeps failing: erasing page(s) {pgs} and writing them again")
                    erase(pgs)
                    repaired.extend(pgs)
                    spans = [page_table[p] for p in pgs]
                    i = min(j for j, (b, d) in enumerate(chunks_)
                            if any(b < st + n and b + len(d) > st for st, n in spans))
                    bar.reset()
                    bar.update(sum(len(d) for _, d in chunks_[:i]))
                    continue
                bar.update(len(data))
                i += 1

    def bad_chunks(chunks_: list[tuple[int, bytes]], desc: str) -> list[tuple[int, bytes]]:
        bad = []
        with tqdm(total=sum(len(c) for _, c in chunks_), unit="B", unit_scale=True, desc=desc,
                  disable=None if progress else True, leave=False) as bar:
            for a, data in chunks_:
                # A read reply has no checksum: a mismatch is re-read before it counts.
                for _ in range(3):
                    got = _with_retries(bl, f"reading 0x{a:08X}", lambda: bl.read_memory(a, len(data)),
                                        attempts)
                    if got == data:
                        break
                else:
                    bad.append((a, data))
                bar.update(len(data))
        return bad

    erase(pages)
    write(chunks, "write")
    if verify:
        bad = bad_chunks(chunks, "verify")
        for round_ in range(2):
            if not bad:
                break
            # What slipped past the checksum: erase those pages and write them again.
            redo = sorted({p for a, d in bad for p in dev.pages_for(a, len(d))})
            repaired += redo
            bl.log(f"read-back mismatch at {len(bad)} chunk(s); rewriting page(s) {redo}")
            erase(redo)
            spans = [page_table[p] for p in redo]
            again = [(a, d) for a, d in chunks if any(s <= a < s + n for s, n in spans)]
            write(again, "rewrite")
            bad = bad_chunks(again, "verify")
        if bad:
            a = bad[0][0]
            raise CheckFailed(f"flash verification failed: {len(bad)} chunk(s) read back wrong "
                              f"(first at 0x{a:08X}) after rewriting; the board's flash is not "
                              "programmed correctly")
    if go:
        start(bl, address, attempts)
    return FlashReport(dev, bl.version or 0, address, len(image), pages, time.monotonic() - t0,
                       bl.retries, repaired, verify, go)
