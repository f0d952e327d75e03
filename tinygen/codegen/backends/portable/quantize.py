"""QUANTIZE (portable backend): float32 -> int8 with tg_quantize_f32_s8; int8 -> int8
requantization as a 256-entry table (see lut.py)."""
import numpy as np

from tinygen.codegen.backends.portable import lut
from tinygen.errors import UnsupportedOpError

KERNELS = ("tg_quantize_f32_s8.c",)
IN_PLACE = True  # the int8 -> int8 table form; the planner only merges same-type tensors


def c_float(v) -> str:
    """A float32 value as a C literal that reads back to the same float."""
    return f"{float(np.float32(v)):.9g}f"


def lower(ctx, op, p) -> None:
    if p.mode != "float_to_int":
        lut.lower(ctx, op, p)
        ctx.layer.kernels = lut.KERNELS
        return
    if p.output_dtype != "int8":
        raise UnsupportedOpError(op.type, op.index, f"float32 -> {p.output_dtype} (portable: int8)")
    n = ctx.tensor(p.input_index).size
    ctx.layer.header.append(f"q = round(x / {float(np.float32(p.output_scale)):.9g}) + {p.output_zero_point}")
    ctx.emit(f"tg_quantize_f32_s8({n}, {ctx.act(p.input_index, const=True)}, {c_float(p.output_scale)}, "
             f"{p.output_zero_point}, {ctx.act(p.output_index)});")
