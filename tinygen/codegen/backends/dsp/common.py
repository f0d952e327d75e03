"""Generation-time preparation shared by the dsp backend's lowerings.

Everything here is exact integer arithmetic on the parameters derived once in
tinygen.quant.params: weights widened to int16 and packed two per word in the
order the kernels read them, bias + input_offset * sum(weights) folded per
channel, and the single-multiply requantization constants (see `requant_table`).
"""
from __future__ import annotations

import numpy as np

from tinygen.codegen.backends.portable.conv_common import folded_bias

# Largest right shift e for which K + x * m stays inside int64 (|x * m| <= 2^62, |K| < 2^(38 + e)).
MAX_RIGHT_SHIFT = 22


def requant_ok(shifts) -> bool:
    """The single-multiply form needs a right shift e = -shift in 1..MAX_RIGHT_SHIFT on every channel."""
    e = -np.asarray(shifts, dtype=np.int64).reshape(-1)
    return bool(e.size) and bool(((e >= 1) & (e <= MAX_RIGHT_SHIFT)).all())


def requant_words(multiplier: int, shift: int, output_offset: int) -> tuple[int, int, int, int]:
    """(m, K low word, K high word, e - 1) of one channel.

    TFLM's double rounding with right shift e >= 1,
        h = SRDHM(x, m) = floor((x*m + 2^30) / 2^31)           (exact for m >= 0: the
            negative-product nudge 1 - 2^30 followed by truncation is the same floor),
        r = RDBP(h, e) = floor((h + 2^(e-1) - [h < 0]) / 2^e),
    nests into one floor: r = floor((x*m + 2^30 + (2^(e-1) - [h < 0]) * 2^31) / 2^(31+e)).
    h < 0 implies x < 0, and x < 0 with h >= 0 means h == 0, where both choices give 0,
    so [h < 0] may be read as [x < 0]. Adding output_offset * 2^(31+e) adds the zero point.
    The kernel adds x*m and -[x<0]*2^31 to K and shifts the high word right by e - 1.
    """
    e = -int(shift)
    k = (1 << 30) + (1 << (30 + e)) + int(output_offset) * (1 << (31 + e))
    k_lo = k & 0xFFFFFFFF
    k_hi = k >> 32
    assert -(1 << 31) <= k_hi < (1 << 31)
    return int(multiplier), k_lo, k_hi, e - 1


def mixed_words(multiplier: int, shift: int) -> tuple[int, int, int, int]:
    """(m, K low, K high, e | corr flag) of one channel in the mixed form (any right shift e >= 0).

    The kernel adds x*m and [x < 0] * corr to K, takes bits 31..62 of the 64-bit sum,
    shifts them right by e (the low byte of the last word; corr = -2^31 when the word's
    sign bit is set, else 0) and adds the output zero point (not folded into K here, so
    K stays small for large e):
    e >= 1: K = 2^30 + 2^(30+e), corr = -2^31 (the nested floor of requant_words);
    e == 0: K = 2^30, corr = 0 (SRDHM alone: floor((x*m + 2^30) / 2^31)).
    Bits 31..62 hold the sum when |x| * m + K + 2^31 < 2^62 (checked by requant_table).
    """
    e = -int(shift)
    k = (1 << 30) + ((1 << (30 + e)) if e >= 1 else 0)
    flag = 0x80000000 if e >= 1 else 0
    return int(multiplier), k & 0xFFFFFFFF, k >> 32, e | flag


def requant_table(multipliers, shifts, output_offset: int, channels: int, bounds=None):
    """(words, mixed) for tg_dsp_requant: [ceil(channels/4)*4][4] words (int32 view, padding
    channels zero) and whether the layer needs the mixed form; None when it is not exact for
    every accumulator |x| <= bounds[c] (bounds: per channel, None = any int32) or a channel
    shifts left.

    All right shifts in 1..MAX_RIGHT_SHIFT: requant_words (zero point folded into K).
    Otherwise (a right shift of 0 or above MAX_RIGHT_SHIFT somewhere): mixed_words.
    """
    m = np.broadcast_to(np.asarray(multipliers, dtype=np.int64).reshape(-1), (channels,))
    s = np.broadcast_to(np.asarray(shifts, dtype=np.int64).reshape(-1), (channels,))
    bound = [(1 << 31) if bounds is None else int(bounds[c]) for c in range(channels)]
    if (s > 0).any():
        return None
    mixed = not requant_ok(s)
    n4 = -(-channels // 4) * 4
    rows = np.zeros((n4, 4), dtype=np.int64)
    for c in range(channels):
        mc, e = int(m[c]), -int(s[c])
        if mixed:
            words = mixed_words(mc, -e)
            k = (words[2] << 32) + words[1]
            if bound[c] * mc + k + (1 << 31) >= (1 << 62):
                return None
            rows[c] = words
        else:
            rows[c] = requant_words(mc, -e, output_offset)
    return rows.astype(np.uint64).astype(np.uint32).view(np.int32), mixed


def accumulator_bounds(folded: np.ndarray, w2d: np.ndarray) -> np.ndarray:
    """Per channel: the largest |folded bias + sum_k w[c][k] * x[k]| over int8 inputs x."""
    w = np.abs(np.asarray(w2d, dtype=np.int64))
    return np.abs(np.asarray(folded, dtype=np.int64)[:w.shape[0]]) + 128 * w.sum(axis=1)


def reference_requantize(x: np.ndarray, multiplier: int, shift: int, output_offset: int) -> np.ndarray:
    """TFLM's sequence (int64 numpy), for checking `requant_words` (tests)."""
    x = np.asarray(x, dtype=np.int64)
    left, right = max(shift, 0), max(-shift, 0)
    x = ((x << left) + (1 << 31)) % (1 << 32) - (1 << 31)
    ab = x * multiplier
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    h = (ab + nudge)
    h = np.where(h >= 0, h >> 31, -((-h) >> 31))  # C division truncates toward zero
    mask = (1 << right) - 1
    rem = h & mask
    thr = (mask >> 1) + (h < 0)
    return (h >> right) + (rem > thr) + output_offset


def single_multiply_requantize(x: np.ndarray, words) -> np.ndarray:
    """What tg_dsp_requantize computes, in numpy int64 (tests)."""
    m, k_lo, k_hi, sh = (int(v) for v in words)
    x = np.asarray(x, dtype=np.int64)
    s = (k_hi << 32) + k_lo + x * m + np.where(x < 0, -(1 << 31), 0)
    return (s >> 32) >> sh


def mixed_requantize(x: np.ndarray, words, output_offset: int) -> np.ndarray:
    """What tg_dsp_requantize_mixed computes (+ the zero point), in numpy int64 (tests)."""
    m, k_lo, k_hi, w = (int(v) for v in words)
    x = np.asarray(x, dtype=np.int64)
    corr = -(1 << 31) if w & 0x80000000 else 0
    s = (k_hi << 32) + k_lo + x * m + np.where(x < 0, corr, 0)
    w31 = s >> 31
    assert (np.abs(w31) < (1 << 31)).all()
    return (w31 >> (w & 0xFF)) + output_offset


def pack_pairs(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """int16 pairs as int32 words, `lo` in the low half (little-endian load order)."""
    lo = np.asarray(lo, dtype=np.int64) & 0xFFFF
    hi = np.asarray(hi, dtype=np.int64) & 0xFFFF
    return (lo | (hi << 16)).astype(np.uint32).view(np.int32)


def gemm_weights(w2d: np.ndarray) -> tuple[np.ndarray, int, int]:
    """[out_c][k] int8 -> words [out_c/4][k/4][4 ch][(w0, w2), (w1, w3)] (out_c, k padded to 4s)."""
    out_c, k = w2d.shape
    o4, k4 = -(-out_c // 4) * 4, -(-k // 4) * 4
    w = np.zeros((o4, k4), dtype=np.int64)
    w[:out_c, :k] = w2d
    w = w.reshape(o4 // 4, 4, k4 // 4, 4).transpose(0, 2, 1, 3)  # ob, chunk, ch, kk
    # two words per (block, chunk, channel): (w0, w2) and (w1, w3), low halves first
    words = pack_pairs(w[..., [0, 1]].reshape(-1), w[..., [2, 3]].reshape(-1))
    return words, o4, k4


def depthwise_weights(w: np.ndarray) -> np.ndarray:
    """[1][kh][kw][c] int8 -> words [c/4][kh*kw][(w_c0, w_c2), (w_c1, w_c3)]."""
    _, kh, kw, c = w.shape
    x = np.asarray(w, dtype=np.int64).reshape(kh * kw, c // 4, 4).transpose(1, 0, 2)  # cb, tap, cc
    return pack_pairs(x[..., [0, 1]].reshape(-1), x[..., [2, 3]].reshape(-1))


def padded_bias(bias: np.ndarray | None, filter_sums: np.ndarray, input_offset: int, n4: int,
                fold: bool = True) -> np.ndarray | None:
    """Per-channel start value padded with zeros to n4 (None when the fold overflows int32)."""
    fb = folded_bias(bias, filter_sums, input_offset if fold else 0)
    if fb is None:
        return None
    out = np.zeros(n4, dtype=np.int32)
    out[:fb.size] = fb
    return out


def layer_quant(p, folded: np.ndarray | None, w2d: np.ndarray, channels: int):
    """(requant words, mixed) for a layer with folded bias `folded` and weights [channels][k],
    or None when the dsp kernels cannot take it (fold overflow, left shift, bound too large)."""
    if folded is None:
        return None
    bounds = accumulator_bounds(folded, w2d)
    if (bounds >= (1 << 31)).any():
        return None
    return requant_table(p.output_multiplier, p.output_shift, p.output_offset, channels, bounds)


def quant_array(ctx, words: np.ndarray, mixed: bool, what: str) -> str:
    form = "mixed form: {m, K low, K high, e | corr flag}" if mixed else "{m, K low, K high, e - 1}"
    return ctx.const_array("requant", "int32_t", words.reshape(-1), f"requantization per {what}, {form} "
                                                                    "(tg_dsp_requant)")


def mode(p, mixed: bool) -> str:
    """The layer's tg_dsp mode bits as a C expression."""
    bits = []
    if mixed:
        bits.append("TG_DSP_MIXED")
    if int(p.activation_min) == -128 and int(p.activation_max) == 127:
        bits.append("TG_DSP_FULL_RANGE")
    return " | ".join(bits) or "0"
