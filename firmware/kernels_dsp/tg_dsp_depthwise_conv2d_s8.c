/*
 * tg_dsp_depthwise_conv2d_s8.c - DEPTHWISE_CONV_2D (depth multiplier 1,
 * channels % 4 == 0) with the DSP extension.
 *
 * Four channels at a time: per window cell one input word, two SXTB16 give the
 * channel pairs (c0, c2), (c1, c3); the weights of those channels come
 * pre-paired (int16) in the same order, so SMLABB / SMLATT accumulate each
 * channel on its own. Every window starts from the folded bias (input_offset *
 * sum(filter) included) and multiplies raw inputs: a window reaching into the
 * padding is first copied to scratch with the padding cells set to the input
 * zero point (which the fold turns into exact zeros). 3x3 windows run a fully
 * unrolled copy of the loop.
 */
#include "tg_dsp.h"

static inline __attribute__((always_inline)) void finish4(const tg_dsp_depthwise *d, const tg_dsp_requant *q,
                                                          int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                                          int8_t *out, int mode)
{
    const int32_t off = d->output_offset, lo = d->act_min, hi = d->act_max;
    out[0] = tg_dsp_output(a0, &q[0], mode, off, lo, hi);
    out[1] = tg_dsp_output(a1, &q[1], mode, off, lo, hi);
    out[2] = tg_dsp_output(a2, &q[2], mode, off, lo, hi);
    out[3] = tg_dsp_output(a3, &q[3], mode, off, lo, hi);
}

/* One window cell of four channels: input word at p, weight words wp[0..1]. */
#define TG_DW_CELL(p, wp)                              \
    do {                                               \
        const uint32_t v_ = tg_dsp_load4(p);           \
        const int32_t xl_ = tg_dsp_lo_pairs(v_);       \
        const int32_t xh_ = tg_dsp_hi_pairs(v_);       \
        a0 = tg_dsp_smlabb(xl_, (wp)[0], a0);          \
        a2 = tg_dsp_smlatt(xl_, (wp)[0], a2);          \
        a1 = tg_dsp_smlabb(xh_, (wp)[1], a1);          \
        a3 = tg_dsp_smlatt(xh_, (wp)[1], a3);          \
    } while (0)

/* All channels of one output pixel; `win` = the window's top-left cell, rows
 * `row` bytes apart, cells d->c bytes apart. */
static inline __attribute__((always_inline)) void pixel(const tg_dsp_depthwise *d, const int8_t *win,
                                                        int32_t row, int8_t *out, int is3x3, int mode)
{
    const int32_t c = d->c;
    const int32_t *w = d->weights;
    const int32_t *bias = d->bias;
    const tg_dsp_requant *q = d->quant;
    for (int32_t cb = 0; cb < c; cb += 4) {
        int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
        if (is3x3) {
#if TG_DSP_SIMD && defined(__OPTIMIZE__) /* 12 registers: not at -O0, which keeps a frame pointer */
            /* 8 instructions per cell: one input word, two SXTB16, one LDRD of weights, 4 MACs */
            const int8_t *x = win + cb;
            uint32_t v, t, w0, w1;
#define TG_DW_ASM_CELL(addr)                                       \
    "ldr    %[v], " addr "\n\t"                                    \
    "ldrd   %[w0], %[w1], [%[w]], #8\n\t"                          \
    "sxtb16 %[t], %[v], ror #8\n\t"                                \
    "sxtb16 %[v], %[v]\n\t"                                        \
    "smlabb %[a0], %[v], %[w0], %[a0]\n\t"                         \
    "smlatt %[a2], %[v], %[w0], %[a2]\n\t"                         \
    "smlabb %[a1], %[t], %[w1], %[a1]\n\t"                         \
    "smlatt %[a3], %[t], %[w1], %[a3]\n\t"
#define TG_DW_ASM_ROW                                              \
    TG_DW_ASM_CELL("[%[x]]")                                       \
    TG_DW_ASM_CELL("[%[x], %[c]]")                                 \
    TG_DW_ASM_CELL("[%[x], %[c], lsl #1]")
            __asm__(TG_DW_ASM_ROW
                    "add    %[x], %[x], %[row]\n\t"
                    TG_DW_ASM_ROW
                    "add    %[x], %[x], %[row]\n\t"
                    TG_DW_ASM_ROW
                    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w] "+r"(w),
                      [v] "=&r"(v), [t] "=&r"(t), [w0] "=&r"(w0), [w1] "=&r"(w1)
                    : [c] "r"(c), [row] "r"(row)
                    : "memory");
#undef TG_DW_ASM_ROW
#undef TG_DW_ASM_CELL
#else
            const int8_t *x0 = win + cb;
            const int8_t *x1 = x0 + row;
            const int8_t *x2 = x1 + row;
            TG_DW_CELL(x0, w + 0);
            TG_DW_CELL(x0 + c, w + 2);
            TG_DW_CELL(x0 + 2 * c, w + 4);
            TG_DW_CELL(x1, w + 6);
            TG_DW_CELL(x1 + c, w + 8);
            TG_DW_CELL(x1 + 2 * c, w + 10);
            TG_DW_CELL(x2, w + 12);
            TG_DW_CELL(x2 + c, w + 14);
            TG_DW_CELL(x2 + 2 * c, w + 16);
            w += 18;
#endif
        } else {
            const int32_t *wr = w;
            for (int32_t ky = 0; ky < d->k_h; ++ky) {
                const int8_t *x = win + ky * row + cb;
                for (int32_t kx = 0; kx < d->k_w; ++kx, wr += 2) {
                    TG_DW_CELL(x + kx * c, wr);
                }
            }
            w = wr;
        }
        finish4(d, q, a0, a1, a2, a3, out + cb, mode);
        bias += 4;
        q += 4;
    }
}

/* Copy the window at (iy0, ix0) to scratch, padding cells = the input zero point. */
static void gather(const tg_dsp_depthwise *d, const int8_t *input, int32_t iy0, int32_t ix0, int8_t *scratch)
{
    const int32_t c = d->c;
    for (int32_t ky = 0; ky < d->k_h; ++ky) {
        const int32_t iy = iy0 + ky;
        for (int32_t kx = 0; kx < d->k_w; ++kx, scratch += c) {
            const int32_t ix = ix0 + kx;
            if (iy < 0 || iy >= d->in_h || ix < 0 || ix >= d->in_w) {
                memset(scratch, d->pad_value, (size_t)c);
            } else {
                memcpy(scratch, input + ((size_t)iy * d->in_w + ix) * c, (size_t)c);
            }
        }
    }
}

static inline __attribute__((always_inline)) void run(const tg_dsp_depthwise *d, const int8_t *input,
                                                      int8_t *scratch, int8_t *output, int is3x3, int mode)
{
    const int32_t c = d->c, in_h = d->in_h, in_w = d->in_w, k_h = d->k_h, k_w = d->k_w;
    const int32_t row = in_w * c;
    for (int32_t oy = 0; oy < d->out_h; ++oy) {
        const int32_t iy0 = oy * d->stride_h - d->pad_top;
        const int rows_in = iy0 >= 0 && iy0 + k_h <= in_h;
        for (int32_t ox = 0; ox < d->out_w; ++ox) {
            const int32_t ix0 = ox * d->stride_w - d->pad_left;
            if (rows_in && ix0 >= 0 && ix0 + k_w <= in_w) {
                pixel(d, input + ((size_t)iy0 * in_w + ix0) * c, row, output, is3x3, mode);
            } else {
                gather(d, input, iy0, ix0, scratch);
                pixel(d, scratch, k_w * c, output, is3x3, mode);
            }
            output += c;
        }
    }
}

void tg_dsp_depthwise_conv2d_s8(const tg_dsp_depthwise *d, const int8_t *input, int8_t *scratch,
                                int8_t *output)
{
    const int is3x3 = d->k_h == 3 && d->k_w == 3;
    if (!is3x3) {
        run(d, input, scratch, output, 0, d->mode & TG_DSP_MIXED); /* clamps in full */
        return;
    }
    switch (d->mode) {
    case 0:
        run(d, input, scratch, output, 1, 0);
        break;
    case TG_DSP_MIXED:
        run(d, input, scratch, output, 1, TG_DSP_MIXED);
        break;
    case TG_DSP_FULL_RANGE:
        run(d, input, scratch, output, 1, TG_DSP_FULL_RANGE);
        break;
    default:
        run(d, input, scratch, output, 1, TG_DSP_MIXED | TG_DSP_FULL_RANGE);
        break;
    }
}
