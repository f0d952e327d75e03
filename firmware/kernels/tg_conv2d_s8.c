/*
 * tg_conv2d_s8.c - CONV_2D, int8 activations and weights, int32 bias,
 * per-output-channel requantization.
 *
 * out[y][x][o] = clamp(requant(bias[o] + sum_{ky,kx,i} f[o][ky][kx][i] * (in[..][i] + input_offset))
 *                      + output_offset)
 * Cells of the window outside the input (padding) contribute nothing.
 *
 * Fast path (no groups, no dilation): the window cells inside the input form
 * rows of contiguous bytes in both input and filter; four output channels share
 * every input load. Where the window lies wholly inside the input,
 * input_offset * sum(filter) is already in folded_bias.
 */
#include "tg_kernels.h"

#include <stddef.h>

static int32_t dot_offset(const int8_t *x, const int8_t *f, int32_t n, int32_t input_offset)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < n; ++i) {
        acc += (int32_t)f[i] * ((int32_t)x[i] + input_offset);
    }
    return acc;
}

static int8_t finish(const tg_conv_params *params, const tg_per_channel_quant *quant, int32_t o, int32_t acc)
{
    acc = tg_requantize(acc, quant->multiplier[o], quant->shift[o]) + params->output_offset;
    return (int8_t)tg_clamp(acc, params->activation_min, params->activation_max);
}

/* All output channels of one pixel, over the window cells inside the input:
 * `rows` rows of `seg_len` contiguous bytes starting at x0 (input) and at
 * filter_start (+ o * filter_size) in the filter. Accumulators start at
 * start_acc[o] (or 0) and every input value gets `offset` added: (folded_bias,
 * 0) for a window wholly inside, (bias, input_offset) for a clipped one.
 * Four output channels share every input load. */
static void conv_pixel(const tg_conv_params *params, const tg_per_channel_quant *quant, const int8_t *x0,
                       int32_t row_stride, int32_t rows, int32_t seg_len, const int8_t *filter_start,
                       int32_t filter_row, int32_t filter_size, const int32_t *start_acc, int32_t offset,
                       int32_t out_c, int8_t *out)
{
    int32_t o = 0;
    for (; o + 4 <= out_c; o += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        if (start_acc != NULL) {
            a0 = start_acc[o];
            a1 = start_acc[o + 1];
            a2 = start_acc[o + 2];
            a3 = start_acc[o + 3];
        }
        const int8_t *f0 = filter_start + (size_t)o * filter_size;
        const int8_t *f1 = f0 + filter_size;
        const int8_t *f2 = f1 + filter_size;
        const int8_t *f3 = f2 + filter_size;
        const int8_t *x = x0;
        for (int32_t r = 0; r < rows; ++r) {
            if (offset == 0) { /* the common case, kept free of the add */
                for (int32_t i = 0; i < seg_len; ++i) {
                    const int32_t xv = x[i];
                    a0 += (int32_t)f0[i] * xv;
                    a1 += (int32_t)f1[i] * xv;
                    a2 += (int32_t)f2[i] * xv;
                    a3 += (int32_t)f3[i] * xv;
                }
            } else {
                for (int32_t i = 0; i < seg_len; ++i) {
                    const int32_t xv = (int32_t)x[i] + offset;
                    a0 += (int32_t)f0[i] * xv;
                    a1 += (int32_t)f1[i] * xv;
                    a2 += (int32_t)f2[i] * xv;
                    a3 += (int32_t)f3[i] * xv;
                }
            }
            x += row_stride;
            f0 += filter_row;
            f1 += filter_row;
            f2 += filter_row;
            f3 += filter_row;
        }
        out[o] = finish(params, quant, o, a0);
        out[o + 1] = finish(params, quant, o + 1, a1);
        out[o + 2] = finish(params, quant, o + 2, a2);
        out[o + 3] = finish(params, quant, o + 3, a3);
    }
    for (; o < out_c; ++o) {
        int32_t acc = start_acc != NULL ? start_acc[o] : 0;
        const int8_t *f = filter_start + (size_t)o * filter_size;
        const int8_t *x = x0;
        for (int32_t r = 0; r < rows; ++r) {
            for (int32_t i = 0; i < seg_len; ++i) {
                acc += (int32_t)f[i] * ((int32_t)x[i] + offset);
            }
            x += row_stride;
            f += filter_row;
        }
        out[o] = finish(params, quant, o, acc);
    }
}

void tg_conv2d_s8(const tg_conv_params *params, const tg_per_channel_quant *quant,
                  const tg_dims *input_dims, const int8_t *input,
                  const tg_dims *filter_dims, const int8_t *filter,
                  const int32_t *bias,
                  const tg_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, f_c = filter_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t groups = in_c / f_c;
    const int32_t out_per_group = out_c / groups;
    const int32_t dil_h = params->dilation_h, dil_w = params->dilation_w;
    const int32_t input_offset = params->input_offset;
    const int32_t filter_row = k_w * f_c;
    const int fast = groups == 1 && dil_h == 1 && dil_w == 1;

    for (int32_t b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * params->stride_h - params->pad_top;
            const int32_t ky_lo = iy0 < 0 ? -iy0 : 0;
            const int32_t ky_hi = iy0 + k_h > in_h ? in_h - iy0 : k_h;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * params->stride_w - params->pad_left;
                const int row_inside = ix0 >= 0 && ix0 + (k_w - 1) * dil_w < in_w;
                if (fast) {
                    const int32_t kx_lo = ix0 < 0 ? -ix0 : 0;
                    const int32_t kx_hi = ix0 + k_w > in_w ? in_w - ix0 : k_w;
                    const int inside = ky_lo == 0 && ky_hi == k_h && kx_lo == 0 && kx_hi == k_w;
                    if (ky_hi > ky_lo && kx_hi > kx_lo) {
                        const int folded = inside && params->folded_bias != NULL;
                        conv_pixel(params, quant, in_b + ((size_t)(iy0 + ky_lo) * in_w + ix0 + kx_lo) * in_c,
                                   in_w * in_c, ky_hi - ky_lo, (kx_hi - kx_lo) * in_c,
                                   filter + ((size_t)ky_lo * k_w + kx_lo) * f_c, filter_row, k_h * filter_row,
                                   folded ? params->folded_bias : bias, folded ? 0 : input_offset, out_c, output);
                    } else {
                        conv_pixel(params, quant, in_b, 0, 0, 0, filter, filter_row, k_h * filter_row, bias, 0,
                                   out_c, output);
                    }
                    output += out_c;
                    continue;
                }
                for (int32_t o = 0; o < out_c; ++o) {
                    const int32_t g = o / out_per_group;
                    const int8_t *f_o = filter + (size_t)o * k_h * filter_row;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < k_h; ++ky) {
                        const int32_t iy = iy0 + ky * dil_h;
                        if (iy < 0 || iy >= in_h) {
                            continue;
                        }
                        const int8_t *f_row = f_o + (size_t)ky * filter_row;
                        const int8_t *in_row = in_b + ((size_t)iy * in_w) * in_c + (size_t)g * f_c;
                        if (row_inside && dil_w == 1 && groups == 1) {
                            acc += dot_offset(in_row + (size_t)ix0 * in_c, f_row, filter_row, input_offset);
                            continue;
                        }
                        for (int32_t kx = 0; kx < k_w; ++kx) {
                            const int32_t ix = ix0 + kx * dil_w;
                            if (ix < 0 || ix >= in_w) {
                                continue;
                            }
                            acc += dot_offset(in_row + (size_t)ix * in_c, f_row + (size_t)kx * f_c, f_c,
                                              input_offset);
                        }
                    }
                    if (bias != NULL) {
                        acc += bias[o];
                    }
                    *output++ = finish(params, quant, o, acc);
                }
            }
        }
    }
}
