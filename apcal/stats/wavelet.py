"""Wavelet layers: the first à trous layer (B3 spline), whose response to smooth signal is nil, so noise
can be measured on it (:mod:`apcal.stats.noise`) and dark optimization can compare frames on it."""

from __future__ import annotations

import numpy as np

from apcal.stats import _wavelet


def atrous_layer1(image: np.ndarray, *, fast: bool = True) -> np.ndarray:
    """First à trous wavelet layer ``w1 = I - I*B3`` (separable B3 spline 1/16 [1 4 6 4 1]).

    Mirror (``symmetric``) boundaries, float64 out. The layer is linear in the image, which dark
    optimization exploits: ``w1(a - k b) = w1(a) - k w1(b)``. ``fast`` runs the numba kernel, equal to
    this numpy reference (same operations in the same order) with one temporary instead of ~ten.
    """
    if fast:
        return _wavelet.atrous_layer1(np.ascontiguousarray(image, dtype=np.float64))
    img = np.asarray(image, dtype=np.float64)
    kernel = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)
    smooth = img
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (2, 2)
        padded = np.pad(smooth, pad, mode="symmetric")
        size = smooth.shape[axis]
        acc = np.zeros_like(smooth)
        for offset, weight in enumerate(kernel):
            acc += weight * np.take(padded, np.arange(offset, offset + size), axis=axis)
        smooth = acc
    return img - smooth
