"""Lowering: each op of the graph becomes one C layer function calling one kernel.

A backend maps an op type to a small module (one per op per backend) that
exposes:

    KERNELS: tuple[str, ...]                 kernel sources the call needs
                                             (paths relative to the backend's source root)
    scratch_bytes(graph, op, params) -> int  scratch the kernel needs (optional, default 0)
    lower(ctx, op, params) -> None           fill ctx: constant arrays, the params struct, the call

`LayerContext` gives a lowering module what it needs and nothing else: pointers
to its tensors in the arena (`act`), named constant arrays in model_data.c
(`const_array`), a `tg_dims` initializer (`dims`), file-scope declarations
(`declare`) and the statements of the layer function (`emit`). Parameters come
from tinygen.quant.params (derived once); a lowering only formats them.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from tinygen.codegen.names import c_comment
from tinygen.codegen.planner import ArenaPlan
from tinygen.errors import UnsupportedOpError
from tinygen.model.ir import Graph, Op, Tensor, shape_str

CTYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
          "float32": "float", "bool": "uint8_t"}

# Short names used for layers: CONV_2D -> conv2d_0, conv2d_1, ...
SHORT_NAMES = {
    "CONV_2D": "conv2d", "DEPTHWISE_CONV_2D": "depthwise_conv2d", "FULLY_CONNECTED": "fully_connected",
    "AVERAGE_POOL_2D": "avgpool", "MAX_POOL_2D": "maxpool", "SOFTMAX": "softmax", "RESHAPE": "reshape",
    "SQUEEZE": "squeeze", "EXPAND_DIMS": "expand_dims", "ADD": "add", "SUB": "sub", "MUL": "mul",
    "LOGISTIC": "logistic", "TANH": "tanh", "RELU": "relu", "RELU6": "relu6", "RELU_N1_TO_1": "relu_n1_to_1",
    "LEAKY_RELU": "leaky_relu", "HARD_SWISH": "hard_swish", "QUANTIZE": "quantize", "PAD": "pad",
    "PADV2": "padv2", "CONCATENATION": "concat", "STRIDED_SLICE": "strided_slice", "MEAN": "mean",
}


@dataclass
class ConstArray:
    name: str
    ctype: str
    values: np.ndarray
    comment: str

    @property
    def nbytes(self) -> int:
        return int(self.values.size) * np.dtype(self.values.dtype).itemsize


@dataclass
class Layer:
    """One op as emitted C."""

    op: Op
    name: str                 # C function name, e.g. conv2d_0
    step: int
    header: list[str] = field(default_factory=list)     # comment lines
    decls: list[str] = field(default_factory=list)      # file-scope statics (params structs)
    body: list[str] = field(default_factory=list)       # statements of the layer function
    arrays: list[ConstArray] = field(default_factory=list)
    kernels: tuple[str, ...] = ()
    alias_only: bool = False  # RESHAPE & co.: no code at all


def tensor_summary(t: Tensor) -> str:
    q = f" {t.quant.describe()}" if t.quant is not None else ""
    return f"{shape_str(t.shape)} {t.dtype}{q}"


def dims4(shape) -> tuple[int, int, int, int]:
    """Pad a shape to 4-D NHWC with leading ones (rank > 4 folds into N when possible)."""
    s = [int(d) for d in shape]
    while len(s) < 4:
        s.insert(0, 1)
    while len(s) > 4:
        if s[0] != 1:
            raise ValueError(f"cannot express shape {shape} in 4-D")
        s.pop(0)
    return tuple(s)  # type: ignore[return-value]


def c_int(v) -> str:
    v = int(v)
    if v == -(1 << 31):
        return "INT32_MIN"
    return str(v)


class LayerContext:
    def __init__(self, graph: Graph, plan: ArenaPlan, arena_symbol: str, layer: Layer):
        self.graph = graph
        self.plan = plan
        self.arena = arena_symbol
        self.layer = layer

    @property
    def name(self) -> str:
        return self.layer.name

    def tensor(self, index: int) -> Tensor:
        return self.graph.tensors[index]

    def act(self, index: int, const: bool = False) -> str:
        """C pointer expression to a tensor: an activation in the arena or a constant array."""
        t = self.graph.tensors[index]
        ctype = CTYPES[t.dtype]
        if t.is_constant:
            return self.const_tensor(index)
        off = self.plan.tensor_offset(index)
        q = "const " if const else ""
        return f"({q}{ctype} *)&{self.arena}[{off}]"

    def scratch(self) -> str:
        b = self.plan.scratch_buffer(self.layer.op.index)
        if b is None:
            return "NULL"
        return f"(void *)&{self.arena}[{b.offset}]"

    def const_array(self, suffix: str, ctype: str, values, comment: str) -> str:
        name = f"{self.layer.name}_{suffix}"
        np_type = {"int8_t": np.int8, "uint8_t": np.uint8, "int16_t": np.int16, "int32_t": np.int32,
                   "int64_t": np.int64, "float": np.float32}[ctype]
        arr = np.ascontiguousarray(np.asarray(values).astype(np_type))
        self.layer.arrays.append(ConstArray(name, ctype, arr, comment))
        return name

    def const_tensor(self, index: int, suffix: str | None = None) -> str:
        """A constant tensor as an array named after this layer (weights, biases, operands)."""
        t = self.graph.tensors[index]
        for a in self.layer.arrays:
            if a.comment.endswith(f"[tensor {index}]"):
                return a.name
        suffix = suffix or f"operand_{index}"
        return self.const_array(suffix, CTYPES[t.dtype], t.data,
                                f"{self.layer.op.type} {suffix}: {tensor_summary(t)} '{c_comment(t.name)}' "
                                f"[tensor {index}]")

    @staticmethod
    def dims(shape) -> str:
        n, h, w, c = dims4(shape)
        return f"{{{n}, {h}, {w}, {c}}}"

    def declare(self, line: str) -> None:
        self.layer.decls.append(line)

    def emit(self, line: str) -> None:
        self.layer.body.append(line)

    def struct(self, ctype: str, suffix: str, fields: dict) -> str:
        """A file-scope `static const <ctype> <layer>_<suffix> = {.field = value, ...};`, returns its name."""
        name = f"{self.layer.name}_{suffix}"
        lines = [f"static const {ctype} {name} = {{"]
        for k, v in fields.items():
            val = c_int(v) if isinstance(v, (int, np.integer)) else str(v)
            lines.append(f"    .{k} = {val},")
        lines.append("};")
        self.layer.decls.extend(lines)
        return name


class Backend:
    """A backend: op type -> lowering module under `package`."""

    def __init__(self, name: str, package: str, modules: dict[str, str], kernel_root: str,
                 description: str = ""):
        self.name = name
        self.package = package
        self.modules = modules          # op type -> module name in package
        self.kernel_root = kernel_root  # where KERNELS paths are relative to (firmware dir subfolder)
        self.description = description

    def module_name(self, op: Op) -> str:
        """The lowering module's name for `op` (relative to `package` unless dotted)."""
        mod = self.modules.get(op.type)
        if mod is None:
            raise UnsupportedOpError(op.type, op.index, f"the {self.name} backend has no kernel for it "
                                                        f"(it has: {', '.join(sorted(self.modules))})")
        return mod

    def module(self, op: Op) -> ModuleType:
        return importlib.import_module(f"{self.package}.{self.module_name(op)}")

    @staticmethod
    def layer_files(layers, layer_sources: dict, kernel_headers: dict) -> tuple[list[str], list[str]]:
        """(sources, headers) the lowered `layers` need, each once, in first-use order:
        sources a lowering recorded for its layer in `layer_sources`, and the header of
        every kernel the layers call (`kernel_headers`: kernel file -> header)."""
        sources: list[str] = []
        headers: list[str] = []
        for layer in layers:
            for src in layer_sources.get(layer.name, ()):
                if src not in sources:
                    sources.append(src)
            for kernel in layer.kernels:
                header = kernel_headers.get(kernel)
                if header and header not in headers:
                    headers.append(header)
        return sources, headers

    def scratch_bytes(self, graph: Graph, op: Op, params) -> int:
        fn = getattr(self.module(op), "scratch_bytes", None)
        return int(fn(graph, op, params)) if fn else 0

    def overlap(self, graph: Graph, op: Op, params):
        """(input tensor, D) when the op's kernel lets its output overlap its dying input
        (see planner.plan_arena), else None."""
        fn = getattr(self.module(op), "overlap", None)
        return fn(graph, op, params) if fn else None

    def in_place_ok(self, op: Op) -> bool:
        fn = getattr(self.module(op), "IN_PLACE", True)
        return bool(fn)

    def project_files(self, layers=()) -> dict:
        """Extra build inputs for the project templates (include dirs, defines, sources);
        `layers` are the lowered layers of the model being generated."""
        return {}

    def for_target(self, target) -> "Backend":
        """This backend specialised for `target` (a backend whose kernels or scratch sizes
        depend on the CPU returns a bound copy; the default is target-independent)."""
        return self


_BACKENDS: dict[str, str] = {
    "portable": "tinygen.codegen.backends.portable",
    "cmsis-nn": "tinygen.codegen.backends.cmsis_nn",
    "dsp": "tinygen.codegen.backends.dsp",
}


def backend_names() -> list[str]:
    return list(_BACKENDS)


def get_backend(name: str) -> Backend:
    from tinygen.errors import TinygenError

    pkg = _BACKENDS.get(name)
    if pkg is None:
        raise TinygenError(f"unknown backend '{name}' (known: {', '.join(_BACKENDS)})")
    try:
        mod = importlib.import_module(pkg)
    except ModuleNotFoundError:
        raise TinygenError(f"the {name} backend is not available in this tinygen build") from None
    return mod.BACKEND


def layer_names(graph: Graph, order: list[int]) -> dict[int, str]:
    counts: dict[str, int] = {}
    names = {}
    for op_index in order:
        op = graph.ops[op_index] if graph.ops[op_index].index == op_index else \
            next(o for o in graph.ops if o.index == op_index)
        short = SHORT_NAMES.get(op.type, op.type.lower())
        k = counts.get(short, 0)
        counts[short] = k + 1
        names[op_index] = f"{short}_{k}"
    return names
