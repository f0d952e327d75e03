"""`tinygen flash`: program a board through the STM32 ROM bootloader (AN3155).

Works on a real STM32 (BOOT0 high + reset, USART of the system bootloader or
the ST-LINK virtual COM port) and on the emulated board
(`tinygen emulate mps2-an386 --bootloader --serial tcp:127.0.0.1:PORT`).
"""
from __future__ import annotations

import struct
from pathlib import Path

import click

from tinygen.errors import CheckFailed, TinygenError

DEFAULT_ADDRESS = 0x08000000
# The emulated board runs the application from 0x00010000; its bootloader shows
# that region as flash at 0x08000000 (firmware/bootloader/emulated_stm32.h).
EMULATED_EXEC_BASE = 0x00010000
EMULATED_EXEC_SIZE = 0x00100000

PT_LOAD = 1


def elf_image(data: bytes, name: str) -> tuple[int, bytes]:
    """(load address, bytes) of a 32-bit little-endian ELF's PT_LOAD segments,
    placed at their physical (load) addresses, gaps filled with 0xFF."""
    if len(data) < 52 or data[:4] != b"\x7fELF":
        raise TinygenError(f"{name}: not an ELF file")
    if data[4] != 1 or data[5] != 1:
        raise TinygenError(f"{name}: not a 32-bit little-endian ELF (a Cortex-M image is)")
    phoff, = struct.unpack_from("<I", data, 28)
    phentsize, phnum = struct.unpack_from("<HH", data, 42)
    segments = []
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 32 > len(data):
            raise TinygenError(f"{name}: truncated ELF program header")
        p_type, p_offset, _vaddr, p_paddr, p_filesz, _memsz, _flags, _align = struct.unpack_from("<8I", data, off)
        if p_type == PT_LOAD and p_filesz > 0:
            if p_offset + p_filesz > len(data):
                raise TinygenError(f"{name}: truncated ELF segment")
            segments.append((p_paddr, data[p_offset:p_offset + p_filesz]))
    if not segments:
        raise TinygenError(f"{name}: the ELF has no loadable contents")
    base = min(a for a, _ in segments)
    end = max(a + len(s) for a, s in segments)
    if end - base > 64 * 1024 * 1024:
        raise TinygenError(f"{name}: loadable segments span {end - base} bytes (0x{base:08X}-0x{end:08X}); "
                           "they do not form one flash image")
    image = bytearray(b"\xff" * (end - base))
    for a, s in segments:
        image[a - base:a - base + len(s)] = s
    return base, bytes(image)


def load_firmware(path: Path, address: int | None) -> tuple[int, bytes, Path]:
    """FIRMWARE argument -> (flash address, image, file used).

    .bin: written at --address (default 0x08000000). .elf: its load address;
    an image linked for the emulated board's execution region (0x00010000) goes
    to the matching flash address 0x08000000+. A generated project directory:
    DIR/build/firmware.bin."""
    if path.is_dir():
        binary = path / "build" / "firmware.bin"
        if not binary.is_file():
            raise TinygenError(f"{binary} not found: run `tinygen build {path}` first")
        path = binary
    if not path.is_file():
        raise TinygenError(f"no such file: {path}")
    data = path.read_bytes()
    if data[:4] == b"\x7fELF":
        base, image = elf_image(data, str(path))
        if address is None:
            if EMULATED_EXEC_BASE <= base < EMULATED_EXEC_BASE + EMULATED_EXEC_SIZE:
                address = DEFAULT_ADDRESS + (base - EMULATED_EXEC_BASE)
            else:
                address = base
        return address, image, path
    if path.suffix.lower() in (".hex", ".ihex", ".srec", ".s19"):
        raise TinygenError(f"{path}: Intel HEX/S-record is not supported; give the .bin or .elf")
    return (DEFAULT_ADDRESS if address is None else address), data, path


# ---- what may be flashed where ---------------------------------------------------------

# The chip IDs (as the ROM bootloader reports them, GET_ID) a project built for a
# target may be flashed to. Targets not listed have no STM32 ROM bootloader.
TARGET_CHIPS: dict[str, tuple[int, ...]] = {
    "mps2-an386": (0x413,),      # tinygen's emulated bootloader (an STM32F405/407's ID)
    "nucleo-l4r5zi": (0x470,),   # STM32L4R5ZI
}
NO_BOOTLOADER = {
    "mps3-an547": "QEMU loads its ELF directly: run it with `tinygen emulate DIR` or `tinygen verify --firmware DIR`",
    "host": "it is a program for this machine: run it with `tinygen verify --firmware DIR`",
}
# RAM where a Cortex-M image's initial stack pointer may point (end address inclusive:
# the stack usually starts at the top of RAM). STM32 SRAM/CCM and the emulated boards.
KNOWN_RAM = ((0x20000000, 0x20000000 + (4 << 20)),   # STM32 SRAM1/2/3, MPS2 SSRAM2/3
             (0x10000000, 0x10000000 + (64 << 10)),  # STM32F4 CCM
             (0x30000000, 0x30000000 + (4 << 20)))   # MPS3 AN547 SRAM


def project_meta(firmware: Path) -> tuple[Path, dict] | None:
    """(project dir, its tinygen.json) when FIRMWARE is a project or a file in DIR/build/."""
    from tinygen.device.firmware import METADATA_FILE, read_project

    candidates = [firmware] if firmware.is_dir() else (
        [firmware.parent.parent] if firmware.parent.name == "build" else [])
    for d in candidates:
        if (d / METADATA_FILE).is_file():
            return d, read_project(d)
    return None


def check_project_target(project: Path, target: str) -> None:
    """Refuse, before connecting, a project for a board without an STM32 ROM bootloader."""
    if target in TARGET_CHIPS:
        return
    why = NO_BOOTLOADER.get(target, "tinygen does not know which chip it runs on")
    raise TinygenError(f"{project} is built for {target}, which is not flashed through an STM32 bootloader: "
                       f"{why} (--raw writes it anyway)")


def check_chip(project: Path, target: str, pid: int, chip_name: str) -> None:
    """The project's target must fit the chip the bootloader reports."""
    chips = TARGET_CHIPS.get(target, ())
    if pid not in chips:
        want = " or ".join(f"0x{c:03X}" for c in chips)
        raise TinygenError(f"{project} is built for {target} (chip ID {want}), but the bootloader reports "
                           f"0x{pid:03X} {chip_name}: generate the project with the matching --target "
                           "(--raw writes it anyway)")


def check_vector_table(image: bytes, address: int, name: str, ram=KNOWN_RAM) -> None:
    """A Cortex-M image starts with its vector table: word 0 the initial stack
    pointer (in RAM), word 1 the reset handler (odd: Thumb; inside the image).
    Refuse anything else (a .tflite, a text file, ...) before it is written."""
    hint = "is it a firmware image? (--raw writes it anyway as raw data)"
    if len(image) < 8:
        raise TinygenError(f"{name}: {len(image)} bytes is too short for a Cortex-M vector table: {hint}")
    sp, reset = struct.unpack_from("<II", image, 0)
    if not any(lo <= sp <= hi for lo, hi in ram) or sp % 4:
        raise TinygenError(f"{name} does not start with a Cortex-M vector table: initial stack pointer "
                           f"0x{sp:08X} is not a RAM address: {hint}")
    # Where the image executes: where it is written, or (emulated board) the region
    # the bootloader shows as flash at 0x08000000.
    bases = {address, EMULATED_EXEC_BASE + (address - DEFAULT_ADDRESS)}
    target = reset & ~1
    if not reset & 1 or not any(b <= target < b + len(image) for b in bases):
        raise TinygenError(f"{name} does not start with a Cortex-M vector table: reset vector 0x{reset:08X} "
                           f"is not {'an odd (Thumb) address' if not reset & 1 else 'inside the image'} "
                           f"(written at 0x{address:08X}, {len(image)} bytes): {hint}")


def _parse_address(ctx, param, value):
    if value is None:
        return None
    try:
        a = int(value, 0)
    except ValueError:
        raise click.BadParameter(f"not a number: {value!r} (e.g. 0x08000000)") from None
    if not 0 <= a <= 0xFFFFFFFF:
        raise click.BadParameter("must be a 32-bit address")
    if a % 4:
        raise click.BadParameter("must be 4-byte aligned")
    return a


@click.command("flash")
@click.argument("firmware", type=click.Path(path_type=Path))
@click.option("--port", "-p", required=True,
              help="Serial port or pyserial URL: /dev/ttyACM0, COM3, /dev/pts/N, socket://127.0.0.1:4444.")
@click.option("--baud", "-b", default=115200, show_default=True, type=click.IntRange(1200, 4_000_000),
              help="Baud rate (the ROM bootloader detects it from the sync byte).")
@click.option("--address", "-a", callback=_parse_address, default=None, metavar="ADDR",
              help="Flash address to write at [.bin: 0x08000000; .elf: its load address].")
@click.option("--no-verify", is_flag=True, help="Skip reading the flash back.")
@click.option("--no-go", is_flag=True, help="Leave the board in the bootloader (no GO).")
@click.option("--timeout", default=1.0, show_default=True, type=click.FloatRange(0.05, 60),
              help="Seconds to wait for each answer.")
@click.option("--retries", default=5, show_default=True, type=click.IntRange(1, 100),
              help="Attempts per chunk/command before giving up.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--raw", is_flag=True,
              help="Write FIRMWARE as raw data: skip the checks that it starts with a Cortex-M vector "
                   "table and that a project's target fits the chip (deliberate data writes only).")
def command(firmware, port, baud, address, no_verify, no_go, timeout, retries, quiet, raw=False):
    """Write FIRMWARE to a board through the STM32 ROM bootloader (ST AN3155).

    FIRMWARE is a .bin, an .elf or a generated project directory
    (DIR/build/firmware.bin). The board must be in its bootloader: on a real
    STM32 hold BOOT0 high and reset; on the emulated board run
    `tinygen emulate mps2-an386 --bootloader --serial tcp:127.0.0.1:4444`.

    \b
    Steps: sync, identify the chip, erase the pages the image needs, write in
    256-byte chunks (each retried on NACK or timeout), read back and compare
    (pages that read back wrong are erased and written again), then GO.

    \b
    Before anything is erased: the image must start with a Cortex-M vector
    table (initial stack pointer in RAM, odd reset vector inside the image),
    and a project's target (DIR/tinygen.json) must fit the chip the bootloader
    reports (mps2-an386: 0x413, the emulated board; nucleo-l4r5zi: 0x470).
    --raw skips both, for deliberate writes of data.

    \b
    Examples:
      tinygen flash out/ --port socket://127.0.0.1:4444
      tinygen flash out/build/firmware.bin --port /dev/ttyACM0
      tinygen flash app.bin -p /dev/ttyUSB0 -a 0x08004000     (a .bin elsewhere)

    Exit status: 0 flashed (and verified), 1 the flash could not be completed
    or verified, 2 bad input or no bootloader answering.
    """
    from tinygen.device import stm32boot

    flash_address, image, used = load_firmware(firmware, address)
    project = None if raw or not firmware.exists() else project_meta(firmware)
    if project is not None:
        check_project_target(project[0], str(project[1].get("target", "?")))

    def check(dev, at: int, data: bytes) -> None:  # the chip is known, nothing erased yet
        if raw:
            return
        if project is not None:
            check_chip(project[0], str(project[1].get("target")), dev.pid, dev.name)
        check_vector_table(data, at, str(used))

    log = (lambda msg: None) if quiet else (lambda msg: click.echo(f"  {msg}", err=True))
    bl = stm32boot.connect(port, baud, timeout=timeout, log=log)
    try:
        report = stm32boot.flash_image(bl, image, flash_address, verify=not no_verify, go=not no_go,
                                       attempts=retries, progress=not quiet, check=check)
    except stm32boot.BootloaderError as exc:
        raise CheckFailed(f"flashing {used} failed: {exc}") from None
    finally:
        bl.port.close()
    kib = report.size / 1024
    pages = report.pages
    click.echo(f"chip: 0x{report.device.pid:03X} {report.device.name}, bootloader "
               f"{report.version >> 4}.{report.version & 15}")
    click.echo(f"wrote {report.size} bytes ({kib:.1f} KiB) from {used} at 0x{report.address:08X}, "
               f"erased page(s) {pages[0]}..{pages[-1]}, in {report.seconds:.2f} s "
               f"({kib / max(report.seconds, 1e-9):.1f} KiB/s)")
    if report.chunk_retries:
        click.echo(f"retries: {report.chunk_retries}")
    if report.repaired_pages:
        click.echo(f"rewrote page(s) {sorted(set(report.repaired_pages))} that read back wrong")
    click.echo("verified: read back identical" if report.verified else "not verified (--no-verify)")
    click.echo(f"started: GO 0x{report.address:08X}" if report.started else "not started (--no-go)")
