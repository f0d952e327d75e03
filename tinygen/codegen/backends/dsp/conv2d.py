"""CONV_2D -> tg_dsp_conv2d_s8 (dsp backend).

Taken: ungrouped, dilation 1, filter zero point 0, int8 in/out, requantization the
dsp kernels can do exactly (common.layer_quant: right shifts only, accumulator bound
checked), folded bias inside int32. The weights
become [out_c][kh*kw*in_c] rows (the im2col order), padded to multiples of 4 and
pre-paired (common.gemm_weights). A 1x1 unpadded layer with in_c % 4 == 0 reads
its input rows directly; any other copies each window (padding = the input zero
point, so the folded bias is exact everywhere) into kh*kw*in_c (rounded up to 4)
bytes of scratch; either way the row is widened to int16 pairs (2 bytes per input of
scratch) before the multiply-accumulate loop. Anything else: the portable module.
"""
from __future__ import annotations

import numpy as np

from tinygen.codegen.backends.dsp import common
from tinygen.codegen.backends.portable import conv2d as portable
from tinygen.codegen.backends.portable.conv_common import conv_header, overlap  # noqa: F401

KERNELS = portable.KERNELS
IN_PLACE = False
SOURCES = ("tg_dsp_gemm_s8.c",)


def _int8(graph, p) -> bool:
    return graph.tensors[p.input_index].dtype == "int8" and graph.tensors[p.output_index].dtype == "int8"


def taken(graph, p) -> bool:
    return (p.filter_offset == 0 and p.groups == 1 and p.dilation_h == 1 and p.dilation_w == 1
            and p.input_shape[3] == p.filter_shape[3] and _int8(graph, p) and _quant(graph, p) is not None)


def _quant(graph, p):
    w = np.asarray(graph.tensors[p.filter_index].data, dtype=np.int64)
    return common.layer_quant(p, _bias(graph, p), w.reshape(w.shape[0], -1), p.output_shape[3])


def direct(p) -> bool:
    return (p.filter_shape[1] == 1 and p.filter_shape[2] == 1 and p.pad_top == 0 and p.pad_left == 0
            and p.input_shape[3] % 4 == 0)


def _bias(graph, p):
    w = np.asarray(graph.tensors[p.filter_index].data, dtype=np.int64)
    b = graph.tensors[p.bias_index].data if p.bias_index >= 0 else None
    n4 = -(-p.output_shape[3] // 4) * 4
    return common.padded_bias(b, w.reshape(w.shape[0], -1).sum(axis=1), p.input_offset, n4)


def scratch_bytes(graph, op, p) -> int:
    """The widened row (2 bytes per input), then the im2col window (1 byte per input)."""
    if not taken(graph, p):
        return 0
    k4 = -(-(p.filter_shape[1] * p.filter_shape[2] * p.filter_shape[3]) // 4) * 4
    return 2 * k4 + (0 if direct(p) else k4)


def lower(ctx, op, p):
    if not taken(ctx.graph, p):
        portable.lower(ctx, op, p)
        return ()
    w = np.asarray(ctx.tensor(p.filter_index).data, dtype=np.int64)
    out_c = p.output_shape[3]
    words, o4, k4 = common.gemm_weights(w.reshape(out_c, -1))
    _, kh, kw, in_c = p.filter_shape
    weights = ctx.const_array("weights", "int32_t", words,
                              f"CONV_2D weights {out_c}x{kh}x{kw}x{in_c} as int16 pairs "
                              f"[{o4 // 4}][{k4 // 4}][4][(k0,k2),(k1,k3)]")
    bias = ctx.const_array("bias", "int32_t", _bias(ctx.graph, p),
                           "bias + input_offset * sum of the filter, per output channel (padded to 4)")
    words, mixed = _quant(ctx.graph, p)
    quant = common.quant_array(ctx, words, mixed, "output channel")
    ctx.layer.header.append(conv_header(p))
    is_direct = direct(p)
    ctx.layer.header.append("1x1: each input pixel widened to int16 pairs in scratch" if is_direct else
                            f"im2col window of {kh * kw * in_c} bytes (+{k4 - kh * kw * in_c} zero) in scratch, "
                            "widened to int16 pairs")
    ctx.declare(f"static const tg_dsp_gemm {ctx.name}_gemm = {{")
    ctx.declare(f"    .k = {k4}, .out_c = {out_c}, .act_min = {p.activation_min}, .act_max = {p.activation_max},")
    ctx.declare(f"    .mode = {common.mode(p, mixed)}, .output_offset = {p.output_offset},")
    ctx.declare(f"    .weights = {weights}, .bias = {bias}, .quant = (const tg_dsp_requant *){quant},")
    ctx.declare("};")
    _, in_h, in_w, _ = p.input_shape
    _, out_h, out_w, _ = p.output_shape
    ctx.declare(f"static const tg_dsp_conv_shape {ctx.name}_shape = {{")
    ctx.declare(f"    .in_h = {in_h}, .in_w = {in_w}, .in_c = {in_c}, .k_h = {kh}, .k_w = {kw},")
    ctx.declare(f"    .out_h = {out_h}, .out_w = {out_w}, .stride_h = {p.stride_h}, .stride_w = {p.stride_w},")
    ctx.declare(f"    .pad_top = {p.pad_top}, .pad_left = {p.pad_left}, .pad_value = {-p.input_offset}, "
                f".direct = {1 if is_direct else 0},")
    ctx.declare("};")
    scratch = f"(int32_t *){ctx.scratch()}"
    n = p.input_shape[0]
    in_ptr, out_ptr = ctx.act(p.input_index, const=True), ctx.act(p.output_index)
    if n == 1:
        ctx.emit(f"tg_dsp_conv2d_s8(&{ctx.name}_shape, &{ctx.name}_gemm, {in_ptr}, {scratch}, {out_ptr});")
    else:
        ctx.emit(f"for (int32_t b = 0; b < {n}; ++b) {{")
        ctx.emit(f"    tg_dsp_conv2d_s8(&{ctx.name}_shape, &{ctx.name}_gemm, {in_ptr} + b * {in_h * in_w * in_c}, "
                 f"{scratch}, {out_ptr} + b * {out_h * out_w * out_c});")
        ctx.emit("}")
    return SOURCES
