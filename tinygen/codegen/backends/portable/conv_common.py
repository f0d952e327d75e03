"""Shared formatting for CONV_2D and DEPTHWISE_CONV_2D lowerings (portable backend)."""
from __future__ import annotations

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def folded_bias(bias: np.ndarray | None, filter_sums: np.ndarray, input_offset: int) -> np.ndarray | None:
    """bias + input_offset * sum(filter) per output channel (None if it does not fit int32)."""
    b = np.zeros(filter_sums.shape, np.int64) if bias is None else np.asarray(bias, np.int64).reshape(-1)
    folded = b + int(input_offset) * filter_sums.astype(np.int64)
    if folded.size and (folded.min() < INT32_MIN or folded.max() > INT32_MAX):
        return None
    return folded.astype(np.int32)


def window_overlap(input_shape, output_shape, k_h: int, k_w: int, stride_h: int, stride_w: int, pad_top: int,
                   pad_left: int, dil_h: int = 1, dil_w: int = 1) -> int:
    """For a kernel that computes output pixels in row-major order, each from a window of
    input pixels, and writes a pixel's channels only while that pixel's window is still
    needed: the smallest D such that the output may start D bytes below the input's start
    (int8 in and out) without any write landing on input bytes still to be read.

    Pixel p's writes end at out + (p+1)*C_out; from then on (and while computing p) the
    kernel reads nothing below in + m(p), the first byte of p's window (windows move
    forward through the input). So D = max over p of ((p+1)*C_out - min_{q>=p} m(q)).
    """
    n, h, w, c_in = (int(v) for v in input_shape)
    _, oh, ow, c_out = (int(v) for v in output_shape)
    oy, ox = np.arange(oh, dtype=np.int64), np.arange(ow, dtype=np.int64)
    iy0 = oy * stride_h - pad_top
    ix0 = ox * stride_w - pad_left
    ky_lo = np.where(iy0 < 0, (-iy0 + dil_h - 1) // dil_h, 0)
    kx_lo = np.where(ix0 < 0, (-ix0 + dil_w - 1) // dil_w, 0)
    row = np.minimum(iy0 + ky_lo * dil_h, h)
    col = np.minimum(ix0 + kx_lo * dil_w, w)
    m = (np.arange(n, dtype=np.int64)[:, None, None] * (h * w * c_in)
         + (row[None, :, None] * w + col[None, None, :]) * c_in).reshape(-1)
    m = np.minimum.accumulate(m[::-1])[::-1]  # the lowest byte any later pixel still reads
    ends = (np.arange(m.size, dtype=np.int64) + 1) * c_out
    return int((ends - m).max())


def overlap(graph, op, p):
    """CONV_2D / DEPTHWISE_CONV_2D (portable kernels): see window_overlap."""
    if graph.tensors[p.input_index].dtype != "int8" or graph.tensors[p.output_index].dtype != "int8":
        return None
    kh = p.filter_shape[1]
    kw = p.filter_shape[2]
    return p.input_index, window_overlap(p.input_shape, p.output_shape, kh, kw, p.stride_h, p.stride_w,
                                         p.pad_top, p.pad_left, p.dilation_h, p.dilation_w)


def conv_header(p) -> str:
    return (f"stride {p.stride_h}x{p.stride_w}, dilation {p.dilation_h}x{p.dilation_w}, padding {p.padding} "
            f"(top {p.pad_top}, left {p.pad_left}, bottom {p.pad_bottom}, right {p.pad_right}), "
            f"clamp [{p.activation_min}, {p.activation_max}]")


def conv_params_fields(p, depth_multiplier: int = 1, folded: str = "NULL") -> dict:
    return {
        "input_offset": p.input_offset,
        "output_offset": p.output_offset,
        "stride_h": p.stride_h, "stride_w": p.stride_w,
        "dilation_h": p.dilation_h, "dilation_w": p.dilation_w,
        "pad_top": p.pad_top, "pad_left": p.pad_left,
        "depth_multiplier": depth_multiplier,
        "activation_min": p.activation_min, "activation_max": p.activation_max,
        "folded_bias": folded,
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
    axes = (0, 1, 2) if op.type == "DEPTHWISE_CONV_2D" else (1, 2, 3)
    fb = folded_bias(ctx.tensor(p.bias_index).data if p.bias_index >= 0 else None,
                     np.asarray(w.data, np.int64).sum(axis=axes), p.input_offset)
    folded = "NULL"
    if fb is not None:
        folded = ctx.const_array("folded_bias", "int32_t", fb,
                                 "bias + input_offset * sum of the filter, per output channel "
                                 "(windows wholly inside the input)")
    ctx.layer.header.append(conv_header(p))
    params = ctx.struct("tg_conv_params", "params", conv_params_fields(p, depth_multiplier, folded))
    ctx.declare(f"static const tg_per_channel_quant {ctx.name}_quant = {{{mult}, {shift}}};")
    ctx.declare(f"static const tg_dims {ctx.name}_input_dims = {ctx.dims(p.input_shape)};")
    ctx.declare(f"static const tg_dims {ctx.name}_filter_dims = {ctx.dims(p.filter_shape)};")
    ctx.declare(f"static const tg_dims {ctx.name}_output_dims = {ctx.dims(p.output_shape)};")
    ctx.emit(f"{kernel}(&{params}, &{ctx.name}_quant,")
    ctx.emit(f"    &{ctx.name}_input_dims, {ctx.act(p.input_index, const=True)},")
    ctx.emit(f"    &{ctx.name}_filter_dims, {weights}, {bias},")
    ctx.emit(f"    &{ctx.name}_output_dims, {ctx.act(p.output_index)});")
