/*
 * tg_mean_s8.c - MEAN of an int8 tensor over any of its (4-D) dimensions.
 *
 * Each output is the integer sum over the averaged cells, minus the input zero
 * point times their count, requantized by a multiplier that already holds
 * 1/count and the scale ratio, plus the output zero point.
 */
#include "tg_kernels.h"

#include <stddef.h>

void tg_mean_s8(const tg_mean_params *params, const tg_dims *input_dims, const int8_t *input, int8_t *output)
{
    const int32_t d[4] = {input_dims->n, input_dims->h, input_dims->w, input_dims->c};
    const int32_t red[4] = {params->reduce_n, params->reduce_h, params->reduce_w, params->reduce_c};
    int32_t out_ext[4], in_ext[4], count = 1;
    for (int k = 0; k < 4; ++k) {
        out_ext[k] = red[k] ? 1 : d[k];
        in_ext[k] = red[k] ? d[k] : 1;
        count *= in_ext[k];
    }
    for (int32_t n0 = 0; n0 < out_ext[0]; ++n0) {
        for (int32_t h0 = 0; h0 < out_ext[1]; ++h0) {
            for (int32_t w0 = 0; w0 < out_ext[2]; ++w0) {
                for (int32_t c0 = 0; c0 < out_ext[3]; ++c0) {
                    int32_t sum = 0;
                    for (int32_t n = 0; n < in_ext[0]; ++n) {
                        for (int32_t h = 0; h < in_ext[1]; ++h) {
                            for (int32_t w = 0; w < in_ext[2]; ++w) {
                                const int8_t *row = input + ((((size_t)(n0 + n) * d[1] + (h0 + h)) * d[2] +
                                                              (w0 + w)) * d[3]) + c0;
                                for (int32_t c = 0; c < in_ext[3]; ++c) {
                                    sum += row[c];
                                }
                            }
                        }
                    }
                    sum -= params->input_zero_point * count;
                    const int32_t out = tg_requantize(sum, params->multiplier, params->shift) +
                                        params->output_zero_point;
                    *output++ = (int8_t)tg_clamp(out, -128, 127);
                }
            }
        }
    }
}
