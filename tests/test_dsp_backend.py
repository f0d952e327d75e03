"""The dsp backend (tinygen/codegen/backends/dsp, firmware/kernels_dsp): bit for bit.

- The generation-time arithmetic it rests on (the one-multiply requantization forms,
  the weight pairing the SXTB16/SMLAD loops assume) against TFLM's sequence, in numpy.
- Op-level Keras models (TFLM is the golden) on the host: the kernels' plain-C
  fallback path, the layers it takes and the ones it hands to the portable kernels.
- The MLPerf Tiny models on the host (fallback path) and on the emulated Cortex-M4
  (QEMU mps2-an386: the ACLE/inline-assembly path), against the reference interpreter.
"""
from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from codegen_helpers import generate_host, make, run_build
from conftest import MODELS, make_random_inputs
from tinygen.codegen.backends.dsp import common

MLPERF = ["mlperf_tiny_kws_dscnn.tflite", "mlperf_tiny_ic_resnet8.tflite", "mlperf_tiny_vww_96.tflite",
          "mlperf_tiny_ad_fc.tflite"]


def _model(name: str) -> Path:
    path = MODELS / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (tests read real models from ../shared)")
    return path


# ---- generation-time arithmetic ------------------------------------------------------------

def _accumulators(rng, limit: int) -> np.ndarray:
    x = np.concatenate([rng.integers(-limit, limit + 1, 3000), rng.integers(-3000, 3001, 3000),
                        np.array([-limit, limit, 0, -1, 1])])
    return x.astype(np.int64)


def test_folded_requantization_equals_tflm_double_rounding():
    rng = np.random.default_rng(7)
    for _ in range(400):
        m = int(rng.integers(1 << 30, 1 << 31))
        e = int(rng.integers(1, common.MAX_RIGHT_SHIFT + 1))
        off = int(rng.integers(-128, 128))
        x = _accumulators(rng, (1 << 31) - 1)
        # exact ties of the final divide: h = SRDHM(x, m) = k * 2^e + 2^(e-1) for some x is rare at
        # random, so also take x with x*m close to those points
        half = ((np.arange(-50, 50, dtype=np.int64) << e) + (1 << (e - 1))) << 31
        x = np.concatenate([x, half // m, half // m + 1])
        x = x[(x >= -(1 << 31)) & (x < (1 << 31))]
        np.testing.assert_array_equal(common.single_multiply_requantize(x, common.requant_words(m, -e, off)),
                                      common.reference_requantize(x, m, -e, off), err_msg=f"m={m} e={e}")


def test_mixed_requantization_equals_tflm_for_every_right_shift():
    rng = np.random.default_rng(8)
    for e in range(0, 32):
        for _ in range(12):
            m = int(rng.integers(1 << 30, 1 << 31))
            off = int(rng.integers(-128, 128))
            x = _accumulators(rng, 1 << 29)
            np.testing.assert_array_equal(common.mixed_requantize(x, common.mixed_words(m, -e), off),
                                          common.reference_requantize(x, m, -e, off), err_msg=f"m={m} e={e}")


def test_requant_table_picks_the_form_and_refuses_what_it_cannot_do():
    m = np.array([1 << 30, 1500000000, 2000000000])
    words, mixed = common.requant_table(m, np.array([-1, -7, -22]), -5, 3)
    assert not mixed and words.shape == (4, 4) and not words[3].any()  # 4th channel: padding
    _, mixed = common.requant_table(m, np.array([-1, 0, -9]), 3, 3, bounds=[1 << 20] * 3)
    assert mixed
    _, mixed = common.requant_table(m, np.array([-1, -30, -9]), 3, 3, bounds=[1 << 20] * 3)
    assert mixed
    assert common.requant_table(m, np.array([-1, 1, -9]), 3, 3) is None            # left shift
    # mixed form: bits 31..62 of |x|*m + K (K ~ 2^61 for e = 31) must not overflow
    assert common.requant_table(m, np.array([-1, 0, -31]), 3, 3, bounds=[1 << 29] * 3) is not None
    assert common.requant_table(m, np.array([-1, 0, -31]), 3, 3, bounds=[1 << 31] * 3) is None


def _sxtb16_pairs(x4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x0, x2), (x1, x3) of each group of four int8 inputs, as the kernels see them."""
    x = x4.reshape(-1, 4)
    return x[:, [0, 2]], x[:, [1, 3]]


def _unpack(words: np.ndarray) -> np.ndarray:
    u = words.view(np.uint32).astype(np.int64)
    lo, hi = u & 0xFFFF, u >> 16
    lo = np.where(lo >= 0x8000, lo - 0x10000, lo)
    hi = np.where(hi >= 0x8000, hi - 0x10000, hi)
    return np.stack([lo, hi], axis=-1)


def test_gemm_weight_pairs_follow_the_smlad_order():
    rng = np.random.default_rng(3)
    for out_c, k in ((8, 16), (5, 27), (12, 40), (3, 4)):
        w = rng.integers(-128, 128, (out_c, k))
        x = rng.integers(-128, 128, k)
        words, o4, k4 = common.gemm_weights(w)
        pairs = _unpack(words).reshape(o4 // 4, k4 // 4, 4, 2, 2)  # block, chunk, ch, word, half
        xp = np.zeros(k4, np.int64)
        xp[:k] = x
        lo, hi = _sxtb16_pairs(xp)
        # what the loop accumulates: SMLAD(lo, word0) + SMLAD(hi, word1) per chunk
        acc = (pairs[:, :, :, 0, :] * lo[None, :, None, :]).sum(axis=(1, 3)) + \
              (pairs[:, :, :, 1, :] * hi[None, :, None, :]).sum(axis=(1, 3))
        np.testing.assert_array_equal(acc.reshape(-1)[:out_c], w @ x)


def test_depthwise_weight_pairs_follow_the_smlabb_order():
    rng = np.random.default_rng(4)
    w = rng.integers(-128, 128, (1, 3, 2, 8))
    words = _unpack(common.depthwise_weights(w)).reshape(2, 6, 2, 2)  # cb, tap, word, half
    # word 0 = (c0, c2), word 1 = (c1, c3) of the block's four channels
    for cb in range(2):
        for tap in range(6):
            c = w[0].reshape(6, 8)[tap, cb * 4:cb * 4 + 4]
            assert list(words[cb, tap, 0]) == [c[0], c[2]] and list(words[cb, tap, 1]) == [c[1], c[3]]


# ---- op-level models on the host, TFLM as the golden ------------------------------------------

def _cases():
    from test_ref_ops import CASES, Case, L, _seq

    mine = {
        "dsp_depthwise_5x3_stride2_same": Case(_seq(L("DepthwiseConv2D", (5, 3), strides=2, padding="same"),
                                                    shape=(11, 9, 8)), [(-1, 1)], {"DEPTHWISE_CONV_2D"}),
        "dsp_depthwise_3x3_relu6": Case(_seq(L("DepthwiseConv2D", 3, padding="same", activation="relu6"),
                                             shape=(7, 6, 12)), [(-2, 3)], {"DEPTHWISE_CONV_2D"}),
        "dsp_conv_3x3_out6": Case(_seq(L("Conv2D", 6, 3, padding="same", activation="relu"), shape=(9, 8, 3)),
                                  [(-1, 1)], {"CONV_2D"}),
        "dsp_conv_1x1_stride2": Case(_seq(L("Conv2D", 12, 1, strides=2), shape=(9, 8, 8)), [(-1, 1)],
                                     {"CONV_2D"}),
        "dsp_dense_12_to_5": Case(_seq(L("Flatten"), L("Dense", 5), shape=(3, 4)), [(-1, 1)],
                                  {"FULLY_CONNECTED"}),
    }
    # name -> (case, True when the dsp kernel takes the layer, False when it must fall back)
    out = {n: (c, True) for n, c in mine.items()}
    for name, native in (("conv_stride2_same_odd", True), ("conv_5x1_stride2", True), ("conv_valid_3x2", True),
                         ("conv_groups2", False), ("conv_dilation2_same", False),
                         ("depthwise_dm2_stride2", False), ("depthwise_valid", False), ("dense_relu", None),
                         ("add_mixed_scales", None)):
        if name in CASES:
            out[name] = (CASES[name], native)
    return out


@pytest.fixture(scope="session")
def dsp_op_firmwares(tmp_path_factory):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is needed to make op-level test models "
                                                  "(pip install tinygen[dev])")
    keras = pytest.importorskip("keras", reason="Keras is needed to make op-level test models")
    from test_ref_ops import _build
    from tinygen.model import load_model

    root = tmp_path_factory.mktemp("dsp_ops")
    built = {}
    for i, (name, (case, native)) in enumerate(sorted(_cases().items())):
        path = root / f"{name}.tflite"
        path.write_bytes(_build(keras, tf, case, seed=100 + i))
        graph = load_model(path)
        generate_host(graph, root / name, model_path=path, backend="dsp")
        built[name] = (path, graph, root / name, native)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(make, [p for _, _, p, _ in built.values()]))
    return built


@pytest.mark.parametrize("name", sorted(_cases()))
def test_dsp_op_matches_tflm_on_host(name, dsp_op_firmwares, golden):
    path, graph, project, native = dsp_op_firmwares[name]
    model_c = (project / "model.c").read_text()
    if native is True:
        assert "tg_dsp_" in model_c, f"{name}: the dsp kernel should take this layer"
    elif native is False:
        assert "tg_dsp_" not in model_c, f"{name}: the dsp kernel cannot take this layer"
    inputs = make_random_inputs(graph, 16, seed=len(name))
    ours = run_build(project, inputs)
    gold = golden(path, inputs)
    for a, g in zip(ours, gold):
        np.testing.assert_array_equal(a, g.reshape(a.shape))


# ---- MLPerf Tiny models: host (plain-C path) and emulated Cortex-M4 (DSP path) --------------

def _verify(project: Path, model: Path, n: int, seed: int, timeout: float) -> dict:
    from tinygen.commands.verify import random_inputs, verify_device
    from tinygen.device.connect import connect
    from tinygen.model import load_model

    graph = load_model(model)
    with connect(firmware_dir=project, timeout=timeout) as device:
        return verify_device(device, graph, random_inputs(graph, n, seed), progress=False, echo=lambda s: None)


def _generate_and_build(model: Path, out: Path, target: str) -> Path:
    from tinygen.codegen.emit import generate_project
    from tinygen.commands.build import build_project

    generate_project(model, out, target=target, backend="dsp", force=True)
    build_project(out)
    model_c = (out / "model.c").read_text()
    # every conv / depthwise / dense layer of these models runs a dsp kernel
    assert "tg_conv2d_s8(" not in model_c and "tg_depthwise_conv2d_s8(" not in model_c
    assert "tg_fully_connected_s8(" not in model_c and "tg_dsp_" in model_c
    return out


@pytest.mark.parametrize("name", MLPERF)
def test_mlperf_bit_exact_on_host(name, tmp_path):
    model = _model(name)
    project = _generate_and_build(model, tmp_path / "p", "host")
    rep = _verify(project, model, n=2, seed=21, timeout=10.0)
    assert rep["bit_exact"] == rep["count"] == 2 and rep["max_abs_diff"] == 0, rep["samples"]


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("name", MLPERF)
def test_mlperf_bit_exact_on_cortex_m4(name, tmp_path):
    model = _model(name)
    project = _generate_and_build(model, tmp_path / "p", "mps2-an386")
    rep = _verify(project, model, n=1 if "vww" in name else 2, seed=22, timeout=30.0)
    assert rep["board"] == "mps2-an386"
    assert rep["bit_exact"] == rep["count"] and rep["max_abs_diff"] == 0, rep["samples"]
