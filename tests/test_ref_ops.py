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


@pytest.fixture(scope="session")
def op_models(tmp_path_factory):
    """name -> path of the converted .tflite (built lazily, once per session)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is needed to make op-level test models "
                                                  "(pip install tinygen[dev])")
    keras = pytest.importorskip("keras", reason="Keras is needed to make op-level test models")
    folder = tmp_path_factory.mktemp("op_models")
    cache: dict[str, object] = {}

    def get(name: str, twin: bool = False):
        key = name + ("_static" if twin else "")
        if key not in cache:
            path = folder / f"{key}.tflite"
            path.write_bytes(_build(keras, tf, CASES[name], seed=sorted(CASES).index(name), twin=twin))
            cache[key] = path
        return cache[key]

    return get


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_tflm(name, op_models, golden):
    case = CASES[name]
    path = op_models(name)
    graph = load_model(path)
    ops = {op.type for op in graph.ops}
    assert case.expect_ops <= ops, f"converter emitted {sorted(ops)}, expected {sorted(case.expect_ops)}"
    if case.unsupported:
        with pytest.raises(UnsupportedOpError, match=case.unsupported):
            Interpreter(graph)
        return
    interp = Interpreter(graph)
    if case.extra.get("all_pairs"):
        a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128), indexing="ij")
        pair = {"a": a.astype(np.int8), "b": b.astype(np.int8)}
        inputs = []
        for t in graph.input_tensors():
            key = "a" if t.name.split(":")[0].endswith("a") else "b"
            inputs.append(pair[key].reshape((1,) + tuple(t.shape)))
        assert {t.name.split(":")[0][-1] for t in graph.input_tensors()} == {"a", "b"}
    else:
        inputs = make_random_inputs(graph, N_SAMPLES, seed=len(name))
    ours = interp.run(inputs)
    gold = golden(op_models(name, twin=True) if "static_twin" in case.extra else path, inputs)
    assert len(ours) == len(gold)
    for a, b in zip(ours, gold):
        b = b.reshape(a.shape)
        if a.dtype.kind == "f":  # DEQUANTIZE output: compare the float32 bit patterns
            np.testing.assert_array_equal(a.view(np.int32), b.astype(np.float32).view(np.int32))
        else:
            np.testing.assert_array_equal(a, b)
