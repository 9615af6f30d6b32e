"""Statistics of a finished master for the run report (``JobResult.stats``).

All values are plain floats in the image's [0, 1] units, except the rejected fractions, which are the
share of all samples (``n_frames x pixels``) rejected low and high, PixInsight's "total rejected" figures.
"""

from __future__ import annotations

import numpy as np

from apcal.engines.native.calibration import estimate_noise
from apcal.engines.native.robust import nan_median_mad

#: Side of the central square the noise is measured on.
NOISE_WINDOW = 1024


def _central(plane: np.ndarray, size: int) -> np.ndarray:
    rows, cols = plane.shape
    r0, c0 = max(0, (rows - size) // 2), max(0, (cols - size) // 2)
    return plane[r0 : r0 + size, c0 : c0 + size]


def master_stats(
    image: np.ndarray, rejected_low: np.ndarray, rejected_high: np.ndarray, n_frames: int
) -> dict[str, float]:
    """median, mean, noise, min, max and rejected_low_fraction / rejected_high_fraction of a master.

    ``noise`` is :func:`~apcal.engines.native.calibration.estimate_noise` (k-sigma on the first wavelet
    layer) on the central :data:`NOISE_WINDOW` square of each channel, averaged over channels: 2**20
    pixels give the noise to ~0.1 %, and the wavelet transform of a whole 26 Mpx master would cost
    seconds and ~1 GB of float64 scratch. The median is computed on every pixel. NaN pixels are left
    out; an all-NaN image gives NaN statistics.
    """
    img = np.asarray(image)
    planes = img if img.ndim == 3 else img[None]
    finite = img[np.isfinite(img)]
    samples = max(1, int(n_frames) * img.size)
    median, _ = nan_median_mad(img, size=None)
    if finite.size:
        mean, lo, hi = float(finite.mean(dtype=np.float64)), float(finite.min()), float(finite.max())
        noise = float(np.mean([estimate_noise(_central(p, NOISE_WINDOW)) for p in planes]))
    else:
        mean = lo = hi = noise = float("nan")
    return {
        "median": float(median),
        "mean": mean,
        "noise": noise,
        "rejected_low_fraction": float(np.sum(rejected_low, dtype=np.int64)) / samples,
        "rejected_high_fraction": float(np.sum(rejected_high, dtype=np.int64)) / samples,
        "min": lo,
        "max": hi,
    }
