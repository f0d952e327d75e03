"""stm32flash (the standard open-source AN3155 flasher) programs tinygen's
emulated bootloader over a pty exactly as it would a real STM32F407:
GVR/GET/GET_ID, erase, write, per-block verify (-v) and GO (-g)."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tinygen.device import stm32boot as sb
from tinygen.device.bootloader import Emulator, bootloader_elf

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed"),
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed"),
    pytest.mark.skipif(shutil.which("stm32flash") is None, reason="stm32flash not installed"),
]

# A pty has no parity bit to set (some kernels refuse PARENB on ptys), so
# stm32flash is told 8N1; on a real UART its default 8E1 applies.
STM32FLASH = ["stm32flash", "-m", "8n1", "-b", "115200"]


def test_stm32flash_writes_verifies_and_starts(tmp_path):
    image = os.urandom(40 * 1024 + 12)
    path = tmp_path / "image.bin"
    path.write_bytes(image)
    bootloader_elf()
    with Emulator(serial="pty", boot0=True) as e:
        r = subprocess.run(STM32FLASH + ["-w", str(path), "-v", e.url], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "0x0413" in r.stdout and "Wrote and verified" in r.stdout
        # Read back with stm32flash (-r) and with tinygen's client: identical.
        back = tmp_path / "back.bin"
        r = subprocess.run(STM32FLASH + ["-r", str(back), "-S", f"0x08000000:{len(image)}", e.url],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert back.read_bytes() == image
        bl = sb.connect(e.url, timeout=2.0)
        assert bl.read_memory(0x08000000 + len(image) - 12, 12) == image[-12:]
        bl.port.close()


def test_stm32flash_go_starts_the_application(tmp_path):
    app_dir = os.path.join(os.path.dirname(__file__), "data", "bootloader_app")
    elf, binary = tmp_path / "app.elf", tmp_path / "app.bin"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-std=c99", "-Wall", "-Wextra", "-Werror",
                    "-Os", "-nostdlib", "-ffreestanding", "-T", os.path.join(app_dir, "app.ld"),
                    os.path.join(app_dir, "app.c"), "-o", str(elf)], check=True)
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(binary)], check=True)
    bootloader_elf()
    with Emulator(serial="pty", boot0=True) as e:
        r = subprocess.run(STM32FLASH + ["-w", str(binary), "-v", "-g", "0x08000000", e.url],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Starting execution at address 0x08000000... done" in r.stdout
        port = sb.open_port(e.url)
        port.timeout = 0.3
        port.read(4096)               # the greeting, if still buffered
        port.write(b"A")
        port.timeout = 5
        assert port.read(1) == b"B"    # the echo application is running
        port.close()
