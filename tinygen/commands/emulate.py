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


@click.command("emulate")
@click.argument("what", metavar="TARGET_OR_DIR")
@click.option("--serial", "serial", default="tcp", show_default=True, metavar="tcp:HOST:PORT|pty|stdio",
              help="where the board's UART0 goes ('tcp' alone: a free port on 127.0.0.1)")
@click.option("--bootloader", "boot0", is_flag=True,
              help="hold the board in its serial bootloader (BOOT0) instead of starting the firmware")
def command(what: str, serial: str, boot0: bool):
    """Emulate a board (TARGET) or a built firmware project (DIR) in QEMU."""
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
            raise TinygenError(f"QEMU exited with status {status}")
    except KeyboardInterrupt:
        click.echo("stopping QEMU", err=True)
    finally:
        board.stop()
        signal.signal(signal.SIGTERM, old)
