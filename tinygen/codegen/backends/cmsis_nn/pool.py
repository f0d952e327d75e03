"""AVERAGE_POOL_2D -> arm_avgpool_s8, MAX_POOL_2D -> arm_max_pool_s8 (CMSIS-NN backend).

arm_avgpool_s8 divides by the number of UNPADDED cells, rounding half away from
zero (as TFLM's reference). Scratch mirrors arm_avgpool_s8_get_buffer_size
(arm_avgpool_get_buffer_sizes_s8.c): DSP in_c * sizeof(int32) (a row of sums),
pure C and MVE 0. arm_max_pool_s8 needs none.
"""
from __future__ import annotations

from tinygen.codegen.backends.cmsis_nn import sources
from tinygen.codegen.backends.cmsis_nn.common import (activation, check_scratch, context, declare_dims, dims_init,
                                                      nhwc, planned_scratch, tile)

KERNELS = ()
IN_PLACE = False


def scratch_bytes(graph, op, p, arch: str = "c") -> int:
    if op.type == "AVERAGE_POOL_2D" and arch == "dsp":
        return int(p.input_shape[-1]) * 4
    return 0


def lower(ctx, op, p, arch: str = "c"):
    avg = op.type == "AVERAGE_POOL_2D"
    fn = "arm_avgpool_s8" if avg else "arm_max_pool_s8"
    ctx.layer.header.append(f"window {p.filter_h}x{p.filter_w}, stride {p.stride_h}x{p.stride_w}, "
                            f"padding {p.padding} (top {p.pad_top}, left {p.pad_left}), "
                            f"clamp [{p.activation_min}, {p.activation_max}]")
    params = f"{ctx.name}_params"
    ctx.declare(f"static const cmsis_nn_pool_params {params} = {{")
    ctx.declare(f"    .stride = {tile(p.stride_w, p.stride_h)}, .padding = {tile(p.pad_left, p.pad_top)},")
    ctx.declare(f"    .activation = {activation(p)},")
    ctx.declare("};")
    in_dims = declare_dims(ctx, "input_dims", nhwc(p.input_shape))
    filter_dims = declare_dims(ctx, "filter_dims", dims_init(1, p.filter_h, p.filter_w, 1))
    out_dims = declare_dims(ctx, "output_dims", nhwc(p.output_shape))
    if avg:
        check_scratch(ctx, "arm_avgpool_s8_get_buffer_size", [str(int(p.output_shape[2])), str(int(p.input_shape[-1]))],
                      planned_scratch(ctx))
    c = context(ctx)
    ctx.emit(f"(void){fn}({c}, &{params}, &{in_dims}, {ctx.act(p.input_index, const=True)},")
    ctx.emit(f"    &{filter_dims}, &{out_dims}, {ctx.act(p.output_index)});")
    return sources.AVGPOOL_S8 if avg else sources.MAX_POOL_S8

