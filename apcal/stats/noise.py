"""Noise estimation: the Gaussian sigma of an image's pixel noise, measured on its first wavelet layer.

Shared by the native engine's dark optimization and the masters' statistics.
"""

from __future__ import annotations

import math

import numpy as np

from apcal.stats.robust import atrous_layer1, ksigma_noise, nan_median_mad


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
