"""Combining a pixel's surviving samples, and a chunk's complete columns at once: the last stage of
:func:`._integrate_kernel.integrate_rows`, after rejection.

The survivors are combined in frame order, output-normalized, as the reference does (the same sum);
a pixel whose samples were all rejected is the median of its valid samples (PCL). The chunk functions
serve the columns whose rejection ran across a row (:mod:`._winsorized_lanes`, :mod:`._lad_lanes`): its
survivors are the samples valued within the ends of a window of their sorted samples. Source: PCL
``src/modules/processes/ImageIntegration/IntegrationEngine.cpp``,
``IntegrationEngine::IntegrationThread::Run`` (vahlkar/PCL commit fd570d584).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from apcal.engines.native._kernel_params import AVERAGE, MEDIAN, MINIMUM
from apcal.engines.native._kernel_stats import _median, _sort_values
from apcal.stats._typed import ZERO


@njit(cache=True)
def median_of_valid(stack, y, c, o_scale, o_offset, values):
    """The median of pixel (y, c)'s valid (non-NaN) samples of ``stack`` (n, rows, cols), output-
    normalized, range-clipped ones included: what PCL writes where rejection left no sample
    (``IntegrationEngine::IntegrationThread::Run``). 0 when every sample is NaN. ``values`` is (n,)
    scratch."""
    k = 0
    for i in range(stack.shape[0]):
        raw = np.float64(stack[i, y, c])
        if not math.isnan(raw):
            values[k] = raw * o_scale[i] + o_offset[i]
            k += 1
    if k == 0:
        return 0.0
    _sort_values(values, k)
    half = k // 2
    if k % 2 == 1:
        return values[half]
    return (values[half] + values[half - 1]) / 2


@njit(cache=True)
def _stable_keep(stack, y, c, r_scale, r_offset, lo, hi, keep):
    """keep[i] = whether frame i's sample of pixel (y, c) has its stable rank (equal samples in frame
    order, :func:`_rank_chunk`) in [lo, hi), among the n rejection-normalized samples (all valid).

    The chunked combine keeps the samples valued within [s[lo], s[hi-1]] instead, which is the same
    unless equal samples straddle an end of the window. Winsorized clipping never does that: a clip
    compares each sample's value with a threshold and takes all or none of them, so equal samples go
    together. This is the exact fallback the combine takes if the count ever disagrees.
    """
    n = stack.shape[0]
    for i in range(n):
        vi = np.float64(stack[i, y, c]) * r_scale[i] + r_offset[i]
        r = 0
        for j in range(n):
            vj = np.float64(stack[j, y, c]) * r_scale[j] + r_offset[j]
            r += (vj < vi) | ((j < i) & (vj == vi))
        keep[i] = lo <= r < hi


@njit(cache=True)
def _combine(values, k, combination):
    """Combine values[:k] (k >= 1) in their order."""
    if combination == AVERAGE:
        total = 0.0
        for j in range(k):
            total += values[j]
        return total / k
    if combination == MEDIAN:
        _sort_values(values, k)
        return _median(values, ZERO, k) if k >= 2 else values[0]
    result = values[0]
    if combination == MINIMUM:
        for j in range(1, k):
            result = min(result, values[j])
    else:
        for j in range(1, k):
            result = max(result, values[j])
    return result


@njit(cache=True)
def _window_values(srt, x0, width, elig, lo, hi, cvlo, cvhi):
    """The values of each complete column's window ends, s[lo] and s[hi-1]: the survivors are the samples
    valued within them (the window never splits equal samples: see :func:`_stable_keep`, which takes
    over if it ever did)."""
    for x in range(width):
        c = x0 + x
        if elig[c] and hi[c] > lo[c]:
            cvlo[x] = srt[lo[c], c]
            cvhi[x] = srt[hi[c] - 1, c]
        else:  # unused, or nothing survived: an empty range keeps no sample
            cvlo[x], cvhi[x] = 1.0, 0.0


@njit(cache=True)
def _average_chunk(
    stack,
    y,
    x0,
    width,
    fs,
    elig,
    lo,
    hi,
    cvlo,
    cvhi,
    ctotal,
    ckept,
    keep,
    values,
    out,
    rejected_low,
    rejected_high,
):
    """Average the chunk's complete columns across the columns, adding 0.0 for the rejected samples as
    the reference does (the same sum, in frame order)."""
    r_scale, r_offset, o_scale, o_offset = fs
    n = stack.shape[0]
    for x in range(width):
        ctotal[x] = 0.0
        ckept[x] = 0
    for i in range(n):
        rs = r_scale[i]
        ro = r_offset[i]
        os_ = o_scale[i]
        oo = o_offset[i]
        src = stack[i, y, x0 : x0 + width]
        for x in range(width):
            raw = np.float64(src[x])
            r = raw * rs + ro  # the rejection-normalized sample, as gathered
            kept = (r >= cvlo[x]) & (r <= cvhi[x])
            value = raw * os_ + oo
            ctotal[x] += value if kept else 0.0
            ckept[x] += kept
    for x in range(width):
        c = x0 + x
        if elig[c] and ckept[x] != hi[c] - lo[c]:
            _stable_keep(stack, y, c, r_scale, r_offset, lo[c], hi[c], keep)
            total = 0.0
            for i in range(n):
                value = np.float64(stack[i, y, c]) * o_scale[i] + o_offset[i]
                total += value if keep[i] else 0.0
            ctotal[x] = total
            ckept[x] = hi[c] - lo[c]
    elig_c = elig[x0 : x0 + width]
    lo_c = lo[x0 : x0 + width]
    hi_c = hi[x0 : x0 + width]
    out_c = out[y, x0 : x0 + width]
    low_c = rejected_low[y, x0 : x0 + width]
    high_c = rejected_high[y, x0 : x0 + width]
    for x in range(width):
        if elig_c[x]:
            low_c[x] = lo_c[x]
            high_c[x] = n - hi_c[x]
            out_c[x] = (
                ctotal[x] / ckept[x]
                if ckept[x]
                else median_of_valid(stack, y, x0 + x, o_scale, o_offset, values)
            )


@njit(cache=True)
def _combine_chunk(
    stack, y, x0, width, p, fs, elig, lo, hi, cvlo, cvhi, keep, values, out, rejected_low, rejected_high
):
    """Combine the chunk's complete columns pixel by pixel (median, minimum, maximum)."""
    r_scale, r_offset, o_scale, o_offset = fs
    n = stack.shape[0]
    for x in range(width):
        c = x0 + x
        if not elig[c]:
            continue
        rejected_low[y, c] = lo[c]
        rejected_high[y, c] = n - hi[c]
        k = 0
        for i in range(n):
            r = np.float64(stack[i, y, c]) * r_scale[i] + r_offset[i]
            keep[i] = (r >= cvlo[x]) & (r <= cvhi[x])
            k += keep[i]
        if k != hi[c] - lo[c]:
            _stable_keep(stack, y, c, r_scale, r_offset, lo[c], hi[c], keep)
        k = 0
        for i in range(n):
            if keep[i]:
                values[k] = np.float64(stack[i, y, c]) * o_scale[i] + o_offset[i]
                k += 1
        out[y, c] = (
            _combine(values, k, p.combination)
            if k
            else median_of_valid(stack, y, c, o_scale, o_offset, values)
        )
