"""ADD -> tg_add_s8, SUB -> tg_sub_s8 (portable backend). Same-shape operands run in place."""
KERNELS = ("tg_add_s8.c", "tg_sub_s8.c")
IN_PLACE = True


def lower(ctx, op, p) -> None:
    kernel = "tg_add_s8" if op.type == "ADD" else "tg_sub_s8"
    ctx.layer.kernels = (f"{kernel}.c",)
    ctx.layer.header.append(f"left shift {p.left_shift}, clamp [{p.activation_min}, {p.activation_max}]"
                            + (", broadcasting" if p.requires_broadcast else ""))
    params = ctx.struct("tg_add_params", "params", {
        "input1_offset": p.input1_offset, "input2_offset": p.input2_offset, "output_offset": p.output_offset,
        "left_shift": p.left_shift,
        "input1_multiplier": p.input1_multiplier, "input1_shift": p.input1_shift,
        "input2_multiplier": p.input2_multiplier, "input2_shift": p.input2_shift,
        "output_multiplier": p.output_multiplier, "output_shift": p.output_shift,
        "activation_min": p.activation_min, "activation_max": p.activation_max,
    })
    ctx.declare(f"static const tg_dims {ctx.name}_input1_dims = {ctx.dims(p.input1_shape)};")
    ctx.declare(f"static const tg_dims {ctx.name}_input2_dims = {ctx.dims(p.input2_shape)};")
    ctx.declare(f"static const tg_dims {ctx.name}_output_dims = {ctx.dims(p.output_shape)};")
    ctx.emit(f"{kernel}(&{params},")
    ctx.emit(f"    &{ctx.name}_input1_dims, {ctx.act(p.input1_index, const=True)},")
    ctx.emit(f"    &{ctx.name}_input2_dims, {ctx.act(p.input2_index, const=True)},")
    ctx.emit(f"    &{ctx.name}_output_dims, {ctx.act(p.output_index)});")
