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
