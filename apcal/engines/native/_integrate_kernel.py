"""The integration driver: :func:`integrate_rows`, the numba kernel of
:func:`apcal.engines.native.integration.integrate` (``fast=True``).

A loop over blocks of rows, which :mod:`.integration` runs on several threads. Each row is taken
``CHUNK`` columns at a time: the samples are gathered frame by frame (contiguous reads), range-clipped
and rejection-normalized, and ranked in their stable sorted order across all the chunk's columns at once
(:func:`_rank_chunk`, branch-free, so the compiler vectorizes it). Then each pixel's sorted samples go
through the rejection algorithm (:mod:`._reject_kernels`) and the output-normalized survivors are
combined in frame order. Winsorized clipping, the default for every master, is computed across columns
instead (:mod:`._winsorized_lanes`), and so is linear fit clipping (:mod:`._lad_lanes`,
flats under WBPP's ``auto``).

The arithmetic mirrors :mod:`apcal.engines.native.integration`'s numpy reference operation for operation
(float64, same summation order), so both paths agree exactly. Work arrays are allocated once per block of
rows, never per pixel. No ``fastmath``: it would let LLVM reassociate the sums and break that agreement.
``nogil``: threads run blocks side by side (and a reader thread alongside). Not ``parallel=True``:
numba's parallel loop took ~10 s of the ~33 s this kernel takes to compile on first use, and
threads over blocks of rows do the same work. Source: PCL
``src/modules/processes/ImageIntegration/IntegrationEngine.cpp``,
``IntegrationEngine::IntegrationThread::Run`` (vahlkar/PCL commit fd570d584).

Measured on a 20-frame stack of 16-bit frames: ~0.077 µs per pixel on 2 threads (0.23 s for 3 Mpx;
``bench/README.md``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from apcal.engines.native._chunk_combine import (
    _average_chunk,
    _combine,
    _combine_chunk,
    _window_values,
    median_of_valid,
)
from apcal.engines.native._chunk_samples import (
    _gather_chunk,
    _gather_raw,
    _identity_rejection,
    _keep_sorted,
    _mark_complete,
    _rank_chunk,
    _widen,
)
from apcal.engines.native._kernel_params import AVERAGE, LINEAR_FIT, WINSORIZED
from apcal.engines.native._lad_lanes import _lad_lanes
from apcal.engines.native._reject_kernels import HIGH, LOW, _reject_sorted
from apcal.engines.native._winsorized_lanes import LANES, _sort_chunk, _winsorized_lanes, _winsorized_start
from apcal.stats._typed import FALSE, ONE

#: Columns gathered and ranked together: the ranking loops run across them (SIMD), and a chunk's
#: float64 samples (n x CHUNK) stay in the L1/L2 cache. 128 rather than 64: 4-7 % less time per
#: pixel on 20- and 40-frame stacks (fewer, longer vector loops; 32 was 10 % slower, 256 no faster).
#: The loops over a chunk's columns index 1-D views (``src = stack[i, y, x0:x0 + width]``, then
#: ``src[x]``), not ``stack[i, y, x0 + x]``: numba wraps negative indices, and with the sum as the
#: index LLVM did not vectorize them (the gather took 28 ns per pixel of 20 samples instead of 7).
CHUNK = 128


#: Rows per block of :func:`integrate_rows`: its work arrays (a row's sorted samples for
#: winsorized clipping, ~n x cols x 12 bytes) are allocated once per block, not per row.
ROW_BLOCK = 16


@njit(cache=True)
def _pixel_scratch(n):
    """Work arrays of :func:`_integrate_pixels` (n samples each), allocated once per block of rows."""
    return (
        np.empty(n),
        np.empty(n, dtype=np.int64),
        np.empty(n, dtype=np.int8),
        np.empty(n, dtype=np.bool_),
        np.empty(n),
        np.empty(n),
        np.empty(n),
        np.empty(n, dtype=np.int64),
        np.empty(n),
    )


@njit(cache=True)
def _integrate_pixels(
    stack,
    y,
    x0,
    width,
    chunked,
    elig,
    p,
    fs,
    esd_table,
    vals,
    ranks,
    counts,
    range_low_n,
    range_high_n,
    scratch,
    out,
    rejected_low,
    rejected_high,
):
    """Reject and combine pixel by pixel the chunk's columns the lanes do not take, from their gathered
    samples ``vals[:, x]`` and stable ranks: each pixel's valid samples in sorted order through the
    rejection algorithm, then the output-normalized survivors combined in frame order (the reference's
    order). One call per chunk, not per pixel: the call passes every work array."""
    v, idx, flags, keep, w, w2, w3, took_low, values = scratch
    o_scale, o_offset = fs[2], fs[3]
    n = stack.shape[0]
    for x in range(width):
        if chunked and elig[x0 + x]:
            continue
        c = x0 + x
        cnt = counts[x]
        n_low = range_low_n[x]  # the samples already range-clipped
        n_high = range_high_n[x]
        for i in range(n):
            keep[i] = False
            r = ranks[i, x]
            if r < cnt:
                v[r] = vals[i, x]
                idx[r] = i
        _reject_sorted(p, v, cnt, flags, esd_table, w, w2, w3, took_low)
        for j in range(cnt):
            if flags[j] == LOW:
                n_low += 1
            elif flags[j] == HIGH:
                n_high += 1
            else:
                keep[idx[j]] = True
        rejected_low[y, c] = n_low
        rejected_high[y, c] = n_high
        k = 0
        for i in range(n):
            if keep[i]:
                values[k] = np.float64(stack[i, y, c]) * o_scale[i] + o_offset[i]
                k += 1
        if k == 0:  # nothing survived: the median of every valid sample (PCL)
            out[y, c] = median_of_valid(stack, y, c, o_scale, o_offset, values)
        else:
            out[y, c] = _combine(values, k, p.combination)


@njit(cache=True)
def _start_lanes(vals, n, width, x0, elig, networks, h, mean0, sig0):
    """The winsorization start (median, Sn) of the chunk's complete columns, from their sorted samples
    ``vals`` (sorted by :func:`_sort_chunk` and already kept in the row's by :func:`_keep_sorted`):
    float64, or as the stack holds them (float32) for unnormalized samples, with ``h`` scratch of the
    same type; :func:`_sn_exact` then tells whether float64 would have given the same Sn."""
    for x in range(width):
        if not elig[x0 + x]:
            for j in range(n):
                vals[j, x] = 0.0  # (unused; keeps the start's arithmetic on finite values)
    _winsorized_start(vals, width, n, h, networks[1], mean0[x0 : x0 + width], sig0[x0 : x0 + width])


@njit(cache=True)
def _sn_exact(wc, h, n, width):
    """Whether the start just computed in float32 from the sorted samples ``wc`` (:func:`_start_lanes`,
    its lomed himeds in row r of ``h``) gave each column the Sn that float64 gives.

    Rounding is monotone, so it commutes with the differences' minima, maxima and order statistics:
    float32's Sn is the exact Sn E rounded to float32, and float64's is E (a difference of two float32
    samples, exact in float64). They agree when E is a float32. E = x_p - x_q (x_q <= x_p) is a
    multiple of x_q's ulp, so it is one when E < 2**24 ulp(x_q), which E <= x_q ensures; x_q is at
    least the column's smallest sample x_0. So: Sn is 0 (E < 2**-150 is 0), or 0 < 2 Sn <= x_0 (the
    factor 2 covers the rounding). A bias or dark's Sn (a few DN) is far below its level; a column
    with a zero or tiny sample fails the test, and the chunk's start is computed again in float64.

    Why float32: 16 samples to a vector instead of 8, so the start (Sn's himeds and the lomed's
    selection network) takes about 0.55-0.7x the time at 25-100 frames.
    """
    r = (n + 1) // 2 - 1
    exact = True
    for x in range(width):
        sn = h[r, x]
        exact &= (sn == 0) | ((wc[0, x] > 0) & (2 * sn <= wc[0, x]))
    return exact


@njit(cache=True)
def _chunk_start(raw, vals, n, width, x0, elig, networks, narrow, h_raw, h, mean0, sig0):
    """The winsorization start of the chunk's complete columns (:func:`_start_lanes`): in float32 from
    the raw sorted samples when ``narrow``, unless a column's Sn might not be exact there
    (:func:`_sn_exact`), else in float64."""
    if narrow:
        _start_lanes(raw, n, width, x0, elig, networks, h_raw, mean0, sig0)
        if _sn_exact(raw, h_raw, n, width):
            return
    _start_lanes(vals, n, width, x0, elig, networks, h, mean0, sig0)


@njit(cache=True)
def _lad_row(
    stack,
    y,
    p,
    fs,
    esd_table,
    networks,
    srt,
    elig,
    lo,
    hi,
    back,
    wl,
    wr,
    vals,
    ranks,
    counts,
    range_low_n,
    range_high_n,
    scratch,
    out,
    rejected_low,
    rejected_high,
):
    """Linear fit clipping of row y's complete columns (``elig``), from their sorted samples ``srt``, in
    the LAD lanes (:func:`._lad_lanes._lad_lanes`): each column's surviving window, combined chunk by
    chunk as the winsorized lanes' are. A column the lanes hand back (survivors that are not a window)
    leaves ``elig`` for the per-pixel path (:func:`_integrate_pixels`, its one column gathered and
    ranked again)."""
    n, _, cols = stack.shape
    back[:] = False
    _lad_lanes(srt, cols, n, elig, networks[0], p, lo, hi, back, wl, wr)
    for c in range(cols):
        if back[c]:
            elig[c] = False
            _gather_chunk(stack, y, c, ONE, p, fs, vals, counts, range_low_n, range_high_n)
            _rank_chunk(vals, ranks, n, ONE)
            _integrate_pixels(
                stack,
                y,
                c,
                ONE,
                FALSE,
                elig,
                p,
                fs,
                esd_table,
                vals,
                ranks,
                counts,
                range_low_n,
                range_high_n,
                scratch,
                out,
                rejected_low,
                rejected_high,
            )


@njit(cache=True, nogil=True)
def integrate_rows(stack, p, fs, esd_table, networks, out, rejected_low, rejected_high, blocks):
    """Reject and combine the pixels of ``stack`` (n, rows, cols) in the blocks of ``ROW_BLOCK`` rows
    ``blocks`` = (first, stop); write out (float32: each pixel's float64 value rounded as it is stored)
    and rejected_low/high there.

    ``p``: the settings (:class:`._kernel_params.KernelParams`); ``fs``: the frames' rejection and
    output normalization, a tuple (r_scale, r_offset, o_scale, o_offset) of (n,) float64 arrays;
    ``esd_table``: ESD's critical values (ESD only); ``networks``: the sorting and selection networks
    of the winsorized lanes for n (:func:`._winsorized_lanes.lanes_networks`).

    Per row, CHUNK columns at a time: gather the samples frame by frame (:func:`_gather_chunk`), rank
    them (the stable sorted order, :func:`_rank_chunk`), then reject per pixel on its sorted samples and
    combine the survivors in frame order (:func:`_integrate_pixels`). Winsorized clipping instead sorts
    each chunk's columns (unnormalized samples as the stack holds them, :mod:`._chunk_samples`), keeps
    them in the row's sorted samples (:func:`_keep_sorted`) and computes their start (:func:`_start_lanes`),
    runs the whole rejection across the row's columns (:func:`_winsorized_lanes`), then combines chunk by
    chunk, keeping the samples valued within each window's ends (:func:`_window_values`,
    :func:`_average_chunk`, :func:`_combine_chunk`). Linear fit clipping sorts them the same way and runs
    every fit of each column in the LAD lanes (:func:`_lad_row`). Pixels with missing or range-clipped
    samples always take the per-pixel path (ranked only in the chunks that have some).
    """
    n, rows, cols = stack.shape
    lad = p.algorithm == LINEAR_FIT and n >= 5
    chunked = (p.algorithm == WINSORIZED and n >= 3) or lad
    # Unnormalized samples are sorted as the stack holds them, then widened (see _chunk_samples).
    narrow = chunked and _identity_rejection(fs)
    row_cols = cols if chunked else 1
    for blk in range(blocks[0], blocks[1]):
        # Work arrays once per block of rows (per thread), never per row or pixel.
        vals = np.empty((n, CHUNK))
        raw = np.empty((n, CHUNK if narrow else 0), dtype=stack.dtype)
        ranks = np.empty((n, CHUNK), dtype=np.int32)
        counts = np.empty(CHUNK, dtype=np.int64)
        range_low_n = np.empty(CHUNK, dtype=np.int64)
        range_high_n = np.empty(CHUNK, dtype=np.int64)
        h = np.empty((n, CHUNK))
        h_raw = np.empty((n, CHUNK if narrow else 0), dtype=stack.dtype)
        # The row's sorted samples, start and windows (winsorized clipping only).
        srt = np.empty((n, row_cols))
        elig = np.zeros(row_cols, dtype=np.bool_)
        mean0 = np.empty(row_cols)
        sig0 = np.empty(row_cols)
        lo = np.zeros(row_cols, dtype=np.int64)
        hi = np.zeros(row_cols, dtype=np.int64)
        wl = np.empty((n, LANES))
        wr = np.empty((n, LANES if lad else 0))  # the LAD lanes' residuals
        back = np.zeros(row_cols if lad else 0, dtype=np.bool_)  # columns the LAD lanes hand back
        ctotal = np.empty(CHUNK)
        ckept = np.empty(CHUNK, dtype=np.int64)
        cvlo = np.empty(CHUNK)
        cvhi = np.empty(CHUNK)
        scratch = _pixel_scratch(n)
        v, keep, w, values = scratch[0], scratch[3], scratch[4], scratch[8]
        for y in range(blk * ROW_BLOCK, min(rows, (blk + 1) * ROW_BLOCK)):
            for x0 in range(0, cols, CHUNK):
                width = min(CHUNK, cols - x0)
                if narrow:
                    _gather_raw(stack, y, x0, width, p, raw, counts, range_low_n, range_high_n)
                else:
                    _gather_chunk(stack, y, x0, width, p, fs, vals, counts, range_low_n, range_high_n)
                all_elig = chunked and _mark_complete(counts, n, width, elig[x0 : x0 + width])
                # Pixels with missing or excluded samples (and every pixel of the other algorithms):
                # per pixel, on the stable ranks.
                if not all_elig:
                    if narrow:
                        _widen(raw, vals, n, width)
                    _rank_chunk(vals, ranks, n, width)
                _integrate_pixels(
                    stack,
                    y,
                    x0,
                    width,
                    chunked,
                    elig,
                    p,
                    fs,
                    esd_table,
                    vals,
                    ranks,
                    counts,
                    range_low_n,
                    range_high_n,
                    scratch,
                    out,
                    rejected_low,
                    rejected_high,
                )
                if chunked:
                    if narrow:
                        _sort_chunk(raw, n, width, networks[0])
                        _keep_sorted(raw, vals, srt, x0, n, width)
                    else:
                        _sort_chunk(vals, n, width, networks[0])
                        _keep_sorted(vals, vals, srt, x0, n, width)
                    if not lad:  # (the LAD lanes start from each column's least-squares line)
                        _chunk_start(raw, vals, n, width, x0, elig, networks, narrow, h_raw, h, mean0, sig0)
            if lad:
                _lad_row(
                    stack,
                    y,
                    p,
                    fs,
                    esd_table,
                    networks,
                    srt,
                    elig,
                    lo,
                    hi,
                    back,
                    wl,
                    wr,
                    vals,
                    ranks,
                    counts,
                    range_low_n,
                    range_high_n,
                    scratch,
                    out,
                    rejected_low,
                    rejected_high,
                )
            elif chunked:
                _winsorized_lanes(srt, cols, n, elig, mean0, sig0, p, lo, hi, wl, v, w)
            if chunked:
                for x0 in range(0, cols, CHUNK):
                    width = min(CHUNK, cols - x0)
                    _window_values(srt, x0, width, elig, lo, hi, cvlo, cvhi)
                    if p.combination == AVERAGE:
                        _average_chunk(
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
                        )
                    else:
                        _combine_chunk(
                            stack,
                            y,
                            x0,
                            width,
                            p,
                            fs,
                            elig,
                            lo,
                            hi,
                            cvlo,
                            cvhi,
                            keep,
                            values,
                            out,
                            rejected_low,
                            rejected_high,
                        )
