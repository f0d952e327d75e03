"""CONV_2D -> arm_convolve_wrapper_s8 (CMSIS-NN backend).

The wrapper picks, from the shapes, arm_convolve_1x1_s8_fast (1x1 kernel, no
padding, stride 1, dilation 1, ungrouped), arm_convolve_1x1_s8 (the same with
stride > 1), arm_convolve_1_x_n_s8 (input height 1, kernel height 1, dilation_w 1,
stride_w * in_c % 4 == 0) or arm_convolve_s8 (im2col; groups and dilation).
`kind()` mirrors that choice (arm_nn_is_convolve_1x1 / _1x1_fast / _1_x_n in
arm_nnsupportfunctions.h) and `scratch_bytes` mirrors
arm_convolve_wrapper_s8_get_buffer_size (arm_convolve_get_buffer_sizes_s8.c):

  1x1 (both)   0. (The DSP 1x1-fast size 2*in_c*2 applies to Arm Compiler 6 only;
               tinygen's projects build with GCC, for which it is 0.)
  1xN   mve    arm_convolve_1_x_n_s8_get_buffer_size_mve (padding-dependent, below)
  other mve    arm_convolve_s8_get_buffer_size_mve: 4 * roundup(in_c*kh*kw, 16)
  other dsp/c  arm_convolve_s8_get_buffer_size: 2 * roundup(in_c*kh*kw, 4) * sizeof(int16)

Calling arm_convolve_s8 directly for 1x1 layers instead of the 1x1 kernels was
measured slower on the emulated Cortex-M4 (KWS 7.70M -> 9.79M instructions with
the depthwise change below), so the wrapper's choice stands.

Running a one-input-channel convolution (KWS's first layer) as a depthwise layer
with depth multiplier out_c (arm_depthwise_conv_s8's multiplier-of-4 path) was
measured slower too (1.71M vs 1.12M instructions).

Filter zero point must be 0 (int8 weights are symmetric); otherwise the
portable kernel's refusal applies.
"""
from __future__ import annotations

from tinygen.codegen.backends.cmsis_nn import sources
from tinygen.codegen.backends.cmsis_nn.common import (activation, align, bias_array, check_scratch, context,
                                                      declare_dims, dims_init, nhwc, per_channel_quant,
                                                      planned_scratch, tile)
from tinygen.codegen.backends.portable import conv2d as portable
from tinygen.codegen.backends.portable.conv_common import conv_header

KERNELS = portable.KERNELS
IN_PLACE = False


PATHS = {"1x1_fast": "arm_convolve_1x1_s8_fast", "1x1": "arm_convolve_1x1_s8", "1xn": "arm_convolve_1_x_n_s8",
         "generic": "arm_convolve_s8"}


def kind(p) -> str:
    _, in_h, _, in_c = p.input_shape
    _, kh, kw, f_c = p.filter_shape
    if (p.pad_left == 0 and p.pad_top == 0 and kh == 1 and kw == 1 and p.dilation_w == 1 and p.dilation_h == 1
            and in_c == f_c):
        return "1x1_fast" if p.stride_w == 1 and p.stride_h == 1 else "1x1"
    if in_h == 1 and p.dilation_w == 1 and kh == 1 and (p.stride_w * in_c) % 4 == 0 and in_c == f_c:
        return "1xn"
    return "generic"


def _scratch_1xn_mve(p) -> int:
    """arm_convolve_1_x_n_s8_get_buffer_size_mve."""
    in_w, in_c = p.input_shape[2], p.input_shape[3]
    kw = p.filter_shape[2]
    out_w = p.output_shape[2]
    stride, pad = p.stride_w, p.pad_left
    total_pad = (out_w - 1) * stride + kw - in_w
    asym = total_pad % 2
    right_num = max(1, (pad + asym + stride - 1) // stride) if pad + asym != 0 else 0
    left_num = max(1, (pad + stride - 1) // stride) if pad != 0 else 0
    no_pad = max(out_w - (right_num + left_num), 0)
    if right_num + no_pad + left_num != out_w:
        return _scratch_generic(p, "mve")
    pad_left_size = pad * in_c
    pad_right_size = right_num * in_c if asym else pad_left_size
    left = kw * in_c
    right = left - in_c
    return max(left + pad_left_size, right + pad_right_size)


def _scratch_generic(p, arch: str) -> int:
    cols = p.input_shape[3] * p.filter_shape[1] * p.filter_shape[2]
    if arch == "mve":
        return 4 * align(cols, 16)
    return 2 * align(cols, 4) * 2


def buffer_size(p, arch: str) -> int:
    k = kind(p)
    if k in ("1x1_fast", "1x1"):
        return 0
    if k == "1xn" and arch == "mve":
        return _scratch_1xn_mve(p)
    return _scratch_generic(p, arch)


def scratch_bytes(graph, op, p, arch: str = "c") -> int:
    if p.filter_offset != 0:
        return 0
    return buffer_size(p, arch)


def overlap(graph, op, p, arch: str = "c"):
    """Output over the dying input (planner overlap), only where the kernel's order allows it.

    arm_convolve_s8 without MVE, ungrouped: output pixels in row-major order, two at a time,
    each pair's windows copied into the im2col buffer before the pair's outputs are written;
    windows move forward. So the portable kernels' bound (conv_common.window_overlap: each
    pixel written while its own window is still needed) is safe for it. Not for the 1x1 / 1xN
    kernels (arm_nn_mat_mult_nt_t_s8 runs output channels outermost and re-reads every input
    pixel for each), grouped convolutions (groups outermost) or the MVE paths (not analysed).
    """
    if arch == "mve" or p.filter_offset != 0 or p.groups != 1 or kind(p) != "generic":
        return None
    return portable.overlap(graph, op, p)


def emit_convolve(ctx, p, weights: str, filter_dims: str, arch: str, what: str = "CONV_2D") -> tuple[str, ...]:
    """The arm_convolve_wrapper_s8 call (also used for depthwise layers lowered as convolutions)."""
    n_out = p.output_shape[-1]
    bias = bias_array(ctx, p, n_out, what)
    quant = per_channel_quant(ctx, p)
    params = f"{ctx.name}_params"
    ctx.declare(f"static const cmsis_nn_conv_params {params} = {{")
    ctx.declare(f"    .input_offset = {p.input_offset}, .output_offset = {p.output_offset},")
    ctx.declare(f"    .stride = {tile(p.stride_w, p.stride_h)}, .padding = {tile(p.pad_left, p.pad_top)},")
    ctx.declare(f"    .dilation = {tile(p.dilation_w, p.dilation_h)}, .activation = {activation(p)},")
    ctx.declare("};")
    in_dims = declare_dims(ctx, "input_dims", nhwc(p.input_shape))
    bias_dims = declare_dims(ctx, "bias_dims", dims_init(1, 1, 1, n_out))
    out_dims = declare_dims(ctx, "output_dims", nhwc(p.output_shape))
    check_scratch(ctx, "arm_convolve_wrapper_s8_get_buffer_size",
                  [f"&{params}", f"&{in_dims}", f"&{filter_dims}", f"&{out_dims}"], planned_scratch(ctx))
    c = context(ctx)
    ctx.emit(f"(void)arm_convolve_wrapper_s8({c}, &{params}, &{quant},")
    ctx.emit(f"    &{in_dims}, {ctx.act(p.input_index, const=True)},")
    ctx.emit(f"    &{filter_dims}, {weights}, &{bias_dims}, {bias},")
    ctx.emit(f"    &{out_dims}, {ctx.act(p.output_index)});")
    return sources.CONVOLVE_WRAPPER_S8


def lower(ctx, op, p, arch: str = "c"):
    if p.filter_offset != 0:
        portable.lower(ctx, op, p)  # raises UnsupportedOpError, naming the op
        return ()
    w = ctx.tensor(p.filter_index)
    ctx.layer.header.append(conv_header(p))
    weights = ctx.const_array("weights", "int8_t", w.data,
                              f"CONV_2D weights {'x'.join(map(str, w.shape))} [out_c][kh][kw][in_c]")
    ctx.layer.header.append(f"arm_convolve_wrapper_s8 runs {PATHS[kind(p)]}")
    filter_dims = declare_dims(ctx, "filter_dims", nhwc(p.filter_shape))
    return emit_convolve(ctx, p, weights, filter_dims, arch)
