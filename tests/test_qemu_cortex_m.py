"""The generated firmware on emulated Cortex-M boards (QEMU), checked over the serial link.

Every model is generated, built with arm-none-eabi-gcc, booted in QEMU
(mps2-an386 through tinygen's bootloader) and verified bit for bit against the
reference interpreter on random inputs, through the same code as
`tinygen verify`. Builds are shared per session (one per model x backend x board).
Backends: portable always; cmsis-nn when CMSIS_NN_PATH names a CMSIS-NN checkout.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA, MODELS

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed"),
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed"),
]

# model file -> random samples to verify (VWW crosses the slow emulated UART with 27 KB per sample)
MODEL_SAMPLES = {
    "mlperf_tiny_kws_dscnn.tflite": 3,
    "mlperf_tiny_ic_resnet8.tflite": 2,
    "mlperf_tiny_ad_fc.tflite": 3,
    "mlperf_tiny_vww_96.tflite": 1,
    "tflm_micro_speech.tflite": 3,
    "tflm_person_detect.tflite": 1,
}
# TFLM (+CMSIS-NN) arena sizes of the MLPerf Tiny models, measured on the same emulated M4.
TFLM_ARENA = {
    "mlperf_tiny_kws_dscnn.tflite": 22_820,
    "mlperf_tiny_vww_96.tflite": 100_708,
    "mlperf_tiny_ic_resnet8.tflite": 54_996,
    "mlperf_tiny_ad_fc.tflite": 2_580,
}


def _backends() -> list:
    cmsis = pytest.param("cmsis-nn", marks=pytest.mark.skipif(
        not os.environ.get("CMSIS_NN_PATH"),
        reason="CMSIS_NN_PATH is unset (point it at a checkout of ARM-software/CMSIS-NN)"))
    return ["portable", cmsis]


def _model(name: str) -> Path:
    path = MODELS / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (tests read real models from ../shared)")
    return path


class Builds:
    """Generate + build once per (model, target, backend) for the whole run: the
    projects live in a folder shared by pytest-xdist workers, a lock file per
    project makes the second worker wait for the first one's build and reuse it."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def get(self, model: str, target: str = "mps2-an386", backend: str = "portable") -> Path:
        import fcntl

        from tinygen.codegen.emit import generate_project
        from tinygen.commands.build import build_project

        d = self.root / f"{Path(model).stem}-{target}-{backend}"
        done = d / ".built"
        with open(self.root / f"{d.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.is_file():
                generate_project(_model(model), d, target=target, backend=backend, force=True)
                build_project(d)
                done.write_text("ok\n")
        return d


@pytest.fixture(scope="session")
def builds(tmp_path_factory) -> Builds:
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by all workers of this run
    return Builds(base / "cortex_m_builds")


def _verify(project: Path, model: str, inputs=None, n: int = 2, seed: int = 0, **connect_kw) -> dict:
    from tinygen.commands.verify import random_inputs, verify_device
    from tinygen.device.connect import connect
    from tinygen.model import load_model

    graph = load_model(_model(model))
    if inputs is None:
        inputs = random_inputs(graph, n, seed)
    with connect(firmware_dir=project, timeout=connect_kw.pop("timeout", 10.0), **connect_kw) as device:
        return verify_device(device, graph, inputs, progress=False, echo=lambda line: None)


# ---- bit-exact on the emulated Cortex-M4 ----------------------------------------------------

@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("model", list(MODEL_SAMPLES))
def test_model_bit_exact_on_m4(builds, model, backend):
    project = builds.get(model, "mps2-an386", backend)
    rep = _verify(project, model, n=MODEL_SAMPLES[model], seed=11)
    assert rep["board"] == "mps2-an386"
    assert rep["cycle_unit"] == "instructions" and rep["emulated"]
    assert rep["bit_exact"] == rep["count"] == MODEL_SAMPLES[model], rep["samples"]
    assert rep["max_abs_diff"] == 0
    # The instruction count of a fixed network hardly depends on the data (data-dependent
    # branches only in requantization/softmax); a broken counter would show 0 or wild spread.
    assert rep["cycles_min"] > 10_000
    assert rep["cycles_max"] - rep["cycles_min"] < 0.01 * rep["cycles_min"]


def _person_image(name: str) -> np.ndarray:
    """The 96x96 grayscale BMP as TFLM's person_detection test feeds it: the
    image bytes top row first (PIL's tobytes()), copied into the int8 input."""
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (tests read real data from ../shared)")
    raw = path.read_bytes()
    offset = struct.unpack_from("<I", raw, 10)[0]
    width, height = struct.unpack_from("<ii", raw, 18)
    bpp = struct.unpack_from("<H", raw, 28)[0]
    assert (width, abs(height), bpp) == (96, 96, 8)
    row = (width + 3) & ~3
    img = np.frombuffer(raw, np.uint8, count=row * abs(height), offset=offset).reshape(abs(height), row)[:, :width]
    if height > 0:  # BMP rows are stored bottom-up
        img = img[::-1]
    return np.ascontiguousarray(img).view(np.int8).reshape(1, 1, 96, 96, 1)


@pytest.mark.parametrize("backend", _backends())
def test_person_detect_classifies_on_device(builds, backend):
    model = "tflm_person_detect.tflite"
    project = builds.get(model, "mps2-an386", backend)
    x = np.concatenate([_person_image("person.bmp"), _person_image("no_person.bmp")])
    rep = _verify(project, model, inputs=[x])
    assert rep["bit_exact"] == 2
    # Output [no person, person] (TFLM's kNotAPersonIndex = 0, kPersonIndex = 1), read on the device.
    assert [s["top1"] for s in rep["samples"]] == [1, 0]


# ---- memory: arenas against TFLM ------------------------------------------------------------

def _arena_symbol_bytes(elf: Path) -> int:
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    sizes = [int(p[1], 16) for p in (l.split() for l in out.splitlines()) if len(p) == 4 and p[3].endswith("_arena")]
    assert len(sizes) == 1, out
    return sizes[0]


def test_arenas_beat_tflm(builds):
    ours = {}
    for model, tflm in TFLM_ARENA.items():
        ours[model] = _arena_symbol_bytes(builds.get(model) / "build" / "firmware.elf")
        assert ours[model] <= 0.95 * tflm, f"{model}: arena {ours[model]} B vs TFLM {tflm} B"
    assert sum(ours.values()) <= 0.70 * sum(TFLM_ARENA.values()), ours


# ---- other boards ---------------------------------------------------------------------------

@pytest.mark.parametrize("backend", _backends())
def test_mps3_an547_cortex_m55_bit_exact(builds, backend):
    model = "mlperf_tiny_kws_dscnn.tflite"
    project = builds.get(model, "mps3-an547", backend)  # cmsis-nn: its Helium (MVE) kernels
    rep = _verify(project, model, n=2, seed=5)
    assert rep["board"] == "mps3-an547"
    assert rep["bit_exact"] == 2 and rep["cycles_min"] > 10_000


def test_nucleo_l4r5zi_builds(builds):
    from tinygen.targets import get_target
    from tinygen.targets.cortex_m import memory_report

    project = builds.get("mlperf_tiny_kws_dscnn.tflite", "nucleo-l4r5zi")
    elf = project / "build" / "firmware.elf"
    binary = elf.with_suffix(".bin")
    import json

    sp, reset = struct.unpack_from("<II", binary.read_bytes(), 0)
    assert 0x20000000 < sp <= 0x20000000 + 640 * 1024
    assert 0x08000000 <= (reset & ~1) < 0x08000000 + binary.stat().st_size and reset & 1  # Thumb
    rep = memory_report(elf, get_target("nucleo-l4r5zi"))
    assert rep["ram"]["arena"] == json.loads((project / "tinygen.json").read_text())["arena_bytes"]
    assert rep["flash"]["total"] == binary.stat().st_size


# ---- the link is untrusted ------------------------------------------------------------------

def test_fault_proxy_retries_to_bit_exact_or_fails_clearly(builds):
    from tinygen.commands.verify import random_inputs, verify_device
    from tinygen.device.connect import connect
    from tinygen.device.faultproxy import FaultProxy
    from tinygen.errors import TinygenError
    from tinygen.model import load_model
    from tinygen.targets.qemu import QemuBoard, firmware_elf

    model = "mlperf_tiny_kws_dscnn.tflite"
    project = builds.get(model)
    graph = load_model(_model(model))
    x = random_inputs(graph, 6, 1)
    with QemuBoard("mps2-an386", firmware_elf(project)) as board:
        port = int(board.url.rsplit(":", 1)[1])
        # Moderate damage: some requests/replies are hit, retries make every sample bit-exact.
        with FaultProxy("127.0.0.1", port, drop=2e-4, flip=4e-4, seed=3) as proxy:
            with connect(port=proxy.url, timeout=2.0, attempts=6) as device:
                rep = verify_device(device, graph, x, progress=False, echo=lambda line: None)
            damage = proxy.stats()
        assert sum(d["dropped"] + d["flipped"] for d in damage.values()) > 0, damage
        assert rep["retries"] > 0
        assert rep["bit_exact"] == rep["count"] == 6
        # Heavy damage: no reply survives its CRC; a clear error, never a (wrong) result.
        with FaultProxy("127.0.0.1", port, drop=0.02, flip=0.05, seed=4) as proxy:
            t0 = time.monotonic()
            with pytest.raises(TinygenError, match="did not answer"):
                with connect(port=proxy.url, timeout=0.5, attempts=3) as device:
                    verify_device(device, graph, [a[:1] for a in x], progress=False,
                                  echo=lambda line: None)
            assert time.monotonic() - t0 < 30


def test_board_that_stops_answering_times_out(builds):
    from tinygen.commands.verify import random_inputs
    from tinygen.device.connect import connect
    from tinygen.errors import TinygenError
    from tinygen.model import load_model
    from tinygen.targets.qemu import QemuBoard, firmware_elf

    model = "mlperf_tiny_kws_dscnn.tflite"
    graph = load_model(_model(model))
    payload = random_inputs(graph, 1, 0)[0][0].tobytes()
    with QemuBoard("mps2-an386", firmware_elf(builds.get(model))) as board:
        with connect(port=board.url, timeout=2.0, attempts=2) as device:
            device.invoke(payload)          # alive
            board.pause()                   # the board freezes mid-session
            t0 = time.monotonic()
            with pytest.raises(TinygenError, match="did not answer"):
                device.invoke(payload)
            assert time.monotonic() - t0 < 20


def test_port_that_never_answers_is_a_clear_error(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    model = _model("mlperf_tiny_ad_fc.tflite")
    try:
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "tinygen.cli", "verify", str(model), "--port",
                            f"socket://127.0.0.1:{port}", "--random", "1", "--timeout", "0.5"],
                           capture_output=True, text=True, timeout=60)
        assert time.monotonic() - t0 < 30
    finally:
        server.close()
    assert r.returncode == 2
    assert "did not answer" in r.stderr and "Traceback" not in r.stderr


# ---- the commands ---------------------------------------------------------------------------

def test_emulate_then_verify_over_its_port_then_sigterm(builds, tmp_path):
    model = "mlperf_tiny_ad_fc.tflite"
    project = builds.get(model)
    emu = subprocess.Popen([sys.executable, "-m", "tinygen.cli", "emulate", str(project)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = emu.stdout.readline().strip()
        assert first.startswith("serial: socket://127.0.0.1:"), first
        url = first.split(" ", 1)[1]
        report = tmp_path / "r.json"
        r = subprocess.run([sys.executable, "-m", "tinygen.cli", "verify", str(_model(model)), "--port", url,
                            "--random", "2", "--report", str(report)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "bit-exact: 2/2" in r.stdout and "instruction counts under QEMU -icount" in r.stdout
        import json

        data = json.loads(report.read_text())
        assert data["bit_exact"] == 2 and len(data["samples"]) == 2
        # A different model than the device runs: exit 1, named clearly.
        other = _model("mlperf_tiny_kws_dscnn.tflite")
        r = subprocess.run([sys.executable, "-m", "tinygen.cli", "verify", str(other), "--port", url,
                            "--random", "1"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and "runs another model" in r.stderr
    finally:
        emu.terminate()
        emu.wait(timeout=10)
    # QEMU went with it: nothing listens on the port any more.
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_profile_cli_table(builds):
    model = "mlperf_tiny_kws_dscnn.tflite"
    project = builds.get(model)
    r = subprocess.run([sys.executable, "-m", "tinygen.cli", "profile", "--firmware", str(project),
                        str(_model(model))], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(l.startswith("conv2d_0 ") and "CONV_2D" in l for l in lines), r.stdout
    layer_rows = [l for l in lines if l.split() and l.split()[0].startswith(("conv2d_", "depthwise_", "avgpool",
                                                                           "fully_connected", "softmax"))]
    assert len(layer_rows) == 12
    total = next(l for l in lines if l.startswith("layers total"))
    whole = next(l for l in lines if l.startswith("whole inference"))
    layers_sum = int(total.split()[2].replace(",", ""))
    assert layers_sum == sum(int(l.split()[3].replace(",", "")) for l in layer_rows)
    assert int(whole.split()[2].replace(",", "")) >= layers_sum


def test_run_firmware_cli_on_qemu(builds, tmp_path):
    from tinygen.commands.verify import random_inputs
    from tinygen.model import load_model
    from tinygen.ref import Interpreter

    model = "tflm_micro_speech.tflite"
    project = builds.get(model)
    graph = load_model(_model(model))
    x = random_inputs(graph, 2, 9)[0]
    np.save(tmp_path / "x.npy", x)
    r = subprocess.run([sys.executable, "-m", "tinygen.cli", "run", str(_model(model)), "--input",
                        str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"), "--firmware", str(project)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    y = np.load(tmp_path / "y.npy")
    assert np.array_equal(y, Interpreter(graph).run([x])[0])


def _elf_facts(elf: Path, symbol_suffix: str) -> tuple:
    size = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True).stdout
    text, data, bss = map(int, size.splitlines()[1].split()[:3])
    nm = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    arena = [int(p[1], 16) for p in map(str.split, nm.splitlines()) if len(p) == 4 and p[3].endswith(symbol_suffix)]
    return text, data, bss, arena


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")
def test_cmake_cortex_m_builds_and_runs(tmp_path, capsys):
    """The generated CMakeLists.txt builds a Cortex-M project (include dirs absolute, CPU/ABI flags
    on the link line too): the same ELF sizes and arena as the Makefile build, and it runs bit-exact."""
    from tinygen.cli import main
    from tinygen.device.firmware import run_firmware
    from tinygen.model.tflite_reader import read_tflite
    from tinygen.ref import run_graph

    model = _model("tflm_micro_speech.tflite")
    made, cmade = tmp_path / "make", tmp_path / "cmake"
    for proj in (made, cmade):
        with pytest.raises(SystemExit) as exc:
            main(["generate", str(model), "-o", str(proj), "--target", "mps2-an386"])
        assert not exc.value.code
    # `tinygen build`: one memory table, whose totals are the ELF's (flash = the image
    # written, firmware.bin; RAM = data+bss as binutils `size` counts it)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["build", str(made)])
    assert not exc.value.code
    out = capsys.readouterr().out
    assert "data+bss" not in out and out.count("memory of firmware.elf") == 1
    flash = int(re.search(r"^  flash\s+([\d,]+) B", out, re.M).group(1).replace(",", ""))
    ram = int(re.search(r"^  RAM\s+([\d,]+) B", out, re.M).group(1).replace(",", ""))
    size = subprocess.run(["arm-none-eabi-size", str(made / "build" / "firmware.elf")], capture_output=True,
                          text=True, check=True).stdout.splitlines()[1].split()
    assert ram == int(size[1]) + int(size[2])
    assert flash == (made / "build" / "firmware.bin").stat().st_size
    # configure straight into build/ so `tinygen run/verify --firmware` pick up the CMake-built image
    r = subprocess.run(["cmake", "-S", str(cmade), "-B", str(cmade / "build")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["cmake", "--build", str(cmade / "build"), "-j2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    a = _elf_facts(made / "build" / "firmware.elf", "_arena")
    b = _elf_facts(cmade / "build" / "firmware.elf", "_arena")
    assert a[3] and a == b
    assert (cmade / "build" / "firmware.bin").read_bytes() == (made / "build" / "firmware.bin").read_bytes()
    x = np.random.default_rng(1).integers(-128, 128, size=(2, 1, 1960), dtype=np.int8)
    got = run_firmware(cmade, [x])[0]
    want = run_graph(read_tflite(model), [x])[0]
    np.testing.assert_array_equal(got, want)
