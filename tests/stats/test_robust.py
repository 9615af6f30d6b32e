"""The numba median/MAD, subsample and wavelet layer against their numpy references, exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apcal.stats import _select
from apcal.stats.noise import ksigma_noise
from apcal.stats.robust import jitter_positions, nan_median_mad, subsample
from apcal.stats.wavelet import atrous_layer1

KINDS = ("gaussian", "quantized", "non-finite", "outliers", "bimodal", "two values", "constant", "all-nan")
SIZES = (1, 2, 3, 4, 5, 100, 101, _select.SMALL, _select.SMALL + 1, _select.SMALL + 2, 40_000, (1 << 19) + 1)


def _reference(values: np.ndarray, size: int | None = None) -> tuple[float, float]:
    with np.errstate(over="ignore", invalid="ignore"):  # the float64 extremes hypothesis draws
        return nan_median_mad(values, size, fast=False)


def _assert_same(fast: tuple[float, float], reference: tuple[float, float]) -> None:
    """Equal as floats (so -0.0 == 0.0: selection may return either zero), or both NaN."""
    for a, b in zip(fast, reference, strict=True):
        assert a == b or (math.isnan(a) and math.isnan(b)), (fast, reference)


def _data(kind: str, n: int, dtype: type, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal(n)
    if kind == "quantized":  # 16-bit ADU with a few ADU of read noise: every value repeated
        x = np.round(rng.normal(500, rng.uniform(0.3, 5), n)) / 65535
    elif kind == "non-finite":
        x[rng.random(n) < 0.2] = np.nan
        x[rng.random(n) < 0.05] = np.inf
        x[rng.random(n) < 0.05] = -np.inf
    elif kind == "outliers":
        x[rng.random(n) < 0.01] = 1e30
        x[rng.random(n) < 0.01] = -3e4
    elif kind == "bimodal":
        x[: n // 3] += 1000
    elif kind == "two values":
        x = rng.integers(0, 2, n).astype(np.float64)
    elif kind == "constant":
        x = np.full(n, 0.25)
    elif kind == "all-nan":
        x = np.full(n, np.nan)
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", SIZES)
def test_median_mad_equals_the_numpy_reference(n: int, kind: str, dtype: type) -> None:
    values = _data(kind, n, dtype, np.random.default_rng(n))
    _assert_same(nan_median_mad(values, None), _reference(values))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.lists(st.floats(width=32), max_size=40).map(lambda v: np.array(v, dtype=np.float32)),
        st.lists(st.floats(), max_size=40).map(lambda v: np.array(v, dtype=np.float64)),
        st.lists(st.sampled_from([0.0, -0.0, 1.0, 2.0, np.nan, np.inf]), max_size=40).map(np.array),
    )
)
def test_median_mad_equals_the_reference_on_any_small_array(values: np.ndarray) -> None:
    _assert_same(nan_median_mad(values, None), _reference(values))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(_select.SMALL + 1, 5 * _select.SMALL),
    kind=st.sampled_from(KINDS),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_median_mad_equals_the_reference_on_large_arrays(seed: int, n: int, kind: str, dtype: type) -> None:
    """Above SMALL values the pivots, the counting and the compaction passes run."""
    values = _data(kind, n, dtype, np.random.default_rng(seed))
    _assert_same(nan_median_mad(values, None), _reference(values))


def _pivot_sample(n: int) -> np.ndarray:
    """The positions the first filtering step draws its pivots from."""
    return jitter_positions(n, min(_select.SAMPLE, n // 4))


def test_a_misleading_sample_falls_back_to_a_full_selection() -> None:
    """Every sampled value an outlier: the window misses the median, twice; still exact."""
    n = 40_001
    values = np.random.default_rng(1).standard_normal(n)
    values[_pivot_sample(n)] = 1000 + np.arange(_pivot_sample(n).size)
    _assert_same(nan_median_mad(values, None), _reference(values))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_middle_pair_split_between_a_pivot_and_the_window(sign: float) -> None:
    """Even count whose lower middle value is the last tie at pivot ``a`` and the upper one the least
    value inside the window (and, negated, the greatest inside and the first tie at ``b``)."""
    n = 40_000
    sample = _pivot_sample(n)
    half, ties = n // 2, sample.size // 2
    rng = np.random.default_rng(2)
    values = np.empty(n)
    values[sample[:ties]], values[sample[ties:]] = 0.0, 1.0  # pivots a = 0, b = 1
    rest = np.concatenate([-0.5 - rng.random(half - ties), rng.uniform(0.01, 0.99, half - ties)])
    others = np.setdiff1d(np.arange(n), sample)
    values[others] = rng.permutation(rest)
    assert np.count_nonzero(values <= 0) == half
    values *= sign
    _assert_same(nan_median_mad(values, None), _reference(values))


def test_median_mad_reads_float32_as_float64_and_other_dtypes_converted() -> None:
    # float32 values whose deviations are not float32 numbers: the MAD is the float64 one
    values = np.array([0.1, 0.2, 0.7, 0.3001], dtype=np.float32)
    _assert_same(nan_median_mad(values, None), _reference(values))
    integers = np.array([[3, 1], [2, 7]], dtype=np.int16)
    assert nan_median_mad(integers) == _reference(integers) == (2.5, 1.0)
    big_endian = np.arange(10, dtype=">f4")
    assert nan_median_mad(big_endian) == (4.5, 2.5)
    assert math.isnan(nan_median_mad(np.array([]))[0])


def test_subsample_is_the_jittered_reference_sorted_distinct_and_balanced_over_a_bayer_mosaic() -> None:
    rows, cols = 1500, 2000
    image = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols)  # value = flat position
    positions = jitter_positions(image.size, 1 << 19)
    np.testing.assert_array_equal(subsample(image, 1 << 19).astype(np.intp), positions)
    np.testing.assert_array_equal(subsample(image, 1 << 19, fast=False).astype(np.intp), positions)
    assert np.all(np.diff(positions) > 0) and positions[0] >= 0 and positions[-1] < image.size
    bayer = (positions // cols % 2) * 2 + positions % cols % 2  # R, G1, G2, B of an RGGB mosaic
    assert np.allclose(np.bincount(bayer) / positions.size, 0.25, atol=0.005)
    small = np.ones((3, 4))
    assert subsample(small, 12).base is small  # not larger than size: the pixels themselves
    odd = np.arange(5000, dtype=np.int32)  # not a kernel dtype: numpy indexing
    np.testing.assert_array_equal(subsample(odd, 1000), odd[jitter_positions(5000, 1000)])


def test_subsampled_median_mad_equals_the_reference() -> None:
    image = _data("non-finite", 3 * 100_003, np.float32, np.random.default_rng(5)).reshape(3, -1)
    _assert_same(nan_median_mad(image, 100_000), _reference(image, 100_000))
    _assert_same(nan_median_mad(image[:, ::2], None), _reference(image[:, ::2]))  # a strided view


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (6, 1), (2, 2), (3, 7), (61, 47)])
def test_atrous_layer_equals_the_numpy_reference(shape: tuple[int, int]) -> None:
    image = np.random.default_rng(6).standard_normal(shape)
    image.flat[0] = -0.0
    for view in (image, image[:, ::-1], image.astype(np.float32)):
        fast, reference = atrous_layer1(view), atrous_layer1(view, fast=False)
        np.testing.assert_array_equal(fast, reference)
        np.testing.assert_array_equal(np.signbit(fast), np.signbit(reference))


def test_within_and_ksigma_noise_without_copies_equal_the_numpy_expressions() -> None:
    x = np.random.default_rng(7).standard_normal(10_001)
    x[::50] *= 30
    np.testing.assert_array_equal(_select.within(x, 0.1, 2.0), x[np.abs(x - 0.1) < 2.0])
    layer = x.reshape(73, 137)
    mask = np.ones(layer.shape, dtype=bool)
    assert ksigma_noise(layer, mask) == ksigma_noise(layer) == ksigma_noise(layer[mask])
    mask[0, :5] = False
    assert ksigma_noise(layer, mask) == ksigma_noise(layer[mask].copy())
