"""PAD / PADV2 (int8, up to 4-D) -> tg_pad_s8 (portable backend)."""
from tinygen.codegen.lowering import dims4
from tinygen.errors import UnsupportedOpError

KERNELS = ("tg_pad_s8.c",)
IN_PLACE = False


def lower(ctx, op, p) -> None:
    if len(p.input_shape) > 4:
        raise UnsupportedOpError(op.type, op.index, "more than 4 dimensions")
    before = list(p.pad_before)
    while len(before) < 4:
        before.insert(0, 0)
    ctx.layer.header.append(f"pad before {tuple(p.pad_before)}, after {tuple(p.pad_after)}, value {p.pad_value}")
    ctx.declare(f"static const tg_dims {ctx.name}_input_dims = {ctx.dims(p.input_shape)};")
    ctx.declare(f"static const tg_dims {ctx.name}_pad_before = {{{', '.join(map(str, before))}}};")
    ctx.declare(f"static const tg_dims {ctx.name}_output_dims = {ctx.dims(p.output_shape)};")
    dims4(p.output_shape)
    ctx.emit(f"tg_pad_s8(&{ctx.name}_input_dims, {ctx.act(p.input_index, const=True)}, &{ctx.name}_pad_before,")
    ctx.emit(f"    &{ctx.name}_output_dims, (int8_t){p.pad_value}, {ctx.act(p.output_index)});")
