"""dark_scaling: apcal's least-squares fit (optimize) and PixInsight's objective (pixinsight), each fast
path against its whole-frame numpy reference, and each against what it is meant to find."""

from __future__ import annotations

import numpy as np
import pytest

from apcal.engines.native.calibration import (
    EXPOSURE_PRIOR,
    SATURATION,
    DarkOptimizer,
    combine_with_exposure,
    optimize_dark_scale_reference,
)
from apcal.engines.native.darkscale_pcl import (
    PixInsightDarkOptimizer,
    bin2,
    optimizing_dark,
    optimizing_target,
    pcl_minimize,
    pixinsight_dark_scale_reference,
)
from apcal.params import CalibrationParams

F32 = np.float32


def night(k_true: float = 0.4, shape=(240, 320), seed: int = 3, cfa: bool = False, noise: float = 0.002):
    """raw, bias, dark (bias included) in [0, 1] with hot pixels; the flat is vignetted, and a CFA
    flat carries its channels' sensitivities (0.6, 1, 0.8) pixel by pixel."""
    rng = np.random.default_rng(seed)
    bias = 0.008 + 0.0003 * rng.standard_normal(shape)
    current = 0.0004 + 0.00005 * rng.standard_normal(shape)
    hot = rng.random(shape) < 0.01
    current[hot] += rng.exponential(0.03, size=hot.sum())
    dark = bias + current + 0.0001 * rng.standard_normal(shape)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    level = 0.4 * (1 - 0.25 * ((yy - shape[0] / 2) ** 2 + (xx - shape[1] / 2) ** 2) / (shape[0] / 2) ** 2)
    if cfa:
        sensitivity = np.array([[0.6, 1.0], [1.0, 0.8]])
        level = level * np.tile(sensitivity, (shape[0] // 2 + 1, shape[1] // 2 + 1))[: shape[0], : shape[1]]
    raw = bias + level + k_true * current + noise * rng.standard_normal(shape)
    return raw.astype(F32), bias.astype(F32), dark.astype(F32)


# --- optimize ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cfa", [False, True])
def test_the_fit_recovers_k_and_equals_its_reference(cfa: bool) -> None:
    raw, bias, dark = night(cfa=cfa)
    params = CalibrationParams()
    optimizer = DarkOptimizer(dark, bias, params, cfa=cfa)
    fit = optimizer.fit(raw)
    assert fit == optimize_dark_scale_reference(raw, bias=bias, dark=dark, params=params, cfa=cfa)
    assert fit.k == pytest.approx(0.4, rel=0.01) and fit.error < 0.004


def test_a_cfa_mosaic_fitted_as_one_plane_is_far_worse() -> None:
    """The first wavelet layer of a mosaic is full of the channels' sensitivity steps: fitting it as a
    mono frame makes the fit's error several times larger than splitting it into its 2x2 phases."""
    raw, bias, dark = night(cfa=True)
    split = DarkOptimizer(dark, bias, CalibrationParams(), cfa=True).fit(raw)
    whole = DarkOptimizer(dark, bias, CalibrationParams(), cfa=False).fit(raw)
    assert whole.error > 5 * split.error


def test_saturated_dark_pixels_are_left_out() -> None:
    """A hot pixel clipped in the dark keeps its full signal in a long flat: fitted, it pulls k up."""
    raw, bias, dark = night(k_true=1.0)
    rows, cols = np.nonzero((dark - bias) > 0.05)
    r, c = rows[:30], cols[:30]
    raw, dark = raw.copy(), dark.copy()
    dark[r, c] = 1.0  # clipped at full scale; the true signal is higher ...
    raw[r, c] += F32(0.3)  # ... and the flat records it
    params = CalibrationParams()
    fit = DarkOptimizer(dark, bias, params).fit(raw)
    assert fit == optimize_dark_scale_reference(raw, bias=bias, dark=dark, params=params)
    assert fit.k == pytest.approx(1.0, rel=0.02)
    assert np.all(dark[r, c] >= SATURATION)


def test_a_saturated_flat_pixel_leaves_the_fit() -> None:
    raw, bias, dark = night()
    rows, cols = np.nonzero((dark - bias) > 0.05)
    raw = raw.copy()
    raw[rows[:20], cols[:20]] = 1.0
    params = CalibrationParams()
    full = DarkOptimizer(dark, bias, params)
    fit = full.fit(raw)
    assert fit.pixels <= full.pixels - 20
    assert fit == optimize_dark_scale_reference(raw, bias=bias, dark=dark, params=params)
    assert fit.k == pytest.approx(0.4, rel=0.01)


def test_combine_with_exposure_trusts_whichever_is_more_precise() -> None:
    ratio = 0.01
    # A fit far more precise than the ratio's spread sets k (a dark of another temperature).
    assert combine_with_exposure(0.015, 0.0001, 1000, ratio) == pytest.approx(0.015, rel=0.01)
    # A fit drowned in noise (2 s flats, a 300 s dark) leaves k at the ratio.
    assert combine_with_exposure(0.03, 0.05, 1000, ratio) == pytest.approx(ratio, rel=0.01)
    # Equal precision: halfway.
    assert combine_with_exposure(0.02, EXPOSURE_PRIOR * ratio, 1000, ratio) == pytest.approx(0.015)
    assert combine_with_exposure(0.02, 0.001, 1000, None) == 0.02
    assert combine_with_exposure(-0.5, 0.001, 1000, None) == 0.0
    assert combine_with_exposure(float("nan"), 1.0, 3, ratio) == ratio
    assert combine_with_exposure(float("nan"), 1.0, 3, None) == 1.0


def test_without_hot_pixels_k_is_the_exposure_ratio() -> None:
    flat = np.full((64, 64), 0.3, dtype=F32)
    zeros = np.zeros_like(flat)
    fit = DarkOptimizer(zeros, zeros, CalibrationParams()).fit(flat, 0.02)
    assert fit.k == 0.02 and fit.pixels < 16


# --- pixinsight -------------------------------------------------------------------------------------


def _std(raw: np.ndarray, dark_thr: np.ndarray, k: float) -> float:
    return float(np.std(raw - F32(k) * dark_thr, dtype=np.float64))


def test_pixinsight_objective_is_the_plain_std_over_the_window() -> None:
    """Written from the description of PCL >= 1.7.1: D_thr = (dark - bias) with every pixel below
    median + low·1.4826·MAD set to 0; k minimises std(raw - k·D_thr) over the whole frame."""
    raw, bias, dark = night(k_true=0.8, noise=0.0005)
    d = (dark - bias).astype(F32)
    median = np.median(d)
    threshold = median + 3.0 * 1.4826 * np.median(np.abs(d.astype(np.float64) - median))
    d_thr = np.where(d.astype(np.float64) < threshold, F32(0), d)
    lowest = min(_std(raw, d_thr, k) for k in np.arange(0, 2.5, 0.0005))
    (k,) = pixinsight_dark_scale_reference(raw, bias=bias, dark=dark, params=CalibrationParams(), cfa=False)
    # At the minimum the objective is flat to float32 rounding (PCL keeps it as float): k's value
    # there is the minimum's to a few units of float32, not closer.
    assert _std(raw, d_thr, k) <= lowest * (1 + 5e-7)
    assert _std(raw, d_thr, k * 1.2) > lowest * (1 + 1e-5)
    # The illumination leaks into the whole-frame std: k lands ~10 % high (optimize: within 1 %).
    assert k == pytest.approx(0.8, rel=0.15)


@pytest.mark.parametrize(("cfa", "window"), [(False, 0), (True, 0), (False, 101), (True, 64)])
def test_pixinsight_fast_path_equals_its_reference(cfa: bool, window: int) -> None:
    raw, bias, dark = night(k_true=0.6, cfa=cfa, shape=(241, 321))  # odd: binning drops a row, a column
    params = CalibrationParams(dark_optimization_window=window)
    fast = PixInsightDarkOptimizer(dark, bias, params, cfa=cfa)
    darks = optimizing_dark(dark, bias, params, cfa=cfa)
    assert darks is not None
    for frame in (raw, raw * F32(1.02)):
        (reference,) = pixinsight_dark_scale_reference(frame, bias=bias, dark=dark, params=params, cfa=cfa)
        (k,) = fast.scales(frame)
        # Both minimise the same float32-rounded std, summed in another order: near the minimum it is
        # flat to rounding, so the two may stop at different points of that flat bottom, never higher.
        (target,) = optimizing_target(frame, darks[0].shape, cfa=cfa)
        assert _std(target, darks[0], k) <= _std(target, darks[0], reference) * (1 + 5e-7)
        assert k == pytest.approx(reference, abs=3e-3)
    side = (120, 160) if cfa else (241, 321)
    expected = side if window == 0 else (min(window, side[0]), min(window, side[1]))
    assert darks[0].shape == expected


def test_pixinsight_k_is_1_below_16_pixels_and_never_negative() -> None:
    flat = np.full((40, 40), 0.3, dtype=F32)
    # Uniform noise: median + 3·1.4826·MAD lies above all of it, so only the 15 hot pixels reach it.
    dark = (0.01 + np.random.default_rng(1).uniform(-1e-4, 1e-4, (40, 40))).astype(F32)
    dark[:3, :5] = 0.2
    params = CalibrationParams()
    assert pixinsight_dark_scale_reference(flat, bias=None, dark=dark, params=params, cfa=False) == [1.0]
    assert PixInsightDarkOptimizer(dark, None, params, cfa=False).scales(flat) == [1.0]
    assert pcl_minimize(lambda k: F32(abs(float(k) + 0.3))) == 0.0
    dark[3, 0] = 0.2  # 16: optimization runs
    assert pixinsight_dark_scale_reference(flat, bias=None, dark=dark, params=params, cfa=False) != [1.0]


def test_bin2_averages_blocks_and_drops_odd_edges() -> None:
    image = np.arange(5 * 7, dtype=F32).reshape(5, 7)
    out = bin2(image)
    assert out.shape == (2, 3) and out.dtype == F32
    assert out[1, 2] == np.mean(image[2:4, 4:6])
