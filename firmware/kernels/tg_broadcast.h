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

#endif /* TG_BROADCAST_H */
