"""Normalization coefficients, and a flat stack whose lamp drifts ±3 %."""

from __future__ import annotations

import numpy as np
import pytest

from apcal.engines.native.integration import integrate
from apcal.engines.native.normalization import (
    FrameStats,
    output_coefficients,
    rejection_coefficients,
)
from apcal.params import IntegrationParams

STATS = [FrameStats(0.5, 0.01), FrameStats(0.4, 0.02), FrameStats(0.6, 0.005)]
V = 0.45


def apply(c, i, v=V):
    return v * c.scale[i] + c.offset[i]


def test_output_formulas():
    m0, s0 = 0.5, 0.01
    for i, st in enumerate(STATS):
        m, s = st.median, st.mad
        assert apply(output_coefficients(STATS, "none"), i) == V
        assert apply(output_coefficients(STATS, "additive"), i) == pytest.approx(V - m + m0)
        assert apply(output_coefficients(STATS, "multiplicative"), i) == pytest.approx(V * m0 / m)
        expected = (V - m) * s0 / s + m0
        assert apply(output_coefficients(STATS, "additive_scaling"), i) == pytest.approx(expected)
        assert apply(output_coefficients(STATS, "multiplicative_scaling"), i) == pytest.approx(
            V / m * (s0 / s) * m0
        )
        assert apply(rejection_coefficients(STATS, "scale"), i) == pytest.approx((V - m) * s0 / s + m0)
        assert apply(rejection_coefficients(STATS, "equalize_fluxes"), i) == pytest.approx(V * m0 / m)


def test_bad_modes_and_zero_statistics():
    with pytest.raises(ValueError, match="unknown"):
        output_coefficients(STATS, "local")
    with pytest.raises(ValueError, match="frame"):
        output_coefficients([FrameStats(0.5, 0.1), FrameStats(0.0, 0.1)], "multiplicative")
    with pytest.raises(ValueError, match="frame"):
        rejection_coefficients([FrameStats(0.5, 0.1), FrameStats(0.4, 0.0)], "scale")


def test_frame_stats():
    rng = np.random.default_rng(0)
    image = (0.3 + 0.01 * rng.standard_normal((1200, 2000))).astype(np.float32)  # subsampled
    image[0, :100] = np.nan
    st = FrameStats.of(image)
    assert st.median == pytest.approx(0.3, abs=3e-5)
    assert st.mad * 1.4826 == pytest.approx(0.01, rel=0.01)
    assert FrameStats.of(image) == st  # deterministic


def test_drifting_flats_are_equalized_and_cosmic_ray_in_dim_frame_rejected():
    n, shape = 25, (64, 64)
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    r2 = ((yy - 32) ** 2 + (xx - 32) ** 2) / 32**2
    truth = 1.0 - 0.2 * r2  # vignetting
    levels = np.concatenate([[1.0], rng.uniform(0.97, 1.03, n - 1)])
    dim = int(np.argmin(levels))
    levels[dim] = 0.97
    noise = 0.001
    stack = 0.5 * levels[:, None, None] * truth + noise * rng.standard_normal((n, *shape))
    stack[dim, 10, 10] += 0.03  # a cosmic ray, hidden inside the ±3 % spread before normalization
    stack = stack.astype(np.float32)
    stats = [FrameStats.of(frame) for frame in stack]
    params = IntegrationParams(
        rejection="sigma", normalization="multiplicative", rejection_normalization="equalize_fluxes"
    )
    result = integrate(
        stack,
        params,
        output=output_coefficients(stats, "multiplicative"),
        rejection=rejection_coefficients(stats, "equalize_fluxes"),
    )
    master = result.image / np.median(result.image)
    expected = truth / np.median(truth)
    assert np.abs(master - expected).max() < 5 * (noise / 0.5) / np.sqrt(n - 3)
    assert result.rejected_high[10, 10] >= 1
    # Without rejection normalization the drift hides the cosmic ray from sigma clipping.
    plain = integrate(stack, params, output=output_coefficients(stats, "multiplicative"))
    assert plain.rejected_high[10, 10] == 0
