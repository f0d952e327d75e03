/*
 * tg_broadcast.h - numpy-style broadcasting offsets for the binary kernels
 * (internal to firmware/kernels). A dimension of size 1 repeats.
 */
#ifndef TG_BROADCAST_H
#define TG_BROADCAST_H

#include "tg_kernels.h"

#include <stddef.h>

static inline int tg_same_dims(const tg_dims *a, const tg_dims *b)
{
    return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c;
}

/* Flat offset of output element (n, h, w, c) in a tensor of dims d broadcast to it. */
static inline size_t tg_broadcast_offset(const tg_dims *d, int32_t n, int32_t h, int32_t w, int32_t c)
{
    const int32_t bn = d->n == 1 ? 0 : n;
    const int32_t bh = d->h == 1 ? 0 : h;
    const int32_t bw = d->w == 1 ? 0 : w;
    const int32_t bc = d->c == 1 ? 0 : c;
    return (((size_t)bn * d->h + bh) * d->w + bw) * d->c + bc;
}

/*
 * The loop every binary kernel (ADD, SUB, MUL) shares: output[i] = ELEMENT(params, a, b) over
 * the output, flat when neither input broadcasts. A macro rather than a function pointer so that
 * ELEMENT (a static inline of the kernel's file) is inlined into the loop, which is the op's cost.
 */
#define TG_BINARY_ELEMENTWISE(ELEMENT, params, input1_dims, input1, input2_dims, input2, output_dims, output) \
    do {                                                                                               \
        if (tg_same_dims((input1_dims), (output_dims)) && tg_same_dims((input2_dims), (output_dims))) { \
            const size_t tg_size_ = (size_t)(output_dims)->n * (output_dims)->h * (output_dims)->w     \
                                    * (output_dims)->c;                                                \
            for (size_t tg_i_ = 0; tg_i_ < tg_size_; ++tg_i_) {                                        \
                (output)[tg_i_] = ELEMENT((params), (input1)[tg_i_], (input2)[tg_i_]);                 \
            }                                                                                          \
            break;                                                                                     \
        }                                                                                              \
        int8_t *tg_out_ = (output);                                                                    \
        for (int32_t tg_n_ = 0; tg_n_ < (output_dims)->n; ++tg_n_) {                                   \
            for (int32_t tg_h_ = 0; tg_h_ < (output_dims)->h; ++tg_h_) {                               \
                for (int32_t tg_w_ = 0; tg_w_ < (output_dims)->w; ++tg_w_) {                           \
                    for (int32_t tg_c_ = 0; tg_c_ < (output_dims)->c; ++tg_c_) {                       \
                        *tg_out_++ = ELEMENT((params),                                                 \
                            (input1)[tg_broadcast_offset((input1_dims), tg_n_, tg_h_, tg_w_, tg_c_)], \
                            (input2)[tg_broadcast_offset((input2_dims), tg_n_, tg_h_, tg_w_, tg_c_)]); \
                    }                                                                                  \
                }                                                                                      \
            }                                                                                          \
        }                                                                                              \
    } while (0)

#endif /* TG_BROADCAST_H */
