"""MUL -> tg_mul_s8 (portable backend). Same-shape operands run in place."""
KERNELS = ("tg_mul_s8.c",)
IN_PLACE = True


def lower(ctx, op, p) -> None:
    ctx.layer.header.append(f"clamp [{p.activation_min}, {p.activation_max}]"
                            + (", broadcasting" if p.requires_broadcast else ""))
    params = ctx.struct("tg_mul_params", "params", {
        "input1_offset": p.input1_offset, "input2_offset": p.input2_offset, "output_offset": p.output_offset,
        "output_multiplier": p.output_multiplier, "output_shift": p.output_shift,
        "activation_min": p.activation_min, "activation_max": p.activation_max,
    })
    ctx.declare(f"static const tg_dims {ctx.name}_input1_dims = {ctx.dims(p.input1_shape)};")
    ctx.declare(f"static const tg_dims {ctx.name}_input2_dims = {ctx.dims(p.input2_shape)};")
    ctx.declare(f"static const tg_dims {ctx.name}_output_dims = {ctx.dims(p.output_shape)};")
    ctx.emit(f"tg_mul_s8(&{params},")
    ctx.emit(f"    &{ctx.name}_input1_dims, {ctx.act(p.input1_index, const=True)},")
    ctx.emit(f"    &{ctx.name}_input2_dims, {ctx.act(p.input2_index, const=True)},")
    ctx.emit(f"    &{ctx.name}_output_dims, {ctx.act(p.output_index)});")
