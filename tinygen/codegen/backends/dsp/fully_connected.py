"""FULLY_CONNECTED -> tg_dsp_gemm_row_s8 per batch row (dsp backend).

Taken: filter zero point 0, accum_depth % 4 == 0, int8 in/out, requantization the
dsp kernels can do exactly (per tensor or per channel; common.layer_quant), folded
bias inside int32. Each input row is widened to int16 pairs in 2 * accum_depth bytes of scratch.
Anything else: the portable module.
"""
from __future__ import annotations

import numpy as np

from tinygen.codegen.backends.dsp import common
from tinygen.codegen.backends.portable import fully_connected as portable
from tinygen.codegen.backends.portable.fully_connected import overlap  # noqa: F401

KERNELS = portable.KERNELS
IN_PLACE = False
SOURCES = ("tg_dsp_gemm_s8.c",)


def _bias(graph, p):
    w = np.asarray(graph.tensors[p.filter_index].data, dtype=np.int64).reshape(p.output_depth, -1)
    b = graph.tensors[p.bias_index].data if p.bias_index >= 0 else None
    return common.padded_bias(b, w.sum(axis=1), p.input_offset, -(-p.output_depth // 4) * 4)


def taken(graph, p) -> bool:
    return (p.filter_offset == 0 and p.accum_depth % 4 == 0 and graph.tensors[p.input_index].dtype == "int8"
            and graph.tensors[p.output_index].dtype == "int8" and _quant(graph, p) is not None)


def _quant(graph, p):
    w = np.asarray(graph.tensors[p.filter_index].data, dtype=np.int64).reshape(p.output_depth, -1)
    return common.layer_quant(p, _bias(graph, p), w, p.output_depth)


def scratch_bytes(graph, op, p) -> int:
    """One input row widened to int16 pairs."""
    return 2 * p.accum_depth if taken(graph, p) else 0


def lower(ctx, op, p):
    if not taken(ctx.graph, p):
        portable.lower(ctx, op, p)
        return ()
    w = np.asarray(ctx.tensor(p.filter_index).data, dtype=np.int64).reshape(p.output_depth, -1)
    words, o4, k4 = common.gemm_weights(w)
    weights = ctx.const_array("weights", "int32_t", words,
                              f"FULLY_CONNECTED weights {p.output_depth}x{p.accum_depth} as int16 pairs "
                              f"[{o4 // 4}][{k4 // 4}][4][(k0,k2),(k1,k3)]")
    bias = ctx.const_array("bias", "int32_t", _bias(ctx.graph, p),
                           "bias + input_offset * sum of the weight row (padded to 4)")
    words, mixed = _quant(ctx.graph, p)
    quant = common.quant_array(ctx, words, mixed, "output")
    ctx.layer.header.append(f"{p.batches} x ({p.accum_depth} -> {p.output_depth}), "
                            f"clamp [{p.activation_min}, {p.activation_max}]")
    ctx.declare(f"static const tg_dsp_gemm {ctx.name}_gemm = {{")
    ctx.declare(f"    .k = {k4}, .out_c = {p.output_depth}, .act_min = {p.activation_min}, "
                f".act_max = {p.activation_max},")
    ctx.declare(f"    .mode = {common.mode(p, mixed)}, .output_offset = {p.output_offset},")
    ctx.declare(f"    .weights = {weights}, .bias = {bias}, .quant = (const tg_dsp_requant *){quant},")
    ctx.declare("};")
    in_ptr, out_ptr = ctx.act(p.input_index, const=True), ctx.act(p.output_index)
    if p.batches == 1:
        ctx.emit(f"tg_dsp_gemm_row_s8(&{ctx.name}_gemm, {in_ptr}, (int32_t *){ctx.scratch()}, {out_ptr});")
    else:
        ctx.emit(f"for (int32_t b = 0; b < {p.batches}; ++b) {{")
        ctx.emit(f"    tg_dsp_gemm_row_s8(&{ctx.name}_gemm, {in_ptr} + b * {p.accum_depth}, "
                 f"(int32_t *){ctx.scratch()}, {out_ptr} + b * {p.output_depth});")
        ctx.emit("}")
    return SOURCES
