"""Flat calibration formulas, the noise estimator and dark optimization."""

from __future__ import annotations

import numpy as np
import pytest

from apcal.engines.native.calibration import (
    calibrate_flat,
    dark_optimization_mask,
    optimize_dark_scale,
)
from apcal.params import CalibrationParams
from apcal.stats.noise import estimate_noise


def frames(k_true=0.73, shape=(300, 300), seed=0):
    rng = np.random.default_rng(seed)
    bias = 0.01 + 0.0005 * rng.standard_normal(shape)  # fixed pattern
    current = 0.0005 + 0.0001 * rng.standard_normal(shape)
    hot = rng.random(shape) < 0.02
    current[hot] += rng.exponential(0.05, size=hot.sum())
    dark = bias + current + 0.0002 * rng.standard_normal(shape)  # master dark, bias included
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    illumination = 0.4 * (1 - 0.2 * (((yy - 150) ** 2 + (xx - 150) ** 2) / 150**2))
    raw = bias + k_true * current + illumination + 0.003 * rng.standard_normal(shape)
    f32 = np.float32
    return raw.astype(f32), bias.astype(f32), dark.astype(f32), hot


def test_calibrate_flat_formulas():
    raw, bias, dark, _ = frames()
    r, b, d = (x.astype(np.float64) for x in (raw, bias, dark))
    out = calibrate_flat(raw, bias=bias, dark=dark, k=0.5, pedestal=0.001)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, r - b - 0.5 * (d - b) + 0.001, atol=1e-7)
    np.testing.assert_allclose(calibrate_flat(raw, bias=None, dark=dark, k=2.0), r - 2 * d, atol=1e-7)
    np.testing.assert_allclose(calibrate_flat(raw, bias=bias, dark=None), r - b, atol=1e-7)
    np.testing.assert_allclose(calibrate_flat(raw, bias=bias, dark=dark, flatdark=dark), r - d, atol=1e-7)
    np.testing.assert_array_equal(calibrate_flat(raw, bias=None, dark=None), raw)


def test_dark_optimization_mask_selects_hot_pixels():
    _, bias, dark, hot = frames()
    mask = dark_optimization_mask(dark, bias, 3.0)
    strong = hot & ((dark - bias) > 0.0005 + 0.01)
    assert mask[strong].all()
    assert mask[~hot].mean() < 0.005


def test_estimate_noise_white_noise_and_gradient():
    rng = np.random.default_rng(2)
    noise = 0.01 * rng.standard_normal((400, 400))
    yy, xx = np.mgrid[0:400, 0:400]
    assert estimate_noise(noise) == pytest.approx(0.01, rel=0.03)
    smooth = 0.3 + 0.2 * xx / 400 + 0.1 * (yy / 400) ** 2
    assert estimate_noise(noise + smooth) == pytest.approx(0.01, rel=0.03)
    mask = np.zeros((400, 400), dtype=bool)
    mask[::3, ::3] = True
    assert estimate_noise(noise, mask) == pytest.approx(0.01, rel=0.05)


@pytest.mark.parametrize(("k_true", "window"), [(0.73, 0), (0.73, 200), (1.9, 0)])
def test_dark_optimization_recovers_k(k_true: float, window: int):
    raw, bias, dark, _ = frames(k_true=k_true)
    params = CalibrationParams(dark_optimization_window=window)
    k = optimize_dark_scale(raw, bias=bias, dark=dark, params=params)
    assert k == pytest.approx(k_true, rel=0.01)


def test_dark_optimization_without_bias_and_without_hot_pixels():
    raw, bias, dark, _ = frames(k_true=0.73)
    # Dark without bias: raw - k·dark; the bias pedestal is then scaled too, yet hot pixels drive k.
    k = optimize_dark_scale(raw - bias, bias=None, dark=dark - bias, params=CalibrationParams())
    assert k == pytest.approx(0.73, rel=0.01)
    flat = np.full((50, 50), 0.3, dtype=np.float32)
    assert optimize_dark_scale(flat, bias=None, dark=np.zeros_like(flat), params=CalibrationParams()) == 1.0


# --- the kernels against the whole-frame numpy references ------------------------------------------


def _with_nan(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a[0, 0] = np.nan  # a corner: its mirrored neighbourhood too
    a[a.shape[0] // 2, 37] = np.nan
    return a


def test_atrous_layer1_at_equals_the_whole_frame_layer():
    from apcal.stats import _wavelet as W
    from apcal.stats.wavelet import atrous_layer1

    raw, bias, _, _ = frames(shape=(61, 47))
    raw = _with_nan(raw)
    rows, cols = slice(3, 58), slice(2, 45)  # a window: a non-contiguous view, mirrored at its edges
    image, b = raw[rows, cols], bias[rows, cols]
    signal = image.astype(np.float64) - b.astype(np.float64)
    full = atrous_layer1(np.where(np.isfinite(signal), signal, 0.0))
    rr, cc = (a.ravel().astype(np.int64) for a in np.indices(image.shape))
    out = np.empty(rr.size)
    W.atrous_layer1_at(image, b, True, rr, cc, out)
    np.testing.assert_array_equal(out, full.ravel())
    W.atrous_layer1_at(image, b, False, rr, cc, out)
    alone = atrous_layer1(np.nan_to_num(image.astype(np.float64), nan=0.0))
    np.testing.assert_array_equal(out, alone.ravel())


@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (2, 7), (1, 1)])
def test_atrous_layer1_at_on_thin_images_equals_the_numpy_layer(shape: tuple[int, int]):
    """One or two rows (or columns): the 5-tap kernel reaches past both edges; np.pad's symmetric rule
    repeats the pixels, and the kernel must read the same ones (never outside the image)."""
    from apcal.stats import _wavelet as W
    from apcal.stats.wavelet import atrous_layer1

    image = np.random.default_rng(7).random(shape).astype(np.float32)
    rr, cc = (a.ravel().astype(np.int64) for a in np.indices(shape))
    out = np.empty(rr.size)
    W.atrous_layer1_at(image, image, False, rr, cc, out)
    np.testing.assert_array_equal(out, atrous_layer1(image.astype(np.float64), fast=False).ravel())


@pytest.mark.parametrize(("k_true", "window", "nan"), [(0.73, 0, False), (0.73, 200, True), (1.9, 0, True)])
def test_dark_optimizer_equals_the_whole_frame_reference(k_true: float, window: int, nan: bool):
    from apcal.engines.native.calibration import DarkOptimizer, optimize_dark_scale_reference

    raw, bias, dark, _ = frames(k_true=k_true)
    if nan:
        raw = _with_nan(raw)
    params = CalibrationParams(dark_optimization_window=window)
    optimizer = DarkOptimizer(dark, bias, params)
    assert optimizer.pixels > 100
    for frame in (raw, raw * np.float32(1.01)):
        expected = optimize_dark_scale_reference(frame, bias=bias, dark=dark, params=params)
        assert optimizer.fit(frame) == expected
        assert optimizer.fit(frame, 0.5) == optimize_dark_scale_reference(
            frame, bias=bias, dark=dark, params=params, exposure_ratio=0.5
        )
    k = optimize_dark_scale(raw - bias, bias=None, dark=dark - bias, params=params)
    assert k == optimize_dark_scale_reference(raw - bias, bias=None, dark=dark - bias, params=params).k


def test_calibrate_flat_kernel_equals_the_numpy_reference():
    from apcal.engines.native.calibration import calibrate_flat_reference

    raw, bias, dark, _ = frames()
    raw = _with_nan(raw)
    cases = [
        dict(bias=bias, dark=dark, k=0.37, pedestal=0.001),
        dict(bias=bias, dark=dark, k=0.37),
        dict(bias=None, dark=dark, k=2.0),
        dict(bias=bias, dark=None),
        dict(bias=bias, dark=dark, flatdark=dark, pedestal=0.002),
        dict(bias=None, dark=None),
    ]
    for case in cases:
        np.testing.assert_array_equal(calibrate_flat(raw, **case), calibrate_flat_reference(raw, **case))
    colour = np.stack([raw, raw * np.float32(0.9), raw * np.float32(1.1)])
    cb, cd = np.stack([bias] * 3), np.stack([dark] * 3)
    expected = calibrate_flat_reference(colour, bias=cb, dark=cd, k=0.5)
    np.testing.assert_array_equal(calibrate_flat(colour, bias=cb, dark=cd, k=0.5), expected)
