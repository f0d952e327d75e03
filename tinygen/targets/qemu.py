"""Starting QEMU for a Cortex-M target, with the board's UART0 on a host endpoint.

    with QemuBoard(target, firmware=Path("out/build/firmware.elf")) as board:
        link = SerialLink(board.url)          # socket://127.0.0.1:PORT or /dev/pts/N

Always `-icount shift=0`: every guest instruction advances virtual time by
1 ns, so the firmware's SysTick-based counter reports instructions (see
firmware/targets/*/board.c), identical from run to run.

How an image boots depends on the board (Target.extra["boot"]):
- 'bootloader' (mps2-an386): tinygen's serial bootloader (tinygen.device.bootloader)
  at address 0 starts first; the application's raw image (firmware.bin) is
  loaded at its execution address 0x00010000 and the bootloader jumps to it,
  unless `boot0` holds the bootloader in its AN3155 command loop (for `tinygen
  flash`). No firmware at all: the bootloader waits for a flasher.
- 'direct' (mps3-an547): QEMU loads the ELF and the core resets into it.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tinygen.errors import TinygenError
from tinygen.targets import Target, get_target

QEMU = "qemu-system-arm"
ICOUNT = ("-icount", "shift=0")


def qemu_available() -> bool:
    return shutil.which(QEMU) is not None


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check(target: Target) -> None:
    if not target.qemu_machine:
        raise TinygenError(f"target {target.name} cannot be emulated (real hardware only): flash it with "
                           f"'tinygen flash' and use --port")
    if not qemu_available():
        raise TinygenError(f"{QEMU} is not installed (Debian/Ubuntu: apt-get install qemu-system-arm)")


def image_args(target: Target, firmware: Path | None, boot0: bool = False) -> list[str]:
    """QEMU arguments that put `firmware` (an ELF; its .bin beside it for bootloader boards) on the board."""
    boot = target.extra.get("boot", "direct")
    if boot == "bootloader":
        from tinygen.device import bootloader

        args = bootloader.qemu_args(target.name, boot0)
        if firmware is not None:
            binary = Path(firmware).with_suffix(".bin")
            if not binary.is_file():
                raise TinygenError(f"{binary} is missing: rebuild with 'tinygen build'")
            args += ["-device", f"loader,file={binary},addr=0x{target.extra['app_base']:08x},force-raw=on"]
        return args
    if firmware is None:
        raise TinygenError(f"target {target.name} has no bootloader: give a built firmware directory")
    if boot0:
        raise TinygenError(f"target {target.name} has no bootloader (--bootloader is for mps2-an386)")
    return ["-kernel", str(firmware)]


def qemu_argv(target: Target, firmware: Path | None, chardev: str, boot0: bool = False) -> list[str]:
    _check(target)
    return [QEMU, "-M", target.qemu_machine, "-nographic", "-monitor", "none", *ICOUNT,
            "-serial", chardev, *image_args(target, firmware, boot0)]


class QemuBoard:
    """A running QEMU with the board's UART0 on `serial`:
    'tcp' (a free local port; `url` = socket://127.0.0.1:PORT), 'tcp:HOST:PORT',
    'pty' (`url` = /dev/pts/N) or 'stdio' (the terminal; no url)."""

    def __init__(self, target: Target | str, firmware: Path | None = None, serial: str = "tcp",
                 boot0: bool = False, stdout=None):
        self.target = get_target(target) if isinstance(target, str) else target
        self.firmware = Path(firmware) if firmware is not None else None
        self.serial = serial
        self.boot0 = boot0
        self.url = ""
        self.proc: subprocess.Popen | None = None
        self._stdout = stdout
        self._pty_holder: int | None = None

    def _chardev(self) -> str:
        s = self.serial
        if s == "tcp":
            port = free_tcp_port()
            self.url = f"socket://127.0.0.1:{port}"
            return f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on"
        m = re.fullmatch(r"tcp:([^:]*):(\d+)", s)
        if m:
            host, port = m.group(1) or "127.0.0.1", int(m.group(2))
            self.url = f"socket://{host}:{port}"
            return f"tcp:{host}:{port},server=on,wait=off,nodelay=on"
        if s in ("pty", "stdio"):
            return s
        raise TinygenError(f"--serial must be tcp:HOST:PORT, pty or stdio (got '{s}')")

    def start(self) -> "QemuBoard":
        chardev = self._chardev()
        argv = qemu_argv(self.target, self.firmware, chardev, self.boot0)
        if self.serial == "stdio":
            self.proc = subprocess.Popen(argv, stdout=self._stdout, start_new_session=False)
            return self
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        if self.serial == "pty":
            self._wait_for_pty()
        else:
            self._wait_for_listen()
        return self

    def _fail(self, what: str) -> None:
        out = ""
        if self.proc is not None and self.proc.poll() is not None and self.proc.stdout is not None:
            out = self.proc.stdout.read().strip()
        self.stop()
        raise TinygenError(f"QEMU {what}" + (f": {out.splitlines()[-1]}" if out else ""))

    def _wait_for_listen(self, timeout: float = 10.0) -> None:
        host, port = self.url[len("socket://"):].rsplit(":", 1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._fail("exited at start")
            try:
                # Probe: QEMU accepts one client at a time, so close at once.
                with socket.create_connection((host, int(port)), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self._fail(f"did not open {self.url} within {timeout:g} s")

    def _wait_for_pty(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            m = re.search(r"(/dev/pts/\d+)", line)
            if m:
                self.url = m.group(1)
                # QEMU only reads a pty once it has seen the other side open (it
                # checks about once a second): hold it open from now on.
                self._pty_holder = os.open(self.url, os.O_RDWR | os.O_NOCTTY)
                time.sleep(1.1)
                return
            if not line and self.proc.poll() is not None:
                break
        self._fail("did not report its pty")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pause(self) -> None:
        """Freeze the emulator (SIGSTOP): a board that stops answering, for tests."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGSTOP)

    def stop(self) -> None:
        if self._pty_holder is not None:
            os.close(self._pty_holder)
            self._pty_holder = None
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None and self.serial != "stdio":
            self.proc.stdout.close()

    def __enter__(self) -> "QemuBoard":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def firmware_elf(project_dir: Path, meta: dict | None = None) -> Path:
    from tinygen.device.firmware import read_project

    meta = meta if meta is not None else read_project(project_dir)
    elf = Path(project_dir) / meta.get("firmware", "build/firmware.elf")
    if not elf.is_file():
        raise TinygenError(f"{elf} does not exist: build the project first ('tinygen build {project_dir}')")
    return elf


class QemuLink:
    """A SerialLink to a QemuBoard that stops QEMU when closed (the launcher
    tinygen.device.firmware uses for Cortex-M projects)."""

    def __init__(self, board: QemuBoard):
        from tinygen.device.link import SerialLink

        self.board = board
        try:
            self._link = SerialLink(board.url)
        except BaseException:
            board.stop()
            raise
        self.description = f"QEMU {board.target.name} ({board.url})"

    def write(self, data: bytes) -> None:
        self._link.write(data)

    def read(self, n: int, timeout: float) -> bytes:
        data = self._link.read(n, timeout)
        if not data and not self.board.alive():
            raise TinygenError(f"{self.description}: QEMU exited (status {self.board.proc.poll()})")
        return data

    def drain(self) -> None:
        self._link.drain()

    def close(self) -> None:
        self._link.close()
        self.board.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def launch_project(project_dir: str | Path, meta: dict | None = None, serial: str = "tcp") -> QemuLink:
    """Start QEMU on the built firmware of a Cortex-M project; a link to its UART0."""
    from tinygen.device.firmware import read_project

    d = Path(project_dir)
    meta = meta if meta is not None else read_project(d)
    target = get_target(meta["target"])
    elf = firmware_elf(d, meta)
    board = QemuBoard(target, elf, serial=serial).start()
    return QemuLink(board)
