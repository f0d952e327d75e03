"""Graph clean-ups (tinygen/model/cleanup.py): shape-constant folding, dilated
convolution fusion, RESHAPE normalisation, dead-op removal.

Two kinds of test:
- hand-built graphs for each rewrite's edge cases (no TensorFlow needed);
- tiny Keras models converted to full int8 by TensorFlow (built once per run in
  a child process), checked structurally after cleaning and bit for bit against
  TFLM (tflite-micro, the golden).

Measured fact the dilated-conv checks encode: TFLM does not resize the
SPACE_TO_BATCH_ND/BATCH_TO_SPACE_ND intermediates, whose static batch the
converter writes as 1, so on the ORIGINAL file it computes only the outputs at
block phase (0, 0), and pads SAME borders with an uninitialised value (not the
zero point); the other outputs are whatever the arena held. The comparison is
therefore (a) the whole output against TFLM running the same file with the
three ops replaced by one CONV_2D carrying the Keras layer's own dilation and
padding, and (b) against TFLM on the original file at every position TFLM
does define (phase (0, 0), receptive field inside the input).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygen.errors import ModelFormatError
from tinygen.model import load_model
from tinygen.model.cleanup import (
    _dilated_padding,
    clean_graph,
    fold_shape_constants,
    normalise_reshapes,
    remove_dead_ops,
)
from tinygen.model.ir import Graph, Op, Options, Quantization, Tensor

# --------------------------------------------------------------- hand-built graphs


def _q(scale=0.5, zp=0):
    return Quantization(np.array([scale], np.float32), np.array([zp], np.int64))


def _t(i, shape, dtype="int8", data=None, quant="default"):
    q = _q() if quant == "default" and dtype == "int8" else (None if quant == "default" else quant)
    return Tensor(i, f"t{i}", tuple(shape), dtype, q, None if data is None else np.asarray(data, dtype))


def _flatten_graph():
    """x[1,2,2,3] -> SHAPE -> STRIDED_SLICE[0:1] -> PACK(., 12) -> RESHAPE -> y[1,12]."""
    tensors = [
        _t(0, (1, 2, 2, 3)),
        _t(1, (4,), "int32"),
        _t(2, (1,), "int32", [0]), _t(3, (1,), "int32", [1]), _t(4, (1,), "int32", [1]),
        _t(5, (), "int32"),
        _t(6, (), "int32", 12),
        _t(7, (2,), "int32"),
        _t(8, (1, 12)),
    ]
    ops = [
        Op(0, "SHAPE", [0], [1], Options("SHAPE", out_type=2)),
        Op(1, "STRIDED_SLICE", [1, 2, 3, 4], [5], Options("STRIDED_SLICE", begin_mask=0, end_mask=0,
                                                            ellipsis_mask=0, new_axis_mask=0,
                                                            shrink_axis_mask=1, offset=False)),
        Op(2, "PACK", [5, 6], [7], Options("PACK", axis=0, values_count=2)),
        Op(3, "RESHAPE", [0, 7], [8], Options("RESHAPE")),
    ]
    return Graph("flat", tensors, ops, [0], [8])


def test_flatten_subgraph_folds_to_one_reshape():
    g = clean_graph(_flatten_graph())
    assert g.op_types() == ["RESHAPE"]
    op = g.ops[0]
    assert op.inputs == [g.inputs[0]] and op.outputs == g.outputs
    assert op.options.new_shape == [1, 12]
    assert len(g.tensors) == 2  # the shape arithmetic's tensors are gone


def test_folding_keeps_values():
    g = _flatten_graph()
    assert fold_shape_constants(g) == 3
    assert g.tensors[1].data.tolist() == [1, 2, 2, 3]
    assert g.tensors[5].data.tolist() == 1 and g.tensors[5].data.shape == ()
    assert g.tensors[7].data.tolist() == [1, 12] and g.tensors[7].data.dtype == np.int32


def test_folded_shape_disagreeing_with_declared_shape_is_refused():
    g = _flatten_graph()
    g.tensors[7].shape = (3,)
    with pytest.raises(ModelFormatError, match="computes shape 2 but its output tensor"):
        fold_shape_constants(g)


def test_strided_slice_masks_fold_like_numpy_slicing():
    data = np.arange(24, dtype=np.int32).reshape(4, 6)
    cases = [  # (begin, end, strides, begin_mask, end_mask, shrink, expected)
        ([1, 0], [3, 6], [1, 2], 0, 0, 0, data[1:3, 0:6:2]),
        ([1, 0], [3, 6], [1, 1], 0b01, 0, 0, data[:3, 0:6]),
        ([1, -1], [3, 0], [1, -1], 0, 0b10, 0, data[1:3, -1::-1]),
        ([2, 0], [3, 6], [1, 1], 0, 0, 0b01, data[2, 0:6]),
        ([-1, 5], [0, 6], [1, 1], 0, 0, 0b11, data[-1, 5]),
    ]
    for begin, end, strides, bm, em, sm, expected in cases:
        tensors = [_t(0, data.shape, "int32", data), _t(1, (2,), "int32", begin), _t(2, (2,), "int32", end),
                   _t(3, (2,), "int32", strides), _t(4, expected.shape, "int32"), _t(5, (1, 1)), _t(6, (1, 1))]
        ops = [Op(0, "STRIDED_SLICE", [0, 1, 2, 3], [4],
                  Options("STRIDED_SLICE", begin_mask=bm, end_mask=em, shrink_axis_mask=sm, ellipsis_mask=0,
                          new_axis_mask=0, offset=False)),
               Op(1, "USER", [5, 4], [6])]  # something reads the slice, so it is not a graph output
        g = Graph("s", tensors, ops, [5], [6])
        assert fold_shape_constants(g) == 1
        np.testing.assert_array_equal(g.tensors[4].data, expected)


def test_gather_and_concatenation_fold():
    tensors = [_t(0, (4,), "int32", [1, 7, 7, 5]), _t(1, (2,), "int32", [3, 1]), _t(2, (2,), "int32"),
               _t(3, (1,), "int32", [-1]), _t(4, (3,), "int32"), _t(5, (1, 1)), _t(6, (1, 1))]
    ops = [Op(0, "GATHER", [0, 1], [2], Options("GATHER", axis=0, batch_dims=0)),
           Op(1, "CONCATENATION", [2, 3], [4], Options("CONCATENATION", axis=0, fused_activation_function="NONE")),
           Op(2, "USER", [5, 4], [6])]
    g = Graph("gc", tensors, ops, [5], [6, 2])
    fold_shape_constants(g)
    # GATHER's result is a graph output: it must stay a computed op, so CONCATENATION cannot fold either.
    assert g.op_types() == ["GATHER", "CONCATENATION", "USER"]
    g.outputs = [6]
    fold_shape_constants(g)
    assert g.op_types() == ["USER"] and g.tensors[4].data.tolist() == [5, 7, -1]


def test_non_constant_int32_arithmetic_is_left_alone():
    tensors = [_t(0, (2,), "int32"), _t(1, (2,), "int32", [1, 2]), _t(2, (4,), "int32")]
    ops = [Op(0, "CONCATENATION", [0, 1], [2], Options("CONCATENATION", axis=0, fused_activation_function="NONE"))]
    g = Graph("n", tensors, ops, [0], [2])
    assert fold_shape_constants(g) == 0 and g.op_types() == ["CONCATENATION"]


def test_reshape_normalisation():
    tensors = [_t(0, (1, 6)), _t(1, (3,), "int32", [1, -1, 3]), _t(2, (1, 2, 3))]
    g = Graph("r", tensors, [Op(0, "RESHAPE", [0, 1], [2], Options("RESHAPE"))], [0], [2])
    assert normalise_reshapes(g) == 1
    assert g.ops[0].inputs == [0] and g.ops[0].options.new_shape == [1, 2, 3]
    # legacy one-input RESHAPE with output dims [0] means a scalar
    g = Graph("s", [_t(0, (1,)), _t(1, (0,))], [Op(0, "RESHAPE", [0], [1], Options("RESHAPE", new_shape=[]))],
              [0], [1])
    normalise_reshapes(g)
    assert g.tensors[1].shape == ()


def test_reshape_changing_element_count_is_refused():
    g = Graph("r", [_t(0, (1, 6)), _t(1, (1, 4))], [Op(0, "RESHAPE", [0], [1], Options("RESHAPE"))], [0], [1])
    with pytest.raises(ModelFormatError, match=r"reshapes 1x6 \(6 elements\) to 1x4 \(4 elements\)"):
        normalise_reshapes(g)


def test_dead_ops_are_removed_transitively():
    tensors = [_t(0, (1, 4)), _t(1, (1, 4)), _t(2, (1, 4)), _t(3, (1, 4))]
    ops = [Op(0, "RELU", [0], [1], Options("RELU")), Op(1, "RELU", [1], [2], Options("RELU")),
           Op(2, "RELU", [0], [3], Options("RELU"))]
    g = Graph("d", tensors, ops, [0], [3])
    assert remove_dead_ops(g) == 2
    assert g.op_types() == ["RELU"] and g.ops[0].outputs == [3]


@pytest.mark.parametrize("in_size,kernel,block,expect", [
    (9, 3, 2, "SAME"), (10, 3, 2, "SAME"), (11, 2, 3, "SAME"), (9, 3, 2, "VALID"), (11, 3, 3, "VALID"),
])
def test_dilated_padding_matches_tensorflows_space_to_batch_paddings(in_size, kernel, block, expect):
    """Paddings/crops as tf.nn.with_space_to_batch computes them; the inference must give the mode back."""
    eff = (kernel - 1) * block + 1
    if expect == "SAME":
        total = eff - 1
        base = (total // 2, total - total // 2)
        out = in_size
    else:
        base = (0, 0)
        out = in_size - eff + 1
    padded = in_size + base[0] + base[1]
    extra = (-padded) % block
    pads = (base[0], base[1] + extra)
    crops = (0, extra)
    assert _dilated_padding(in_size, out, block, pads, crops, kernel) >= {expect}
    # a one-off output size matches neither mode
    assert _dilated_padding(in_size, out + 1, block, pads, crops, kernel) == set()


# ------------------------------------------------------------ real converted models

KERAS_MODELS = {
    # name: (input shape, layer description, expected ops after cleaning, dilation (h, w), padding)
    # (a non-zero bias makes the converter add it after BATCH_TO_SPACE_ND with an int8 ADD)
    "flatten": ((6, 6, 2), None, ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"], None, None),
    "conv_dil2_same": ((9, 9, 2), ("Conv2D", 2, "same"), ["CONV_2D", "ADD"], (2, 2), "SAME"),
    "conv_dil2_valid": ((9, 9, 2), ("Conv2D", 2, "valid"), ["CONV_2D", "ADD"], (2, 2), "VALID"),
    "conv_dil23_same": ((10, 11, 2), ("Conv2D", (2, 3), "same"), ["CONV_2D", "ADD"], (2, 3), "SAME"),
    "dw_dil2_same": ((9, 9, 2), ("DepthwiseConv2D", 2, "same"), ["DEPTHWISE_CONV_2D", "ADD"], (2, 2), "SAME"),
    "dw_dil23_valid": ((10, 11, 2), ("DepthwiseConv2D", (2, 3), "valid"), ["DEPTHWISE_CONV_2D", "ADD"], (2, 3), "VALID"),
}


def _build_keras_models(out_dir: str) -> None:
    """Child-process side: convert every KERAS_MODELS entry to a full-int8 .tflite."""
    from tinygen.train import set_seed, tf_module

    tf = tf_module()
    keras = tf.keras
    set_seed(0)
    for name, (shape, layer, _, _, _) in KERAS_MODELS.items():
        if layer is None:
            model = keras.Sequential([keras.Input(shape), keras.layers.Conv2D(3, 3, activation="relu"),
                                      keras.layers.Flatten(), keras.layers.Dense(4)])
        else:
            kind, rate, padding = layer
            if kind == "Conv2D":
                conv = keras.layers.Conv2D(3, (3, 2) if rate == (2, 3) else 3, dilation_rate=rate, padding=padding,
                                           bias_initializer="random_normal")
            else:
                conv = keras.layers.DepthwiseConv2D(3, dilation_rate=rate, padding=padding,
                                                    depth_multiplier=2 if padding == "valid" else 1,
                                                    bias_initializer="random_normal")
            model = keras.Sequential([keras.Input(shape), conv])

        def representative():
            rng = np.random.default_rng(1)
            for _ in range(16):
                yield [rng.uniform(-1.0, 3.0, (1,) + shape).astype(np.float32)]

        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        Path(out_dir, name + ".tflite").write_bytes(conv.convert())


@pytest.fixture(scope="module")
def keras_models(tmp_path_factory):
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed (needed to convert the Keras test models): "
                    "pip install 'tinygen[train]'")
    out = tmp_path_factory.mktemp("keras_models")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable, __file__, str(out)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


@pytest.mark.tf
@pytest.mark.parametrize("name", list(KERAS_MODELS))
def test_converted_models_clean_to_the_expected_ops(keras_models, name):
    raw = load_raw(keras_models / f"{name}.tflite")
    g = load_model(keras_models / f"{name}.tflite")
    _, _, expected, dilation, padding = KERAS_MODELS[name]
    assert g.op_types() == expected
    if dilation is None:
        assert {"SHAPE", "STRIDED_SLICE", "PACK"} <= set(raw.op_types())  # what the converter wrote
        reshape = g.ops[1]
        assert reshape.inputs == g.ops[0].outputs and reshape.options.new_shape == [1, 48]
    else:
        # the converter adds a non-zero bias after BATCH_TO_SPACE_ND, as an int8 ADD; it stays
        assert raw.op_types() == ["SPACE_TO_BATCH_ND", expected[0], "BATCH_TO_SPACE_ND", "ADD"]
        conv, add = g.ops
        assert (conv.options.dilation_h_factor, conv.options.dilation_w_factor) == dilation
        assert conv.options.padding == padding
        assert conv.inputs[0] == g.inputs[0] and conv.outputs[0] == add.inputs[0] and add.outputs == g.outputs
    # every tensor left is used, and indices are consecutive
    assert [t.index for t in g.tensors] == list(range(len(g.tensors)))


def load_raw(path):
    from tinygen.model.tflite_reader import read_tflite

    return read_tflite(path)


def _inputs(graph, n=16, seed=3):
    t = graph.tensors[graph.inputs[0]]
    return np.random.default_rng(seed).integers(-128, 128, (n,) + t.shape, dtype=np.int8)


def _reference(graph, x):
    from tinygen.ref.interpreter import Interpreter

    return Interpreter(graph).run([x])[0]


@pytest.mark.tf
def test_flatten_model_bit_exact_with_tflm_on_the_original_file(keras_models, golden):
    path = keras_models / "flatten.tflite"
    g = load_model(path)
    x = _inputs(g)
    ours = _reference(g, x)
    (gold,) = golden(path, [x])
    np.testing.assert_array_equal(ours, gold)


def _fuse_in_file(buf: bytes, dilation: tuple[int, int], padding: str) -> bytes:
    """The same .tflite with S2B -> conv -> B2S replaced by one conv with the given dilation/padding.

    Built with LiteRT's flatbuffer tools from the Keras layer's own settings,
    independently of tinygen's clean-up, so TFLM can run a correct dilated conv.
    """
    fbu = pytest.importorskip("ai_edge_litert.tools.flatbuffer_utils",
                              reason="ai-edge-litert (flatbuffer tools) is not installed: pip install tinygen[dev]")
    from ai_edge_litert import schema_py_generated as schema

    model = fbu.read_model_from_bytearray(bytearray(buf))
    sg = model.subgraphs[0]
    ops = schema.BuiltinOperator

    def code(op):
        return fbu.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])

    s2b = next(op for op in sg.operators if code(op) == ops.SPACE_TO_BATCH_ND)
    b2s = next(op for op in sg.operators if code(op) == ops.BATCH_TO_SPACE_ND)
    conv = next(op for op in sg.operators if code(op) in (ops.CONV_2D, ops.DEPTHWISE_CONV_2D))
    conv.inputs[0] = s2b.inputs[0]
    conv.outputs = b2s.outputs
    conv.builtinOptions.dilationHFactor, conv.builtinOptions.dilationWFactor = dilation
    conv.builtinOptions.padding = getattr(schema.Padding, padding)
    sg.operators = [op for op in sg.operators if op is not s2b and op is not b2s]
    return bytes(fbu.convert_object_to_bytearray(model))


def _tflm_defined_positions(out_hw, kernel_hw, dilation, padding):
    """Output rows/cols TFLM computes correctly on the original file (see module docstring):
    block phase 0, and a receptive field that reads no padding."""
    picks = []
    for size, k, d in zip(out_hw, kernel_hw, dilation):
        reach = (k - 1) * d
        before = reach // 2 if padding == "SAME" else 0
        in_size = size if padding == "SAME" else size + reach
        picks.append([i for i in range(0, size, d) if i - before >= 0 and i - before + reach < in_size])
    return picks


@pytest.mark.tf
@pytest.mark.parametrize("name", [n for n, v in KERAS_MODELS.items() if v[3] is not None])
def test_dilated_conv_bit_exact_with_tflm(keras_models, golden, name):
    path = keras_models / f"{name}.tflite"
    _, _, _, dilation, padding = KERAS_MODELS[name]
    g = load_model(path)
    x = _inputs(g)
    ours = _reference(g, x)

    # (a) every output against TFLM on the file with the dilated conv written directly
    (gold,) = golden(_fuse_in_file(path.read_bytes(), dilation, padding), [x])
    np.testing.assert_array_equal(ours, gold)

    # (b) the positions TFLM defines when it runs the original three-op file
    (orig,) = golden(path, [x])
    kernel = g.tensors[g.ops[0].inputs[1]].shape[1:3]
    rows, cols = _tflm_defined_positions(ours.shape[2:4], kernel, dilation, padding)
    assert rows and cols
    np.testing.assert_array_equal(ours[:, 0][:, rows][:, :, cols], orig[:, 0][:, rows][:, :, cols])


if __name__ == "__main__":  # child process of the keras_models fixture
    _build_keras_models(sys.argv[1])
