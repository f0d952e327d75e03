"""MEAN (int8, up to 4-D, any axes) -> tg_mean_s8 (portable backend)."""
from tinygen.errors import UnsupportedOpError

KERNELS = ("tg_mean_s8.c",)
IN_PLACE = False


def lower(ctx, op, p) -> None:
    rank = len(p.input_shape)
    if rank > 4:
        raise UnsupportedOpError(op.type, op.index, "more than 4 dimensions")
    x, y = ctx.tensor(p.input_index), ctx.tensor(p.output_index)
    if x.dtype != "int8" or y.dtype != "int8":
        raise UnsupportedOpError(op.type, op.index, f"{x.dtype} -> {y.dtype} (portable: int8 -> int8)")
    reduce = [0, 0, 0, 0]
    for a in p.axes:
        reduce[a + 4 - rank] = 1
    ctx.layer.header.append(f"axes {tuple(p.axes)} ({p.num_elements_in_axes} values per mean), "
                            f"keep_dims {p.keep_dims}")
    params = ctx.struct("tg_mean_params", "params", {
        "reduce_n": reduce[0], "reduce_h": reduce[1], "reduce_w": reduce[2], "reduce_c": reduce[3],
        "input_zero_point": p.input_zero_point, "output_zero_point": p.output_zero_point,
        "multiplier": p.mean_multiplier, "shift": p.mean_shift,
    })
    ctx.declare(f"static const tg_dims {ctx.name}_input_dims = {ctx.dims(p.input_shape)};")
    ctx.emit(f"tg_mean_s8(&{params}, &{ctx.name}_input_dims, {ctx.act(p.input_index, const=True)}, "
             f"{ctx.act(p.output_index)});")
