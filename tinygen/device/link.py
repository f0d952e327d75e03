"""Byte transports to a device: a child process (host firmware, stdin/stdout
pipes) or any pyserial URL (socket://host:port, /dev/pts/N, /dev/ttyACM0, ...).

A link only moves bytes: `write(data)`, `read(n, timeout) -> bytes` (returns
what arrived within `timeout` seconds, possibly fewer than n, b'' on timeout)
and `close()`. Framing, CRCs and retries live in tinygen.device.protocol.
Links are context managers.
"""
from __future__ import annotations

import os
import selectors
import subprocess
import time
from pathlib import Path
from typing import Sequence

from tinygen.errors import TinygenError


class Link:
    """Base class: a bidirectional byte stream with read timeouts."""

    description = "link"

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, n: int, timeout: float) -> bytes:
        raise NotImplementedError

    def drain(self) -> None:
        """Throw away whatever input is pending (stale replies, garbage)."""
        while self.read(4096, 0.0):
            pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ProcessLink(Link):
    """Talk to a child process over its stdin/stdout (the host firmware)."""

    def __init__(self, argv: Sequence[str | os.PathLike], cwd: str | None = None):
        argv = [str(a) for a in argv]
        if not Path(argv[0]).exists():
            raise TinygenError(f"firmware program not found: {argv[0]}")
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, cwd=cwd, bufsize=0)
        except OSError as exc:
            raise TinygenError(f"cannot start {argv[0]}: {exc.strerror}") from None
        self.description = f"process {argv[0]}"
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)

    def write(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise TinygenError(f"{self.description} exited (status {self.proc.poll()}) "
                               "while being written to") from None

    def read(self, n: int, timeout: float) -> bytes:
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            remaining = max(deadline - time.monotonic(), 0.0)
            if self._sel.select(remaining):
                data = os.read(self.proc.stdout.fileno(), n)
                if not data:
                    raise TinygenError(f"{self.description} exited (status {self.proc.wait()}) "
                                       "without answering")
                return data
            if time.monotonic() >= deadline:
                return b""

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._sel.close()
        self.proc.stdout.close()


class SerialLink(Link):
    """Any pyserial URL or device path (serial.serial_for_url)."""

    def __init__(self, url: str, baudrate: int = 115200, open_timeout: float = 5.0):
        import serial  # pyserial

        self.description = f"serial {url}"
        deadline = time.monotonic() + open_timeout
        while True:
            try:
                self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0)
                break
            except (serial.SerialException, OSError, ValueError) as exc:
                # socket:// refuses until the emulator listens: retry until the deadline.
                if time.monotonic() >= deadline:
                    raise TinygenError(f"cannot open {url}: {exc}") from None
                time.sleep(0.1)

    def write(self, data: bytes) -> None:
        import serial

        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise TinygenError(f"{self.description}: write failed: {exc}") from None

    def read(self, n: int, timeout: float) -> bytes:
        import serial

        try:
            self.port.timeout = max(timeout, 0.0)
            first = self.port.read(1)
            if not first:
                return b""
            self.port.timeout = 0
            return first + self.port.read(max(n - 1, 0))
        except (serial.SerialException, OSError) as exc:
            raise TinygenError(f"{self.description}: read failed: {exc}") from None

    def close(self) -> None:
        try:
            self.port.close()
        except Exception:  # noqa: BLE001 - closing a dead port must not mask the real error
            pass


def open_link(spec: str | os.PathLike, baudrate: int = 115200) -> Link:
    """A path to an existing executable -> ProcessLink; anything else -> SerialLink."""
    s = str(spec)
    p = Path(s)
    if p.is_file() and os.access(p, os.X_OK):
        return ProcessLink([p])
    return SerialLink(s, baudrate=baudrate)
