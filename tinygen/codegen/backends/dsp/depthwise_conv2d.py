"""DEPTHWISE_CONV_2D -> tg_dsp_depthwise_conv2d_s8 (dsp backend).

Taken: depth multiplier 1 with channels % 4 == 0, batch 1, dilation 1, filter zero
point 0, int8 in/out, requantization the dsp kernels can do exactly (common.layer_quant),
folded bias inside int32. Weights become int16 pairs [c/4][kh*kw][(c0,c2),(c1,c3)].
Windows reaching into the padding are copied to kh*kw*c bytes of scratch first.
Anything else: the portable module.
"""
from __future__ import annotations

import numpy as np

from tinygen.codegen.backends.dsp import common
from tinygen.codegen.backends.portable import depthwise_conv2d as portable
from tinygen.codegen.backends.portable.conv_common import conv_header, overlap  # noqa: F401

KERNELS = portable.KERNELS
IN_PLACE = False
SOURCES = ("tg_dsp_depthwise_conv2d_s8.c",)


def _w2d(graph, p) -> np.ndarray:
    """[c][kh*kw] int64."""
    w = np.asarray(graph.tensors[p.filter_index].data, dtype=np.int64)
    return w.reshape(-1, w.shape[-1]).T


def _bias(graph, p):
    b = graph.tensors[p.bias_index].data if p.bias_index >= 0 else None
    return common.padded_bias(b, _w2d(graph, p).sum(axis=1), p.input_offset, p.output_shape[3])


def _quant(graph, p):
    return common.layer_quant(p, _bias(graph, p), _w2d(graph, p), p.output_shape[3])


def taken(graph, p) -> bool:
    c = p.output_shape[3]
    return (p.filter_offset == 0 and p.depth_multiplier == 1 and p.input_shape[3] == c and c % 4 == 0
            and p.dilation_h == 1 and p.dilation_w == 1 and p.input_shape[0] == 1
            and graph.tensors[p.input_index].dtype == "int8" and graph.tensors[p.output_index].dtype == "int8"
            and _quant(graph, p) is not None)


def _padded(p) -> bool:
    return max(p.pad_top, p.pad_left, p.pad_bottom, p.pad_right) > 0


def scratch_bytes(graph, op, p) -> int:
    if not taken(graph, p) or not _padded(p):
        return 0
    return p.filter_shape[1] * p.filter_shape[2] * p.output_shape[3]


def lower(ctx, op, p):
    if not taken(ctx.graph, p):
        portable.lower(ctx, op, p)
        return ()
    w = ctx.tensor(p.filter_index).data
    _, kh, kw, c = w.shape
    weights = ctx.const_array("weights", "int32_t", common.depthwise_weights(w),
                              f"DEPTHWISE_CONV_2D weights {kh}x{kw}x{c} as int16 pairs "
                              f"[{c // 4}][{kh * kw}][(c0,c2),(c1,c3)]")
    bias = ctx.const_array("bias", "int32_t", _bias(ctx.graph, p),
                           "bias + input_offset * sum of the filter, per channel")
    words, mixed = _quant(ctx.graph, p)
    quant = common.quant_array(ctx, words, mixed, "channel")
    ctx.layer.header.append(conv_header(p))
    if _padded(p):
        ctx.layer.header.append(f"windows reaching into the padding: copied to {kh * kw * c} bytes of scratch")
    _, in_h, in_w, _ = p.input_shape
    _, out_h, out_w, _ = p.output_shape
    ctx.declare(f"static const tg_dsp_depthwise {ctx.name}_params = {{")
    ctx.declare(f"    .in_h = {in_h}, .in_w = {in_w}, .c = {c}, .k_h = {kh}, .k_w = {kw}, "
                f".out_h = {out_h}, .out_w = {out_w},")
    ctx.declare(f"    .stride_h = {p.stride_h}, .stride_w = {p.stride_w}, .pad_top = {p.pad_top}, "
                f".pad_left = {p.pad_left}, .pad_value = {-p.input_offset},")
    ctx.declare(f"    .act_min = {p.activation_min}, .act_max = {p.activation_max}, .mode = {common.mode(p, mixed)}, "
                f".output_offset = {p.output_offset},")
    ctx.declare(f"    .weights = {weights}, .bias = {bias}, .quant = (const tg_dsp_requant *){quant},")
    ctx.declare("};")
    scratch = f"(int8_t *){ctx.scratch()}" if _padded(p) else "NULL"
    ctx.emit(f"tg_dsp_depthwise_conv2d_s8(&{ctx.name}_params, {ctx.act(p.input_index, const=True)}, {scratch},")
    ctx.emit(f"    {ctx.act(p.output_index)});")
    return SOURCES
