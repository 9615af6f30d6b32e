"""Vectorized helpers of the numpy rejection references: windows of survivors over sorted samples.

Every algorithm in :mod:`apcal.engines.native.rejection` works on the samples of each pixel sorted along
the first axis (NaN last); a pixel's survivors are the window ``lo <= j < hi``. These helpers measure and
narrow such windows for all pixels at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from apcal.params import IntegrationParams

Masks = tuple[np.ndarray, np.ndarray]
"""(low, high): boolean masks of the rejected samples, shaped like the stack."""

#: Finite-sample correction c_n of Sn for n = 2..9 (PCL include/pcl/Math.h, ``Sn``; Croux & Rousseeuw
#: 1992); for n >= 10 it is n/(n - 0.9) for odd n and 1 for even n (:func:`sn_correction`).
SN_SMALL_SAMPLE = {2: 0.743, 3: 1.851, 4: 0.954, 5: 1.351, 6: 0.993, 7: 1.198, 8: 1.005, 9: 1.131}


def _rows(n: int) -> np.ndarray:
    return np.arange(n)[:, None]


def _window(n: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    j = _rows(n)
    return (j >= lo) & (j < hi)


def _at(s: np.ndarray, index: np.ndarray) -> np.ndarray:
    index = np.clip(index, 0, s.shape[0] - 1)
    return np.take_along_axis(s, index[None, :], axis=0)[0]


def _median(s: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Median of each window (sorted); 0 where the window has fewer than 2 samples (as PCL)."""
    cnt = hi - lo
    half = cnt // 2
    upper = _at(s, lo + half)
    lower = _at(s, lo + half - 1)
    with np.errstate(invalid="ignore"):
        med = np.where(cnt % 2 == 1, upper, (upper + lower) / 2)
    return np.where(cnt < 2, 0.0, med)


def _sum(values: np.ndarray, member: np.ndarray) -> np.ndarray:
    # Summing along axis 0 adds the rows in order: the same order as the kernels' loops.
    return np.sum(np.where(member, values, 0.0), axis=0)


def _sigma(
    values: np.ndarray, member: np.ndarray, cnt: np.ndarray, centre: np.ndarray | None = None
) -> np.ndarray:
    """PCL's RejectionSigma: sqrt((Σd² - (Σd)²/N)/(N-1)), d = x - mean (or x - centre); 0 for N < 2."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if centre is None:
            centre = _sum(values, member) / cnt
        d = values - centre
        var = _sum(d * d, member)
        eps = _sum(d, member)
        sigma = np.sqrt((var - eps * eps / cnt) / (cnt - 1))
    return np.where(cnt < 2, 0.0, sigma)


def _leading(cond: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Number of consecutive True from the bottom of each window (PCL's low-side loop with ``break``)."""
    j = _rows(cond.shape[0])
    c = np.where(j < lo, True, np.where(j < hi, cond, False))
    return np.logical_and.accumulate(c, axis=0).sum(axis=0) - lo


def _trailing(cond: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Number of consecutive True from the top of each window (PCL's high-side loop)."""
    n = cond.shape[0]
    j = _rows(n)
    c = np.where(j >= hi, True, np.where(j >= lo, cond, False))
    return np.logical_and.accumulate(c[::-1], axis=0).sum(axis=0) - (n - hi)


def _window_masks(n: int, count: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Masks:
    j = _rows(n)
    return j < lo, (j >= hi) & (j < count)


def sn_correction(count: np.ndarray) -> np.ndarray:
    """Sn's finite-sample factor c_n for each sample size (PCL ``Sn`` in include/pcl/Math.h); 1 below 2."""
    n = np.asarray(count, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(n % 2 == 1, n / (n - 0.9), 1.0)
    for size, factor in SN_SMALL_SAMPLE.items():
        c = np.where(n == size, factor, c)
    return np.where(n < 2, 1.0, c)


def _clip_counts(
    s: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    centre: np.ndarray,
    sigma: np.ndarray,
    low_t: float,
    high_t: float,
    params: IntegrationParams,
    active: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Low/high rejection counts for ``(c - x)/σ > low_t`` and ``(x - c)/σ > high_t`` on active pixels."""
    zero = np.zeros_like(lo)
    with np.errstate(invalid="ignore", divide="ignore"):
        cl = _leading((centre - s) / sigma > low_t, lo, hi) if params.clip_low else zero
        ch = _trailing((s - centre) / sigma > high_t, lo, hi) if params.clip_high else zero
    return np.where(active, cl, 0), np.where(active, ch, 0)


def _apply(
    lo: np.ndarray, hi: np.ndarray, cl: np.ndarray, ch: np.ndarray, active: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the counts on active pixels; return (lo, hi, still_active: the pixels that changed)."""
    step = active & ((cl + ch) > 0)
    return lo + np.where(step, cl, 0), hi - np.where(step, ch, 0), step
