"""The numba kernel (fast=True) and the numpy reference (fast=False) give the same results."""

from __future__ import annotations

import numpy as np
import pytest

from apcal.engines.native.integration import integrate
from apcal.engines.native.normalization import Coefficients
from apcal.params import IntegrationParams

ALGORITHMS = ["none", "minmax", "percentile", "sigma", "winsorized", "averaged_sigma", "linear_fit", "esd"]
COMBINATIONS = ["average", "median", "minimum", "maximum"]


def fits_like_stack(n: int, shape=(20, 24), seed=0, endian=">i2") -> np.ndarray:
    """A stack as the driver produces it from FITS: ``>i2`` with BZERO 32768 scaled to [0, 1], or ``>f4``.

    Includes outliers, NaN samples, a fully-NaN pixel and a region of all-equal samples."""
    rng = np.random.default_rng(seed)
    dn = 20000 + 300 * rng.standard_normal((n, *shape)) + 500 * np.arange(n)[:, None, None] / max(n, 1)
    hits = rng.random(dn.shape) < 0.03
    dn[hits] += rng.uniform(3000, 30000, size=hits.sum())
    dn[rng.random(dn.shape) < 0.01] = 800
    dn[:, :3, :3] = 21000
    dn = np.clip(np.round(dn), 0, 65535)
    if endian == ">i2":
        stored = (dn - 32768).astype(">i2")  # FITS BITPIX=16, BZERO=32768
        stack = ((stored.astype(np.float32) + np.float32(32768)) / np.float32(65535)).astype(np.float32)
    else:
        stack = (dn / 65535).astype(">f4")
    stack = stack.copy()
    stack[rng.random(stack.shape) < 0.02] = np.nan
    stack[:, 5, 5] = np.nan
    return stack


def coefficients(n: int, seed: int) -> tuple[Coefficients, Coefficients]:
    rng = np.random.default_rng(seed)
    output = Coefficients(scale=rng.uniform(0.95, 1.05, n), offset=rng.uniform(-0.01, 0.01, n))
    rejection = Coefficients(scale=rng.uniform(0.95, 1.05, n), offset=np.zeros(n))
    return output, rejection


def assert_same(stack, params, **kw):
    a = integrate(stack, params, fast=True, **kw)
    b = integrate(stack, params, fast=False, **kw)
    assert a.image.dtype == np.float32 and a.rejected_low.dtype == np.uint16
    np.testing.assert_array_equal(a.rejected_low, b.rejected_low)
    np.testing.assert_array_equal(a.rejected_high, b.rejected_high)
    np.testing.assert_allclose(a.image, b.image, rtol=1e-6, atol=1e-7)
    return a


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("endian", [">i2", ">f4"])
def test_fast_matches_reference(algorithm: str, endian: str):
    n = 25
    stack = fits_like_stack(n, seed=ALGORITHMS.index(algorithm), endian=endian)
    output, rejection = coefficients(n, 1)
    params = IntegrationParams(rejection=algorithm, range_clip_high=True, range_high=0.95)
    result = assert_same(stack, params, output=output, rejection=rejection)
    assert result.image[5, 5] == 0.0  # all samples missing -> 0
    assert result.rejected_low[5, 5] == 0 and result.rejected_high[5, 5] == 0
    if algorithm not in ("none",):
        assert result.rejected_high.sum() > 0


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_combinations_match(combination: str):
    stack = fits_like_stack(12, seed=3)
    for algorithm in ("sigma", "winsorized", "esd"):
        assert_same(
            stack,
            IntegrationParams(rejection=algorithm, combination=combination, clip_low=algorithm != "esd"),
        )


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_small_stacks(n: int, algorithm: str):
    stack = fits_like_stack(n, shape=(6, 7), seed=n)
    result = assert_same(stack, IntegrationParams(rejection=algorithm, combination="median"))
    if n <= 2 and algorithm not in ("minmax", "percentile"):  # iterations need 3 samples (ESD too)
        assert result.rejected_low.sum() == 0 and result.rejected_high.sum() == 0


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_all_equal_stack(algorithm: str):
    stack = np.full((9, 4, 5), 0.25, dtype=np.float32)
    result = assert_same(stack, IntegrationParams(rejection=algorithm))
    assert np.all(result.image == np.float32(0.25))
    # Min/max always rejects; PCL's ESD statistic is 0/0 on equal samples, which counts as an outlier.
    if algorithm not in ("minmax", "esd"):
        assert result.rejected_low.sum() == 0 and result.rejected_high.sum() == 0


def test_range_clipping_counts_and_all_out_of_range():
    stack = np.full((5, 2, 2), 0.5, dtype=np.float32)
    stack[:, 0, 0] = 0.99  # all out of range: their median (PCL) with every sample counted high
    stack[0, 1, 1] = 0.0
    params = IntegrationParams(rejection="none", range_clip_low=True, range_clip_high=True)
    result = assert_same(stack, params)
    assert result.image[0, 0] == np.float32(0.99) and result.rejected_high[0, 0] == 5
    assert result.rejected_low[1, 1] == 1 and result.image[1, 1] == np.float32(0.5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="shape"):
        integrate(np.zeros((3, 4), dtype=np.float32), IntegrationParams())
    with pytest.raises(ValueError, match="coefficients"):
        integrate(
            np.zeros((3, 4, 4), dtype=np.float32),
            IntegrationParams(),
            output=Coefficients(scale=np.ones(2), offset=np.zeros(2)),
        )


@pytest.mark.parametrize("n", [3, 8, 25, 40])
@pytest.mark.parametrize("esd_rule", ["pixinsight", "rosner"])
def test_esd_rules_match(n: int, esd_rule: str):
    """Both ESD rules, with clustered equal outliers and all-equal regions, agree between the paths."""
    stack = fits_like_stack(n, seed=n)
    stack[: max(1, n // 5), 8:12, 8:12] = np.float32(0.9)  # a cluster of equal outliers
    result = assert_same(stack, IntegrationParams(rejection="esd", esd_rule=esd_rule))
    assert result.rejected_high.sum() > 0


@pytest.mark.parametrize("algorithm", ["minmax", "percentile", "winsorized"])
def test_everything_rejected_gives_the_median_of_all(algorithm: str):
    """Where rejection leaves no sample, both paths write the median of all valid samples (PCL)."""
    stack = fits_like_stack(6, shape=(8, 9), seed=7)
    params = IntegrationParams(
        rejection=algorithm,
        min_max_low=3,
        min_max_high=3,
        pc_clip_low=0.0,
        pc_clip_high=0.0,
        sigma_low=0.0,
        sigma_high=0.0,
        combination="average",
    )
    result = assert_same(stack, params)
    empty = (result.rejected_low + result.rejected_high) == np.isfinite(stack).sum(axis=0)
    empty &= np.isfinite(stack).any(axis=0)
    assert empty.any()
    expected = [np.median(column[np.isfinite(column)]) for column in stack.astype(np.float64)[:, empty].T]
    np.testing.assert_allclose(result.image[empty], expected, rtol=1e-6)
