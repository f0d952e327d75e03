/*
 * tg_fully_connected_s8.c - FULLY_CONNECTED, int8, per-tensor or per-channel.
 *
 * out[b][o] = clamp(requant(bias[o] + sum_i (f[o][i] + filter_offset) * (in[b][i] + input_offset))
 *                   + output_offset)
 */
#include "tg_kernels.h"

#include <stddef.h>

void tg_fully_connected_s8(const tg_fc_params *params, const tg_per_channel_quant *quant,
                           int32_t batches, int32_t accum_depth, int32_t output_depth,
                           const int8_t *input, const int8_t *filter, const int32_t *bias,
                           int8_t *output)
{
    const int32_t input_offset = params->input_offset;
    const int32_t filter_offset = params->filter_offset;
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *x = input + (size_t)b * accum_depth;
        for (int32_t o = 0; o < output_depth; ++o) {
            const int8_t *f = filter + (size_t)o * accum_depth;
            int32_t acc = 0;
            for (int32_t i = 0; i < accum_depth; ++i) {
                acc += ((int32_t)f[i] + filter_offset) * ((int32_t)x[i] + input_offset);
            }
            if (bias != NULL) {
                acc += bias[o];
            }
            const int32_t q = params->per_channel ? o : 0;
            acc = tg_requantize(acc, quant->multiplier[q], quant->shift[q]);
            acc += params->output_offset;
            output[(size_t)b * output_depth + o] =
                (int8_t)tg_clamp(acc, params->activation_min, params->activation_max);
        }
    }
}
