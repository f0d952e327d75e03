"""DEQUANTIZE int8 -> float32 -> tg_dequantize_s8_f32 (portable backend)."""
from tinygen.codegen.backends.portable.quantize import c_float
from tinygen.errors import UnsupportedOpError

KERNELS = ("tg_dequantize_s8_f32.c",)
IN_PLACE = False


def lower(ctx, op, p) -> None:
    if p.input_dtype != "int8":
        raise UnsupportedOpError(op.type, op.index, f"{p.input_dtype} -> float32 (portable: int8)")
    n = ctx.tensor(p.input_index).size
    ctx.layer.header.append(f"x = {c_float(p.scale)[:-1]} * (q - {p.zero_point})")
    ctx.emit(f"tg_dequantize_s8_f32({n}, {ctx.act(p.input_index, const=True)}, {c_float(p.scale)}, "
             f"{p.zero_point}, {ctx.act(p.output_index)});")
