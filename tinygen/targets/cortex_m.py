"""The Cortex-M boards tinygen builds for (registered into tinygen.targets).

Each board is one small description: CPU flags, memory map (in its linker
script template, templates/targets/<name>/linker.ld.j2), serial port and cycle
counter (its board.c under firmware/targets/), and how QEMU emulates it.

- mps2-an386    Cortex-M4F on QEMU `-M mps2-an386` (the default target). The
                application runs at 0x00010000 behind tinygen's serial
                bootloader; build/firmware.bin is what a flasher writes at
                0x08000000 (the bootloader's flash window).
- mps3-an547    Cortex-M55 (Helium) on QEMU `-M mps3-an547`; boots the ELF directly.
- nucleo-l4r5zi STM32L4R5ZI, the MLPerf Tiny reference board (real hardware
                only: build here, flash with `tinygen flash` or stm32flash).

Under QEMU the firmware counts instructions (QEMU runs with `-icount shift=0`:
1 ns of virtual time per instruction, SysTick follows virtual time); on the
Nucleo it counts core cycles with DWT CYCCNT.
"""
from __future__ import annotations

from tinygen.targets import Target, register

GCC = "arm-none-eabi-gcc"
# Shared Cortex-M sources (startup, SysTick/DWT counters, CMSDK UART) and their headers.
_COMMON = ("targets/cortex_m/startup.c", "targets/cortex_m/cortex_m.h")
_COMMON_INCLUDE = "-Ifirmware/targets/cortex_m"
# newlib-nano for memcpy/strlen, nosys stubs, no crt0 (startup.c is the entry).
_LDFLAGS = ("-specs=nano.specs", "-specs=nosys.specs", "-nostartfiles")

ICOUNT_NOTE = "cycle figures are instruction counts under QEMU -icount shift=0 (QEMU has no pipeline timing)"

MPS2_AN386 = register(Target(
    name="mps2-an386",
    kind="cortex-m",
    cpu="cortex-m4",
    description="Arm MPS2 AN386, Cortex-M4F at 25 MHz, emulated by QEMU (mps2-an386)",
    cc=GCC,
    cflags=("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", _COMMON_INCLUDE),
    ldflags=_LDFLAGS,
    board_sources=_COMMON + ("targets/cortex_m/systick_counter.c", "targets/cortex_m/cmsdk_uart.c",
                             "targets/cortex_m/cmsdk_uart.h", "targets/mps2_an386/board.c"),
    linker_script="targets/mps2-an386/linker.ld.j2",
    qemu_machine="mps2-an386",
    size_tool="arm-none-eabi-size",
    objcopy="arm-none-eabi-objcopy",
    extra={
        "boot": "bootloader",          # QEMU: tinygen's bootloader at 0 starts the app
        "app_base": 0x00010000,        # where firmware.bin executes
        "flash_window": 0x08000000,    # where flashers write firmware.bin
        "flash_bytes": 1 << 20,
        "ram_base": 0x20000000,
        "ram_bytes": 1 << 20,
        "clock_hz": 25_000_000,
        "cycle_unit": "instructions",
    },
))

MPS3_AN547 = register(Target(
    name="mps3-an547",
    kind="cortex-m",
    cpu="cortex-m55",
    description="Arm MPS3 AN547 (Corstone SSE-300), Cortex-M55 with Helium at 32 MHz, emulated by QEMU "
                "(mps3-an547)",
    cc=GCC,
    cflags=("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", _COMMON_INCLUDE),
    ldflags=_LDFLAGS,
    board_sources=_COMMON + ("targets/cortex_m/systick_counter.c", "targets/cortex_m/cmsdk_uart.c",
                             "targets/cortex_m/cmsdk_uart.h", "targets/mps3_an547/board.c"),
    linker_script="targets/mps3-an547/linker.ld.j2",
    qemu_machine="mps3-an547",
    size_tool="arm-none-eabi-size",
    objcopy="arm-none-eabi-objcopy",
    extra={
        "boot": "direct",              # QEMU loads the ELF (-kernel) and resets into it
        "app_base": 0x10000000,
        "flash_bytes": 512 << 10,
        "ram_base": 0x30000000,
        "ram_bytes": 512 << 10,
        "clock_hz": 32_000_000,
        "cycle_unit": "instructions",
    },
))

NUCLEO_L4R5ZI = register(Target(
    name="nucleo-l4r5zi",
    kind="cortex-m",
    cpu="cortex-m4",
    description="ST NUCLEO-L4R5ZI (STM32L4R5ZI, Cortex-M4F, MSI 4 MHz), the MLPerf Tiny reference board; "
                "serial over the ST-LINK virtual COM port (LPUART1)",
    cc=GCC,
    cflags=("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", _COMMON_INCLUDE),
    ldflags=_LDFLAGS,
    board_sources=_COMMON + ("targets/cortex_m/dwt_counter.c", "targets/nucleo_l4r5zi/board.c"),
    linker_script="targets/nucleo-l4r5zi/linker.ld.j2",
    qemu_machine=None,
    size_tool="arm-none-eabi-size",
    objcopy="arm-none-eabi-objcopy",
    extra={
        "boot": "flash",
        "app_base": 0x08000000,
        "flash_bytes": 2 << 20,
        "ram_base": 0x20000000,
        "ram_bytes": 640 << 10,
        "clock_hz": 4_000_000,
        "cycle_unit": "cycles",
    },
))

CORTEX_M_TARGETS = (MPS2_AN386, MPS3_AN547, NUCLEO_L4R5ZI)


# ---- flash / RAM breakdown of a built Cortex-M firmware --------------------------------------

def _category(obj: str) -> str:
    name = obj.replace("\\", "/")
    base = name.rsplit("/", 1)[-1]
    if base.startswith("model_data."):
        return "weights"
    if base.startswith("model."):
        return "model"
    low = name.lower()
    if "/kernels/" in low or "/kernels_dsp/" in low or "cmsis" in low or base.startswith("arm_"):
        return "kernels"
    return "runtime"


def parse_map(map_path) -> list[tuple[str, str, int, int, str]]:
    """(output section, input section, address, size, object) of every input
    section in a GNU ld map file (its 'Linker script and memory map' part)."""
    import re
    from pathlib import Path

    text = Path(map_path).read_text(errors="replace").splitlines()
    try:
        start = next(i for i, l in enumerate(text) if l.startswith("Linker script and memory map"))
    except StopIteration:
        return []
    out_re = re.compile(r"^(\.\S+|COMMON)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)")
    in_full = re.compile(r"^ (\S+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")
    in_name = re.compile(r"^ (\S+)\s*$")
    in_rest = re.compile(r"^\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")
    rows = []
    section = ""
    pending = None
    for line in text[start + 1:]:
        if line.startswith("OUTPUT(") or line.startswith("LOAD linker stubs"):
            break
        m = out_re.match(line)
        if m and not line.startswith(" "):
            section = m.group(1)
            pending = None
            continue
        if not line.startswith(" ") and line.strip():
            section = line.split()[0]
            pending = None
            continue
        m = in_full.match(line)
        if m:
            rows.append((section, m.group(1), int(m.group(2), 16), int(m.group(3), 16), m.group(4).strip()))
            pending = None
            continue
        m = in_name.match(line)
        if m and not line.startswith("  "):
            pending = m.group(1)
            continue
        m = in_rest.match(line)
        if m and pending is not None:
            rows.append((section, pending, int(m.group(1), 16), int(m.group(2), 16), m.group(3).strip()))
            pending = None
    return rows


def _arena_and_stack(elf, nm: str = "arm-none-eabi-nm") -> tuple[int | None, int | None]:
    import subprocess

    r = subprocess.run([nm, "-S", str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        return None, None
    arena = stack = None
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3].endswith("_arena"):
            arena = (arena or 0) + int(parts[1], 16)
        elif len(parts) == 3 and parts[2] == "__stack_size":
            stack = int(parts[0], 16)
    return arena, stack


def _flash_image_bytes(elf, objdump: str = "arm-none-eabi-objdump") -> int | None:
    """Bytes of the flash image (what objcopy -O binary writes): from the lowest to the
    highest load address of the loadable sections, alignment gaps included."""
    import re
    import subprocess

    r = subprocess.run([objdump, "-h", str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    lines = r.stdout.splitlines()
    row = re.compile(r"^\s*\d+\s+(\S+)\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s")
    lo, hi = None, None
    for i, line in enumerate(lines):
        m = row.match(line)
        if not m or i + 1 >= len(lines) or "LOAD" not in lines[i + 1]:
            continue
        size, lma = int(m.group(2), 16), int(m.group(4), 16)
        if size == 0:
            continue
        lo = lma if lo is None else min(lo, lma)
        hi = lma + size if hi is None else max(hi, lma + size)
    return None if lo is None else hi - lo


def _ram_section_bytes(elf, ram_lo: int, ram_hi: int, objdump: str = "arm-none-eabi-objdump") -> int | None:
    """Bytes of the allocated output sections (.data, .bss, .stack, ...) whose run
    address lies in RAM, padding inside them included: what `size` calls data+bss."""
    import re
    import subprocess

    r = subprocess.run([objdump, "-h", str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    lines = r.stdout.splitlines()
    row = re.compile(r"^\s*\d+\s+(\S+)\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s")
    total = 0
    for i, line in enumerate(lines):
        m = row.match(line)
        if not m or i + 1 >= len(lines) or "ALLOC" not in lines[i + 1]:
            continue
        if ram_lo <= int(m.group(3), 16) < ram_hi:
            total += int(m.group(2), 16)
    return total


def memory_report(elf, target: Target) -> dict:
    """Flash (weights, model code, kernels, runtime) and RAM (arena, stack, other)
    of a built firmware, from its link map (build/firmware.map) and symbols."""
    from pathlib import Path

    elf = Path(elf)
    rows = parse_map(elf.with_suffix(".map"))
    ram_lo = int(target.extra.get("ram_base", 0x20000000))
    ram_hi = ram_lo + int(target.extra.get("ram_bytes", 1 << 20))
    flash = {"weights": 0, "model": 0, "kernels": 0, "runtime": 0}
    ram_other = 0
    for section, name, addr, size, obj in rows:
        if size == 0:
            continue
        cat = "runtime" if name == "*fill*" else _category(obj)
        in_ram = ram_lo <= addr < ram_hi
        if not in_ram:
            flash[cat] += size
        else:
            if section == ".data":   # initial values are stored in flash too
                flash[cat] += size
            if section != ".stack":
                ram_other += size
    # Alignment padding between output sections belongs to no input section:
    # count it as runtime so the total is what the image really occupies.
    image = _flash_image_bytes(elf)
    if image is not None and image > sum(flash.values()):
        flash["runtime"] += image - sum(flash.values())
    arena, stack = _arena_and_stack(elf)
    if arena is not None:
        ram_other -= arena
    # The RAM total is the output sections' extent (alignment padding the map lists
    # nowhere included), like the flash total is the image's; "other" is the rest.
    ram_sections = _ram_section_bytes(elf, ram_lo, ram_hi)
    if ram_sections is not None:
        ram_other = ram_sections - (arena or 0) - (stack or 0)
    return {
        "flash": {**flash, "total": sum(flash.values())},
        "ram": {"arena": arena, "stack": stack, "other": max(ram_other, 0),
                "total": (arena or 0) + (stack or 0) + max(ram_other, 0)},
        "flash_capacity": int(target.extra.get("flash_bytes", 0)),
        "ram_capacity": int(target.extra.get("ram_bytes", 0)),
    }


def format_memory_report(rep: dict) -> list[str]:
    f, r = rep["flash"], rep["ram"]

    def pct(v, cap):
        return f"{100.0 * v / cap:5.1f}% of {cap // 1024:,} KiB" if cap else ""

    lines = [f"  {'flash':<40} {f['total']:>10,} B  {pct(f['total'], rep['flash_capacity'])}",
             f"    {'weights + quantization params':<38} {f['weights']:>10,} B",
             f"    {'model code (one function per layer)':<38} {f['model']:>10,} B",
             f"    {'kernels':<38} {f['kernels']:>10,} B",
             f"    {'runtime (main, protocol, board, libc)':<38} {f['runtime']:>10,} B",
             f"  {'RAM':<40} {r['total']:>10,} B  {pct(r['total'], rep['ram_capacity'])}",
             f"    {'arena (activations + scratch)':<38} {r['arena'] or 0:>10,} B",
             f"    {'stack':<38} {r['stack'] or 0:>10,} B",
             f"    {'other data + bss (UART ring, ...)':<38} {r['other']:>10,} B"]
    return lines
