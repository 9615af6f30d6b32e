"""How far two masters of the same frames are apart, in units of the reference master's own noise.

Used by ``apcal verify`` to compare engines. The difference ``other - reference`` is measured on the
finite pixels of both:

* ``noise``: the reference master's Gaussian pixel noise (:func:`apcal.stats.noise.estimate_noise`, on
  the central :data:`NOISE_WINDOW` square as the run report measures it);
* ``rms_sigma``: the RMS of the difference over ``noise``; ``p999_sigma``: the 99.9th percentile of
  the absolute difference over ``noise`` (the worst pixel in a thousand: rejection differences at hot
  pixels and cosmic rays show there first);
* with ``relative`` (flats, whose level is arbitrary: one normalization divides by the reference
  frame's median, another by its mean): each master is divided by its median first, and
  ``relative_rms``/``relative_p999`` are the RMS and 99.9th percentile of the absolute difference as
  fractions of 1 (0.001 = 0.1 %); ``noise`` is then relative too.
"""

from __future__ import annotations

import math

import numpy as np

from apcal.stats.noise import estimate_noise
from apcal.stats.robust import nan_median_mad

NOISE_WINDOW = 1024
PERCENTILE = 99.9


def central(plane: np.ndarray, size: int = NOISE_WINDOW) -> np.ndarray:
    """The central ``size`` x ``size`` square of ``plane`` (all of it when smaller)."""
    rows, cols = plane.shape[-2:]
    r0, c0 = max(0, (rows - size) // 2), max(0, (cols - size) // 2)
    return plane[..., r0 : r0 + size, c0 : c0 + size]


def difference_statistics(reference: np.ndarray, other: np.ndarray, *, relative: bool) -> dict[str, float]:
    """The statistics of ``other - reference`` described in the module docstring."""
    ref = np.asarray(reference, dtype=np.float64)
    oth = np.asarray(other, dtype=np.float64)
    if ref.shape != oth.shape:
        raise ValueError(f"the masters differ in shape: {ref.shape} and {oth.shape}")
    if relative:
        ref = ref / _median(ref)
        oth = oth / _median(oth)
    planes = ref if ref.ndim == 3 else ref[None]
    noise = float(np.mean([estimate_noise(central(p)) for p in planes]))
    diff = oth - ref
    diff = diff[np.isfinite(diff)]
    if diff.size == 0 or not noise > 0:
        return {"noise": noise, "rms_sigma": math.nan, "p999_sigma": math.nan}
    rms = float(np.sqrt(np.mean(diff * diff)))
    p999 = float(np.percentile(np.abs(diff), PERCENTILE))
    stats = {"noise": noise, "rms_sigma": rms / noise, "p999_sigma": p999 / noise, "mean": float(diff.mean())}
    if relative:
        stats.update(relative_rms=rms, relative_p999=p999)
    return stats


def _median(image: np.ndarray) -> float:
    median, _ = nan_median_mad(image)
    if not median > 0:
        raise ValueError("a flat master with a median <= 0 cannot be compared relatively")
    return median
