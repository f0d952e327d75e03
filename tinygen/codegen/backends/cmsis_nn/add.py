"""ADD (int8, same shapes) -> tg_add_table_s8 (tinygen's kernel; CMSIS-NN backend).

CMSIS-NN's arm_elementwise_add_s8 does TFLM's three requantizations per element
(81 instructions per element on the emulated Cortex-M4: 1.33M for one 32x32x16
ADD of ResNet-8). The first two depend on a single int8 value each, so tinygen
tabulates them at generation time (two 256-entry int32 tables, 2 KB of flash per
layer, values from the reference interpreter's own rescaling); per element the
kernel does two look-ups, one add and the output requantization. Same results
bit for bit (the tables ARE the reference's arithmetic).

On MVE (Cortex-M55) CMSIS-NN's arm_elementwise_add_s8 is vectorised and faster
(ResNet-8: 4.91M vs 5.88M instructions), so it is used there. The table kernel's
faster requantization assumes a positive output multiplier (always the case for
ADD; otherwise: portable kernel).

Element i of both inputs is read before element i is written: may run in place.
Broadcasting ADD falls back to the portable kernel.
"""
from __future__ import annotations

import numpy as np

from tinygen.codegen.backends.cmsis_nn import sources
from tinygen.codegen.backends.portable import add_sub as portable
from tinygen.quant.fixedpoint import multiply_by_quantized_multiplier_smaller_than_one_exp

KERNELS = ("tg_add_table_s8.c",)
IN_PLACE = True


def rescale_table(offset: int, left_shift: int, multiplier: int, shift: int) -> np.ndarray:
    """TFLM's per-input ADD rescaling of every int8 value: ((x + offset) << left_shift) requantized."""
    x = np.arange(-128, 128, dtype=np.int64)
    return np.asarray(multiply_by_quantized_multiplier_smaller_than_one_exp((x + offset) << left_shift,
                                                                           multiplier, shift), dtype=np.int64)


def lower(ctx, op, p, arch: str = "c"):
    if (p.requires_broadcast or ctx.tensor(p.output_index).dtype != "int8"
            or ctx.tensor(p.input1_index).dtype != "int8" or ctx.tensor(p.input2_index).dtype != "int8"
            or int(p.output_multiplier) <= 0):
        portable.lower(ctx, op, p)
        ctx.layer.header.append("broadcasting: portable kernel" if p.requires_broadcast else "portable kernel")
        return ()
    if arch == "mve":
        return _lower_cmsis(ctx, p)
    ctx.layer.kernels = KERNELS
    size = int(np.prod(p.output_shape, dtype=np.int64))
    ctx.layer.header.append(f"{size} elements; per-input rescaling tabulated (left shift {p.left_shift}), "
                            f"clamp [{p.activation_min}, {p.activation_max}]")
    t1 = ctx.const_array("input1_table", "int32_t",
                         rescale_table(p.input1_offset, p.left_shift, p.input1_multiplier, p.input1_shift),
                         "input 1 rescaled to the common scale, for every int8 value (index = value + 128)")
    t2 = ctx.const_array("input2_table", "int32_t",
                         rescale_table(p.input2_offset, p.left_shift, p.input2_multiplier, p.input2_shift),
                         "input 2 rescaled to the common scale, for every int8 value (index = value + 128)")
    params = ctx.struct("tg_add_table_params", "params", {
        "input1_table": t1, "input2_table": t2,
        "output_multiplier": p.output_multiplier, "output_shift": p.output_shift,
        "output_offset": p.output_offset,
        "activation_min": p.activation_min, "activation_max": p.activation_max,
    })
    ctx.emit(f"tg_add_table_s8(&{params}, {size}, {ctx.act(p.input1_index, const=True)},")
    ctx.emit(f"    {ctx.act(p.input2_index, const=True)}, {ctx.act(p.output_index)});")
    return ()


def _lower_cmsis(ctx, p):
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
