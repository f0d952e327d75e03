"""ADD (int8, same shapes) -> arm_elementwise_add_s8 (CMSIS-NN backend).

Same parameters as TFLM's ADD (left shift 20, per-input multipliers, output
multiplier); the kernel reads element i of both inputs before writing element i,
so it may run in place. Broadcasting ADD falls back to the portable kernel
(CMSIS-NN's s8 add has no broadcast).
"""
from __future__ import annotations

import numpy as np

from tinygen.codegen.backends.cmsis_nn import sources
from tinygen.codegen.backends.portable import add_sub as portable

KERNELS = ("tg_add_s8.c",)
IN_PLACE = True


def lower(ctx, op, p, arch: str = "c"):
    if p.requires_broadcast or ctx.tensor(p.output_index).dtype != "int8":
        portable.lower(ctx, op, p)
        ctx.layer.header.append("broadcasting: portable kernel")
        return ()
    size = int(np.prod(p.output_shape, dtype=np.int64))
    ctx.layer.header.append(f"{size} elements, left shift {p.left_shift}, "
                            f"clamp [{p.activation_min}, {p.activation_max}]")
    ctx.emit(f"(void)arm_elementwise_add_s8({ctx.act(p.input1_index, const=True)}, "
             f"{ctx.act(p.input2_index, const=True)},")
    ctx.emit(f"    {p.input1_offset}, {p.input1_multiplier}, {p.input1_shift},   /* input 1: offset, multiplier, shift */")
    ctx.emit(f"    {p.input2_offset}, {p.input2_multiplier}, {p.input2_shift},   /* input 2 */")
    ctx.emit(f"    {p.left_shift},   /* left shift */")
    ctx.emit(f"    {ctx.act(p.output_index)},")
    ctx.emit(f"    {p.output_offset}, {p.output_multiplier}, {p.output_shift},   /* output: offset, multiplier, shift */")
    ctx.emit(f"    {p.activation_min}, {p.activation_max}, {size});")
    return sources.ELEMENTWISE_ADD_S8
