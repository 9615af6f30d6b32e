"""A chunk's samples, as the integration kernel (:mod:`._integrate_kernel`) takes them: gathered frame
by frame from the stack (contiguous reads; range clipping, rejection normalization, and +inf for the
samples left out), the columns that have all their samples marked, then ranked in their stable order
(every algorithm's per-pixel path) or, for winsorized clipping, sorted and kept as the row's sorted
samples.

Unnormalized samples (bias and darks: rejection scale 1, offset 0) are gathered and sorted as the stack
holds them, float32, then widened: a vector holds twice as many, and sorting a chunk takes 0.46-0.60x
the time at 20-100 frames (13.5 vs 29.3 ns per pixel at 20, 170 vs 314 at 100). The whole kernel, the
float64 sort and this alternating in one process (25 pairs, one thread): 0.96-0.99x at 20 frames,
0.95-0.97x at 100. The sorted float64 values are those of sorting the widened samples, so the masters
stay bit-identical. Source: PCL ``IntegrationEngine.cpp``, ``IntegrationEngine::IntegrationThread::Run``
(vahlkar/PCL commit fd570d584), which gathers each row's samples from every frame before rejecting.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _gather_chunk(stack, y, x0, width, p, fs, vals, counts, range_low_n, range_high_n):
    """Gather the chunk's samples frame by frame (contiguous reads) into vals[i, x]: range clipping on
    the raw values, then rejection normalization; excluded samples become +inf so they rank last.
    Counts per column the valid samples and those range-clipped low/high."""
    r_scale, r_offset = fs[0], fs[1]
    for x in range(width):
        counts[x] = 0
        range_low_n[x] = 0
        range_high_n[x] = 0
    for i in range(stack.shape[0]):
        rs = r_scale[i]
        ro = r_offset[i]
        src = stack[i, y, x0 : x0 + width]  # a view (see _integrate_kernel.CHUNK)
        for x in range(width):
            raw = np.float64(src[x])
            if math.isnan(raw):
                vals[i, x] = np.inf
            elif p.range_clip_low and raw <= p.range_low:
                vals[i, x] = np.inf
                range_low_n[x] += 1
            elif p.range_clip_high and raw >= p.range_high:
                vals[i, x] = np.inf
                range_high_n[x] += 1
            else:
                vals[i, x] = raw * rs + ro
                counts[x] += 1


@njit(cache=True)
def _identity_rejection(fs):
    """Whether the rejection normalization leaves every frame's samples as they are (scale 1, offset 0:
    bias and darks, whose rejection is not normalized): the gathered samples are then the stack's own
    values, exactly representable in its dtype."""
    identity = True  # (a loop: np.all would be one more function to compile on first use)
    for i in range(fs[0].shape[0]):
        identity &= (fs[0][i] == 1.0) & (fs[1][i] == 0.0)
    return identity


@njit(cache=True)
def _gather_raw(stack, y, x0, width, p, raw, counts, range_low_n, range_high_n):
    """:func:`_gather_chunk` without rejection normalization (:func:`_identity_rejection`), into
    ``raw`` of the stack's dtype: the same values (x * 1.0 + 0.0 is x, but for -0.0, which becomes +0.0
    here too), without the float64 round trip."""
    for x in range(width):
        counts[x] = 0
        range_low_n[x] = 0
        range_high_n[x] = 0
    for i in range(stack.shape[0]):
        src = stack[i, y, x0 : x0 + width]  # a view (see _integrate_kernel.CHUNK)
        dst = raw[i]
        for x in range(width):
            value = src[x]
            if math.isnan(value):
                dst[x] = np.inf
            elif p.range_clip_low and value <= p.range_low:
                dst[x] = np.inf
                range_low_n[x] += 1
            elif p.range_clip_high and value >= p.range_high:
                dst[x] = np.inf
                range_high_n[x] += 1
            else:
                dst[x] = value + 0.0
                counts[x] += 1


@njit(cache=True)
def _mark_complete(counts, n, width, elig_c):
    """elig_c[x] = whether column x has all n samples valid (the lanes take it); True if all have."""
    all_elig = True
    for x in range(width):
        elig_c[x] = counts[x] == n
        all_elig &= counts[x] == n
    return all_elig


@njit(cache=True)
def _rank_chunk(vals, ranks, n, width):
    """Stable ranks of each column's samples: ranks[i, x] = #{j: v_j < v_i} + #{j < i: v_j == v_i}.

    The same order as a stable sort (the insertion sort, numpy's ``kind="stable"``), computed without a
    branch and across ``width`` columns at once, which the compiler vectorizes: for n ~ 20-60 this is
    several times faster than sorting each pixel on its own, whose branches mispredict constantly.
    Excluded samples are +inf and rank after every valid one.
    """
    for i in range(n):
        for x in range(width):
            ranks[i, x] = 0
        for j in range(i):
            for x in range(width):
                ranks[i, x] += vals[j, x] <= vals[i, x]
        for j in range(i + 1, n):
            for x in range(width):
                ranks[i, x] += vals[j, x] < vals[i, x]


@njit(cache=True)
def _widen(raw, vals, n, width):
    """vals[j, x] = raw[j, x] as float64 (exact), for columns x < width."""
    for j in range(n):
        src = raw[j]
        dst = vals[j]
        for x in range(width):
            dst[x] = np.float64(src[x])


@njit(cache=True)
def _keep_sorted(sorted_chunk, vals, srt, x0, n, width):
    """The chunk's sorted samples into the row's ``srt`` (columns x0 + x) and, when ``sorted_chunk`` is
    not ``vals`` itself (sorted as the stack holds them), widened into ``vals`` too, in one pass."""
    for j in range(n):
        src = sorted_chunk[j]
        chunk = vals[j]
        row = srt[j, x0 : x0 + width]
        for x in range(width):
            value = np.float64(src[x])
            chunk[x] = value
            row[x] = value
