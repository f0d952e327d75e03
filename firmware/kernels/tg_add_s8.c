/*
 * tg_add_s8.c - ADD, int8, with broadcasting.
 *
 * Each input is offset to its real zero, scaled up by 2^left_shift and
 * requantized to a common scale; the sum is requantized to the output.
 */
#include "tg_broadcast.h"
#include "tg_kernels.h"

static int8_t add_one(const tg_add_params *p, int8_t a, int8_t b)
{
    const int32_t x1 = (int32_t)((uint32_t)(p->input1_offset + a) << p->left_shift);
    const int32_t x2 = (int32_t)((uint32_t)(p->input2_offset + b) << p->left_shift);
    const int32_t s1 = tg_requantize(x1, p->input1_multiplier, p->input1_shift);
    const int32_t s2 = tg_requantize(x2, p->input2_multiplier, p->input2_shift);
    const int32_t raw = tg_requantize(s1 + s2, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)tg_clamp(raw, p->activation_min, p->activation_max);
}

void tg_add_s8(const tg_add_params *params,
               const tg_dims *input1_dims, const int8_t *input1,
               const tg_dims *input2_dims, const int8_t *input2,
               const tg_dims *output_dims, int8_t *output)
{
    TG_BINARY_ELEMENTWISE(add_one, params, input1_dims, input1, input2_dims, input2, output_dims, output);
}
