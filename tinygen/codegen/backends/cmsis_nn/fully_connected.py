"""FULLY_CONNECTED -> arm_fully_connected_s8 (per-tensor) or
arm_fully_connected_per_channel_s8 (per-channel) (CMSIS-NN backend).

Dims follow CMSIS-NN's FC convention: input {batches, 1, 1, accum_depth},
filter {accum_depth, 1, 1, output_depth} (filter .n is the accumulation depth),
output {batches, 1, 1, output_depth}.

Scratch: arm_fully_connected_s8_get_buffer_size is 0 except on MVE, where it is
output_depth * sizeof(int32) and the caller must fill it with the "kernel sums"
(arm_vector_sum_s8: bias[r] + input_offset * (sum_c w[r][c] + accum_depth *
filter_offset)) before the call. Those depend on weights and offsets only, so
tinygen computes them here, once, and passes the constant array as the
context buffer: no arena scratch and no per-inference pass over the weights.

A non-zero filter zero point falls back to the portable kernel (CMSIS-NN's s8
FC kernels assume symmetric weights before release 6.0).
"""
from __future__ import annotations

import numpy as np

from tinygen.codegen.backends.cmsis_nn import sources
from tinygen.codegen.backends.cmsis_nn.common import activation, bias_array, check_scratch, declare_dims, dims_init
from tinygen.codegen.backends.portable import fully_connected as portable

KERNELS = portable.KERNELS
IN_PLACE = False


def kernel_sums(weights: np.ndarray, bias: np.ndarray | None, input_offset: int, filter_offset: int) -> np.ndarray:
    """What arm_vector_sum_s8 computes into the MVE FC context buffer (int32, wrapping as in C)."""
    w = np.asarray(weights, dtype=np.int64).reshape(weights.shape[0], -1)
    cols = w.shape[1]
    sums = w.sum(axis=1) + cols * int(filter_offset)
    out = sums * int(input_offset)
    if bias is not None:
        out = out + np.asarray(bias, dtype=np.int64).reshape(-1)
    return ((out + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def scratch_bytes(graph, op, p, arch: str = "c") -> int:
    return 0  # MVE kernel sums are constant data (see above)


def lower(ctx, op, p, arch: str = "c"):
    if p.filter_offset != 0:
        portable.lower(ctx, op, p)
        ctx.layer.header.append("filter zero point != 0: portable kernel")
        return ()
    w = ctx.tensor(p.filter_index)
    weights = ctx.const_array("weights", "int8_t", w.data,
                              f"FULLY_CONNECTED weights {p.output_depth}x{p.accum_depth} [out][in]")
    bias = bias_array(ctx, p, p.output_depth, "FULLY_CONNECTED")
    ctx.layer.header.append(f"{p.batches} x ({p.accum_depth} -> {p.output_depth}), "
                            f"clamp [{p.activation_min}, {p.activation_max}]")
    params = f"{ctx.name}_params"
    ctx.declare(f"static const cmsis_nn_fc_params {params} = {{")
    ctx.declare(f"    .input_offset = {p.input_offset}, .filter_offset = {p.filter_offset}, "
                f".output_offset = {p.output_offset},")
    ctx.declare(f"    .activation = {activation(p)},")
    ctx.declare("};")
    if p.per_channel:
        mult = ctx.const_array("multiplier", "int32_t", p.output_multiplier,
                               "Q0.31 requantization multiplier per output unit")
        shift = ctx.const_array("shift", "int32_t", p.output_shift,
                                "requantization shift per output unit (positive = left)")
        quant = f"{ctx.name}_quant"
        ctx.declare(f"static const cmsis_nn_per_channel_quant_params {quant} = "
                    f"{{.multiplier = (int32_t *){mult}, .shift = (int32_t *){shift}}};")
        fn, files = "arm_fully_connected_per_channel_s8", sources.FULLY_CONNECTED_PER_CHANNEL_S8
    else:
        quant = f"{ctx.name}_quant"
        ctx.declare(f"static const cmsis_nn_per_tensor_quant_params {quant} = "
                    f"{{.multiplier = {int(p.output_multiplier[0])}, .shift = {int(p.output_shift[0])}}};")
        fn, files = "arm_fully_connected_s8", sources.FULLY_CONNECTED_S8
    in_dims = declare_dims(ctx, "input_dims", dims_init(p.batches, 1, 1, p.accum_depth))
    filter_dims = declare_dims(ctx, "filter_dims", dims_init(p.accum_depth, 1, 1, p.output_depth))
    bias_dims = declare_dims(ctx, "bias_dims", dims_init(1, 1, 1, p.output_depth))
    out_dims = declare_dims(ctx, "output_dims", dims_init(p.batches, 1, 1, p.output_depth))
    check_scratch(ctx, "arm_fully_connected_s8_get_buffer_size", [f"&{filter_dims}"],
                  4 * p.output_depth if arch == "mve" else 0)
    if arch == "mve":
        b = ctx.tensor(p.bias_index).data if p.bias_index >= 0 else None
        sums = ctx.const_array("kernel_sums", "int32_t",
                               kernel_sums(np.asarray(w.data), b, p.input_offset, p.filter_offset),
                               "bias + input_offset * row sums of the weights (arm_vector_sum_s8, MVE context)")
        ctx.emit(f"const cmsis_nn_context context = {{.buf = (void *){sums}, .size = {4 * p.output_depth}}};")
    else:
        ctx.emit("const cmsis_nn_context context = {.buf = NULL, .size = 0};")
    ctx.emit(f"(void){fn}(&context, &{params}, &{quant},")
    ctx.emit(f"    &{in_dims}, {ctx.act(p.input_index, const=True)},")
    ctx.emit(f"    &{filter_dims}, {weights}, &{bias_dims}, {bias},")
    ctx.emit(f"    &{out_dims}, {ctx.act(p.output_index)});")
    return files
