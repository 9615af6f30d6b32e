"""Every rejection algorithm of the native engine (numba kernel and numpy reference) gives what an
independent per-pixel transcription of PixInsight's routines gives
(:mod:`tests.engines.native.pcl_per_pixel`),
on randomized stacks of 3 to 60 frames with ties, NaN samples and outliers: the same rejection counts
and the same value to float32 rounding.

Linear fit included: PCL's line solver is closed (LinearFit.h documents only the objective), so both
apcal and the transcription follow Numerical Recipes' ``medfit``, which only approximates the exact
least-absolute-deviation line; the transcription is written from NR's description, not from apcal.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from apcal.engines.native.integration import integrate
from apcal.params import IntegrationParams
from tests.engines.native.pcl_per_pixel import integrate_pixel

EXACT = ["none", "minmax", "percentile", "sigma", "winsorized", "averaged_sigma", "esd", "linear_fit"]


def random_stack(seed: int, n: int, pixels: int, tie_step: float) -> np.ndarray:
    """(n, 1, pixels) float32 samples near 0.3 with bright and dark outliers, a few NaN, and - for a
    ``tie_step`` > 0 - quantized so many samples tie (as 16-bit data does, coarser)."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0.002, 0.02)
    x = 0.3 + noise * rng.standard_normal((n, pixels))
    hot = rng.random(x.shape) < rng.uniform(0.0, 0.15)
    x[hot] += rng.uniform(0.05, 0.6, hot.sum())
    cold = rng.random(x.shape) < 0.03
    x[cold] -= rng.uniform(0.05, 0.2, cold.sum())
    if tie_step > 0:
        x = np.round(x / tie_step) * tie_step
    x[:, : pixels // 8] = x[0, : pixels // 8]  # some all-equal pixels
    x[rng.random(x.shape) < 0.05] = np.nan
    return x.astype(np.float32)[:, None, :]


def params_dict(params: IntegrationParams) -> dict:
    return {name: getattr(params, name) for name in params.__dataclass_fields__}


def compare(stack: np.ndarray, params: IntegrationParams) -> tuple[np.ndarray, list[tuple]]:
    """Both apcal paths against the transcription: (pixels whose counts differ, per-pixel details)."""
    expected = [
        integrate_pixel([float(v) for v in stack[:, 0, c]], params.rejection, params_dict(params))
        for c in range(stack.shape[2])
    ]
    value = np.array([e[0] for e in expected])
    low = np.array([e[1] for e in expected])
    high = np.array([e[2] for e in expected])
    differ = np.zeros(stack.shape[2], dtype=bool)
    details = []
    for fast in (True, False):
        got = integrate(stack, params, fast=fast)
        bad = (got.rejected_low[0] != low) | (got.rejected_high[0] != high)
        bad |= ~np.isclose(got.image[0], value, rtol=2e-7, atol=1e-8)
        differ |= bad
        details += [
            (
                fast,
                c,
                got.image[0, c],
                value[c],
                got.rejected_low[0, c],
                low[c],
                got.rejected_high[0, c],
                high[c],
            )
            for c in np.flatnonzero(bad)
        ]
    return differ, details


algorithm_params = st.fixed_dictionaries(
    {
        "sigma_low": st.sampled_from([0.0, 2.0, 3.0, 4.0]),
        "sigma_high": st.sampled_from([1.5, 2.5, 3.0, 5.0]),
        "clip_low": st.booleans(),
        "clip_high": st.booleans() | st.just(True),
        "pc_clip_low": st.sampled_from([0.0, 0.1, 0.2, 0.5]),
        "pc_clip_high": st.sampled_from([0.0, 0.05, 0.1, 0.3]),
        "min_max_low": st.integers(0, 4),
        "min_max_high": st.integers(0, 4),
        "linear_fit_low": st.sampled_from([2.0, 3.0, 5.0]),
        "linear_fit_high": st.sampled_from([1.5, 2.5, 4.0]),
        "winsorization_cutoff": st.sampled_from([3.0, 5.0, 10.0]),
        "esd_outliers_fraction": st.sampled_from([0.1, 0.3, 0.5]),
        "esd_alpha": st.sampled_from([0.05, 0.3]),
        "esd_low_relaxation": st.sampled_from([1.0, 2.0]),
        "range_clip_low": st.booleans(),
        "range_low": st.sampled_from([0.0, 0.15]),
        "range_clip_high": st.booleans(),
        "range_high": st.sampled_from([0.6, 0.95]),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    algorithm=st.sampled_from(EXACT),
    n=st.integers(3, 60),
    seed=st.integers(0, 2**32 - 1),
    tie_step=st.sampled_from([0.0, 1 / 65535, 0.002, 0.01]),
    settings_=algorithm_params,
)
@example(  # sigma shrinks ~1 % per iteration for 3028 iterations (PCL sets no limit; apcal's was 100)
    algorithm="winsorized",
    n=14,
    seed=131436153,
    tie_step=0.01,
    settings_={
        "sigma_low": 0.0,
        "sigma_high": 5.0,
        "clip_low": False,
        "clip_high": True,
        "pc_clip_low": 0.0,
        "pc_clip_high": 0.0,
        "min_max_low": 0,
        "min_max_high": 0,
        "linear_fit_low": 2.0,
        "linear_fit_high": 1.5,
        "winsorization_cutoff": 3.0,
        "esd_outliers_fraction": 0.1,
        "esd_alpha": 0.05,
        "esd_low_relaxation": 1.0,
        "range_clip_low": False,
        "range_low": 0.0,
        "range_clip_high": False,
        "range_high": 0.6,
    },
)
def test_exact_algorithms_equal_the_pcl_transcription(algorithm, n, seed, tie_step, settings_):
    if algorithm == "esd":
        settings_ = {**settings_, "clip_low": True, "clip_high": True}  # see rejection_esd._esd (PCL quirk)
    params = IntegrationParams(rejection=algorithm, **settings_)
    stack = random_stack(seed, n, 48, tie_step)
    differ, details = compare(stack, params)
    assert not differ.any(), details[:4]


def test_small_and_large_stacks_every_algorithm():
    """A fixed sweep: n = 3..12, 20, 40, 60, every exact algorithm at its defaults (both clip sides)."""
    for n in [*range(3, 13), 20, 40, 60]:
        for algorithm in EXACT:
            stack = random_stack(1000 + n, n, 64, 1 / 65535 if n % 2 else 0.0)
            differ, details = compare(stack, IntegrationParams(rejection=algorithm))
            assert not differ.any(), (n, algorithm, details[:4])
