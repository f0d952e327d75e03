/*
 * tg_concat_s8.c - CONCATENATION of same-quantized int8 tensors along one axis:
 * for each of the `outer` slices, input i contributes sizes[i] bytes in turn.
 */
#include "tg_kernels.h"

#include <stddef.h>
#include <string.h>

void tg_concat_s8(int32_t count, const int8_t *const inputs[], const int32_t sizes[],
                  int32_t outer, int8_t *output)
{
    for (int32_t o = 0; o < outer; ++o) {
        for (int32_t i = 0; i < count; ++i) {
            memcpy(output, inputs[i] + (size_t)o * sizes[i], (size_t)sizes[i]);
            output += sizes[i];
        }
    }
}
