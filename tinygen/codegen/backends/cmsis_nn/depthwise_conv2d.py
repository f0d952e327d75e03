"""DEPTHWISE_CONV_2D -> arm_depthwise_conv_wrapper_s8 (CMSIS-NN backend).

The wrapper (arm_depthwise_conv_wrapper_s8.c) picks, for depth multiplier 1,
batch 1 and no dilation: arm_depthwise_conv_3x3_s8 (3x3 kernel, padding <= 1;
not on MVE) or arm_depthwise_conv_s8_opt; otherwise arm_depthwise_conv_s8. On
MVE a depthwise layer with ONE input channel (and more than
CONVERT_DW_CONV_WITH_ONE_INPUT_CH_AND_OUTPUT_CH_ABOVE_THRESHOLD = 1 output
channels with GCC) is a plain convolution: the wrapper would transpose the
weights into scratch on every run; tinygen transposes them once, here, and calls
arm_convolve_wrapper_s8 directly (same kernel, same arithmetic, no scratch for
weights).

`scratch_bytes` mirrors arm_depthwise_conv_wrapper_s8_get_buffer_size
(arm_depthwise_conv_get_buffer_sizes_s8.c):
  depth multiplier 1, batch 1, no dilation:
    3x3 kernel, padding <= 1, not MVE    0
    dsp  arm_depthwise_conv_s8_opt_get_buffer_size_dsp: in_c * kh * kw * sizeof(int16)
    mve  arm_depthwise_conv_s8_opt_get_buffer_size_mve: 4 * CH_IN_BLOCK_MVE(124) * kh * kw
    c    0
  otherwise                               0
(arm_depthwise_conv_s8_opt in place of the 3x3 kernel was measured slower on the
emulated Cortex-M4: 905k vs 561k instructions per KWS depthwise layer.)
"""
from __future__ import annotations

import dataclasses

import numpy as np

from tinygen.codegen.backends.cmsis_nn import conv2d, sources
from tinygen.codegen.backends.cmsis_nn.common import (activation, bias_array, check_scratch, context, declare_dims,
                                                      dims_init, nhwc, per_channel_quant, planned_scratch, tile)
from tinygen.codegen.backends.portable import depthwise_conv2d as portable
from tinygen.codegen.backends.portable.conv_common import conv_header

KERNELS = portable.KERNELS
IN_PLACE = False
CH_IN_BLOCK_MVE = 124


def _as_conv(p):
    """The depthwise layer with one input channel as CONV_2D params (filter [out_c][kh][kw][1])."""
    _, kh, kw, out_c = p.filter_shape
    return dataclasses.replace(p, filter_shape=(out_c, kh, kw, 1))


def converts_to_conv(p, arch: str) -> bool:
    return arch == "mve" and p.input_shape[3] == 1 and p.output_shape[3] > 1


def kind(p, arch: str) -> str:
    if converts_to_conv(p, arch):
        return "conv"
    if p.depth_multiplier == 1 and p.input_shape[0] == 1 and p.dilation_w == 1 and p.dilation_h == 1:
        _, kh, kw, _ = p.filter_shape
        if arch != "mve" and kh == 3 and kw == 3 and p.pad_top <= 1 and p.pad_left <= 1:
            return "3x3"
        return "opt"
    return "generic"


PATHS = {"3x3": "arm_depthwise_conv_3x3_s8", "opt": "arm_depthwise_conv_s8_opt", "generic": "arm_depthwise_conv_s8"}


def scratch_bytes(graph, op, p, arch: str = "c") -> int:
    if p.filter_offset != 0:
        return 0
    k = kind(p, arch)
    if k == "conv":
        return conv2d.buffer_size(_as_conv(p), arch)
    if k == "opt":
        _, kh, kw, _ = p.filter_shape
        if arch == "dsp":
            return p.input_shape[3] * kh * kw * 2
        if arch == "mve":
            return 4 * CH_IN_BLOCK_MVE * kh * kw
    return 0


def overlap(graph, op, p, arch: str = "c"):
    """Output over the dying input (planner overlap), only where the kernel's order allows it.

    Depth multiplier 1 without MVE: arm_depthwise_conv_3x3_s8, arm_depthwise_conv_s8_opt (DSP:
    the whole window of a pixel is copied to the int16 buffer before its channels are written)
    and arm_depthwise_conv_s8's generic loop (pure C) all produce output pixels in row-major
    order, reading each window before writing that pixel's channels: the portable kernels'
    bound (conv_common.window_overlap) holds. Not on MVE (the opt kernel runs blocks of 124
    channels outermost) nor for other depth multipliers (a separate loop order).
    """
    if arch == "mve" or p.filter_offset != 0 or p.depth_multiplier != 1:
        return None
    return portable.overlap(graph, op, p)


def lower(ctx, op, p, arch: str = "c"):
    if p.filter_offset != 0:
        portable.lower(ctx, op, p)  # raises UnsupportedOpError, naming the op
        return ()
    w = ctx.tensor(p.filter_index)
    ctx.layer.header.append(conv_header(p) + f", depth multiplier {p.depth_multiplier}")
    k = kind(p, arch)
    if k == "conv":
        cp = _as_conv(p)
        data = np.transpose(np.asarray(w.data).reshape(w.shape), (3, 1, 2, 0))
        weights = ctx.const_array("weights", "int8_t", data,
                                  f"DEPTHWISE_CONV_2D weights as a convolution's {'x'.join(map(str, cp.filter_shape))} "
                                  "[out_c][kh][kw][1] (transposed at generation time)")
        ctx.layer.header.append("one input channel: runs as a convolution, arm_convolve_wrapper_s8 "
                                f"({conv2d.PATHS[conv2d.kind(cp)]})")
        filter_dims = declare_dims(ctx, "filter_dims", nhwc(cp.filter_shape))
        return conv2d.emit_convolve(ctx, cp, weights, filter_dims, arch, what="DEPTHWISE_CONV_2D")
    weights = ctx.const_array("weights", "int8_t", w.data,
                              f"DEPTHWISE_CONV_2D weights {'x'.join(map(str, w.shape))} [1][kh][kw][out_c]")
    return emit_depthwise(ctx, p, weights, arch)


def emit_depthwise(ctx, p, weights: str, arch: str, what: str = "DEPTHWISE_CONV_2D") -> tuple[str, ...]:
    """The arm_depthwise_conv_wrapper_s8 call (also used for one-input-channel convolutions)."""
    ctx.layer.header.append(f"arm_depthwise_conv_wrapper_s8 runs {PATHS[kind(p, arch)]}")
    n_out = p.output_shape[-1]
    bias = bias_array(ctx, p, n_out, what)
    quant = per_channel_quant(ctx, p)
    params = f"{ctx.name}_params"
    ctx.declare(f"static const cmsis_nn_dw_conv_params {params} = {{")
    ctx.declare(f"    .input_offset = {p.input_offset}, .output_offset = {p.output_offset}, "
                f".ch_mult = {p.depth_multiplier},")
    ctx.declare(f"    .stride = {tile(p.stride_w, p.stride_h)}, .padding = {tile(p.pad_left, p.pad_top)},")
    ctx.declare(f"    .dilation = {tile(p.dilation_w, p.dilation_h)}, .activation = {activation(p)},")
    ctx.declare("};")
    in_dims = declare_dims(ctx, "input_dims", nhwc(p.input_shape))
    filter_dims = declare_dims(ctx, "filter_dims", nhwc(p.filter_shape))
    bias_dims = declare_dims(ctx, "bias_dims", dims_init(1, 1, 1, n_out))
    out_dims = declare_dims(ctx, "output_dims", nhwc(p.output_shape))
    check_scratch(ctx, "arm_depthwise_conv_wrapper_s8_get_buffer_size",
                  [f"&{params}", f"&{in_dims}", f"&{filter_dims}", f"&{out_dims}"], planned_scratch(ctx))
    c = context(ctx)
    ctx.emit(f"(void)arm_depthwise_conv_wrapper_s8({c}, &{params}, &{quant},")
    ctx.emit(f"    &{in_dims}, {ctx.act(p.input_index, const=True)},")
    ctx.emit(f"    &{filter_dims}, {weights}, &{bias_dims}, {bias},")
    ctx.emit(f"    &{out_dims}, {ctx.act(p.output_index)});")
    return sources.DEPTHWISE_CONV_WRAPPER_S8
