"""MUL (int8, same shapes) -> arm_elementwise_mul_s8 (CMSIS-NN backend).

Element i of both inputs is read before element i is written: may run in place.
Broadcasting MUL falls back to the portable kernel (no broadcast in CMSIS-NN's s8 mul).
"""
from __future__ import annotations

import numpy as np

from tinygen.codegen.backends.cmsis_nn import sources
from tinygen.codegen.backends.portable import mul as portable

KERNELS = portable.KERNELS
IN_PLACE = True


def lower(ctx, op, p, arch: str = "c"):
    if p.requires_broadcast or ctx.tensor(p.output_index).dtype != "int8":
        portable.lower(ctx, op, p)
        ctx.layer.header.append("broadcasting: portable kernel")
        return ()
    size = int(np.prod(p.output_shape, dtype=np.int64))
    ctx.layer.header.append(f"{size} elements, clamp [{p.activation_min}, {p.activation_max}]")
    ctx.emit(f"(void)arm_elementwise_mul_s8({ctx.act(p.input1_index, const=True)}, "
             f"{ctx.act(p.input2_index, const=True)},")
    ctx.emit(f"    {p.input1_offset}, {p.input2_offset},   /* input offsets */")
    ctx.emit(f"    {ctx.act(p.output_index)},")
    ctx.emit(f"    {p.output_offset}, {p.output_multiplier}, {p.output_shift},   /* output: offset, multiplier, shift */")
    ctx.emit(f"    {p.activation_min}, {p.activation_max}, {size});")
    return sources.ELEMENTWISE_MUL_S8
