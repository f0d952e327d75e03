"""`tinygen emulate TARGET_OR_DIR`: run an emulated board in QEMU until stopped.

- DIR (a built Cortex-M project): the board boots its firmware (on mps2-an386
  through tinygen's bootloader, which jumps straight to it; with --bootloader
  it stays in the bootloader, for `tinygen flash`).
- TARGET (e.g. mps2-an386): the board with only its bootloader, waiting for a
  flasher (`tinygen flash ... --port` the printed endpoint).

The first line printed is the serial endpoint, for scripts:
    serial: socket://127.0.0.1:PORT     (--serial tcp:HOST:PORT, default a free local port)
    serial: /dev/pts/N                  (--serial pty)
    serial: stdio                       (--serial stdio: the board's UART is this terminal)
QEMU always runs with -icount shift=0 (instruction counts as cycle figures).
Ctrl-C or SIGTERM stops QEMU.
"""
from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from tinygen.errors import TinygenError


def check_tcp_serial(serial: str) -> None:
    """--serial tcp:HOST:PORT: the port must be free on HOST before QEMU starts
    (otherwise QEMU exits with status 1 and no reason, after tinygen has already
    printed an endpoint that belongs to someone else)."""
    import errno
    import re
    import socket

    m = re.fullmatch(r"tcp:([^:]*):(\d+)", serial)
    if not m:
        return
    host, port = m.group(1) or "127.0.0.1", int(m.group(2))
    if not 0 < port < 65536:
        raise TinygenError(f"--serial {serial}: port {port} is not a TCP port (1-65535)")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as QEMU does
        sock.bind((host, port))
    except socket.gaierror:
        raise TinygenError(f"--serial {serial}: unknown host '{host}'; use 127.0.0.1") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise TinygenError(f"port {port} is in use (another emulator?) -- choose another "
                               "--serial tcp:127.0.0.1:PORT (or --serial tcp for a free one)") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise TinygenError(f"--serial {serial}: {host} is not an address of this machine; "
                               "use 127.0.0.1 (or 0.0.0.0 for every interface)") from None
        if exc.errno == errno.EACCES:
            raise TinygenError(f"--serial {serial}: port {port} needs privileges; use a port above 1023"
                               ) from None
        raise TinygenError(f"--serial {serial}: cannot listen on {host}:{port} ({exc.strerror})") from None
    finally:
        sock.close()


def _last_output_line(board) -> str:
    """The last line QEMU printed (its stderr goes to the same pipe), for errors."""
    out = getattr(board.proc, "stdout", None)
    if out is None:
        return ""
    try:
        text = out.read() or ""
    except (OSError, ValueError):
        return ""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _target_list() -> str:
    from tinygen.targets import get_target, target_names

    names = [n for n in target_names() if get_target(n).qemu_machine is not None]
    return ", ".join(names)


class _EmulateCommand(click.Command):
    """Lists the emulated targets (from the targets registry) in --help."""

    def format_help(self, ctx, formatter):
        super().format_help(ctx, formatter)
        with formatter.section("Targets"):
            formatter.write_text(f"emulated boards: {_target_list()} (a bare TARGET starts only its "
                                 "bootloader, for boards that have one)")


@click.command("emulate", cls=_EmulateCommand)
@click.argument("what", metavar="TARGET_OR_DIR")
@click.option("--serial", "serial", default="tcp", show_default=True, metavar="tcp:HOST:PORT|pty|stdio",
              help="where the board's UART0 goes ('tcp' alone: a free port on 127.0.0.1)")
@click.option("--bootloader", "boot0", is_flag=True,
              help="hold the board in its serial bootloader (BOOT0) instead of starting the firmware")
def command(what: str, serial: str, boot0: bool):
    """Emulate a board (TARGET) or a built firmware project (DIR) in QEMU.

    TARGET is one of the emulated boards listed below; DIR a project built
    for one ('tinygen generate ... --target mps2-an386' + 'tinygen build').
    The first line on stdout is the serial endpoint, once QEMU is up.
    """
    from tinygen.targets import get_target, target_names
    from tinygen.targets.qemu import QemuBoard, firmware_elf

    path = Path(what)
    if path.is_dir():
        from tinygen.device.firmware import read_project

        meta = read_project(path)
        target = get_target(meta["target"])
        if target.kind != "cortex-m":
            raise TinygenError(f"{path} is built for target '{target.name}', which runs natively: "
                               f"use 'tinygen run --firmware {path}' or 'tinygen verify ... --firmware {path}'")
        firmware = firmware_elf(path, meta)
    else:
        if what not in target_names():
            raise TinygenError(f"'{what}' is neither a project directory nor a target "
                               f"(targets: {', '.join(target_names())})")
        target = get_target(what)
        firmware = None
        if target.extra.get("boot") != "bootloader":
            raise TinygenError(f"target {target.name} has no emulated bootloader: give a built project DIR")
    if boot0 and target.extra.get("boot") != "bootloader":
        raise TinygenError(f"--bootloader: target {target.name} has no emulated bootloader")

    check_tcp_serial(serial)
    board = QemuBoard(target, firmware, serial=serial, boot0=boot0 or firmware is None,
                      stdout=None)

    def _terminate(signum, frame):  # SIGTERM: leave through the finally below
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _terminate)
    try:
        if serial == "stdio":
            click.echo("serial: stdio")
            board.start()
        else:
            board.start()
            click.echo(f"serial: {board.url}")
        if firmware is None:
            what_runs = "its bootloader (waiting for a flasher)"
        elif boot0:
            what_runs = f"its bootloader (BOOT0 held; {firmware.with_suffix('.bin')} preloaded)"
        else:
            what_runs = f"{firmware.with_suffix('.bin')} via its bootloader" if target.extra.get(
                "boot") == "bootloader" else str(firmware)
        click.echo(f"QEMU {target.qemu_machine} running {what_runs}; -icount shift=0; Ctrl-C stops it",
                   err=True)
        sys.stdout.flush()
        status = board.proc.wait()
        if status != 0:
            last = _last_output_line(board)
            raise TinygenError(f"QEMU exited with status {status}" + (f": {last}" if last else ""))
    except KeyboardInterrupt:
        click.echo("stopping QEMU", err=True)
    finally:
        board.stop()
        signal.signal(signal.SIGTERM, old)
