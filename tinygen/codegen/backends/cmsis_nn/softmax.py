"""SOFTMAX (int8 -> int8) -> arm_softmax_s8 (CMSIS-NN backend).

arm_softmax_s8(input, rows, row_size, input_beta_multiplier, input_beta_left_shift,
diff_min, output): the parameters TFLM's softmax Prepare derives (tinygen.quant.params).
Other dtypes fall back to the portable module (which refuses them, naming the op).
"""
from __future__ import annotations

from tinygen.codegen.backends.cmsis_nn import sources
from tinygen.codegen.backends.portable import softmax as portable

KERNELS = portable.KERNELS
IN_PLACE = False


def lower(ctx, op, p, arch: str = "c"):
    x, y = ctx.tensor(p.input_index), ctx.tensor(p.output_index)
    if x.dtype != "int8" or y.dtype != "int8":
        portable.lower(ctx, op, p)
        return ()
    depth = int(p.input_shape[-1])
    rows = x.size // depth
    ctx.layer.header.append(f"{rows} row(s) of {depth}, beta {p.beta:g}, diff_min {p.diff_min}")
    ctx.emit(f"arm_softmax_s8({ctx.act(p.input_index, const=True)}, {rows}, {depth},")
    ctx.emit(f"    {p.input_beta_multiplier}, {p.input_beta_left_shift}, {p.diff_min},   "
             "/* input beta multiplier, left shift, diff_min */")
    ctx.emit(f"    {ctx.act(p.output_index)});")
    return sources.SOFTMAX_S8
