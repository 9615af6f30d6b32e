"""Robust location and scale shared by normalization, calibration, screening and the report.

:func:`nan_median_mad` — median and raw median absolute deviation of an image, NaN-safe, optionally on a
deterministic random subsample (:func:`subsample`; frame statistics for normalization). Exact selection
in numba (:mod:`apcal.stats._select`), ~10x faster than ``np.median``'s partition and without its float64
copies; ``fast=False`` runs the numpy reference, which it equals exactly (tests).
"""

from __future__ import annotations

import math

import numpy as np

from apcal.stats import _select

# Pixels used for whole-frame statistics: 2**21 random pixels give the median to ~0.1 % of the noise.
SUBSAMPLE = 1 << 21
MAD_TO_SIGMA = 1.482602218505602  # 1 / Phi^-1(3/4): MAD of a normal distribution -> its sigma
#: The dtypes the numba kernels are compiled for; anything else is converted to float64 first.
KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def jitter_positions(n: int, size: int) -> np.ndarray:
    """Flat positions of a ``size``-pixel subsample of ``n >= size`` pixels: one pseudo-random pixel in
    each of ``size`` equal strata (numpy reference of :func:`apcal.stats._select.jitter_position`).

    Random, not strided: a regular stride can alias with a Bayer pattern and sample one colour only.
    Stratified: the positions come out sorted and distinct (no ``np.sort``, no pixel drawn twice), and
    each is a hash of its index, so the numba kernels recompute any of them without storing the array.
    """
    i = np.arange(size, dtype=np.uint64)
    start = i * np.uint64(n) // np.uint64(size)
    width = (i + np.uint64(1)) * np.uint64(n) // np.uint64(size) - start
    z = i * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x632BE59BD9B4E019)  # splitmix64, wrapping
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = (z ^ (z >> np.uint64(31))) >> np.uint64(32)
    return (start + (z * width >> np.uint64(32))).astype(np.intp)


def subsample(values: np.ndarray, size: int = SUBSAMPLE, *, fast: bool = True) -> np.ndarray:
    """Return ``values`` flattened, or the ``size`` pixels at :func:`jitter_positions` when it is larger.

    Deterministic: every frame of a given shape is measured on the same pixels. ``fast`` gathers them in
    numba (no index array); the numpy reference indexes with :func:`jitter_positions`.
    """
    flat = np.asarray(values).reshape(-1)
    if flat.size <= size:
        return flat
    if fast and flat.dtype in KERNEL_DTYPES:
        return _select.jittered_gather(flat, size)
    return flat[jitter_positions(flat.size, size)]


def nan_median_mad(
    values: np.ndarray, size: int | None = SUBSAMPLE, *, fast: bool = True
) -> tuple[float, float]:
    """Median and raw MAD (not scaled by 1.4826) of the finite values; (nan, nan) when there are none.

    ``size`` caps the pixels used (see :func:`subsample`); ``None`` uses every pixel. The median is
    ``np.median`` of the finite values in float64 and the MAD the median of their absolute deviations
    from it, also in float64. ``fast`` computes both by exact selection in numba, reading float32 data
    in place (deviations in float64 inside the kernel); ``fast=False`` is the numpy reference below.
    The results are equal (a zero median may come out as -0.0 from one and 0.0 from the other).
    """
    flat = np.asarray(values).reshape(-1) if size is None else subsample(values, size, fast=fast)
    if not fast:
        return _reference_median_mad(flat)
    if flat.dtype not in KERNEL_DTYPES:
        flat = flat.astype(np.float64)
    median, mad = _select.median_mad(flat)
    return float(median), float(mad)


def _reference_median_mad(flat: np.ndarray) -> tuple[float, float]:
    flat = flat[np.isfinite(flat)].astype(np.float64)
    if flat.size == 0:
        return math.nan, math.nan
    median = float(np.median(flat))
    mad = float(np.median(np.abs(flat - median)))
    return median, mad
