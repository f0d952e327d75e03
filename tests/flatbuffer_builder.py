"""Build small .tflite models from numpy arrays (for tests needing exact control
over scales, zero points and weights that a converter would not produce).

    from flatbuffer_builder import T, single_op_model
    buf = single_op_model(
        "FULLY_CONNECTED",
        inputs=[T("x", (1, 16), "int8", 0.05, -3),
                T("w", (4, 16), "int8", 0.02, 7, data=w),       # per-tensor, zero point 7
                T("b", (4,), "int32", 0.001, 0, data=b)],
        outputs=[T("y", (1, 4), "int8", 0.1, 2)],
        options=("FullyConnectedOptions", {"fused_activation_function": 0, "keep_num_dims": False}),
    )

Uses the builder functions the `tflite` schema package generates
(tflite.ModelStart, tflite.TensorAddShape, ...). Graph inputs are the
non-constant op inputs; per-channel tensors pass arrays for scale/zero_point.
"""
from __future__ import annotations

from dataclasses import dataclass

import flatbuffers
import numpy as np
import tflite

_TYPES = {"float32": tflite.TensorType.FLOAT32, "int32": tflite.TensorType.INT32,
          "int8": tflite.TensorType.INT8, "int16": tflite.TensorType.INT16,
          "uint8": tflite.TensorType.UINT8, "int64": tflite.TensorType.INT64}


@dataclass
class T:
    name: str
    shape: tuple
    dtype: str
    scale: object = None  # float or sequence (per-channel); None = not quantized
    zero_point: object = 0
    data: np.ndarray | None = None
    axis: int = 0


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _int_vector(b: flatbuffers.Builder, start_fn, values) -> int:
    values = list(values)
    start_fn(b, len(values))
    for v in reversed(values):
        b.PrependInt32(int(v))
    return b.EndVector()


def single_op_model(op_type: str, inputs: list[T | None], outputs: list[T],
                    options: tuple[str, dict] | None = None, description: str = "tinygen test") -> bytes:
    """A one-op model; `inputs` may contain None for an absent optional input."""
    b = flatbuffers.Builder(1024)
    tensors = [t for t in inputs if t is not None] + list(outputs)
    index = {id(t): i for i, t in enumerate(tensors)}

    # buffers: 0 is the empty sentinel, then one per tensor (empty unless constant)
    buffer_offsets = []
    for t in [None] + tensors:
        data_off = None
        if t is not None and t.data is not None:
            raw = np.ascontiguousarray(np.asarray(t.data, dtype=t.dtype)).view(np.uint8).ravel()
            assert raw.size == int(np.prod(t.shape)) * np.dtype(t.dtype).itemsize, t.name
            b.StartVector(1, raw.size, 16)  # 16-byte aligned like the converter's buffers
            b.head = b.head - raw.size
            b.Bytes[b.head:b.head + raw.size] = raw.tobytes()
            data_off = b.EndVector()
        tflite.BufferStart(b)
        if data_off is not None:
            tflite.BufferAddData(b, data_off)
        buffer_offsets.append(tflite.BufferEnd(b))

    tensor_offsets = []
    for i, t in enumerate(tensors):
        name = b.CreateString(t.name)
        shape = _int_vector(b, tflite.TensorStartShapeVector, t.shape)
        q_off = None
        if t.scale is not None:
            scales = np.atleast_1d(np.asarray(t.scale, dtype=np.float32))
            zps = np.atleast_1d(np.asarray(t.zero_point, dtype=np.int64))
            if zps.size == 1 and scales.size > 1:
                zps = np.full(scales.size, zps[0], dtype=np.int64)
            tflite.QuantizationParametersStartScaleVector(b, scales.size)
            for v in reversed(scales):
                b.PrependFloat32(float(v))
            s_off = b.EndVector()
            tflite.QuantizationParametersStartZeroPointVector(b, zps.size)
            for v in reversed(zps):
                b.PrependInt64(int(v))
            z_off = b.EndVector()
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, s_off)
            tflite.QuantizationParametersAddZeroPoint(b, z_off)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.axis)
            q_off = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, _TYPES[t.dtype])
        tflite.TensorAddBuffer(b, i + 1)
        tflite.TensorAddName(b, name)
        if q_off is not None:
            tflite.TensorAddQuantization(b, q_off)
        tensor_offsets.append(tflite.TensorEnd(b))

    opt_off = None
    opt_type = 0
    if options is not None:
        cls, fields = options
        getattr(tflite, f"{cls}Start")(b)
        for key, value in fields.items():
            getattr(tflite, f"{cls}Add{_camel(key)}")(b, value)
        opt_off = getattr(tflite, f"{cls}End")(b)
        opt_type = getattr(tflite.BuiltinOptions, cls)

    op_inputs = [index[id(t)] if t is not None else -1 for t in inputs]
    op_outputs = [index[id(t)] for t in outputs]
    in_vec = _int_vector(b, tflite.OperatorStartInputsVector, op_inputs)
    out_vec = _int_vector(b, tflite.OperatorStartOutputsVector, op_outputs)
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, 0)
    tflite.OperatorAddInputs(b, in_vec)
    tflite.OperatorAddOutputs(b, out_vec)
    if opt_off is not None:
        tflite.OperatorAddBuiltinOptionsType(b, opt_type)
        tflite.OperatorAddBuiltinOptions(b, opt_off)
    op_off = tflite.OperatorEnd(b)

    graph_inputs = [index[id(t)] for t in inputs if t is not None and t.data is None]
    tflite.SubGraphStartTensorsVector(b, len(tensor_offsets))
    for off in reversed(tensor_offsets):
        b.PrependUOffsetTRelative(off)
    tensors_vec = b.EndVector()
    g_in = _int_vector(b, tflite.SubGraphStartInputsVector, graph_inputs)
    g_out = _int_vector(b, tflite.SubGraphStartOutputsVector, op_outputs)
    tflite.SubGraphStartOperatorsVector(b, 1)
    b.PrependUOffsetTRelative(op_off)
    ops_vec = b.EndVector()
    sg_name = b.CreateString("main")
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensors_vec)
    tflite.SubGraphAddInputs(b, g_in)
    tflite.SubGraphAddOutputs(b, g_out)
    tflite.SubGraphAddOperators(b, ops_vec)
    tflite.SubGraphAddName(b, sg_name)
    sg_off = tflite.SubGraphEnd(b)

    code = getattr(tflite.BuiltinOperator, op_type)
    tflite.OperatorCodeStart(b)
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
    tflite.OperatorCodeAddBuiltinCode(b, code)
    tflite.OperatorCodeAddVersion(b, 1)
    code_off = tflite.OperatorCodeEnd(b)

    tflite.ModelStartOperatorCodesVector(b, 1)
    b.PrependUOffsetTRelative(code_off)
    codes_vec = b.EndVector()
    tflite.ModelStartSubgraphsVector(b, 1)
    b.PrependUOffsetTRelative(sg_off)
    sgs_vec = b.EndVector()
    tflite.ModelStartBuffersVector(b, len(buffer_offsets))
    for off in reversed(buffer_offsets):
        b.PrependUOffsetTRelative(off)
    bufs_vec = b.EndVector()
    desc = b.CreateString(description)
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, codes_vec)
    tflite.ModelAddSubgraphs(b, sgs_vec)
    tflite.ModelAddBuffers(b, bufs_vec)
    tflite.ModelAddDescription(b, desc)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())
