"""tinygen's emulated STM32 system bootloader (firmware/bootloader/).

The emulated board (QEMU mps2-an386) has no ROM bootloader, so tinygen brings
one: a small C program at 0x00000000 that speaks ST's AN3155 USART protocol on
UART0 and presents the application region (0x00010000, 1 MiB) as the flash of
an STM32F405/407 at 0x08000000. `tinygen flash` and stm32flash program it as
they would a real board. See firmware/bootloader/emulated_stm32.h.

- `bootloader_elf(target)` builds it (once per source hash) with
  arm-none-eabi-gcc into ~/.cache/tinygen/bootloader-<hash>/bootloader.elf
  (TINYGEN_CACHE_DIR overrides the cache root) and returns the path.
- `qemu_args(target, boot0)` are the QEMU arguments that load it, plus the
  BOOT0 flag word when `boot0` is true (`tinygen emulate --bootloader`).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tinygen.errors import TinygenError
from tinygen.paths import FIRMWARE_DIR

BOOTLOADER_DIR = FIRMWARE_DIR / "bootloader"

# Mirrors firmware/bootloader/emulated_stm32.h.
BOOT0_FLAG_ADDR = 0x0000FFF0
BOOT0_MAGIC = 0x30424754          # "TGB0" in memory order
APP_EXEC_BASE = 0x00010000        # where the application runs on the board
FLASH_WINDOW_BASE = 0x08000000    # where flashers see it
FLASH_WINDOW_SIZE = 0x00100000

# Boards the bootloader is built for: CPU flags.
_TARGET_CFLAGS = {
    "mps2-an386": ("-mcpu=cortex-m4", "-mthumb"),
}

_CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-Os", "-g", "-ffreestanding",
           "-ffunction-sections", "-fdata-sections")
_LDFLAGS = ("-nostdlib", "-Wl,--gc-sections")
CC = "arm-none-eabi-gcc"


def _sources() -> list[Path]:
    return [BOOTLOADER_DIR / "startup.c", BOOTLOADER_DIR / "bootloader.c"]


def _inputs() -> list[Path]:
    """Every file the build reads (sources, headers, linker script): the
    bootloader is self-contained, independent of the application's drivers."""
    return sorted(BOOTLOADER_DIR.glob("*.[ch]")) + [BOOTLOADER_DIR / "bootloader.ld"]


def _check_target(target_name: str) -> tuple[str, ...]:
    try:
        return _TARGET_CFLAGS[target_name]
    except KeyError:
        known = ", ".join(sorted(_TARGET_CFLAGS))
        raise TinygenError(f"no emulated bootloader for target '{target_name}' (available for: {known}); "
                           "a real board has its ROM bootloader") from None


def source_hash(target_name: str) -> str:
    h = hashlib.sha256()
    h.update(target_name.encode())
    h.update(" ".join(_CFLAGS + _LDFLAGS + _check_target(target_name)).encode())
    for path in _inputs():
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def cache_root() -> Path:
    env = os.environ.get("TINYGEN_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tinygen"


def build_bootloader(target_name: str, out_dir: Path) -> Path:
    """Compile the bootloader into out_dir/bootloader.elf (+ .bin); returns the ELF."""
    cpu = _check_target(target_name)
    if shutil.which(CC) is None:
        raise TinygenError(f"{CC} not found: install the Arm GNU toolchain to build the bootloader")
    out_dir.mkdir(parents=True, exist_ok=True)
    elf = out_dir / "bootloader.elf"
    cmd = [CC, *cpu, *_CFLAGS, f"-I{BOOTLOADER_DIR}",
           "-T", str(BOOTLOADER_DIR / "bootloader.ld"), *_LDFLAGS,
           *map(str, _sources()), "-o", str(elf)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise TinygenError(f"building the bootloader failed:\n{res.stderr.strip()}")
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(out_dir / "bootloader.bin")],
                   check=False, capture_output=True)
    return elf


def bootloader_elf(target_name: str = "mps2-an386") -> Path:
    """The built bootloader for `target_name`, compiled on first use and cached
    by a hash of its sources (safe against concurrent builders)."""
    final = cache_root() / f"bootloader-{target_name}-{source_hash(target_name)}"
    elf = final / "bootloader.elf"
    if elf.is_file():
        return elf
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=final.parent))
    try:
        build_bootloader(target_name, tmp)
        try:
            tmp.rename(final)
        except OSError:  # another process won the race: use its copy
            if not elf.is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return elf


def qemu_args(target_name: str = "mps2-an386", boot0: bool = False) -> list[str]:
    """QEMU arguments loading the bootloader at 0 (it boots first at reset) and,
    with boot0, the BOOT0 flag that keeps it serving AN3155 on UART0.

    The flag is written by QEMU at every reset (like a pin held high); without
    it the word reads 0 and a valid application starts at once."""
    args = ["-device", f"loader,file={bootloader_elf(target_name)}"]
    if boot0:
        args += ["-device", f"loader,addr=0x{BOOT0_FLAG_ADDR:08x},data=0x{BOOT0_MAGIC:08x},data-len=4"]
    return args


def emulator_argv(serial: str, boot0: bool = True, app_elf: Path | None = None,
                  target_name: str = "mps2-an386") -> list[str]:
    """A complete qemu-system-arm command line for the board with its
    bootloader (and optionally an application ELF preloaded), UART0 on `serial`
    (a QEMU chardev: 'tcp:127.0.0.1:4444,server=on,wait=off', 'pty', 'stdio').
    `tinygen emulate` is the user-facing way; this is its minimal core, used by
    the bootloader's own tests."""
    _check_target(target_name)
    argv = ["qemu-system-arm", "-M", target_name, "-nographic", "-monitor", "none",
            "-serial", serial, *qemu_args(target_name, boot0)]
    if app_elf is not None:
        argv += ["-device", f"loader,file={app_elf}"]
    return argv


def free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """QEMU running the bootloader (test and tooling helper; `tinygen emulate`
    is the user-facing command). serial='tcp' -> `url` is socket://127.0.0.1:PORT;
    serial='pty' -> `url` is the /dev/pts/N QEMU allocated."""

    def __init__(self, serial: str = "tcp", boot0: bool = True, app_elf: Path | None = None,
                 target_name: str = "mps2-an386"):
        self.serial, self.boot0, self.app_elf, self.target_name = serial, boot0, app_elf, target_name
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self._pty_holder: int | None = None

    def __enter__(self) -> "Emulator":
        import re
        import time

        if self.serial == "tcp":
            port = free_tcp_port()
            chardev = f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on"
            self.url = f"socket://127.0.0.1:{port}"
        else:
            chardev = "pty"
        argv = emulator_argv(chardev, self.boot0, self.app_elf, self.target_name)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        if self.serial != "tcp":
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                line = self.proc.stdout.readline()
                m = re.search(r"(/dev/pts/\d+)", line)
                if m:
                    self.url = m.group(1)
                    break
                if not line and self.proc.poll() is not None:
                    break
            if not self.url:
                self.close()
                raise TinygenError("QEMU did not report its pty")
            # QEMU reads a pty only once it has seen the other side open (it
            # looks once a second); keep it open so flashers' first bytes count.
            self._pty_holder = os.open(self.url, os.O_RDWR | os.O_NOCTTY)
            time.sleep(1.1)
        return self

    def close(self) -> None:
        if self._pty_holder is not None:
            os.close(self._pty_holder)
            self._pty_holder = None
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __exit__(self, *exc) -> None:
        self.close()
