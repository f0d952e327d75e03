"""Shared formatting for CONV_2D and DEPTHWISE_CONV_2D lowerings (portable backend)."""
from __future__ import annotations


def conv_header(p) -> str:
    return (f"stride {p.stride_h}x{p.stride_w}, dilation {p.dilation_h}x{p.dilation_w}, padding {p.padding} "
            f"(top {p.pad_top}, left {p.pad_left}, bottom {p.pad_bottom}, right {p.pad_right}), "
            f"clamp [{p.activation_min}, {p.activation_max}]")


def conv_params_fields(p, depth_multiplier: int = 1) -> dict:
    return {
        "input_offset": p.input_offset,
        "output_offset": p.output_offset,
        "stride_h": p.stride_h, "stride_w": p.stride_w,
        "dilation_h": p.dilation_h, "dilation_w": p.dilation_w,
        "pad_top": p.pad_top, "pad_left": p.pad_left,
        "depth_multiplier": depth_multiplier,
        "activation_min": p.activation_min, "activation_max": p.activation_max,
    }


def lower_conv_like(ctx, op, p, kernel: str, weights_layout: str, depth_multiplier: int = 1) -> None:
    w = ctx.tensor(p.filter_index)
    weights = ctx.const_array("weights", "int8_t", w.data,
                              f"{op.type} weights {'x'.join(map(str, w.shape))} {weights_layout}")
    bias = "NULL"
    if p.bias_index >= 0:
        bias = ctx.const_array("bias", "int32_t", ctx.tensor(p.bias_index).data,
                               f"{op.type} bias [{p.output_shape[-1]}] int32")
    mult = ctx.const_array("multiplier", "int32_t", p.output_multiplier,
                           "Q0.31 requantization multiplier per output channel")
    shift = ctx.const_array("shift", "int32_t", p.output_shift,
                            "requantization shift per output channel (positive = left)")
    ctx.layer.header.append(conv_header(p))
    params = ctx.struct("tg_conv_params", "params", conv_params_fields(p, depth_multiplier))
    ctx.declare(f"static const tg_per_channel_quant {ctx.name}_quant = {{{mult}, {shift}}};")
    ctx.declare(f"static const tg_dims {ctx.name}_input_dims = {ctx.dims(p.input_shape)};")
    ctx.declare(f"static const tg_dims {ctx.name}_filter_dims = {ctx.dims(p.filter_shape)};")
    ctx.declare(f"static const tg_dims {ctx.name}_output_dims = {ctx.dims(p.output_shape)};")
    ctx.emit(f"{kernel}(&{params}, &{ctx.name}_quant,")
    ctx.emit(f"    &{ctx.name}_input_dims, {ctx.act(p.input_index, const=True)},")
    ctx.emit(f"    &{ctx.name}_filter_dims, {weights}, {bias},")
    ctx.emit(f"    &{ctx.name}_output_dims, {ctx.act(p.output_index)});")
