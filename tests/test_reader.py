"""The .tflite reader against two independent readings of the same files.

- LiteRT's interpreter (`get_tensor_details`): tensor count, names, shapes,
  dtypes, scales, zero points and quantized dimension, for every shared model
  LiteRT loads (it refuses tflm_person_detect, whose per-tensor tensors say
  quantized_dimension=3; TFLM runs it).
- LiteRT's own flatbuffer object API (`ai_edge_litert.tools.flatbuffer_utils`,
  separately generated schema code): the same per-tensor facts plus constant
  data, op types and op input/output lists, for every shared model.

tinygen's documented deviation: a 1-D per-channel tensor (bias) reports axis 0
whatever the file says (tflm_person_detect writes 3; TFLM reads the only axis).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinygen.errors import ModelFormatError, TinygenError
from tinygen.model import load_model
from tinygen.model.tflite_reader import read_tflite, read_tflite_bytes

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
MODELS = sorted(SHARED_MODELS.glob("*.tflite")) if SHARED_MODELS.is_dir() else []
LITERT_REFUSES = {"tflm_person_detect.tflite"}  # quantized_dimension=3 on per-tensor tensors

needs_shared = pytest.mark.skipif(not MODELS, reason=f"shared models folder {SHARED_MODELS} is absent")


def _ids(paths):
    return [p.stem for p in paths]


@needs_shared
@pytest.mark.parametrize("path", MODELS, ids=_ids(MODELS))
def test_every_shared_model_reads_and_cleans(path):
    raw = read_tflite(path)
    assert raw.ops and raw.inputs and raw.outputs
    g = load_model(path)
    assert g.ops and [t.index for t in g.tensors] == list(range(len(g.tensors)))
    for op in g.ops:  # every index in range after pruning
        assert all(-1 <= i < len(g.tensors) for i in op.inputs)
        assert all(0 <= i < len(g.tensors) for i in op.outputs)


def _object_model(path):
    fbu = pytest.importorskip("ai_edge_litert.tools.flatbuffer_utils",
                              reason="ai-edge-litert is not installed: pip install tinygen[dev]")
    return fbu, fbu.read_model(str(path))


_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8",
           10: "float64", 15: "uint32", 16: "uint16"}


@needs_shared
@pytest.mark.parametrize("path", MODELS, ids=_ids(MODELS))
def test_tensors_and_ops_match_litert_object_api(path):
    fbu, model = _object_model(path)
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    sg = model.subgraphs[0]
    g = read_tflite(path)
    assert len(g.tensors) == len(sg.tensors)
    for i, (ours, theirs) in enumerate(zip(g.tensors, sg.tensors)):
        name = theirs.name.decode() if theirs.name else ""
        assert ours.name == (name or f"tensor_{i}")
        assert ours.shape == tuple(int(d) for d in (theirs.shape if theirs.shape is not None else []))
        assert ours.dtype == _DTYPES[theirs.type]
        q = theirs.quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            assert ours.quant is None
        else:
            np.testing.assert_array_equal(ours.quant.scale, np.asarray(q.scale, np.float32))
            np.testing.assert_array_equal(ours.quant.zero_point, np.asarray(q.zeroPoint, np.int64))
            expect_axis = 0 if (len(q.scale) > 1 and len(ours.shape) == 1) else q.quantizedDimension
            assert ours.quant.axis == expect_axis
        data = model.buffers[theirs.buffer].data if theirs.buffer > 0 else None
        if data is None or len(data) == 0:
            assert ours.data is None
        else:
            assert ours.data.tobytes() == np.asarray(data, np.uint8).tobytes()
    assert len(g.ops) == len(sg.operators)
    for ours, theirs in zip(g.ops, sg.operators):
        code = fbu.get_builtin_code_from_operator_code(model.operatorCodes[theirs.opcodeIndex])
        assert ours.type == names[code]
        assert ours.inputs == [int(i) for i in theirs.inputs]
        assert ours.outputs == [int(i) for i in theirs.outputs]
    assert g.inputs == [int(i) for i in sg.inputs] and g.outputs == [int(i) for i in sg.outputs]


@needs_shared
@pytest.mark.parametrize("path", MODELS, ids=_ids(MODELS))
def test_tensors_match_litert_interpreter(path):
    litert = pytest.importorskip("ai_edge_litert.interpreter",
                                 reason="ai-edge-litert is not installed: pip install tinygen[dev]")
    try:
        interp = litert.Interpreter(model_path=str(path))
    except (RuntimeError, ValueError) as exc:
        assert path.name in LITERT_REFUSES, f"LiteRT refused {path.name}: {exc}"
        assert "quantized_dimension" in str(exc)
        return
    assert path.name not in LITERT_REFUSES, "LiteRT now loads this model; update LITERT_REFUSES"
    g = read_tflite(path)
    details = interp.get_tensor_details()
    assert len(details) == len(g.tensors)
    for d in details:
        t = g.tensors[d["index"]]
        assert t.name == (d["name"] or f"tensor_{d['index']}")
        assert t.shape == tuple(int(v) for v in d["shape"])
        assert t.dtype == np.dtype(d["dtype"]).name
        qp = d["quantization_parameters"]
        if t.quant is None:
            assert qp["scales"].size == 0
        else:
            np.testing.assert_array_equal(t.quant.scale, qp["scales"])
            np.testing.assert_array_equal(t.quant.zero_point, qp["zero_points"])
            assert t.quant.axis == qp["quantized_dimension"]


@needs_shared
def test_person_detect_bias_axis_is_mapped_to_the_only_axis():
    path = SHARED_MODELS / "tflm_person_detect.tflite"
    g = read_tflite(path)
    biases = [t for t in g.tensors if t.quant is not None and t.quant.per_channel and len(t.shape) == 1]
    assert biases and all(t.quant.axis == 0 for t in biases)


@needs_shared
def test_optional_inputs_stay_minus_one():
    g = read_tflite(SHARED_MODELS / "tflm_mnist_lstm_int8.tflite")
    lstm = g.ops[0]
    assert lstm.type == "UNIDIRECTIONAL_SEQUENCE_LSTM" and len(lstm.inputs) == 24 and -1 in lstm.inputs


def test_messages_name_the_file(tmp_path):
    f = tmp_path / "not a model.tflite"
    f.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelFormatError, match=r"^.*not a model\.tflite: missing the TFL3 identifier"):
        read_tflite(f)
    with pytest.raises(TinygenError, match="no such file"):
        read_tflite(tmp_path / "absent.tflite")
    with pytest.raises(TinygenError, match="is a folder"):
        read_tflite(tmp_path)
    with pytest.raises(ModelFormatError, match="too short"):
        read_tflite_bytes(b"TFL3", "x")
