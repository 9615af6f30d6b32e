"""Noise estimation: the Gaussian sigma of an image's pixel noise, measured on its first wavelet layer.

:func:`ksigma_noise` is PixInsight's k-sigma noise evaluation on the first à trous layer;
:func:`estimate_noise` applies it to a whole image. Shared by the native engine's dark optimization and
the masters' statistics.
"""

from __future__ import annotations

import math

import numpy as np

from apcal.stats import _select
from apcal.stats.robust import nan_median_mad
from apcal.stats.wavelet import atrous_layer1

# Standard deviation of the first à trous layer (B3 spline) for unit white Gaussian noise (Starck &
# Murtagh); dividing by it turns the layer's sigma into the image's noise sigma.
B3_LAYER1_NOISE = 0.8907
# The k-sigma clip of :func:`ksigma_sigma` (and its numba twin): keep |x - mean| < 3 sigma, at most 10
# times, until sigma changes by at most 0.1 %.
KSIGMA_K = 3.0
KSIGMA_ITERATIONS = 10
KSIGMA_EPS = 1e-3


def ksigma_sigma(
    values: np.ndarray, k: float = KSIGMA_K, max_iterations: int = KSIGMA_ITERATIONS, eps: float = KSIGMA_EPS
) -> float:
    """Iterative k-sigma clipped standard deviation about zero-mean wavelet coefficients.

    Each iteration keeps the finite values with ``|x - mean| < k·sigma`` of the previous iteration's
    mean and (population) sigma, until sigma changes by at most ``eps`` (relative) or ``max_iterations``.
    PixInsight's NoiseEvaluation k-sigma method does the same on the first wavelet layer.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    finite = np.isfinite(x)
    if not finite.all():
        x = x[finite]
    if x.size < 2:
        return 0.0
    sigma = float(np.std(x))
    mean = float(np.mean(x))
    for _ in range(max_iterations):
        if sigma == 0.0:
            return 0.0
        kept = _select.within(x, mean, k * sigma)  # x[np.abs(x - mean) < k * sigma], no temporaries
        if kept.size < 2:
            break
        new_sigma = float(np.std(kept))
        mean = float(np.mean(kept))
        if abs(new_sigma - sigma) <= eps * sigma:
            sigma = new_sigma
            break
        sigma = new_sigma
    return sigma


def ksigma_noise(layer1: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Noise sigma of an image from its first à trous layer (k-sigma clipped, scaled by 1/0.8907)."""
    values = layer1 if mask is None or mask.all() else layer1[mask]
    return ksigma_sigma(values) / B3_LAYER1_NOISE


def estimate_noise(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Gaussian noise sigma of ``image``, from its first à trous wavelet layer (B3 spline).

    The layer is computed on the whole image (NaN replaced by the median first), then measured with an
    iterative 3-sigma clipped standard deviation over ``mask`` (or all finite pixels) and divided by
    0.8907, the layer's response to unit white noise — PixInsight's k-sigma noise evaluation. Signal
    smoother than ~2 pixels does not reach the first layer, so a flat's illumination does not count.
    """
    img = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(img)
    if not finite.all():
        median, _ = nan_median_mad(img)
        img = np.where(finite, img, 0.0 if math.isnan(median) else median)
    layer = atrous_layer1(img)
    select = finite if mask is None else (finite & np.asarray(mask, dtype=bool))
    return ksigma_noise(layer, select)
