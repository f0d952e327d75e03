/*
 * tg_add_table_s8.h - ADD of two same-shape int8 tensors with per-input tables.
 *
 * TFLM's int8 ADD rescales each input on its own ((x + offset) << left_shift, then a
 * requantization) before adding. That first step depends on one int8 value only, so
 * the generator tabulates it: input1_table[x + 128] and input2_table[x + 128] hold
 * the rescaled values (int32) exactly as TFLM computes them. Per element the kernel
 * then does one table look-up per input, one addition and the output requantization.
 */
#ifndef TG_ADD_TABLE_S8_H
#define TG_ADD_TABLE_S8_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const int32_t *input1_table;  /* [256], index = input value + 128 */
    const int32_t *input2_table;  /* [256] */
    int32_t output_multiplier;    /* Q0.31 */
    int32_t output_shift;         /* positive = left */
    int32_t output_offset;        /* + output zero point */
    int32_t activation_min, activation_max;
} tg_add_table_params;

void tg_add_table_s8(const tg_add_table_params *params, size_t size, const int8_t *input1,
                     const int8_t *input2, int8_t *output);

#endif /* TG_ADD_TABLE_S8_H */
