"""Shared pieces of the reference kernels.

Array convention for every kernel in tinygen.ref: an activation array has a
leading sample axis N followed by the tensor's own shape from the graph
(`[N, *tensor.shape]`), so a model whose batch is 1 is run on N samples at once.
Integer arithmetic is done on int64 copies; results are cast back to the
tensor's dtype only after clamping.
"""
from __future__ import annotations

import numpy as np

from tinygen.quant.fixedpoint import multiply_by_quantized_multiplier

INT_RANGE = {
    "int8": (-128, 127),
    "int16": (-32768, 32767),
    "uint8": (0, 255),
    "int32": (-(1 << 31), (1 << 31) - 1),
}


_CHUNK = 1 << 15  # elements per chunk: int64 temporaries stay in cache


def _requant_block(acc: np.ndarray, mult: np.ndarray, right: np.ndarray, half_plus_offset: np.ndarray,
                   negmask: np.ndarray | None, act_min: int, act_max: int) -> np.ndarray:
    """In-place MBQM (no left shift, multiplier >= 0) + offset + clamp on one int64 block.

    RoundingDivideByPOT(y, r) + offset == (y + 2^(r-1) - [y<0] + offset * 2^r) >> r,
    so the output offset rides along with the rounding constant (`half_plus_offset`).
    """
    acc *= mult
    acc += 1 << 30
    acc >>= 31                      # SaturatingRoundingDoublingHighMul
    sign = acc >> 63                # -1 where negative
    if negmask is not None:
        sign &= negmask             # no correction on channels with a zero right shift
    acc += half_plus_offset
    acc += sign
    acc >>= right                   # RoundingDivideByPOT + output offset
    np.maximum(acc, act_min, out=acc)
    np.minimum(acc, act_max, out=acc)
    return acc


class Requantizer:
    """MultiplyByQuantizedMultiplier + output offset + clamp + cast, constants precomputed once per layer.

    `multiplier`/`shift` are per-tensor (size 1) or per-channel (broadcast over the last axis).
    """

    def __init__(self, multiplier, shift, output_offset: int, act_min: int, act_max: int, dtype: str = "int8"):
        self.mult = np.asarray(multiplier, dtype=np.int64).reshape(-1)
        self.shift = np.asarray(shift, dtype=np.int64).reshape(-1)
        self.output_offset = int(output_offset)
        self.act_min, self.act_max = int(act_min), int(act_max)
        self.dtype = np.dtype(dtype)
        self.per_channel = self.mult.size > 1
        self.general = bool(np.any(self.shift > 0) or np.any(self.mult < 0))
        right = -self.shift
        self.right = right if self.per_channel else right.reshape(())
        half = ((np.int64(1) << np.maximum(right, 0)) >> 1) + (np.int64(self.output_offset) << np.maximum(right, 0))
        self.half_plus_offset = half if self.per_channel else half.reshape(())
        self.negmask = None if np.all(right > 0) else -(right > 0).astype(np.int64)
        if self.negmask is not None and not self.per_channel:
            self.negmask = self.negmask.reshape(())
        self.mult_b = self.mult if self.per_channel else self.mult.reshape(())

    def __call__(self, acc) -> np.ndarray:
        acc = np.asarray(acc)
        if self.general or acc.ndim == 0:
            out = multiply_by_quantized_multiplier(acc, self.mult_b, self.shift if self.per_channel
                                                   else self.shift.reshape(())) + self.output_offset
            np.clip(out, self.act_min, self.act_max, out=out)
            return out.astype(self.dtype)
        out = np.empty(acc.shape, dtype=self.dtype)
        last = acc.shape[-1] if self.per_channel else 1
        flat_in = acc.reshape(-1, last)
        flat_out = out.reshape(-1, last)
        step = max(1, _CHUNK // last)
        for r in range(0, flat_in.shape[0], step):
            block = flat_in[r:r + step].astype(np.int64)  # a fresh copy, modified in place
            flat_out[r:r + step] = _requant_block(block, self.mult_b, self.right, self.half_plus_offset,
                                                  self.negmask, self.act_min, self.act_max)
        return out


def requantize_acc(acc, multiplier, shift, output_offset: int, act_min: int, act_max: int,
                   dtype: str = "int8") -> np.ndarray:
    """MultiplyByQuantizedMultiplier(acc) + output_offset, clamped to [act_min, act_max], cast."""
    return Requantizer(multiplier, shift, output_offset, act_min, act_max, dtype)(acc)


def gemm_requantize(cols: np.ndarray, w: np.ndarray, bias: np.ndarray | None, requant: Requantizer) -> np.ndarray:
    """int8 requant(cols @ w + bias), computed in row blocks (cols, w: exact float arrays)."""
    m, n = cols.shape[0], w.shape[1]
    if m * n <= _CHUNK:
        acc = np.matmul(cols, w).astype(np.int64)
        if bias is not None:
            acc += bias
        return requant(acc)
    out = np.empty((m, n), dtype=np.int8)
    step = max(64, _CHUNK // max(n, 1))
    for r in range(0, m, step):
        acc = np.matmul(cols[r:r + step], w).astype(np.int64)
        if bias is not None:
            acc += bias
        out[r:r + step] = requant(acc)
    return out

