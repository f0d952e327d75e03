"""FULLY_CONNECTED -> tg_fully_connected_s8 (portable backend)."""
import numpy as np

from tinygen.codegen.backends.portable.conv_common import folded_bias
KERNELS = ("tg_fully_connected_s8.c",)
IN_PLACE = False


def overlap(graph, op, p):
    """Row b of the output is written after row b of the input has been read in full."""
    b = np.arange(p.batches, dtype=np.int64)
    return p.input_index, int(((b + 1) * p.output_depth - b * p.accum_depth).max())


def lower(ctx, op, p) -> None:
    w = ctx.tensor(p.filter_index)
    weights = ctx.const_array("weights", "int8_t", w.data,
                              f"FULLY_CONNECTED weights {p.output_depth}x{p.accum_depth} [out][in]")
    bias = "NULL"
    if p.bias_index >= 0:
        bias = ctx.const_array("bias", "int32_t", ctx.tensor(p.bias_index).data,
                               f"FULLY_CONNECTED bias [{p.output_depth}] int32")
    what = "per output unit" if p.per_channel else "per tensor"
    mult = ctx.const_array("multiplier", "int32_t", p.output_multiplier, f"Q0.31 requantization multiplier {what}")
    shift = ctx.const_array("shift", "int32_t", p.output_shift, f"requantization shift {what} (positive = left)")
    ctx.layer.header.append(f"{p.batches} x ({p.accum_depth} -> {p.output_depth}), "
                            f"clamp [{p.activation_min}, {p.activation_max}]")
    folded = "NULL"
    if p.filter_offset == 0:
        fb = folded_bias(ctx.tensor(p.bias_index).data if p.bias_index >= 0 else None,
                         np.asarray(w.data, np.int64).reshape(p.output_depth, -1).sum(axis=1), p.input_offset)
        if fb is not None:
            folded = ctx.const_array("folded_bias", "int32_t", fb, "bias + input_offset * sum of the weight row")
    params = ctx.struct("tg_fc_params", "params", {
        "input_offset": p.input_offset, "filter_offset": p.filter_offset, "output_offset": p.output_offset,
        "per_channel": 1 if p.per_channel else 0,
        "activation_min": p.activation_min, "activation_max": p.activation_max,
        "folded_bias": folded,
    })
    ctx.declare(f"static const tg_per_channel_quant {ctx.name}_quant = {{{mult}, {shift}}};")
    ctx.emit(f"tg_fully_connected_s8(&{params}, &{ctx.name}_quant, {p.batches}, {p.accum_depth}, "
             f"{p.output_depth},")
    ctx.emit(f"    {ctx.act(p.input_index, const=True)}, {weights}, {bias},")
    ctx.emit(f"    {ctx.act(p.output_index)});")
