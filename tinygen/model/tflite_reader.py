"""Read a .tflite flatbuffer into tinygen's Graph IR.

Parsing goes through the `tflite` package (classes generated from TFLite's
schema.fbs); nothing here decodes flatbuffer bytes by hand. The file is treated
as untrusted: every index and size is checked, and any failure becomes a
ModelFormatError with one readable line.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tinygen.errors import ModelFormatError, TinygenError
from tinygen.model.ir import Graph, Op, Options, Quantization, Tensor

try:  # the schema package is a core dependency; say so plainly if it is missing
    import tflite
except ImportError as exc:  # pragma: no cover - install problem
    raise TinygenError("the 'tflite' package is missing: pip install tflite") from exc

# TensorType enum value -> numpy dtype name
_TENSOR_TYPES = {
    tflite.TensorType.FLOAT32: "float32",
    tflite.TensorType.FLOAT16: "float16",
    tflite.TensorType.INT32: "int32",
    tflite.TensorType.UINT8: "uint8",
    tflite.TensorType.INT64: "int64",
    tflite.TensorType.BOOL: "bool",
    tflite.TensorType.INT16: "int16",
    tflite.TensorType.INT8: "int8",
    tflite.TensorType.FLOAT64: "float64",
    tflite.TensorType.UINT32: "uint32",
    tflite.TensorType.UINT16: "uint16",
}

_BUILTIN_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_OPTIONS_NAMES = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
_ACTIVATIONS = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
_PADDINGS = {v: k for k, v in vars(tflite.Padding).items() if not k.startswith("_")}

# Option fields whose integer value is an enum we render as its name.
_ENUM_FIELDS = {
    "fused_activation_function": _ACTIVATIONS,
    "padding": _PADDINGS,
}


def _snake(name: str) -> str:
    name = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", name)  # DilationHFactor -> DilationH_Factor
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _read_options(op_fb, op_type: str) -> Options:
    """Turn the op's builtin options table into an Options bag, generically.

    Every scalar getter of the generated options class becomes a field; vector
    fields (`NewShape`, `SqueezeDims`, ...) become Python lists.
    """
    opt_type = op_fb.BuiltinOptionsType()
    if opt_type == 0:
        return Options(op_type)
    cls_name = _OPTIONS_NAMES.get(opt_type)
    cls = getattr(tflite, cls_name, None) if cls_name else None
    table = op_fb.BuiltinOptions()
    if cls is None or table is None:
        return Options(op_type)
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    fields = {}
    for attr in dir(cls):
        if attr.startswith("_") or attr in ("Init",) or attr.startswith("GetRootAs"):
            continue
        if attr.endswith(("AsNumpy", "Length", "IsNone", "BufferHasIdentifier")):
            continue
        getter = getattr(obj, attr)
        if not callable(getter):
            continue
        key = _snake(attr)
        if hasattr(obj, attr + "AsNumpy"):
            if getattr(obj, attr + "IsNone")():
                fields[key] = []
            else:
                fields[key] = [int(v) for v in getattr(obj, attr + "AsNumpy")()]
            continue
        try:
            value = getter()
        except TypeError:
            continue  # indexed accessor without a numpy twin; not used by any op we support
        if key in _ENUM_FIELDS:
            value = _ENUM_FIELDS[key].get(value, str(value))
        elif isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        fields[key] = value
    return Options(op_type, **fields)


def _read_quantization(t_fb, n_dims: int, where: str) -> Quantization | None:
    q = t_fb.Quantization()
    if q is None or q.ScaleIsNone() or q.ScaleLength() == 0:
        return None
    scale = np.asarray(q.ScaleAsNumpy(), dtype=np.float32).copy()
    if q.ZeroPointIsNone() or q.ZeroPointLength() == 0:
        zero_point = np.zeros(scale.shape, dtype=np.int64)
    else:
        zero_point = np.asarray(q.ZeroPointAsNumpy(), dtype=np.int64).copy()
    if zero_point.size == 1 and scale.size > 1:
        zero_point = np.full(scale.shape, zero_point[0], dtype=np.int64)
    if zero_point.size != scale.size:
        raise ModelFormatError(f"{where}: {scale.size} scales but {zero_point.size} zero points")
    if not np.all(np.isfinite(scale)) or np.any(scale < 0):
        raise ModelFormatError(f"{where}: quantization scale is not a finite non-negative number")
    axis = int(q.QuantizedDimension())
    if scale.size > 1 and n_dims == 1 and axis != 0:
        # Real converters write the filter's axis (3) on 1-D bias tensors
        # (tflm_person_detect); TFLM reads per-channel data along the only axis.
        axis = 0
    return Quantization(scale=scale, zero_point=zero_point, axis=axis)


def read_tflite_bytes(buf: bytes, name: str = "model") -> Graph:
    try:
        return _read(buf, name)
    except TinygenError:
        raise
    except Exception as exc:  # flatbuffers raises IndexError/struct.error/... on garbage
        raise ModelFormatError(
            f"{name}: not a valid .tflite file ({type(exc).__name__}: {exc}); "
            "pass a TensorFlow Lite flatbuffer"
        ) from None


def read_tflite(path: str | Path) -> Graph:
    path = Path(path)
    if not path.exists():
        raise TinygenError(f"{path}: no such file")
    if path.is_dir():
        raise TinygenError(f"{path}: is a folder; pass a .tflite file")
    buf = path.read_bytes()
    name = re.sub(r"\W", "_", path.stem)
    return read_tflite_bytes(buf, name or "model")


def _read(buf: bytes, name: str) -> Graph:
    if len(buf) < 8:
        raise ModelFormatError(f"{name}: file is {len(buf)} bytes, too short to be a .tflite model")
    if buf[4:8] != b"TFL3":
        raise ModelFormatError(f"{name}: missing the TFL3 identifier; this is not a .tflite file")
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() < 1:
        raise ModelFormatError(f"{name}: model has no subgraph")
    sg = model.Subgraphs(0)
    n_buffers = model.BuffersLength()
    n_tensors = sg.TensorsLength()

    tensors: list[Tensor] = []
    for ti in range(n_tensors):
        t_fb = sg.Tensors(ti)
        tname = (t_fb.Name() or b"").decode("utf-8", "replace") or f"tensor_{ti}"
        where = f"{name}: tensor {ti} ({tname})"
        shape = tuple(int(d) for d in t_fb.ShapeAsNumpy()) if not t_fb.ShapeIsNone() else ()
        if any(d < 0 for d in shape):
            # -1 appears only in shape_signature of dynamic models; a concrete
            # negative size cannot be planned.
            raise ModelFormatError(f"{where}: negative dimension in shape {shape}")
        if len(shape) > 8:
            raise ModelFormatError(f"{where}: {len(shape)} dimensions is not a model tensor")
        ttype = t_fb.Type()
        dtype = _TENSOR_TYPES.get(ttype)
        if dtype is None:
            raise ModelFormatError(f"{where}: unsupported tensor type {ttype}")
        quant = _read_quantization(t_fb, len(shape), where)
        data = None
        b = t_fb.Buffer()
        if b < 0 or b >= n_buffers:
            raise ModelFormatError(f"{where}: buffer index {b} out of range (model has {n_buffers})")
        if b > 0:
            buf_fb = model.Buffers(b)
            raw = None
            if buf_fb.Offset() > 1:
                # Large models (>2 GB) keep buffers outside the flatbuffer.
                off, size = int(buf_fb.Offset()), int(buf_fb.Size())
                if off + size > len(buf):
                    raise ModelFormatError(f"{where}: external buffer past the end of the file")
                raw = buf[off:off + size]
            elif not buf_fb.DataIsNone() and buf_fb.DataLength() > 0:
                raw = buf_fb.DataAsNumpy().tobytes()
            if raw is not None:
                count = 1
                for d in shape:
                    count *= d
                expect = count * np.dtype(dtype).itemsize
                if len(raw) != expect:
                    raise ModelFormatError(
                        f"{where}: constant data is {len(raw)} bytes, shape {shape} {dtype} needs {expect}"
                    )
                data = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        if quant is not None and quant.per_channel:
            if quant.axis >= len(shape) or shape[quant.axis] != quant.scale.size:
                raise ModelFormatError(
                    f"{where}: {quant.scale.size} channel scales do not match shape {shape} axis {quant.axis}"
                )
        tensors.append(Tensor(ti, tname, shape, dtype, quant, data))

    def _check_index(i: int, what: str, optional: bool) -> int:
        i = int(i)
        if optional and i == -1:
            return -1
        if not 0 <= i < n_tensors:
            raise ModelFormatError(f"{name}: {what} refers to tensor {i}, model has {n_tensors}")
        return i

    n_codes = model.OperatorCodesLength()
    ops: list[Op] = []
    for oi in range(sg.OperatorsLength()):
        op_fb = sg.Operators(oi)
        ci = op_fb.OpcodeIndex()
        if not 0 <= ci < n_codes:
            raise ModelFormatError(f"{name}: op {oi} has opcode index {ci}, model has {n_codes}")
        code = model.OperatorCodes(ci)
        # Schema v3a: builtin_code replaced deprecated_builtin_code (int8, capped at 127).
        builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
        op_type = _BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}")
        custom = ""
        if op_type == "CUSTOM":
            custom = (code.CustomCode() or b"").decode("utf-8", "replace")
        ins = [] if op_fb.InputsIsNone() else [
            _check_index(i, f"op {oi} ({op_type}) input", True) for i in op_fb.InputsAsNumpy()]
        outs = [] if op_fb.OutputsIsNone() else [
            _check_index(i, f"op {oi} ({op_type}) output", False) for i in op_fb.OutputsAsNumpy()]
        ops.append(Op(oi, op_type, ins, outs, _read_options(op_fb, op_type), custom))

    inputs = [_check_index(i, "graph input", False) for i in (sg.InputsAsNumpy() if not sg.InputsIsNone() else [])]
    outputs = [_check_index(i, "graph output", False) for i in (sg.OutputsAsNumpy() if not sg.OutputsIsNone() else [])]
    if not inputs or not outputs:
        raise ModelFormatError(f"{name}: model declares no inputs or no outputs")
    desc = (model.Description() or b"").decode("utf-8", "replace")
    return Graph(name=name, tensors=tensors, ops=ops, inputs=inputs, outputs=outputs, description=desc)
