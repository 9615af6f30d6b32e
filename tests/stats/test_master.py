"""Master statistics against the synthetic truth: hot pixels, vignetting, dust donuts, rejection."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from apcal.demo.truth import dark_truth
from apcal.stats.master import (
    defect_counts,
    dust_donut_count,
    label_components,
    master_statistics,
    vignetting_ratio,
)
from apcal.vocabulary import FrameType


def _noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (image + sigma * rng.standard_normal(image.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    night = NightPlan(n_bias=1, dark_exposures=(300.0,), n_darks=1, n_flats=1, seed=3)
    return generate_night(tmp_path_factory.mktemp("night"), CameraModel(), night)


def test_dark_master_hot_pixels_match_the_truth(truth) -> None:
    master = _noisy(dark_truth(truth, 300.0), truth.read_noise / math.sqrt(15))
    stats = master_statistics(master, FrameType.DARK)
    n_hot = len(truth.hot_pixels)
    assert n_hot == 120
    assert 0.95 * n_hot <= stats["hot_pixels"] <= 1.15 * n_hot
    assert stats["cold_pixels"] <= 2
    assert stats["median"] == pytest.approx(float(np.median(master)))
    assert stats["noise"] == pytest.approx(truth.read_noise / math.sqrt(15), rel=0.5)  # + column pattern
    assert "vignetting_ratio" not in stats and "rejected_low_fraction" not in stats


def test_bias_master_has_almost_no_defects(truth) -> None:
    stats = master_statistics(_noisy(truth.bias, truth.read_noise / math.sqrt(20)), "bias")
    assert stats["hot_pixels"] + stats["cold_pixels"] < 1e-4 * truth.bias.size


def test_flat_master_vignetting_and_dust_against_the_truth(truth) -> None:
    for name in ("L", "R"):
        response = truth.flat[name]
        master = _noisy(response * np.float32(0.45), 0.45 * 0.002)
        stats = master_statistics(master, FrameType.FLAT)
        # the truth map has the same vignetting; noise must not move it
        assert stats["vignetting_ratio"] == pytest.approx(vignetting_ratio(response[:-1:2, :-1:2]), abs=0.01)
        # the model is 1 - 0.3 r^2 with r = 0.9 at the corner patches' centres: about 0.75 of the centre
        assert 0.70 < stats["vignetting_ratio"] < 0.80
        assert stats["hot_pixels"] <= 2 and stats["cold_pixels"] <= 2
    # seed 3 places six donuts in L that do not touch (found by listing them; see the generator's _dust)
    l_master = _noisy(truth.flat["L"] * np.float32(0.45), 0.45 * 0.002)
    assert master_statistics(l_master, "flat")["dust_donuts"] == truth.night.dust_donuts == 6


@pytest.mark.parametrize("seed", [1, 2, 4, 5])
def test_dust_count_never_exceeds_what_was_placed(seed, tmp_path) -> None:
    """Overlapping donuts merge into one dip, so the estimate lies between half and all of them."""
    night = NightPlan(n_bias=0, dark_exposures=(), n_darks=0, n_flats=1, seed=seed)
    truth = generate_night(tmp_path, CameraModel(), night)
    for response in truth.flat.values():
        count = dust_donut_count(_noisy(response, 0.002, seed))
        assert night.dust_donuts // 2 <= count <= night.dust_donuts


def _donut_flat(
    rows: int, cols: int, donuts: list[tuple[float, float, float, float]], seed: int = 0
) -> np.ndarray:
    """Vignetting 1 - 0.25 r^2, 1 % PRNU, and donuts (cy, cx, radius, depth) shaped like the generator's."""
    y = (np.arange(rows)[:, None] + 0.5 - rows / 2) ** 2
    x = (np.arange(cols)[None, :] + 0.5 - cols / 2) ** 2
    image = 1 - 0.25 * (y + x) / ((rows / 2) ** 2 + (cols / 2) ** 2)
    for cy, cx, radius, depth in donuts:
        rho = np.hypot(np.arange(rows)[:, None] + 0.5 - cy, np.arange(cols)[None, :] + 0.5 - cx)
        soft = max(0.7, 0.08 * radius)
        ring = 1 / (1 + np.exp(-(rho - 0.45 * radius) / soft)) - 1 / (1 + np.exp(-(rho - radius) / soft))
        image = image * (1 - depth * ring)
    return _noisy(image * 0.4, 0.004, seed)


def test_dust_donuts_counted_on_a_hand_made_flat() -> None:
    donuts = [(80, 100, 25, 0.05), (300, 500, 40, 0.03), (200, 300, 12, 0.025), (60, 520, 18, 0.04)]
    assert dust_donut_count(_donut_flat(400, 600, donuts)) == 4
    assert dust_donut_count(_donut_flat(400, 600, [])) == 0
    assert dust_donut_count(_donut_flat(400, 600, [(200, 300, 30, 0.005)])) == 0  # 0.5 %: not counted


def test_rejected_fractions() -> None:
    image = np.full((10, 10), 0.5, np.float32)
    low = np.zeros((10, 10), np.uint16)
    high = np.zeros((10, 10), np.uint16)
    low[0, :5] = 2
    high[1, :] = 1
    stats = master_statistics(image, "bias", rejected_low=low, rejected_high=high, n_frames=4)
    assert stats["rejected_low_fraction"] == pytest.approx(10 / 400)
    assert stats["rejected_high_fraction"] == pytest.approx(10 / 400)


def test_colour_and_nan_masters() -> None:
    rng = np.random.default_rng(1)
    rgb = (0.3 + 0.001 * rng.standard_normal((3, 60, 80))).astype(np.float32)
    rgb[1, 30, 40] = 0.9
    stats = master_statistics(rgb, "flat")
    assert stats["hot_pixels"] == 1 and 0.98 < stats["vignetting_ratio"] < 1.02
    nan = master_statistics(np.full((20, 20), np.nan, np.float32), "dark")
    assert math.isnan(nan["median"]) and math.isnan(nan["hot_pixels"])
    holes = rgb[0].copy()
    holes[5:8, 5:8] = np.nan
    assert defect_counts(holes) == (0, 0)


def test_label_components() -> None:
    mask = np.zeros((6, 8), bool)
    mask[0:2, 0:2] = True  # a square
    mask[4, 1:7] = True  # a bar
    mask[0:4, 6] = True  # a column that joins the bar at (4, 6)
    mask[2, 3] = True  # a single pixel
    labels = label_components(mask)
    assert labels.max() == 3
    assert len({labels[0, 0], labels[4, 1], labels[2, 3]}) == 3
    assert labels[0, 6] == labels[4, 1]
    ring = np.zeros((9, 9), bool)
    ring[1:8, 1:8] = True
    ring[3:6, 3:6] = False
    assert label_components(ring).max() == 1


def _defect_image(shape: tuple[int, int], seed: int, quantized: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = (0.3 + rng.normal(0, 0.01, shape)).astype(np.float32)
    if quantized:  # ties everywhere in the neighbourhoods
        img = (np.round(img * 200) / 200).astype(np.float32)
    if min(shape) > 3:
        img[1, 1] = np.nan
        img[shape[0] // 2, :] = np.where(np.arange(shape[1]) % 3 == 0, np.inf, img[shape[0] // 2, :])
    img[-1, 0] = 5.0  # a hot pixel in a corner: reflected neighbours
    return img


@pytest.mark.parametrize("quantized", [False, True])
@pytest.mark.parametrize("shape", [(3, 3), (4, 7), (61, 45), (200, 301)])
def test_defect_kernel_samples_the_numpy_reference_residual(shape, quantized) -> None:
    from apcal.stats._defects import residual_sample
    from apcal.stats.master import _reference_residual
    from apcal.stats.robust import subsample

    img = _defect_image(shape, 7, quantized)
    reference = _reference_residual(img)
    np.testing.assert_array_equal(residual_sample(img, img.size), reference.ravel())
    for size in (1, 7, img.size // 3, img.size - 1):
        np.testing.assert_array_equal(residual_sample(img, size), subsample(reference, size, fast=False))


def test_defect_counts_fast_equal_the_numpy_reference() -> None:
    from apcal.stats._defects import count_outliers
    from apcal.stats.master import _reference_residual

    img = (0.3 + np.random.default_rng(8).normal(0, 0.01, (80, 90))).astype(np.float32)
    img[10, 10], img[40, 50] = 0.9, 0.0
    assert defect_counts(img, fast=True) == defect_counts(img, fast=False) == (1, 1)
    img = _defect_image((150, 170), 9)
    img[20:23, 40] = 0.5
    assert defect_counts(img, fast=True) == defect_counts(img, fast=False)
    residual = _reference_residual(img)
    for centre, threshold in [(0.0, 0.02), (0.001, 1e-3), (float(residual[5, 5]), 0.0)]:
        with np.errstate(invalid="ignore"):
            expected = (
                int(np.count_nonzero(residual - centre > threshold)),
                int(np.count_nonzero(residual - centre < -threshold)),
            )
        assert count_outliers(img, centre, threshold) == expected


def test_binned_fast_equals_the_numpy_reference_to_rounding() -> None:
    from apcal.stats.master import binned

    rng = np.random.default_rng(10)
    # (150, 70) / 4: 37 output rows, three blocks of the kernel threads, the last one short.
    for shape, factor in [((7, 9), 2), ((40, 33), 4), ((12, 12), 3), ((5, 5), 1), ((150, 70), 4)]:
        img = rng.standard_normal(shape).astype(np.float32)
        img[:2, :2] = np.nan  # an all-NaN block, and partly NaN ones
        img[3, 4] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            reference = binned(img, factor, fast=False)
        np.testing.assert_allclose(binned(img, factor), reference, rtol=1e-13, equal_nan=True)


def test_smooth_background_is_the_least_squares_polynomial() -> None:
    from apcal.stats.master import DUST_DEGREE, _smooth_background

    rows, cols = 40, 56
    y, x = np.mgrid[0:rows, 0:cols]
    y, x = y / (rows - 1) * 2 - 1, x / (cols - 1) * 2 - 1
    image = (
        1 - 0.2 * (x**2 + y**2) + 0.05 * x**3 * y + 0.001 * np.random.default_rng(11).standard_normal(x.shape)
    )
    image[5, 5] = np.nan
    design = np.stack([x**i * y**j for i in range(DUST_DEGREE + 1) for j in range(DUST_DEGREE + 1 - i)], -1)
    use = np.isfinite(image)
    coef = np.linalg.lstsq(design[use], image[use], rcond=None)[0]
    fit = _smooth_background(image, depth=1.0, iterations=1)  # a 1.0 depth clips nothing
    np.testing.assert_allclose(fit, design @ coef, rtol=1e-10)


def test_level_statistics_leave_non_finite_pixels_out() -> None:
    image = np.array([[1.0, np.nan, 3.0], [np.inf, 2.0, -np.inf]], dtype=np.float32)
    stats = master_statistics(image, "bias")
    assert (stats["median"], stats["mean"], stats["min"], stats["max"]) == (2.0, 2.0, 1.0, 3.0)
