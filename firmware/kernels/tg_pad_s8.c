/*
 * tg_pad_s8.c - PAD / PADV2 of a 4-D int8 tensor with a constant value.
 */
#include "tg_kernels.h"

#include <stddef.h>
#include <string.h>

void tg_pad_s8(const tg_dims *input_dims, const int8_t *input,
               const tg_dims *pad_before, const tg_dims *output_dims, int8_t pad_value,
               int8_t *output)
{
    for (int32_t n = 0; n < output_dims->n; ++n) {
        const int32_t in_n = n - pad_before->n;
        for (int32_t h = 0; h < output_dims->h; ++h) {
            const int32_t in_h = h - pad_before->h;
            for (int32_t w = 0; w < output_dims->w; ++w) {
                const int32_t in_w = w - pad_before->w;
                int8_t *out = output + (((size_t)n * output_dims->h + h) * output_dims->w + w) * output_dims->c;
                if (in_n < 0 || in_n >= input_dims->n || in_h < 0 || in_h >= input_dims->h || in_w < 0 ||
                    in_w >= input_dims->w) {
                    memset(out, (unsigned char)pad_value, (size_t)output_dims->c);
                    continue;
                }
                const int8_t *in =
                    input + (((size_t)in_n * input_dims->h + in_h) * input_dims->w + in_w) * input_dims->c;
                const int32_t before = pad_before->c;
                const int32_t after = output_dims->c - before - input_dims->c;
                memset(out, (unsigned char)pad_value, (size_t)before);
                memcpy(out + before, in, (size_t)input_dims->c);
                memset(out + before + input_dims->c, (unsigned char)pad_value, (size_t)after);
            }
        }
    }
}
