/*
 * tg_fully_connected_s8.c - FULLY_CONNECTED, int8, per-tensor or per-channel.
 *
 * out[b][o] = clamp(requant(bias[o] + sum_i (f[o][i] + filter_offset) * (in[b][i] + input_offset))
 *                   + output_offset)
 * With folded_bias (filter_offset 0) the offset term is precomputed and four
 * output units share every input load.
 */
#include "tg_kernels.h"

#include <stddef.h>

static int8_t finish(const tg_fc_params *params, const tg_per_channel_quant *quant, int32_t o, int32_t acc)
{
    const int32_t q = params->per_channel ? o : 0;
    acc = tg_requantize(acc, quant->multiplier[q], quant->shift[q]) + params->output_offset;
    return (int8_t)tg_clamp(acc, params->activation_min, params->activation_max);
}

void tg_fully_connected_s8(const tg_fc_params *params, const tg_per_channel_quant *quant,
                           int32_t batches, int32_t accum_depth, int32_t output_depth,
                           const int8_t *input, const int8_t *filter, const int32_t *bias,
                           int8_t *output)
{
    const int32_t input_offset = params->input_offset;
    const int32_t filter_offset = params->filter_offset;
    const int32_t *folded = params->folded_bias;
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *x = input + (size_t)b * accum_depth;
        int8_t *y = output + (size_t)b * output_depth;
        int32_t o = 0;
        if (folded != NULL && filter_offset == 0) {
            for (; o + 4 <= output_depth; o += 4) {
                const int8_t *f0 = filter + (size_t)o * accum_depth;
                const int8_t *f1 = f0 + accum_depth;
                const int8_t *f2 = f1 + accum_depth;
                const int8_t *f3 = f2 + accum_depth;
                int32_t a0 = folded[o], a1 = folded[o + 1], a2 = folded[o + 2], a3 = folded[o + 3];
                for (int32_t i = 0; i < accum_depth; ++i) {
                    const int32_t xv = x[i];
                    a0 += (int32_t)f0[i] * xv;
                    a1 += (int32_t)f1[i] * xv;
                    a2 += (int32_t)f2[i] * xv;
                    a3 += (int32_t)f3[i] * xv;
                }
                y[o] = finish(params, quant, o, a0);
                y[o + 1] = finish(params, quant, o + 1, a1);
                y[o + 2] = finish(params, quant, o + 2, a2);
                y[o + 3] = finish(params, quant, o + 3, a3);
            }
        }
        for (; o < output_depth; ++o) {
            const int8_t *f = filter + (size_t)o * accum_depth;
            int32_t acc = 0;
            for (int32_t i = 0; i < accum_depth; ++i) {
                acc += ((int32_t)f[i] + filter_offset) * ((int32_t)x[i] + input_offset);
            }
            if (bias != NULL) {
                acc += bias[o];
            }
            y[o] = finish(params, quant, o, acc);
        }
    }
}
