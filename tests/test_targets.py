"""The Cortex-M target descriptions, their linker scripts, the link-map reader,
the emulate command's input checks and the fault-injecting proxy (no QEMU here;
tests/test_qemu_cortex_m.py runs the boards)."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading

import jinja2
import pytest

from tinygen.paths import FIRMWARE_DIR, TEMPLATES_DIR


def test_cortex_m_targets_registered():
    from tinygen.targets import default_target_name, get_target, target_names

    assert {"mps2-an386", "mps3-an547", "nucleo-l4r5zi"} <= set(target_names())
    assert default_target_name() == "mps2-an386"
    m4 = get_target("mps2-an386")
    assert m4.kind == "cortex-m" and "-mcpu=cortex-m4" in m4.cflags and "-mfpu=fpv4-sp-d16" in m4.cflags
    assert get_target("mps3-an547").cpu == "cortex-m55"
    assert get_target("nucleo-l4r5zi").qemu_machine is None
    for name in ("mps2-an386", "mps3-an547", "nucleo-l4r5zi"):
        t = get_target(name)
        for rel in t.board_sources:
            assert (FIRMWARE_DIR / rel).is_file(), rel
        assert (TEMPLATES_DIR / t.linker_script).is_file()


@pytest.mark.parametrize("name,flash,ram", [("mps2-an386", "0x00010000", "0x20000000"),
                                            ("mps3-an547", "0x10000000", "0x30000000"),
                                            ("nucleo-l4r5zi", "0x08000000", "0x20000000")])
def test_linker_script_renders_memory_map(name, flash, ram):
    from tinygen.targets import get_target

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), undefined=jinja2.StrictUndefined)
    text = env.get_template(get_target(name).linker_script).render()
    assert f"FLASH (rx)  : ORIGIN = {flash}" in text and f"RAM   (rwx) : ORIGIN = {ram}" in text
    for symbol in ("__stack_top", "__data_load", "__bss_start", "__bss_end", ".isr_vector"):
        assert symbol in text


MAP = """\
Linker script and memory map

LOAD build/obj/model.o
                0x00004000                __stack_size = 0x4000

.isr_vector     0x00010000       0x40
 .isr_vector    0x00010000       0x40 build/obj/firmware/targets/cortex_m/startup.o

.text           0x00010040      0x120
 .text.conv2d_0
                0x00010040       0x20 build/obj/model.o
 .text.tg_conv2d_s8
                0x00010060       0xe0 build/obj/firmware/kernels/tg_conv2d_s8.o
 .text.arm_convolve_s8
                0x00010140       0x10 build/obj/cmsis_nn/Source/ConvolutionFunctions/arm_convolve_s8.o

.rodata         0x00010150      0x100
 .rodata.conv2d_0_weights
                0x00010150       0xf0 build/obj/model_data.o
 *fill*         0x00010240        0x10 

.data           0x20000000        0x8 load address 0x00010250
 .data.x        0x20000000        0x8 build/obj/firmware/common/tg_main.o

.bss            0x20000008      0x210
 .bss.m_arena   0x20000008      0x200 build/obj/model.o
 .bss.ring      0x20000208       0x10 build/obj/firmware/targets/cortex_m/cmsdk_uart.o
OUTPUT(build/firmware.elf elf32-littlearm)
"""


def test_link_map_categories(tmp_path):
    from tinygen.targets.cortex_m import _category, parse_map

    path = tmp_path / "firmware.map"
    path.write_text(MAP)
    rows = parse_map(path)
    by_name = {r[1]: r for r in rows}
    assert by_name[".text.conv2d_0"][:4] == (".text", ".text.conv2d_0", 0x10040, 0x20)
    assert by_name[".rodata.conv2d_0_weights"][3] == 0xF0
    assert by_name[".bss.m_arena"][0] == ".bss"
    cats = {r[1]: _category(r[4]) for r in rows if r[1] != "*fill*"}
    assert cats[".rodata.conv2d_0_weights"] == "weights"
    assert cats[".text.conv2d_0"] == "model"
    assert cats[".text.tg_conv2d_s8"] == "kernels" and cats[".text.arm_convolve_s8"] == "kernels"
    assert cats[".text.tg_conv2d_s8"] == "kernels" and cats[".data.x"] == "runtime"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinygen.cli", *args], capture_output=True, text=True, timeout=60)


def test_emulate_rejects_bad_input(tmp_path):
    r = _cli("emulate", "no-such-board")
    assert r.returncode == 2 and "neither a project directory nor a target" in r.stderr
    r = _cli("emulate", "nucleo-l4r5zi")
    assert r.returncode == 2 and "no emulated bootloader" in r.stderr
    r = _cli("emulate", str(tmp_path))
    assert r.returncode == 2 and "not a tinygen project" in r.stderr
    r = _cli("emulate", "mps2-an386", "--serial", "carrier-pigeon")
    assert r.returncode == 2 and "Traceback" not in r.stderr


# ---- fault proxy ----------------------------------------------------------------------------

def _echo_server() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        try:
            conn, _ = srv.accept()
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)
        except OSError:  # the test closed the server or the proxy reset the connection
            pass

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def _through(proxy, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = b""
        s.settimeout(2)
        try:
            while chunk := s.recv(65536):
                got += chunk
        except socket.timeout:
            pass
        return got


def test_fault_proxy_is_seeded_and_damages_at_its_rates():
    from tinygen.device.faultproxy import FaultProxy

    payload = bytes(range(256)) * 200
    results = []
    for _ in range(2):
        srv, port = _echo_server()
        with FaultProxy("127.0.0.1", port, drop=0.01, flip=0.01, seed=42, directions="to_device") as proxy:
            got = _through(proxy, payload)
            stats = proxy.stats()
        srv.close()
        results.append((got, stats))
    (got, stats), (got2, stats2) = results
    assert got == got2 and stats == stats2                # same seed, same damage
    n = len(payload)
    assert 0.005 * n < stats["to_device"]["dropped"] < 0.02 * n
    assert 0.005 * n < stats["to_device"]["flipped"] < 0.02 * n
    assert stats["to_host"]["dropped"] == stats["to_host"]["flipped"] == 0
    assert len(got) == n - stats["to_device"]["dropped"] and got != payload

    srv, port = _echo_server()
    with FaultProxy("127.0.0.1", port) as clean:          # rates 0: a transparent relay
        assert _through(clean, payload) == payload
    srv.close()


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
def test_board_sources_compile_warning_free(tmp_path):
    """Every board's C under -std=c99 -Wall -Wextra -Werror with its CPU flags."""
    from tinygen.targets import get_target

    for name in ("mps2-an386", "mps3-an547", "nucleo-l4r5zi"):
        t = get_target(name)
        flags = [f for f in t.cflags if not f.startswith("-I")]
        for rel in t.board_sources:
            if not rel.endswith(".c"):
                continue
            r = subprocess.run(["arm-none-eabi-gcc", *flags, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2",
                                f"-I{FIRMWARE_DIR / 'common'}", f"-I{FIRMWARE_DIR / 'targets' / 'cortex_m'}",
                                "-c", str(FIRMWARE_DIR / rel), "-o", str(tmp_path / "x.o")],
                               capture_output=True, text=True)
            assert r.returncode == 0, f"{name} {rel}: {r.stderr}"
