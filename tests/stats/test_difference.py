"""The engine difference in noise units, on images whose noise and difference are known."""

from __future__ import annotations

import numpy as np
import pytest

from apcal.stats.difference import difference_statistics

RNG = np.random.default_rng(7)


def test_a_known_offset_and_noise_give_their_ratio() -> None:
    sigma = 0.001
    reference = 0.1 + RNG.normal(0.0, sigma, (400, 500))
    other = reference + 0.5 * sigma  # every pixel half a sigma higher
    stats = difference_statistics(reference, other, relative=False)
    assert stats["noise"] == pytest.approx(sigma, rel=0.03)
    assert stats["rms_sigma"] == pytest.approx(0.5, rel=0.03)
    assert stats["p999_sigma"] == pytest.approx(0.5, rel=0.03)


def test_a_few_outlying_pixels_show_in_the_percentile_not_the_rms() -> None:
    sigma = 0.001
    reference = 0.1 + RNG.normal(0.0, sigma, (400, 500))
    other = reference.copy()
    other.flat[::250] += 10 * sigma  # 0.4 % of the pixels, 10 sigma off
    stats = difference_statistics(reference, other, relative=False)
    assert stats["p999_sigma"] == pytest.approx(10, rel=0.03)  # the noise estimate is within ~2 %
    assert stats["rms_sigma"] == pytest.approx(10 * np.sqrt(1 / 250), rel=0.05)


def test_flats_are_compared_relative_to_their_medians() -> None:
    reference = 0.4 * (1 + RNG.normal(0.0, 0.01, (300, 300)))
    other = reference * 1.37  # another normalization level: no difference at all
    other[0, 0] *= 1.5
    stats = difference_statistics(reference, other, relative=True)
    assert stats["noise"] == pytest.approx(0.01, rel=0.05)
    assert stats["relative_rms"] == pytest.approx(0.5 / 300, rel=0.05)


def test_different_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        difference_statistics(np.zeros((3, 4)), np.zeros((4, 3)), relative=False)
