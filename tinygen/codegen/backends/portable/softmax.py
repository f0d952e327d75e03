"""SOFTMAX (int8 -> int8) -> tg_softmax_s8 (portable backend)."""
from tinygen.errors import UnsupportedOpError

KERNELS = ("tg_softmax_s8.c",)
IN_PLACE = False


def lower(ctx, op, p) -> None:
    x, y = ctx.tensor(p.input_index), ctx.tensor(p.output_index)
    if x.dtype != "int8" or y.dtype != "int8":
        raise UnsupportedOpError(op.type, op.index, f"{x.dtype} -> {y.dtype} (portable: int8 -> int8)")
    depth = int(p.input_shape[-1])
    rows = x.size // depth
    ctx.layer.header.append(f"{rows} row(s) of {depth}, beta {p.beta:g}, diff_min {p.diff_min}")
    params = ctx.struct("tg_softmax_params", "params", {
        "input_beta_multiplier": p.input_beta_multiplier, "input_beta_left_shift": p.input_beta_left_shift,
        "diff_min": p.diff_min,
    })
    ctx.emit(f"tg_softmax_s8(&{params}, {rows}, {depth}, {ctx.act(p.input_index, const=True)}, "
             f"{ctx.act(p.output_index)});")
