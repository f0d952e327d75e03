"""The CMSIS-NN backend (tinygen/codegen/backends/cmsis_nn), bit for bit.

With CMSIS_NN_PATH pointing at a checkout of ARM-software/CMSIS-NN:
- every shared model tinygen supports, generated with --backend cmsis-nn for the
  host (CMSIS-NN's pure-C path), built (generated code with -std=c99 -Wall
  -Wextra -Werror; CMSIS-NN's own sources with the same flags minus -Werror) and
  run on 16 random inputs: equal to TFLM (the golden) and to the reference
  interpreter;
- op-level cases (TensorFlow-made tiny models of test_ref_ops.py, plus
  flatbuffer-built per-channel / asymmetric FULLY_CONNECTED) on the host;
- KWS, IC and AD (and micro_speech) built for mps2-an386 (Cortex-M4: CMSIS-NN's
  DSP path) and run in QEMU; KWS, AD and micro_speech for mps3-an547 (Cortex-M55:
  the MVE path, incl. the generation-time kernel sums and the depthwise layer
  with one input channel run as a convolution).
Every build defines TG_CHECK_SCRATCH: each layer first asks CMSIS-NN's own
*_get_buffer_size for the call and skips itself if the scratch sized at
generation time (Python mirrors of those functions) is too small, so a wrong
mirror shows up as a mismatch.

Without CMSIS_NN_PATH those tests skip with the reason below; one test still
runs: `--backend cmsis-nn` generates, and the build stops (exit 2) with a message
saying CMSIS_NN_PATH must point at a checkout of ARM-software/CMSIS-NN.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from codegen_helpers import make, run_build
from conftest import MODELS, make_random_inputs, shared_models
from tinygen.codegen.emit import build_model_code, model_hash_of_file, write_project
from tinygen.errors import TinygenError
from tinygen.model import load_model

UNSET = "CMSIS_NN_PATH is unset (point it at a checkout of ARM-software/CMSIS-NN)"
CMSIS_NN_PATH = os.environ.get("CMSIS_NN_PATH", "")
needs_cmsis = pytest.mark.skipif(not CMSIS_NN_PATH, reason=UNSET)

N_SAMPLES = 16
CHECKED = "OPT=-O2 -DTG_CHECK_SCRATCH"
M4_MODELS = ("mlperf_tiny_kws_dscnn", "mlperf_tiny_ic_resnet8", "mlperf_tiny_ad_fc")
M55_MODELS = ("mlperf_tiny_kws_dscnn", "mlperf_tiny_ad_fc", "tflm_micro_speech")


def _fc_model(per_channel: bool, filter_zero_point: int = 0) -> bytes:
    from flatbuffer_builder import T, single_op_model

    rng = np.random.default_rng(11 + filter_zero_point)
    w = rng.integers(-127, 128, size=(6, 20), dtype=np.int8)
    b = rng.integers(-3000, 3000, size=(6,), dtype=np.int32)
    w_scale = rng.uniform(0.002, 0.02, size=6) if per_channel else 0.01
    return single_op_model(
        "FULLY_CONNECTED",
        inputs=[T("x", (1, 20), "int8", 0.05, -3),
                T("w", (6, 20), "int8", w_scale, [0] * 6 if per_channel else filter_zero_point, data=w),
                T("b", (6,), "int32", (0.05 * np.asarray(w_scale)) if per_channel else 0.0005, 0, data=b)],
        outputs=[T("y", (1, 6), "int8", 0.15, 4)],
        options=("FullyConnectedOptions", {"fused_activation_function": 0, "keep_num_dims": False}),
    )


def _project(graph, out_dir: Path, model_path: Path, target: str = "host"):
    code = build_model_code(graph, backend="cmsis-nn", target=target, model_hash=model_hash_of_file(model_path))
    write_project(code, out_dir, force=True)
    return code


def _assert_equal(ours, expected, what: str) -> None:
    assert len(ours) == len(expected)
    for a, e in zip(ours, expected):
        np.testing.assert_array_equal(a, np.asarray(e).reshape(a.shape), err_msg=what)


# ---------------------------------------------------------------------------
# Runs without CMSIS-NN
# ---------------------------------------------------------------------------

def test_build_without_cmsis_nn_path_fails_clearly(tmp_path):
    import sys

    model = tmp_path / "fc.tflite"
    model.write_bytes(_fc_model(per_channel=False))
    project = tmp_path / "proj"
    env = {k: v for k, v in os.environ.items() if k != "CMSIS_NN_PATH"}

    def tinygen(*args):
        return subprocess.run([sys.executable, "-m", "tinygen.cli", *args], env=env, capture_output=True,
                              text=True)

    r = tinygen("generate", str(model), "-o", str(project), "--backend", "cmsis-nn", "--target", "host")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "arm_fully_connected_s8(" in (project / "model.c").read_text()
    r = tinygen("build", str(project))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "CMSIS_NN_PATH is unset: point it at a checkout of ARM-software/CMSIS-NN" in r.stderr
    assert "Traceback" not in r.stderr
    if shutil.which("cmake"):
        c = subprocess.run(["cmake", "-S", str(project), "-B", str(project / "build-cmake")], env=env,
                           capture_output=True, text=True)
        assert c.returncode != 0
        assert "CMSIS_NN_PATH is unset: point it at a checkout of ARM-software/CMSIS-NN" in c.stderr


def test_target_arch():
    from tinygen.codegen.backends.cmsis_nn import target_arch
    from tinygen.targets import get_target

    assert target_arch(get_target("host")) == "c"
    assert target_arch(get_target("mps2-an386")) == "dsp"
    assert target_arch(get_target("nucleo-l4r5zi")) == "dsp"
    assert target_arch(get_target("mps3-an547")) == "mve"


def test_unsupported_filter_zero_point_is_refused_or_portable(tmp_path):
    """FC with a filter zero point runs the portable kernel (no CMSIS-NN source needed)."""
    path = tmp_path / "fc_zp.tflite"
    path.write_bytes(_fc_model(per_channel=False, filter_zero_point=5))
    code = build_model_code(load_model(path), backend="cmsis-nn", target="host")
    assert code.kernels == ["kernels/tg_fully_connected_s8.c"]
    assert not code.backend_build.get("cmsis_nn_sources")


# ---------------------------------------------------------------------------
# With CMSIS-NN: shared models on the host
# ---------------------------------------------------------------------------

def _supported(graph) -> bool:
    try:
        build_model_code(graph, backend="cmsis-nn", target="host")
        return True
    except TinygenError:
        return False


@pytest.fixture(scope="session")
def host_models(tmp_path_factory):
    if not MODELS.is_dir():
        pytest.skip(f"shared models folder {MODELS} is absent (tests read real models from ../shared)")
    root = tmp_path_factory.mktemp("cmsis_nn_host")
    projects = {}
    for path in shared_models():
        graph = load_model(path)
        if not _supported(graph):
            continue
        d = root / path.stem
        _project(graph, d, path)
        projects[path.stem] = (path, graph, d)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda d: make(d, CHECKED), [d for _, _, d in projects.values()]))
    return projects


@needs_cmsis
@pytest.mark.parametrize("path", shared_models(), ids=[p.stem for p in shared_models()])
def test_host_model_bit_exact(path, host_models, golden):
    from tinygen.ref import Interpreter

    if path.stem not in host_models:  # an op tinygen has no kernel for: refused with a clear error
        with pytest.raises(TinygenError, match=r"unsupported op|integer|inputs"):
            build_model_code(load_model(path), backend="cmsis-nn", target="host")
        return
    _, graph, project = host_models[path.stem]
    text = (project / "model.c").read_text()
    assert "arm_" in text, "no CMSIS-NN call in the generated code"
    inputs = make_random_inputs(graph, N_SAMPLES, seed=21)
    ours = run_build(project, inputs)
    _assert_equal(ours, Interpreter(graph).run(inputs), f"{path.stem}: cmsis-nn host vs reference interpreter")
    _assert_equal(ours, golden(path, inputs), f"{path.stem}: cmsis-nn host vs TFLM")


# ---------------------------------------------------------------------------
# With CMSIS-NN: op-level cases on the host
# ---------------------------------------------------------------------------

# Kernel paths the shared models do not reach (dilation, groups, depth multiplier 2, padded pools,
# batched FC, every int8 pair through add/mul, broadcasting fallbacks, several softmax rows).
OP_CASES = [
    "conv_dilation2_valid", "conv_groups2", "depthwise_dm2_stride2", "avgpool_same_odd", "maxpool_same_odd",
    "dense_keep_num_dims", "add_all_pairs", "add_broadcast_relu", "mul_all_pairs", "softmax_rows",
]


@pytest.fixture(scope="session")
def op_projects(tmp_path_factory):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is needed to make op-level test models "
                                                  "(pip install tinygen[dev])")
    keras = pytest.importorskip("keras", reason="Keras is needed to make op-level test models")
    from test_ref_ops import CASES, Case, L, _build, _seq

    cases = {n: CASES[n] for n in OP_CASES}
    # input height 1, stride_w * in_c % 4 == 0: arm_convolve_1_x_n_s8
    cases["conv1d_1xn"] = Case(_seq(L("Conv1D", 6, 3, padding="same"), shape=(16, 4)), [(-1, 1)], {"CONV_2D"})
    root = tmp_path_factory.mktemp("cmsis_nn_ops")
    built = {}
    for i, (name, case) in enumerate(sorted(cases.items())):
        path = root / f"{name}.tflite"
        path.write_bytes(_build(keras, tf, case, seed=100 + i))
        built[name] = path
    path = root / "fc_per_channel.tflite"
    path.write_bytes(_fc_model(per_channel=True))
    built["fc_per_channel"] = path
    projects = {}
    for name, path in built.items():
        graph = load_model(path)
        _project(graph, root / name, path)
        projects[name] = (path, graph, root / name)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda d: make(d, CHECKED), [d for _, _, d in projects.values()]))
    return projects


# What the generated code must call for the case to test what it is meant to.
EXPECT_CALL = {
    "conv1d_1xn": "runs arm_convolve_1_x_n_s8", "conv_groups2": "runs arm_convolve_s8",
    "conv_dilation2_valid": "runs arm_convolve_s8", "depthwise_dm2_stride2": "runs arm_depthwise_conv_s8",
    "add_all_pairs": "tg_add_table_s8(", "mul_all_pairs": "arm_elementwise_mul_s8(",
    "add_broadcast_relu": "tg_add_s8(", "maxpool_same_odd": "arm_max_pool_s8(",
    "fc_per_channel": "arm_fully_connected_per_channel_s8(",
}


@needs_cmsis
@pytest.mark.parametrize("name", OP_CASES + ["conv1d_1xn", "fc_per_channel"])
def test_host_op_bit_exact(name, op_projects, golden):
    path, graph, project = op_projects[name]
    if name in EXPECT_CALL:
        assert EXPECT_CALL[name] in (project / "model.c").read_text(), f"{name} does not reach {EXPECT_CALL[name]}"
    inputs = make_random_inputs(graph, N_SAMPLES, seed=len(name))
    _assert_equal(run_build(project, inputs), golden(path, inputs), f"{name}: cmsis-nn host vs TFLM")


def test_op_cases_exercise_cmsis_paths(tmp_path):
    """The op cases reach the CMSIS-NN kernels they are meant for (not a portable fallback)."""
    path = tmp_path / "fc.tflite"
    path.write_bytes(_fc_model(per_channel=True))
    text = "\n".join(l for layer in build_model_code(load_model(path), backend="cmsis-nn").layers
                     for l in layer.body)
    assert "arm_fully_connected_per_channel_s8(" in text


# ---------------------------------------------------------------------------
# With CMSIS-NN: Cortex-M4 (DSP) and Cortex-M55 (MVE) in QEMU
# ---------------------------------------------------------------------------

def _qemu_ready(target: str) -> None:
    if not CMSIS_NN_PATH:
        pytest.skip(UNSET)
    if not MODELS.is_dir():
        pytest.skip(f"shared models folder {MODELS} is absent (tests read real models from ../shared)")
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi)")
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm is not installed (apt-get install qemu-system-arm)")


def _run_on_qemu(target: str, stems, tmp_path_factory, golden):
    from tinygen.device.firmware import open_firmware, run_session
    from tinygen.ref import Interpreter

    root = tmp_path_factory.mktemp(f"cmsis_nn_{target}")
    jobs = []
    for stem in stems:
        path = MODELS / f"{stem}.tflite"
        if not path.is_file():
            continue
        graph = load_model(path)
        code = _project(graph, root / stem, path, target=target)
        assert code.backend_build.get("cmsis_nn_arch") == {"mps2-an386": "dsp", "mps3-an547": "mve"}[target]
        jobs.append((path, graph, root / stem))
    assert jobs, f"none of {stems} is in {MODELS}"
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda d: make(d, CHECKED), [d for _, _, d in jobs]))
    for path, graph, project in jobs:
        inputs = make_random_inputs(graph, N_SAMPLES, seed=5)
        with open_firmware(project, timeout=60) as session:
            ours, _ = run_session(session, inputs)
        _assert_equal(ours, Interpreter(graph).run(inputs), f"{path.stem} on {target}: vs reference interpreter")
        _assert_equal(ours, golden(path, inputs), f"{path.stem} on {target}: vs TFLM")


def test_cortex_m4_dsp_path_in_qemu(tmp_path_factory, golden):
    _qemu_ready("mps2-an386")
    _run_on_qemu("mps2-an386", M4_MODELS, tmp_path_factory, golden)


def test_cortex_m55_mve_path_in_qemu(tmp_path_factory, golden):
    _qemu_ready("mps3-an547")
    _run_on_qemu("mps3-an547", M55_MODELS, tmp_path_factory, golden)
