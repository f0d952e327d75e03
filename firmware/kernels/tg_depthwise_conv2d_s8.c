/*
 * tg_depthwise_conv2d_s8.c - DEPTHWISE_CONV_2D, int8, per-channel requantization.
 *
 * Output channel o = i * depth_multiplier + m reads input channel i only:
 * out[y][x][o] = clamp(requant(bias[o] + sum_{ky,kx} f[ky][kx][o] * (in[..][i] + input_offset))
 *                      + output_offset), padding cells contributing nothing.
 */
#include "tg_kernels.h"

#include <stddef.h>

void tg_depthwise_conv2d_s8(const tg_conv_params *params, const tg_per_channel_quant *quant,
                            const tg_dims *input_dims, const int8_t *input,
                            const tg_dims *filter_dims, const int8_t *filter,
                            const int32_t *bias,
                            const tg_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t mult = params->depth_multiplier;
    const int32_t input_offset = params->input_offset;

    for (int32_t b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * params->stride_h - params->pad_top;
            /* The kernel rows that fall inside the input for this output row. */
            int32_t ky_lo = 0, ky_hi = k_h;
            while (ky_lo < k_h && iy0 + ky_lo * params->dilation_h < 0) {
                ++ky_lo;
            }
            while (ky_hi > ky_lo && iy0 + (ky_hi - 1) * params->dilation_h >= in_h) {
                --ky_hi;
            }
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * params->stride_w - params->pad_left;
                int32_t kx_lo = 0, kx_hi = k_w;
                while (kx_lo < k_w && ix0 + kx_lo * params->dilation_w < 0) {
                    ++kx_lo;
                }
                while (kx_hi > kx_lo && ix0 + (kx_hi - 1) * params->dilation_w >= in_w) {
                    --kx_hi;
                }
                for (int32_t o = 0; o < out_c; ++o) {
                    const int32_t i = o / mult;
                    int32_t acc = 0;
                    for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
                        const int32_t iy = iy0 + ky * params->dilation_h;
                        const int8_t *in_row = in_b + (size_t)iy * in_w * in_c + i;
                        const int8_t *f_row = filter + (size_t)ky * k_w * out_c + o;
                        for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
                            const int32_t ix = ix0 + kx * params->dilation_w;
                            acc += (int32_t)f_row[(size_t)kx * out_c] *
                                   ((int32_t)in_row[(size_t)ix * in_c] + input_offset);
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
