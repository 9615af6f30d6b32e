"""Each rejection algorithm on synthetic stacks with known truth; cross-checks with astropy and with an
independent per-pixel winsorized sigma clipping written here."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.stats import sigma_clip

from apcal.engines.native.integration import integrate
from apcal.engines.native.rejection import reject
from apcal.params import IntegrationParams
from apcal.stats.esd import esd_lambda

SIGMA = 0.01


def synthetic(n: int, shape=(48, 48), seed=0, sigma=SIGMA):
    """Stack of n frames: smooth truth + Gaussian noise; one cosmic ray (high) in 20 % of the pixels and
    one cold sample (low) in another, disjoint 10 %. Returns stack, truth, hit masks (n, rows, cols)."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    truth = 0.3 + 0.05 * xx / cols + 0.02 * yy / rows
    stack = truth + sigma * rng.standard_normal((n, rows, cols))
    frame = rng.integers(0, n, size=shape)
    u = rng.random(shape)
    cr = np.zeros(stack.shape, dtype=bool)
    cold = np.zeros(stack.shape, dtype=bool)
    cr[frame, yy, xx] = u < 0.2
    cold[frame, yy, xx] = (u >= 0.2) & (u < 0.3)
    stack[cr] += rng.uniform(0.2, 0.6, size=cr.sum())
    stack[cold] -= 0.25
    return stack.astype(np.float32), truth, cr, cold


CASES = [
    ("minmax", 30),
    ("percentile", 6),
    ("sigma", 30),
    ("winsorized", 30),
    ("averaged_sigma", 30),
    ("linear_fit", 25),
    ("esd", 40),
]


@pytest.mark.parametrize(("algorithm", "n"), CASES)
def test_removes_cosmic_rays_and_cold_samples(algorithm: str, n: int):
    sigma = 0.002 if algorithm == "percentile" else SIGMA  # percentile thresholds are relative (10-20 %)
    stack, truth, cr, cold = synthetic(n, sigma=sigma)
    params = IntegrationParams(rejection=algorithm)
    low, high = reject(stack, params)
    assert high[cr].all(), "every cosmic ray is rejected high"
    assert low[cold].all(), "every cold sample is rejected low"
    result = integrate(stack, params)
    assert np.array_equal(result.rejected_low, low.sum(axis=0))
    assert np.array_equal(result.rejected_high, high.sum(axis=0))
    # Every pixel's combination is within noise of the truth: 5 sigma of a mean of the survivors.
    worst_survivors = n - (low | high).sum(axis=0).max()
    error = np.abs(result.image - truth)
    assert error.max() < 5 * sigma / np.sqrt(worst_survivors)
    # And clean rejection is rare: statistical methods reject few good samples.
    if algorithm != "minmax":
        false = ((low | high) & ~cr & ~cold).mean()
        assert false < 0.02


def test_master_bias_noise_is_sigma_over_sqrt_n():
    """Average + winsorized of 20 Gaussian frames: per-pixel noise within 2 % of σ/√N (160 000 pixels
    measure it to ~0.2 %)."""
    n, sigma = 20, 0.002
    rng = np.random.default_rng(7)
    stack = (0.01 + sigma * rng.standard_normal((n, 400, 400))).astype(np.float32)
    result = integrate(stack, IntegrationParams(combination="average", rejection="winsorized"))
    measured = float(np.std(result.image.astype(np.float64) - 0.01))
    assert measured == pytest.approx(sigma / np.sqrt(n), rel=0.02)


def _std_ddof1(data, axis=None):
    return np.nanstd(data, axis=axis, ddof=1)


@pytest.mark.parametrize("seed", [1, 2])
def test_sigma_clipping_matches_astropy(seed: int):
    """Identical masks to astropy's sigma_clip where the definitions coincide.

    Deliberate difference: PCL (and we) use the sample standard deviation (N - 1); astropy's
    ``stdfunc='std'`` is the population one (N), so astropy gets a ddof=1 stdfunc here. With
    stdfunc='std' astropy clips slightly more. The 3-sample floor is never reached on these stacks.
    """
    stack, _, _, _ = synthetic(30, shape=(40, 40), seed=seed)
    params = IntegrationParams(rejection="sigma", sigma_low=2.5, sigma_high=2.0)
    low, high = reject(stack, params)
    clipped = sigma_clip(
        stack.astype(np.float64),
        axis=0,
        cenfunc="median",
        stdfunc=_std_ddof1,
        sigma_lower=params.sigma_low,
        sigma_upper=params.sigma_high,
        maxiters=None,
    )
    assert np.array_equal(low | high, clipped.mask)
    result = integrate(stack, params)
    assert np.array_equal(result.rejected_low + result.rejected_high, clipped.mask.sum(axis=0))


def _sn_naive(x: np.ndarray) -> float:
    n = len(x)
    himeds = sorted(sorted(abs(xi - xj) for xj in x)[n // 2] for xi in x)
    return himeds[(n + 1) // 2 - 1]


def _winsorized_pixel(x: np.ndarray, p: IntegrationParams) -> tuple[int, int]:
    """Straightforward winsorized sigma clipping of one pixel, written from the PixInsight description."""
    s = np.sort(x)
    n_low = n_high = 0
    first = True
    while len(s) >= 3:
        m, sigma = float(np.median(s)), 1.1926 * _sn_naive(s)
        w = s.copy()
        iterations = 0
        while sigma > 1e-15:
            cut = p.winsorization_cutoff if first else 0.0
            t0, t1 = m - 1.5 * sigma, m + 1.5 * sigma
            if cut:
                w = np.where(w < m - cut * sigma, m, np.where(w > m + cut * sigma, m, w))
            w = np.clip(w, t0, t1)
            previous, sigma, m = sigma, 1.134 * float(np.std(w, ddof=1)), float(np.mean(w))
            iterations += 1
            if iterations > 1 and abs(previous - sigma) / previous < 0.0005:
                break
        first = False
        if sigma <= 1e-15:
            break
        lows = (m - s) / sigma > p.sigma_low
        highs = (s - m) / sigma > p.sigma_high
        if not (lows.any() or highs.any()) or len(s) - lows.sum() - highs.sum() < 3:
            break
        n_low += int(lows.sum())
        n_high += int(highs.sum())
        s = s[~lows & ~highs]
    return n_low, n_high


def test_winsorized_matches_independent_implementation():
    """Close agreement (rounding differences only: np.std/np.mean sum pairwise, the kernels in order)."""
    stack, _, _, _ = synthetic(20, shape=(20, 20), seed=3)
    params = IntegrationParams(rejection="winsorized")
    low, high = reject(stack, params)
    x = stack.astype(np.float64)
    counts = np.array([[_winsorized_pixel(x[:, i, j], params) for j in range(20)] for i in range(20)])
    agree = (counts[..., 0] == low.sum(axis=0)) & (counts[..., 1] == high.sum(axis=0))
    assert agree.mean() >= 0.995
    assert counts.sum() > 100


def test_esd_critical_values_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    for n, i, alpha in [(30, 0, 0.05), (40, 5, 0.05), (25, 3, 0.01), (10, 2, 0.3)]:
        m = n - i
        t = stats.t.isf(alpha / (2 * m), m - 2)
        expected = t * (m - 1) / np.sqrt((m - 2 + t * t) * m)
        assert esd_lambda(n, i, alpha) == pytest.approx(expected, rel=1e-9)


def test_esd_rosner_rule_is_immune_to_masking_and_pixinsight_rule_is_not():
    """Four equal cosmic rays in 30 frames: Rosner's largest-i rule (opt-in) rejects all four; PCL's
    rule, the default, stops at the first candidate below its critical value and keeps them all."""
    rng = np.random.default_rng(5)
    x = 0.3 + 0.003 * rng.standard_normal(30)
    x[-4:] = 0.8
    low, high = reject(x[:, None, None], IntegrationParams(rejection="esd", esd_rule="rosner"))
    assert high[-4:].all() and not high[:-4].any() and not low.any()
    low, high = reject(x[:, None, None], IntegrationParams(rejection="esd"))
    assert not (low | high).any()


def test_clip_switches_and_range_clipping():
    stack, _, cr, cold = synthetic(30, shape=(16, 16), seed=4)
    low, high = reject(stack, IntegrationParams(rejection="sigma", clip_low=False))
    assert not low.any() and high[cr].all()
    low, high = reject(stack, IntegrationParams(rejection="sigma", clip_high=False))
    assert not high.any() and low[cold].all()
    params = IntegrationParams(
        rejection="none", range_clip_low=True, range_low=0.1, range_clip_high=True, range_high=0.6
    )
    low, high = reject(stack, params)
    assert np.array_equal(low, stack <= 0.1) and np.array_equal(high, stack >= 0.6)


def test_minimum_survivors_as_pcl():
    """PCL applies each step in full and stops below 3 survivors: a 3-frame stack is clipped; min/max
    and percentile clipping may reject every sample, and the pixel is then the median of all of them."""
    x = np.array([0.30, 0.31, 0.90], dtype=np.float32)[:, None, None]
    for algorithm in ("percentile", "winsorized"):
        low, high = reject(x, IntegrationParams(rejection=algorithm, sigma_high=1.0))
        assert high[2].all() and not high[:2].any() and not low.any(), algorithm
    x4 = np.array([0.1, 0.5, 0.5, 0.9], dtype=np.float32)[:, None, None]
    params = IntegrationParams(rejection="minmax", min_max_low=2, min_max_high=3)
    low, high = reject(x4, params)
    assert low.sum() == 2 and high.sum() == 2
    for fast in (True, False):
        result = integrate(x4, params, fast=fast)
        assert result.image[0, 0] == np.float32(0.5)  # median of all four
    pair = np.array([0.2, 0.6], dtype=np.float32)[:, None, None]  # median 0.4: both 50 % away
    for fast in (True, False):
        result = integrate(pair, IntegrationParams(rejection="percentile"), fast=fast)
        assert result.rejected_low[0, 0] == 1 and result.rejected_high[0, 0] == 1
        assert result.image[0, 0] == np.float32(0.4)


def test_auto_must_be_resolved():
    stack = np.zeros((5, 2, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="resolved"):
        integrate(stack, IntegrationParams(rejection="auto"))
    with pytest.raises(ValueError, match="resolved"):
        reject(stack, IntegrationParams(rejection="auto"))


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("rejection", ["winsorized", "sigma", "none"])
def test_a_pixel_with_every_sample_rejected_gets_the_median_of_its_valid_samples(rejection: str, fast: bool):
    """Where rejection leaves no sample, PCL writes the median of every valid (non-NaN) sample, range-
    clipped ones included (IntegrationEngine::IntegrationThread::Run); 0 when none is valid."""
    rng = np.random.default_rng(7)
    stack = rng.uniform(0.6, 0.9, size=(6, 3, 4)).astype(np.float32)
    stack[2, 0, 0] = np.nan  # five valid samples: an odd count
    stack[:2, 1, 1] = np.nan  # four: the mean of the middle two
    stack[:, 2, 2] = np.nan  # none
    params = IntegrationParams(rejection=rejection, range_clip_high=True, range_high=0.5)
    result = integrate(stack, params, fast=fast)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="All-NaN"):
        expected = np.nanmedian(stack.astype(np.float64), axis=0)
    expected[2, 2] = 0.0
    np.testing.assert_array_equal(result.image, expected.astype(np.float32))
