"""Read a .tflite flatbuffer into tinygen's Graph IR.

Parsing goes through the `tflite` package (classes generated from TFLite's
schema.fbs); nothing here decodes flatbuffer bytes by hand. The file is treated
as untrusted: every index and size is checked, and any failure becomes a
ModelFormatError with one readable line.
"""
from __future__ import annotations

import re
import struct
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

# Largest tensor accepted: anything bigger is a corrupt shape, not a microcontroller model.
MAX_TENSOR_BYTES = 1 << 28

# Zero points must be representable in the tensor's own integer type.
_ZERO_POINT_RANGE = {
    "int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767),
    "int32": (-(1 << 31), (1 << 31) - 1), "uint16": (0, 65535),
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


def _read_quantization(t_fb, n_dims: int, where: str, dtype: str) -> Quantization | None:
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
    if dtype in _ZERO_POINT_RANGE:
        lo, hi = _ZERO_POINT_RANGE[dtype]
        if zero_point.size and (zero_point.min() < lo or zero_point.max() > hi):
            raise ModelFormatError(f"{where}: zero point outside the {dtype} range [{lo}, {hi}]")
    axis = int(q.QuantizedDimension())
    if scale.size > 1 and n_dims == 1 and axis != 0:
        # Real converters write the filter's axis (3) on 1-D bias tensors
        # (tflm_person_detect); TFLM reads per-channel data along the only axis.
        axis = 0
    return Quantization(scale=scale, zero_point=zero_point, axis=axis)


def read_tflite_bytes(buf: bytes, name: str = "model", label: str | None = None) -> Graph:
    """Parse a .tflite flatbuffer; `name` names the graph, `label` (default: name) prefixes messages."""
    label = label or name
    try:
        graph, variables = _read(buf, name, label)
    except TinygenError:
        raise
    except RecursionError:
        raise ModelFormatError(f"{label}: not a valid .tflite file (nesting too deep)") from None
    except Exception as exc:  # flatbuffers raises struct.error/IndexError/TypeError/... on garbage
        raise ModelFormatError(
            f"{label}: not a valid .tflite file: the flatbuffer is corrupt or truncated "
            f"({_describe_flatbuffer_error(exc)}); pass a TensorFlow Lite flatbuffer"
        ) from None
    validate_graph(graph, label, variables)
    return graph


def _describe_flatbuffer_error(exc: Exception) -> str:
    """What a flatbuffers exception means for the user, in a few words."""
    text = str(exc)
    if isinstance(exc, (struct.error, IndexError)) or "smaller than requested" in text:
        return "an offset or a length points outside the file"
    if isinstance(exc, TypeError) and "bad number" in text:
        return "a field holds an out-of-range value"
    if isinstance(exc, UnicodeDecodeError):
        return "a string is not text"
    return f"{type(exc).__name__}: {' '.join(text.split())[:80]}"


def _short(name: str, limit: int = 48) -> str:
    """Tensor names can be hundreds of characters (fused-op names): keep messages one short line."""
    return name if len(name) <= limit else name[:limit - 3] + "..."


def read_tflite(path: str | Path) -> Graph:
    path = Path(path)
    if not path.exists():
        raise TinygenError(f"{path}: no such file")
    if path.is_dir():
        raise TinygenError(f"{path}: is a folder; pass a .tflite file")
    buf = path.read_bytes()
    name = re.sub(r"\W", "_", path.stem)
    return read_tflite_bytes(buf, name or "model", label=str(path))


def _read(buf: bytes, name: str, label: str) -> tuple[Graph, set[int]]:
    if len(buf) < 8:
        raise ModelFormatError(f"{label}: file is {len(buf)} bytes, too short to be a .tflite model")
    if buf[4:8] != b"TFL3":
        raise ModelFormatError(f"{label}: missing the TFL3 identifier; this is not a .tflite file")
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() < 1:
        raise ModelFormatError(f"{label}: model has no subgraph")
    sg = model.Subgraphs(0)
    n_buffers = model.BuffersLength()
    n_tensors = sg.TensorsLength()

    tensors: list[Tensor] = []
    variables: set[int] = set()  # state tensors (SVDF, LSTM): read before any op writes them
    for ti in range(n_tensors):
        t_fb = sg.Tensors(ti)
        tname = (t_fb.Name() or b"").decode("utf-8", "replace") or f"tensor_{ti}"
        where = f"{label}: tensor {ti} ({_short(tname)})"
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
        nbytes = np.dtype(dtype).itemsize
        for d in shape:
            nbytes *= d
        if nbytes > MAX_TENSOR_BYTES:
            raise ModelFormatError(f"{where}: shape {shape} {dtype} is {nbytes:,} bytes; tinygen accepts "
                                   f"tensors up to {MAX_TENSOR_BYTES:,} bytes")
        if t_fb.IsVariable():
            variables.add(ti)
        quant = _read_quantization(t_fb, len(shape), where, dtype)
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
            raise ModelFormatError(f"{label}: {what} refers to tensor {i}, model has {n_tensors}")
        return i

    n_codes = model.OperatorCodesLength()
    ops: list[Op] = []
    for oi in range(sg.OperatorsLength()):
        op_fb = sg.Operators(oi)
        ci = op_fb.OpcodeIndex()
        if not 0 <= ci < n_codes:
            raise ModelFormatError(f"{label}: op {oi} has opcode index {ci}, model has {n_codes}")
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
        raise ModelFormatError(f"{label}: model declares no inputs or no outputs")
    desc = (model.Description() or b"").decode("utf-8", "replace")
    graph = Graph(name=name, tensors=tensors, ops=ops, inputs=inputs, outputs=outputs, description=desc)
    return graph, variables


# ------------------------------------------------------------ validation
# (min inputs, max inputs or None for "any", outputs) for ops whose layout the
# rest of tinygen relies on. The first `min` inputs must be present (not -1)
# unless _REQUIRED_INPUTS names the positions that must be.
OP_ARITY: dict[str, tuple[int, int | None, int]] = {
    "CONV_2D": (2, 3, 1),
    "DEPTHWISE_CONV_2D": (2, 3, 1),
    "TRANSPOSE_CONV": (3, 4, 1),
    "FULLY_CONNECTED": (2, 3, 1),
    "AVERAGE_POOL_2D": (1, 1, 1),
    "MAX_POOL_2D": (1, 1, 1),
    "L2_POOL_2D": (1, 1, 1),
    "ADD": (2, 2, 1),
    "SUB": (2, 2, 1),
    "MUL": (2, 2, 1),
    "DIV": (2, 2, 1),
    "SQUARED_DIFFERENCE": (2, 2, 1),
    "MINIMUM": (2, 2, 1),
    "MAXIMUM": (2, 2, 1),
    "SOFTMAX": (1, 1, 1),
    "LOG_SOFTMAX": (1, 1, 1),
    "LOGISTIC": (1, 1, 1),
    "TANH": (1, 1, 1),
    "RELU": (1, 1, 1),
    "RELU6": (1, 1, 1),
    "RELU_N1_TO_1": (1, 1, 1),
    "LEAKY_RELU": (1, 1, 1),
    "PRELU": (2, 2, 1),
    "HARD_SWISH": (1, 1, 1),
    "QUANTIZE": (1, 1, 1),
    "DEQUANTIZE": (1, 1, 1),
    "PAD": (2, 2, 1),
    "PADV2": (2, 3, 1),
    "CONCATENATION": (1, None, 1),
    "PACK": (1, None, 1),
    "MEAN": (2, 2, 1),
    "SUM": (2, 2, 1),
    "REDUCE_MAX": (2, 2, 1),
    "STRIDED_SLICE": (4, 4, 1),
    "SLICE": (3, 3, 1),
    "RESHAPE": (1, 2, 1),
    "SQUEEZE": (1, 1, 1),
    "EXPAND_DIMS": (2, 2, 1),
    "TRANSPOSE": (2, 2, 1),
    "SHAPE": (1, 1, 1),
    "GATHER": (2, 2, 1),
    "SPACE_TO_BATCH_ND": (3, 3, 1),
    "BATCH_TO_SPACE_ND": (3, 3, 1),
    "SVDF": (5, 5, 1),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": (24, 24, 1),
}
# Ops whose optional inputs are not all at the end: the positions that must be present.
_REQUIRED_INPUTS = {
    "SVDF": (0, 1, 2, 4),  # input, feature weights, time weights, state (bias optional)
    "UNIDIRECTIONAL_SEQUENCE_LSTM": (0, 2, 3, 4, 6, 7, 8, 13, 14, 15, 18, 19),
}

# Option fields that are sizes or factors: zero or negative values are corrupt.
_POSITIVE_OPTIONS = ("stride_w", "stride_h", "dilation_w_factor", "dilation_h_factor", "filter_width",
                     "filter_height")


def validate_graph(graph: Graph, label: str, variables: set[int] = frozenset()) -> None:
    """Structural checks the interpreter and the code generator rely on.

    - op arity for the op types in OP_ARITY (required inputs present);
    - size/stride/dilation options positive;
    - every tensor an op reads is a constant, a graph input, a state
      (variable) tensor, or written by an earlier op; every tensor is written
      at most once, never a constant or a graph input;
    - tensors that ops touch have no zero-sized dimension, and activation
      (non-constant) tensors have positive quantization scales;
    - graph outputs are produced (or are inputs / constants).
    """
    tensors = graph.tensors
    written: set[int] = set(graph.inputs)
    graph_inputs = set(graph.inputs)
    for op in graph.ops:
        where = f"{label}: op {op.index} ({op.type})"
        arity = OP_ARITY.get(op.type)
        if arity is not None:
            lo, hi, n_out = arity
            if len(op.inputs) < lo or (hi is not None and len(op.inputs) > hi):
                want = f"{lo}" if lo == hi else (f"{lo} or more" if hi is None else f"{lo} to {hi}")
                raise ModelFormatError(f"{where}: has {len(op.inputs)} inputs, needs {want}")
            required = _REQUIRED_INPUTS.get(op.type, range(lo))
            if any(op.inputs[k] < 0 for k in required):
                raise ModelFormatError(f"{where}: a required input is missing (-1)")
            if len(op.outputs) != n_out:
                raise ModelFormatError(f"{where}: has {len(op.outputs)} outputs, needs {n_out}")
        if not op.outputs:
            raise ModelFormatError(f"{where}: has no outputs")
        for key in _POSITIVE_OPTIONS:
            value = op.options.get(key)
            if isinstance(value, int) and value < 1:
                raise ModelFormatError(f"{where}: option {key} is {value}; it must be 1 or more")
        _check_window(graph, op, where)
        for k, i in enumerate(op.inputs):
            if i < 0:
                continue
            t = tensors[i]
            if t.size == 0 and op.type == "RESHAPE" and k == 1:
                continue  # an empty shape tensor: reshape to a scalar (no data to hold)
            if i not in written and not t.is_constant and i not in variables:
                raise ModelFormatError(f"{where}: reads tensor {i} ({_short(t.name)}), which is not a constant, "
                                       "a graph input, or written by an earlier op")
            _check_used_tensor(t, where)
        for i in op.outputs:
            t = tensors[i]
            if t.is_constant:
                raise ModelFormatError(f"{where}: writes tensor {i} ({_short(t.name)}), which is a constant")
            if i in graph_inputs:
                raise ModelFormatError(f"{where}: writes tensor {i} ({_short(t.name)}), which is a graph input")
            if i in written:
                raise ModelFormatError(f"{where}: writes tensor {i} ({_short(t.name)}), which an earlier op wrote")
            _check_used_tensor(t, where)
            written.add(i)
    for i in graph.outputs:
        if i not in written and not tensors[i].is_constant:
            raise ModelFormatError(f"{label}: graph output tensor {i} ({_short(tensors[i].name)}) is never written")
    for i in graph.inputs:
        _check_used_tensor(tensors[i], f"{label}: graph input")


def _check_window(graph: Graph, op: Op, where: str) -> None:
    """A conv/pool window may overhang the input, but not reach more than twice across it.

    SAME padding grows with the window, so a corrupt dilation or filter size
    (2**24) would otherwise ask for gigabytes of padding.
    """
    if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        if len(op.inputs) < 2 or op.inputs[1] < 0 or len(graph.tensors[op.inputs[1]].shape) != 4:
            return
        kh, kw = graph.tensors[op.inputs[1]].shape[1:3]
        dh, dw = op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1)
    elif op.type in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"):
        kh, kw = op.options.get("filter_height", 1), op.options.get("filter_width", 1)
        dh = dw = 1
    else:
        return
    x = graph.tensors[op.inputs[0]] if op.inputs and op.inputs[0] >= 0 else None
    if x is None or len(x.shape) != 4 or not all(isinstance(v, int) for v in (kh, kw, dh, dw)):
        return
    for what, k, d, size in (("rows", kh, dh, x.shape[1]), ("columns", kw, dw, x.shape[2])):
        extent = (k - 1) * d + 1
        if k > 1 and extent > 2 * size + 1:
            raise ModelFormatError(f"{where}: its window spans {extent:,} {what} ({k} taps, dilation {d}) "
                                   f"over an input of {size}")


def _check_used_tensor(t: Tensor, where: str) -> None:
    if 0 in t.shape:
        raise ModelFormatError(f"{where}: tensor {t.index} ({_short(t.name)}) has a zero-sized dimension {t.shape}")
    if t.quant is not None and not t.is_constant and np.any(t.quant.scale <= 0):
        raise ModelFormatError(f"{where}: tensor {t.index} ({_short(t.name)}) has a quantization scale <= 0")
