/*
 * tg_conv2d_s8.c - CONV_2D, int8 activations and weights, int32 bias,
 * per-output-channel requantization.
 *
 * out[y][x][o] = clamp(requant(bias[o] + sum_{ky,kx,i} f[o][ky][kx][i] * (in[..][i] + input_offset))
 *                      + output_offset)
 * Cells of the window outside the input (padding) contribute nothing. Where
 * the whole window row lies inside the input and dilation_w is 1, the
 * (kw x in_c) cells of a row are contiguous in memory in both input and filter,
 * so the innermost loop is one straight dot product.
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

    for (int32_t b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * params->stride_h - params->pad_top;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * params->stride_w - params->pad_left;
                const int row_inside = ix0 >= 0 && ix0 + (k_w - 1) * dil_w < in_w;
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
                    acc = tg_requantize(acc, quant->multiplier[o], quant->shift[o]);
                    acc += params->output_offset;
                    *output++ = (int8_t)tg_clamp(acc, params->activation_min, params->activation_max);
                }
            }
        }
    }
}
