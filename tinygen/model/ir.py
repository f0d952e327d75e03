"""tinygen's one intermediate representation: a graph of tensors and ops.

Everything downstream (graph clean-ups, quantization-parameter derivation, the
reference interpreter, the memory planner and the C emitter) reads this and only
this. Readers (`tflite_reader`) produce it; nothing after them looks at the
original file again.

Conventions
- Shapes are tuples of ints in TFLite's layout (NHWC for images).
- Tensor dtypes are numpy dtype names: 'int8', 'int16', 'int32', 'int64',
  'uint8', 'float32', 'bool'.
- Op types are TFLite builtin operator names ('CONV_2D', 'FULLY_CONNECTED', ...).
- An absent optional op input is the index -1 (as in TFLite).
- Op options are an `Options` object with snake_case attributes named after the
  TFLite schema fields (`stride_w`, `fused_activation_function`, ...). Enum
  values are strings ('SAME', 'RELU6', 'NONE').
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np


@dataclass
class Quantization:
    """Affine quantization: real = scale * (q - zero_point).

    `scale` and `zero_point` have one entry per channel along `axis` when the
    tensor is per-channel quantized, otherwise exactly one entry (and `axis`
    carries whatever the file said: it is meaningless then, see
    tflm_person_detect.tflite whose per-tensor tensors say axis 3).
    """

    scale: np.ndarray  # float32, shape [1] or [channels]
    zero_point: np.ndarray  # int64, same length as scale
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def single_scale(self) -> float:
        """The per-tensor scale as the float32 value the file holds."""
        return float(np.float32(self.scale[0]))

    @property
    def single_zero_point(self) -> int:
        return int(self.zero_point[0])

    def describe(self) -> str:
        if self.per_channel:
            return f"per-channel[{self.scale.size}] axis={self.axis}"
        return f"s={self.single_scale:.6g} zp={self.single_zero_point}"


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quantization | None = None
    data: np.ndarray | None = None  # constant contents, already shaped and typed

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= int(d)
        return n

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


class Options:
    """Attribute bag for an op's options (`op.options.stride_w`).

    Missing attributes raise AttributeError naming the op type, so a kernel that
    reads an option the file did not carry fails loudly rather than guessing.
    """

    def __init__(self, op_type: str = "", **fields: Any):
        object.__setattr__(self, "_op_type", op_type)
        object.__setattr__(self, "_fields", dict(fields))

    def __getattr__(self, name: str) -> Any:
        fields = object.__getattribute__(self, "_fields")
        if name in fields:
            return fields[name]
        raise AttributeError(f"{object.__getattribute__(self, '_op_type')} options have no field '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        self._fields[name] = value

    def get(self, name: str, default: Any = None) -> Any:
        return self._fields.get(name, default)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._fields)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        return f"Options({inner})"


@dataclass
class Op:
    index: int
    type: str
    inputs: list[int]
    outputs: list[int]
    options: Options = field(default_factory=Options)
    # Name of the op in the source file when it is a custom op, else ''.
    custom_code: str = ""


@dataclass
class Graph:
    name: str
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    description: str = ""

    # ---- convenience -------------------------------------------------
    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def op_inputs(self, op: Op) -> list[Tensor | None]:
        return [self.tensors[i] if i >= 0 else None for i in op.inputs]

    def op_outputs(self, op: Op) -> list[Tensor]:
        return [self.tensors[i] for i in op.outputs]

    def input_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.inputs]

    def output_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.outputs]

    def consumers(self, tensor_index: int) -> list[Op]:
        return [op for op in self.ops if tensor_index in op.inputs]

    def producer(self, tensor_index: int) -> Op | None:
        for op in self.ops:
            if tensor_index in op.outputs:
                return op
        return None

    def op_types(self) -> list[str]:
        return [op.type for op in self.ops]

    def renumber(self) -> None:
        """Give ops consecutive indices after clean-ups removed some."""
        for i, op in enumerate(self.ops):
            op.index = i

    def prune_tensors(self) -> None:
        """Drop tensors no op, input or output refers to, and renumber the rest."""
        used: set[int] = set(self.inputs) | set(self.outputs)
        for op in self.ops:
            used.update(i for i in op.inputs if i >= 0)
            used.update(op.outputs)
        keep = sorted(used)
        remap = {old: new for new, old in enumerate(keep)}
        self.tensors = [self.tensors[i] for i in keep]
        for new, t in enumerate(self.tensors):
            t.index = new
        self.inputs = [remap[i] for i in self.inputs]
        self.outputs = [remap[i] for i in self.outputs]
        for op in self.ops:
            op.inputs = [remap[i] if i >= 0 else -1 for i in op.inputs]
            op.outputs = [remap[i] for i in op.outputs]


def shape_str(shape: Iterable[int]) -> str:
    return "x".join(str(int(d)) for d in shape) if tuple(shape) else "scalar"
