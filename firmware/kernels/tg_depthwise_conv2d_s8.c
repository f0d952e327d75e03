/*
 * tg_depthwise_conv2d_s8.c - DEPTHWISE_CONV_2D, int8, per-channel requantization.
 *
 * Output channel o = i * depth_multiplier + m reads input channel i only:
 * out[y][x][o] = clamp(requant(bias[o] + sum_{ky,kx} f[ky][kx][o] * (in[..][i] + input_offset))
 *                      + output_offset), padding cells contributing nothing.
 *
 * Fast path (depth multiplier 1, no dilation): four neighbouring channels are
 * accumulated together (contiguous in input and filter) over the window cells
 * inside the input; where the window is wholly inside, input_offset * sum(filter)
 * is already in folded_bias.
 */
#include "tg_kernels.h"

#include <stddef.h>

static int8_t finish(const tg_conv_params *params, const tg_per_channel_quant *quant, int32_t o, int32_t acc)
{
    acc = tg_requantize(acc, quant->multiplier[o], quant->shift[o]) + params->output_offset;
    return (int8_t)tg_clamp(acc, params->activation_min, params->activation_max);
}

/* All channels of one pixel (depth multiplier 1), over the window cells
 * [ky_lo, ky_hi) x [kx_lo, kx_hi) inside the input; x0 is cell (ky_lo, kx_lo).
 * Accumulators start at start_acc[c] (or 0), input values get `offset` added
 * ((folded_bias, 0) inside, (bias, input_offset) when clipped); four
 * neighbouring channels are accumulated together. */
static void dw_pixel(const tg_conv_params *params, const tg_per_channel_quant *quant, const int8_t *x0,
                     int32_t in_w, int32_t channels, int32_t rows, int32_t cols, int32_t k_w,
                     const int8_t *filter_start, const int32_t *start_acc, int32_t offset, int8_t *out)
{
    const size_t row_stride = (size_t)in_w * channels;
    const size_t filter_row = (size_t)k_w * channels;
    int32_t c = 0;
    for (; c + 4 <= channels; c += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        if (start_acc != NULL) {
            a0 = start_acc[c];
            a1 = start_acc[c + 1];
            a2 = start_acc[c + 2];
            a3 = start_acc[c + 3];
        }
        const int8_t *x_row = x0 + c;
        const int8_t *f_row = filter_start + c;
        for (int32_t r = 0; r < rows; ++r) {
            const int8_t *x = x_row;
            const int8_t *f = f_row;
            for (int32_t k = 0; k < cols; ++k) {
                a0 += (int32_t)f[0] * ((int32_t)x[0] + offset);
                a1 += (int32_t)f[1] * ((int32_t)x[1] + offset);
                a2 += (int32_t)f[2] * ((int32_t)x[2] + offset);
                a3 += (int32_t)f[3] * ((int32_t)x[3] + offset);
                x += channels;
                f += channels;
            }
            x_row += row_stride;
            f_row += filter_row;
        }
        out[c] = finish(params, quant, c, a0);
        out[c + 1] = finish(params, quant, c + 1, a1);
        out[c + 2] = finish(params, quant, c + 2, a2);
        out[c + 3] = finish(params, quant, c + 3, a3);
    }
    for (; c < channels; ++c) {
        int32_t acc = start_acc != NULL ? start_acc[c] : 0;
        for (int32_t r = 0; r < rows; ++r) {
            const int8_t *x = x0 + r * row_stride + c;
            const int8_t *f = filter_start + r * filter_row + c;
            for (int32_t k = 0; k < cols; ++k) {
                acc += (int32_t)f[(size_t)k * channels] * ((int32_t)x[(size_t)k * channels] + offset);
            }
        }
        out[c] = finish(params, quant, c, acc);
    }
}

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
    const int fast = mult == 1 && params->dilation_h == 1 && params->dilation_w == 1;

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
                if (fast) {
                    const int inside = ky_lo == 0 && ky_hi == k_h && kx_lo == 0 && kx_hi == k_w;
                    const int folded = inside && params->folded_bias != NULL;
                    const int any = ky_hi > ky_lo && kx_hi > kx_lo;
                    dw_pixel(params, quant,
                             any ? in_b + ((size_t)(iy0 + ky_lo) * in_w + ix0 + kx_lo) * in_c : in_b,
                             in_w, in_c, any ? ky_hi - ky_lo : 0, any ? kx_hi - kx_lo : 0, k_w,
                             any ? filter + ((size_t)ky_lo * k_w + kx_lo) * out_c : filter,
                             folded ? params->folded_bias : bias, folded ? 0 : input_offset, output);
                    output += out_c;
                    continue;
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
                    *output++ = finish(params, quant, o, acc);
                }
            }
        }
    }
}
