/*
 * tg_maxpool_s8.c - MAX_POOL_2D, int8: maximum over the in-bounds window cells.
 */
#include "tg_kernels.h"

#include <stddef.h>

void tg_maxpool_s8(const tg_pool_params *params,
                   const tg_dims *input_dims, const int8_t *input,
                   const tg_dims *output_dims, int8_t *output)
{
    const int32_t in_h = input_dims->h, in_w = input_dims->w, c = input_dims->c;
    for (int32_t b = 0; b < output_dims->n; ++b) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * c;
        for (int32_t oy = 0; oy < output_dims->h; ++oy) {
            const int32_t iy0 = oy * params->stride_h - params->pad_top;
            const int32_t y_lo = iy0 < 0 ? 0 : iy0;
            const int32_t y_hi = iy0 + params->filter_h > in_h ? in_h : iy0 + params->filter_h;
            for (int32_t ox = 0; ox < output_dims->w; ++ox) {
                const int32_t ix0 = ox * params->stride_w - params->pad_left;
                const int32_t x_lo = ix0 < 0 ? 0 : ix0;
                const int32_t x_hi = ix0 + params->filter_w > in_w ? in_w : ix0 + params->filter_w;
                for (int32_t ch = 0; ch < c; ++ch) {
                    int32_t best = -128;
                    for (int32_t iy = y_lo; iy < y_hi; ++iy) {
                        const int8_t *row = in_b + ((size_t)iy * in_w) * c + ch;
                        for (int32_t ix = x_lo; ix < x_hi; ++ix) {
                            if (row[(size_t)ix * c] > best) {
                                best = row[(size_t)ix * c];
                            }
                        }
                    }
                    *output++ = (int8_t)tg_clamp(best, params->activation_min, params->activation_max);
                }
            }
        }
    }
}
