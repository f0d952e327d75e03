"""Every portable C kernel against TFLM, one op at a time.

Reuses the op-level cases of test_ref_ops.py (tiny models made with TensorFlow
here and now, covering strides, paddings, dilation, groups, depth multipliers,
broadcasting, mixed scales, activations): each is generated for the host,
built, and run on random full-range inputs over the device protocol; outputs
must equal TFLM's bit for bit. Cases the portable backend cannot generate must
be refused with an error naming the op.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from codegen_helpers import generate_host, make, run_build
from conftest import make_random_inputs
from test_ref_ops import CASES, _build
from tinygen.errors import TinygenError, UnsupportedOpError
from tinygen.model import load_model

N_SAMPLES = 24
# One case per kernel and variant (converting every case of test_ref_ops would take minutes).
SELECTED = [
    "conv_stride2_same_odd", "conv_dilation2_valid", "conv_groups2", "conv_5x1_stride2",
    "depthwise_dm2_stride2", "depthwise_valid", "avgpool_same_odd", "maxpool_same_odd",
    "dense_keep_num_dims", "flatten_dense", "add_broadcast_relu", "add_mixed_scales", "sub_mixed_scales",
    "mul_broadcast", "concat_same_scale", "softmax_rows", "relu6_range_below_6", "relu_standalone",
    "leaky_relu", "hard_swish", "logistic", "tanh_wide", "pad", "strided_slice", "mean_global_pool",
    "mean_last_axis", "quantize_dequantize_float_io",
]
# Ops the portable backend does not generate yet (the reference interpreter runs them).
NOT_GENERATED: dict[str, str] = {}


@pytest.fixture(scope="session")
def op_firmwares(tmp_path_factory):
    """case name -> (tflite path, graph, project dir), all built once (in parallel)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is needed to make op-level test models "
                                                  "(pip install tinygen[dev])")
    keras = pytest.importorskip("keras", reason="Keras is needed to make op-level test models")
    root = tmp_path_factory.mktemp("codegen_ops")
    built = {}
    for name in SELECTED:
        if name not in CASES:
            continue
        case = CASES[name]
        path = root / f"{name}.tflite"
        path.write_bytes(_build(keras, tf, case, seed=sorted(CASES).index(name)))
        graph = load_model(path)
        project = root / name
        try:
            generate_host(graph, project, model_path=path)
        except TinygenError as exc:
            built[name] = (path, graph, exc)
            continue
        built[name] = (path, graph, project)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(make, [p for _, _, p in built.values() if not isinstance(p, Exception)]))
    return built


def test_selected_cases_exist():
    missing = [n for n in SELECTED if n not in CASES or CASES[n].unsupported or "static_twin" in CASES[n].extra]
    assert not missing, f"test_ref_ops.py no longer has these plain cases: {missing}"


@pytest.mark.parametrize("name", SELECTED)
def test_kernel_matches_tflm(name, op_firmwares, golden):
    path, graph, project = op_firmwares[name]
    if name in NOT_GENERATED:
        assert isinstance(project, (UnsupportedOpError, TinygenError)), f"{name} is generated now: test it"
        assert NOT_GENERATED[name] in str(project)
        return
    assert not isinstance(project, Exception), f"{name}: {project}"
    inputs = make_random_inputs(graph, N_SAMPLES, seed=len(name) + 1)
    ours = run_build(project, inputs)
    gold = golden(path, inputs)
    assert len(ours) == len(gold)
    for a, g in zip(ours, gold):
        g = g.reshape(a.shape)
        if a.dtype.kind == "f":  # DEQUANTIZE output: compare the float32 bit patterns
            np.testing.assert_array_equal(a.view(np.int32), g.astype(np.float32).view(np.int32))
        else:
            np.testing.assert_array_equal(a, g)
