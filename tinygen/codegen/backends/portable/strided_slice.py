"""STRIDED_SLICE (int8, up to 4-D, positive strides) -> tg_strided_slice_s8 (portable backend)."""
from tinygen.errors import UnsupportedOpError

KERNELS = ("tg_strided_slice_s8.c",)
IN_PLACE = False


def _pad4(v, fill):
    v = list(v)
    while len(v) < 4:
        v.insert(0, fill)
    return v


def lower(ctx, op, p) -> None:
    if len(p.input_shape) > 4:
        raise UnsupportedOpError(op.type, op.index, "more than 4 dimensions")
    # Output extent per input dim (shrunk axes have extent 1).
    extents = []
    for b, e, s in zip(p.begin, p.end, p.strides):
        extents.append(max(0, -(-(e - b) // s)) if s > 0 else max(0, -(-(b - e) // -s)))
    ctx.layer.header.append(f"begin {tuple(p.begin)}, end {tuple(p.end)}, strides {tuple(p.strides)}")
    ctx.declare(f"static const tg_dims {ctx.name}_input_dims = {ctx.dims(p.input_shape)};")
    ctx.declare(f"static const tg_dims {ctx.name}_begin = {{{', '.join(map(str, _pad4(p.begin, 0)))}}};")
    ctx.declare(f"static const tg_dims {ctx.name}_strides = {{{', '.join(map(str, _pad4(p.strides, 1)))}}};")
    ctx.declare(f"static const tg_dims {ctx.name}_output_dims = {{{', '.join(map(str, _pad4(extents, 1)))}}};")
    ctx.emit(f"tg_strided_slice_s8(&{ctx.name}_input_dims, {ctx.act(p.input_index, const=True)},")
    ctx.emit(f"    &{ctx.name}_begin, &{ctx.name}_strides, &{ctx.name}_output_dims, {ctx.act(p.output_index)});")
