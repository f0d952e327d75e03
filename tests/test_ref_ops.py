"""Op-level edge cases, each a tiny model made with TensorFlow here and now, run
by the reference interpreter and by TFLM on random full-range inputs and
compared bit for bit.

Every case also asserts that the converted model really contains the op it is
about (so a converter change cannot turn a case into a no-op). Models are built
once per session (all together take a few seconds) into a temporary folder.
"""
from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from conftest import make_random_inputs
from tinygen.errors import UnsupportedOpError
from tinygen.model import load_model
from tinygen.ref import Interpreter

N_SAMPLES = 48

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@dataclass
class Case:
    make: Callable  # (keras) -> keras.Model
    ranges: list  # representative-data (lo, hi) per input
    expect_ops: set
    float_io: bool = False
    unsupported: str | None = None  # op type tinygen must refuse (TFLM refuses it too)
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _seq(*layers, shape, batch=1):
    def make(keras):
        x = keras.Input(shape, batch_size=batch, name="x")
        y = x
        for layer in layers:
            y = layer(keras)(y)
        return keras.Model(x, y)
    return make


def _two(shape1, shape2, fn):
    def make(keras):
        a = keras.Input(shape1, batch_size=1, name="a")
        b = keras.Input(shape2, batch_size=1, name="b")
        return keras.Model([a, b], fn(keras, a, b))
    return make


L = lambda name, *a, **k: (lambda keras: getattr(keras.layers, name)(*a, **k))  # noqa: E731


CASES = {
    "conv_stride2_same_odd": Case(_seq(L("Conv2D", 8, 3, strides=2, padding="same", activation="relu"),
                                       shape=(15, 13, 3)), [(-1, 1)], {"CONV_2D"}),
    "conv_valid_3x2": Case(_seq(L("Conv2D", 6, (3, 2), padding="valid"), shape=(12, 10, 4)), [(-2, 3)], {"CONV_2D"}),
    "conv_stride2_valid_even": Case(_seq(L("Conv2D", 5, 3, strides=2, padding="valid", activation="relu6"),
                                         shape=(16, 16, 2)), [(0, 4)], {"CONV_2D"}),
    "conv_dilation2_same": Case(_seq(L("Conv2D", 5, 3, dilation_rate=2, padding="same"), shape=(13, 11, 3)),
                                [(-1, 1)], {"CONV_2D"}),
    "conv_dilation2_valid": Case(_seq(L("Conv2D", 4, 3, dilation_rate=(2, 3), padding="valid"), shape=(14, 15, 2)),
                                 [(-1, 1)], {"CONV_2D"}),
    "conv_1x5": Case(_seq(L("Conv2D", 4, (1, 5), padding="same"), shape=(6, 17, 3)), [(-1, 1)], {"CONV_2D"}),
    "conv_5x1_stride2": Case(_seq(L("Conv2D", 4, (5, 1), strides=(2, 1), padding="same"), shape=(17, 6, 3)),
                             [(-1, 1)], {"CONV_2D"}),
    "conv_groups2": Case(_seq(L("Conv2D", 8, 3, groups=2, padding="same"), shape=(9, 9, 4)), [(-1, 1)],
                         {"CONV_2D"}),
    "depthwise_dm2_stride2": Case(_seq(L("DepthwiseConv2D", 3, strides=2, depth_multiplier=2, padding="same",
                                         activation="relu"), shape=(11, 9, 3)), [(-1, 1)], {"DEPTHWISE_CONV_2D"}),
    "depthwise_valid": Case(_seq(L("DepthwiseConv2D", (3, 2), padding="valid"), shape=(8, 7, 5)), [(-3, 1)],
                            {"DEPTHWISE_CONV_2D"}),
    "avgpool_same_odd": Case(_seq(L("AveragePooling2D", 3, strides=2, padding="same"), shape=(9, 7, 4)),
                             [(-1, 1)], {"AVERAGE_POOL_2D"}),
    "avgpool_valid": Case(_seq(L("AveragePooling2D", 2), shape=(8, 6, 3)), [(-1, 1)], {"AVERAGE_POOL_2D"}),
    "maxpool_same_odd": Case(_seq(L("MaxPooling2D", 3, strides=2, padding="same"), shape=(9, 7, 4)),
                             [(-1, 1)], {"MAX_POOL_2D"}),
    "dense_keep_num_dims": Case(_seq(L("Dense", 7), shape=(5, 8)), [(-1, 1)], {"FULLY_CONNECTED"}),
    "dense_relu": Case(_seq(L("Dense", 9, activation="relu"), shape=(20,)), [(-1, 2)], {"FULLY_CONNECTED"}),
    "flatten_dense": Case(_seq(L("Flatten"), L("Dense", 4), shape=(3, 4, 2)), [(-1, 1)],
                          {"RESHAPE", "FULLY_CONNECTED"}),
    "add_mixed_scales": Case(_two((6, 5, 3), (6, 5, 3), lambda k, a, b: k.layers.Add()([a, b])),
                             [(-1, 1), (-6, 4)], {"ADD"}),
    "add_broadcast_relu": Case(_two((4, 5, 3), (1, 1, 3), lambda k, a, b: k.layers.ReLU()(k.ops.add(a, b))),
                               [(-2, 2), (-0.5, 1)], {"ADD"}),
    "sub_mixed_scales": Case(_two((6, 5, 3), (6, 5, 3), lambda k, a, b: k.layers.Subtract()([a, b])),
                             [(-1, 1), (-5, 3)], {"SUB"}),
    "mul_mixed_scales": Case(_two((6, 5, 3), (6, 5, 3), lambda k, a, b: k.layers.Multiply()([a, b])),
                             [(-1, 1), (-7, 2)], {"MUL"}),
    "mul_broadcast": Case(_two((4, 5, 3), (1, 1, 3), lambda k, a, b: k.ops.multiply(a, b)),
                          [(-2, 2), (0, 3)], {"MUL"}),
    "concat_same_scale": Case(_seq(L("Conv2D", 4, 1), shape=(5, 5, 3)), [(-1, 1)], {"CONV_2D"},
                              extra={"concat": True}),
    "concat_mixed_scales": Case(_two((4, 4, 3), (4, 4, 2), lambda k, a, b: k.layers.Concatenate()([a, b])),
                                [(-1, 1), (-8, 3)], {"CONCATENATION"}),
    "relu6_range_below_6": Case(_seq(L("ReLU", max_value=6.0), shape=(40,)), [(-2, 3)], {"RELU6"}),
    "relu_standalone": Case(_seq(L("ReLU"), shape=(40,)), [(-3, 2)], {"RELU"}),
    "softmax_rows": Case(_seq(L("Softmax"), shape=(6, 10)), [(-12, 9)], {"SOFTMAX"}),
    "softmax_narrow": Case(_seq(L("Softmax"), shape=(33,)), [(-0.2, 0.3)], {"SOFTMAX"}),
    "mean_global_pool": Case(_seq(L("GlobalAveragePooling2D"), shape=(5, 7, 6)), [(-1, 3)], {"MEAN"}),
    "mean_last_axis": Case(_seq(lambda k: (lambda t: k.ops.mean(t, axis=-1, keepdims=True)), shape=(4, 9)),
                           [(-2, 1)], {"MEAN"}),
    "leaky_relu": Case(_seq(L("LeakyReLU", negative_slope=0.3), shape=(50,)), [(-4, 2)], {"LEAKY_RELU"}),
    "hard_swish": Case(_seq(L("Activation", "hard_swish"), shape=(60,)), [(-5, 5)], {"HARD_SWISH"}),
    "logistic": Case(_seq(L("Activation", "sigmoid"), shape=(60,)), [(-6, 6)], {"LOGISTIC"}),
    "logistic_narrow": Case(_seq(L("Activation", "sigmoid"), shape=(60,)), [(-0.5, 0.25)], {"LOGISTIC"}),
    "tanh": Case(_seq(L("Activation", "tanh"), shape=(60,)), [(-3, 3)], {"TANH"}),
    "tanh_wide": Case(_seq(L("Activation", "tanh"), shape=(60,)), [(-20, 11)], {"TANH"}),
    "padv2_constant": Case(_seq(lambda k: (lambda t: k.ops.pad(t, ((0, 0), (1, 1), (2, 0)), constant_values=0.5)),
                                shape=(4, 5)), [(-1, 1)], {"PADV2"}),
    "mean_axis1_no_keepdims": Case(_seq(lambda k: (lambda t: k.ops.mean(t, axis=1)), shape=(7, 9)), [(-1, 2)],
                                   {"MEAN"}),
    "maxpool_valid_fused_relu": Case(_seq(L("MaxPooling2D", 2), L("ReLU"), shape=(8, 6, 3)), [(-1, 1)],
                                     {"MAX_POOL_2D"}),
    "pad": Case(_seq(L("ZeroPadding2D", ((1, 2), (0, 3))), shape=(4, 5, 3)), [(-1, 2)], {"PAD"}),
    "strided_slice": Case(_seq(lambda k: (lambda t: t[:, 1:7:2, 2:, :2]), shape=(8, 6, 3)), [(-1, 1)],
                          {"STRIDED_SLICE"}),
    # every int8 pair (a, b) once: shape 256x256, a along rows, b along columns
    "add_all_pairs": Case(_two((256, 256), (256, 256), lambda k, a, b: k.layers.Add()([a, b])),
                          [(-1, 1), (-3, 5)], {"ADD"}, extra={"all_pairs": True}),
    "sub_all_pairs": Case(_two((256, 256), (256, 256), lambda k, a, b: k.layers.Subtract()([a, b])),
                          [(-1, 1), (-5, 3)], {"SUB"}, extra={"all_pairs": True}),
    "mul_all_pairs": Case(_two((256, 256), (256, 256), lambda k, a, b: k.layers.Multiply()([a, b])),
                          [(-1, 1), (-7, 2)], {"MUL"}, extra={"all_pairs": True}),
    # dynamic batch: Keras 3 Flatten emits SHAPE/STRIDED_SLICE/PACK before RESHAPE
    # (graph clean-ups fold them). The golden runs the same weights converted with a static batch:
    # TFLM does not resize SPACE_TO_BATCH_ND's output of a dynamic-batch model and computes garbage.
    "flatten_dynamic_batch": Case(_seq(L("Flatten"), L("Dense", 4), shape=(3, 4, 2), batch=None), [(-1, 1)],
                                  {"FULLY_CONNECTED"},
                                  extra={"static_twin": _seq(L("Flatten"), L("Dense", 4), shape=(3, 4, 2))}),
    "conv_dilation2_dynamic_batch": Case(_seq(L("Conv2D", 5, 3, dilation_rate=2, padding="same"),
                                              shape=(13, 11, 3), batch=None), [(-1, 1)], {"CONV_2D"},
                                         extra={"static_twin": _seq(L("Conv2D", 5, 3, dilation_rate=2,
                                                                      padding="same"), shape=(13, 11, 3))}),
    "strided_slice_reverse_shrink": Case(_seq(lambda k: (lambda t: t[:, ::-2, 1, 1:]), shape=(7, 4, 3)), [(-1, 1)],
                                         {"STRIDED_SLICE"}),
    "quantize_dequantize_float_io": Case(_seq(L("Dense", 6), shape=(12,)), [(-3, 3)],
                                         {"QUANTIZE", "DEQUANTIZE", "FULLY_CONNECTED"}, float_io=True),
}


def _build(keras, tf, case: Case, seed: int, twin: bool = False) -> bytes:
    keras.utils.set_random_seed(seed)  # same weights when the static twin is built
    model = case.make(keras)
    if twin:  # same weights, static batch 1
        static = case.extra["static_twin"](keras)
        static.set_weights(model.get_weights())
        model = static
    if case.extra.get("concat"):
        # same-scale concatenation: both halves come from one tensor
        x = model.inputs[0]
        y = model.outputs[0]
        model = keras.Model(x, keras.layers.Concatenate()([y, keras.layers.ReLU()(y)]))
        case.expect_ops = {"CONCATENATION"}
    rng = np.random.default_rng(seed)

    def representative():
        # keyed by input name: the converted graph may order its inputs differently
        for _ in range(64):
            yield {inp.name: rng.uniform(lo, hi, size=(1,) + tuple(inp.shape[1:])).astype(np.float32)
                   for inp, (lo, hi) in zip(model.inputs, case.ranges)}

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not case.float_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):
        return conv.convert()


# ---------------------------------------------------------------------------
# Hand-built single-op models (tests/flatbuffer_builder.py): exact control over
# scales and zero points. Each runs on EVERY int8 input (or pair), so any
# difference in a multiplier that changes one output is seen.
#
# The derivation_* scales were found by search so that the float32 and the
# double derivation of a multiplier give different outputs: TFLM's sources
# compute these in float32, the TFLM build we verify against behaves as double
# (tinygen.quant.params docstring). activation_range_* and quantize_float_ties
# are the opposite check: there TFLM rounds in float32 and so must we.
# ---------------------------------------------------------------------------

def _all_values(shape=(1, 256)):
    return [np.arange(-128, 128, dtype=np.int8).reshape((1,) + shape)]


def _all_pairs():
    a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128), indexing="ij")
    return [a.astype(np.int8)[None], b.astype(np.int8)[None]]


def _hand_built():
    from flatbuffer_builder import T, single_op_model

    rng = np.random.default_rng(7)
    cases = {}

    def unary(name, op, si, zi, so, zo, options=None):
        buf = single_op_model(op, [T("x", (1, 256), "int8", si, zi)], [T("y", (1, 256), "int8", so, zo)],
                              options=options)
        cases[name] = (buf, _all_values())

    def binary(name, op, sa, za, sb, zb, so, zo, act=0):
        opts = {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions"}[op]
        buf = single_op_model(op, [T("a", (256, 256), "int8", sa, za), T("b", (256, 256), "int8", sb, zb)],
                              [T("y", (256, 256), "int8", so, zo)],
                              options=(opts, {"fused_activation_function": act}))
        cases[name] = (buf, _all_pairs())

    binary("derivation_sub", "SUB", 0.14992767572402954, 98, 0.09153728932142258, 94, 0.019664378836750984, -48)
    unary("derivation_leaky_relu", "LEAKY_RELU", 0.017504828050732613, 116, 0.013609387911856174, 105,
          options=("LeakyReluOptions", {"alpha": 0.3}))
    unary("derivation_relu", "RELU", 0.12240081280469894, -124, 0.011869169771671295, -106)
    unary("derivation_hard_swish", "HARD_SWISH", 0.037270303815603256, -75, 0.0897582620382309, -27)
    # 6 / scale is x.5 in float32 but x.4999 in double: the RELU6 clamp is 25 vs 24 steps above zero
    unary("activation_range_relu6", "RELU6", 0.2448979616165161, -128, 0.2448979616165161, -128)
    binary("activation_range_add_relu6", "ADD", 0.05, 0, 0.05, 0, 0.2448979616165161, -128, act=3)
    # per-tensor FULLY_CONNECTED whose filter has a non-zero zero point (TFLM honours it)
    w = rng.integers(-128, 128, size=(7, 24), dtype=np.int8)
    bias = rng.integers(-5000, 5000, size=7).astype(np.int32)
    sx, sw = 0.05, 0.013
    x = rng.integers(-128, 128, size=(64, 1, 24), dtype=np.int8)
    cases["fc_filter_zero_point"] = (single_op_model(
        "FULLY_CONNECTED",
        [T("x", (1, 24), "int8", sx, -3), T("w", (7, 24), "int8", sw, 11, data=w),
         T("b", (7,), "int32", float(np.float32(sx) * np.float32(sw)), 0, data=bias)],
        [T("y", (1, 7), "int8", 0.21, 4)],
        options=("FullyConnectedOptions", {"fused_activation_function": 0})), [x])
    # float -> int8 QUANTIZE on values whose quotient rounds differently in float32 and double
    s = np.float32(0.2600212)
    q = np.arange(-150, 150)
    mid = ((q + 0.5) * np.float64(s)).astype(np.float32)
    vals = np.concatenate([mid, np.nextafter(mid, np.float32(np.inf)), np.nextafter(mid, np.float32(-np.inf))])
    vals = vals.astype(np.float32)
    cases["quantize_float_ties"] = (single_op_model(
        "QUANTIZE", [T("x", (1, vals.size), "float32")], [T("y", (1, vals.size), "int8", float(s), 3)]),
        [vals.reshape(1, 1, -1)])
    # requantizing QUANTIZE between integer types, on every input value
    all16 = np.arange(-32768, 32768, dtype=np.int16).reshape(1, 1, -1)
    cases["quantize_int8_to_int8"] = (single_op_model(
        "QUANTIZE", [T("x", (1, 256), "int8", 0.037, 5)], [T("y", (1, 256), "int8", 0.011, -20)]), _all_values())
    cases["quantize_int8_to_int16"] = (single_op_model(
        "QUANTIZE", [T("x", (1, 256), "int8", 0.037, 5)], [T("y", (1, 256), "int16", 0.0007, 0)]), _all_values())
    cases["quantize_int16_to_int8"] = (single_op_model(
        "QUANTIZE", [T("x", (1, 65536), "int16", 0.0007, 0)], [T("y", (1, 65536), "int8", 0.037, 5)]), [all16])
    cases["dequantize_int8"] = (single_op_model(
        "DEQUANTIZE", [T("x", (1, 256), "int8", 0.0371, -7)], [T("y", (1, 256), "float32")]), _all_values())
    # SOFTMAX: beta != 1, a tiny input scale, and a huge one (beta*scale*2^26 capped at 2^31-1)
    rows = rng.integers(-128, 128, size=(8, 64, 10), dtype=np.int8)
    rows[:, :8, :] = np.array([-128, 127, 0, -1, 1, 126, -127, 5, 5, 127], dtype=np.int8)  # rows spanning the range
    for name, scale, beta in (("softmax_beta_half", 0.11, 0.5), ("softmax_tiny_scale", 0.004, 1.0),
                              ("softmax_capped_scale", 40.0, 1.0), ("softmax_beta_2", 0.07, 2.0)):
        cases[name] = (single_op_model(
            "SOFTMAX", [T("x", (64, 10), "int8", scale, 3)], [T("y", (64, 10), "int8", 1.0 / 256, -128)],
            options=("SoftmaxOptions", {"beta": beta})), [rows])
    # SQUEEZE / EXPAND_DIMS (the converter folds them away in Keras models)
    cases["squeeze"] = (single_op_model(
        "SQUEEZE", [T("x", (1, 5, 1, 3), "int8", 0.1, 2)], [T("y", (5, 3), "int8", 0.1, 2)],
        options=("SqueezeOptions", {})), [rng.integers(-128, 128, size=(4, 1, 5, 1, 3), dtype=np.int8)])
    cases["expand_dims"] = (single_op_model(
        "EXPAND_DIMS", [T("x", (1, 5, 3), "int8", 0.1, 2), T("axis", (1,), "int32", data=np.array([2], np.int32))],
        [T("y", (1, 5, 1, 3), "int8", 0.1, 2)]), [rng.integers(-128, 128, size=(4, 1, 5, 3), dtype=np.int8)])
    # weight quantization the shared models do not have: per-tensor CONV/DEPTHWISE, per-channel FC
    xs = rng.integers(-128, 128, size=(16, 1, 9, 7, 4), dtype=np.int8)
    wc = rng.integers(-127, 128, size=(6, 3, 3, 4), dtype=np.int8)
    bc = rng.integers(-20000, 20000, size=6).astype(np.int32)
    cases["conv_per_tensor_weights"] = (single_op_model(
        "CONV_2D", [T("x", (1, 9, 7, 4), "int8", 0.04, 9), T("w", (6, 3, 3, 4), "int8", 0.006, 0, data=wc),
                    T("b", (6,), "int32", float(np.float32(0.04) * np.float32(0.006)), 0, data=bc)],
        [T("y", (1, 5, 4, 6), "int8", 0.09, -5)],
        options=("Conv2DOptions", {"padding": 0, "stride_w": 2, "stride_h": 2, "fused_activation_function": 1,
                                   "dilation_w_factor": 1, "dilation_h_factor": 1})), [xs])
    wd = rng.integers(-127, 128, size=(1, 3, 3, 8), dtype=np.int8)
    bd = rng.integers(-5000, 5000, size=8).astype(np.int32)
    cases["depthwise_per_tensor_weights"] = (single_op_model(
        "DEPTHWISE_CONV_2D", [T("x", (1, 9, 7, 4), "int8", 0.04, 9), T("w", (1, 3, 3, 8), "int8", 0.01, 0, data=wd),
                              T("b", (8,), "int32", float(np.float32(0.04) * np.float32(0.01)), 0, data=bd)],
        [T("y", (1, 9, 7, 8), "int8", 0.05, 3)],
        options=("DepthwiseConv2DOptions", {"padding": 0, "stride_w": 1, "stride_h": 1, "depth_multiplier": 2,
                                            "fused_activation_function": 3, "dilation_w_factor": 1,
                                            "dilation_h_factor": 1})), [xs])
    wf = rng.integers(-127, 128, size=(5, 30), dtype=np.int8)
    sf = (rng.uniform(0.002, 0.02, size=5)).astype(np.float32)
    bf = rng.integers(-3000, 3000, size=5).astype(np.int32)
    cases["fc_per_channel_weights"] = (single_op_model(
        "FULLY_CONNECTED", [T("x", (2, 30), "int8", 0.03, -4), T("w", (5, 30), "int8", sf, 0, data=wf),
                            T("b", (5,), "int32", np.float32(0.03) * sf, 0, data=bf)],
        [T("y", (2, 5), "int8", 0.15, 1)],
        options=("FullyConnectedOptions", {"fused_activation_function": 0})),
        [rng.integers(-128, 128, size=(32, 2, 30), dtype=np.int8)])
    unary("relu_n1_to_1", "RELU_N1_TO_1", 0.02, 4, 0.009, -2)
    cases["avgpool_same_fused_relu6"] = (single_op_model(
        "AVERAGE_POOL_2D", [T("x", (1, 9, 7, 4), "int8", 0.04, 9)], [T("y", (1, 5, 4, 4), "int8", 0.04, 9)],
        options=("Pool2DOptions", {"padding": 0, "stride_w": 2, "stride_h": 2, "filter_width": 3,
                                   "filter_height": 3, "fused_activation_function": 3})), [xs])
    # CONCATENATION of inputs whose quantization differs: TFLM's int8 kernel refuses it, and so must tinygen
    cases["concat_mixed_scales_refused"] = (single_op_model(
        "CONCATENATION", [T("a", (1, 4, 3), "int8", 0.05, 0), T("b", (1, 4, 2), "int8", 0.2, 3)],
        [T("y", (1, 4, 5), "int8", 0.2, 3)],
        options=("ConcatenationOptions", {"axis": 2, "fused_activation_function": 0})),
        [np.zeros((1, 1, 4, 3), np.int8), np.zeros((1, 1, 4, 2), np.int8)])
    return cases


REFUSED = {"concat_mixed_scales_refused": "CONCATENATION", "relu_n1_to_1": "RELU_N1_TO_1"}


@pytest.fixture(scope="session")
def op_runs(tmp_path_factory):
    """name -> (model path, inputs, TFLM outputs or GoldenError), all built and run once.

    TFLM runs every case in ONE child process (tinygen.golden.run_tflm_many).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tinygen.golden import run_tflm_many, tflm_available

    if not tflm_available():
        pytest.skip("tflite-micro (TFLM's Python interpreter, the golden reference) is not installed: "
                    "pip install tinygen[dev]")
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is needed to make op-level test models "
                                                  "(pip install tinygen[dev])")
    keras = pytest.importorskip("keras", reason="Keras is needed to make op-level test models")
    folder = tmp_path_factory.mktemp("op_models")
    runs = {}
    jobs = []
    for k, name in enumerate(sorted(CASES)):
        case = CASES[name]
        path = folder / f"{name}.tflite"
        path.write_bytes(_build(keras, tf, case, seed=k))
        graph = load_model(path)
        gold_path = path
        if "static_twin" in case.extra:
            gold_path = folder / f"{name}_static.tflite"
            gold_path.write_bytes(_build(keras, tf, case, seed=k, twin=True))
        if case.extra.get("all_pairs"):
            pair = dict(zip("ab", _all_pairs()))
            names = [t.name.split(":")[0][-1] for t in graph.input_tensors()]
            assert sorted(names) == ["a", "b"], names
            inputs = [pair[n].reshape((1,) + tuple(t.shape)) for n, t in zip(names, graph.input_tensors())]
        else:
            inputs = make_random_inputs(graph, N_SAMPLES, seed=len(name))
        runs[name] = [path, inputs]
        jobs.append((gold_path, inputs))
    for name, (buf, inputs) in _hand_built().items():
        path = folder / f"{name}.tflite"
        path.write_bytes(buf)
        runs[name] = [path, inputs]
        jobs.append((path, inputs))
    for name, gold in zip(runs, run_tflm_many(jobs)):
        runs[name].append(gold)
    return runs


def _compare(ours, gold):
    if isinstance(gold, Exception):
        raise gold
    assert len(ours) == len(gold)
    for a, b in zip(ours, gold):
        b = b.reshape(a.shape)
        if a.dtype.kind == "f":  # DEQUANTIZE output: compare the float32 bit patterns
            np.testing.assert_array_equal(a.view(np.int32), b.astype(np.float32).view(np.int32))
        else:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_tflm(name, op_runs):
    case = CASES[name]
    path, inputs, gold = op_runs[name]
    graph = load_model(path)
    ops = {op.type for op in graph.ops}
    assert case.expect_ops <= ops, f"converter emitted {sorted(ops)}, expected {sorted(case.expect_ops)}"
    if case.unsupported:
        with pytest.raises(UnsupportedOpError, match=case.unsupported):
            Interpreter(graph)
        return
    _compare(Interpreter(graph).run(inputs), gold)


def _float32_variant(name: str, graph):
    """The params TFLM's source would give if its float32 arithmetic were honoured (derivation_* cases)."""
    from tinygen.quant.fixedpoint import quantize_multiplier as qm
    from tinygen.quant.params import _downscale_int32_to_int16_multiplier, derive_params

    f = np.float32
    params = derive_params(graph)
    p = params[0]
    op = graph.ops[0]
    sc = [f(graph.tensors[i].quant.scale[0]) for i in list(op.inputs) + list(op.outputs)]
    if name == "derivation_sub":
        sa, sb, so = sc
        tm = f(2) * max(sa, sb)
        p.input1_multiplier, p.input1_shift = qm(float(f(sa / tm)))
        p.input2_multiplier, p.input2_shift = qm(float(f(sb / tm)))
        p.output_multiplier, p.output_shift = qm(float(f(tm / (f(1 << 20) * so))))
    elif name == "derivation_leaky_relu":
        si, so = sc
        p.output_multiplier_alpha, p.output_shift_alpha = qm(float(f(f(si * f(p.alpha)) / so)))
        p.output_multiplier_identity, p.output_shift_identity = qm(float(f(si / so)))
    elif name == "derivation_relu":
        si, so = sc
        p.output_multiplier, p.output_shift = qm(float(f(si / so)))
    elif name == "derivation_hard_swish":
        si, so = sc
        hires = f(f(1 / 128) * si)
        m, p.output_multiplier_exponent = qm(float(f(hires / so)))
        p.output_multiplier_fixedpoint_int16 = _downscale_int32_to_int16_multiplier(m)
        m, p.reluish_multiplier_exponent = qm(float(f(hires / f(3 / 32768))))
        p.reluish_multiplier_fixedpoint_int16 = _downscale_int32_to_int16_multiplier(m)
    return params


HAND_BUILT_NAMES = ["derivation_sub", "derivation_leaky_relu", "derivation_relu", "derivation_hard_swish",
                    "activation_range_relu6", "activation_range_add_relu6", "fc_filter_zero_point",
                    "quantize_float_ties", "quantize_int8_to_int8", "quantize_int8_to_int16",
                    "quantize_int16_to_int8", "dequantize_int8", "softmax_beta_half", "softmax_tiny_scale",
                    "softmax_capped_scale", "softmax_beta_2", "squeeze", "expand_dims", "conv_per_tensor_weights", "depthwise_per_tensor_weights",
                    "fc_per_channel_weights", "relu_n1_to_1", "avgpool_same_fused_relu6", "concat_mixed_scales_refused"]


@pytest.mark.parametrize("name", HAND_BUILT_NAMES)
def test_hand_built_matches_tflm(name, op_runs):
    from tinygen.golden import GoldenError

    path, inputs, gold = op_runs[name]
    graph = load_model(path)
    if name in REFUSED:
        assert isinstance(gold, GoldenError), "TFLM was expected to refuse this model"
        with pytest.raises(UnsupportedOpError, match=REFUSED[name]):
            Interpreter(graph)
        return
    ours = Interpreter(graph).run(inputs)
    _compare(ours, gold)
    if name.startswith("derivation_"):
        # the float32 derivation really gives another answer on these scales (keeps the case meaningful)
        other = Interpreter(graph, params=_float32_variant(name, graph)).run(inputs)
        assert not np.array_equal(other[0], ours[0])
    if name == "fc_filter_zero_point":
        assert Interpreter(graph).params[0].filter_offset == -11
