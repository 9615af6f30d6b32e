"""Report units: pixel-valued statistics in ADU of the 16-bit scale, and in electrons with EGAIN."""

from __future__ import annotations

import math

import pytest

from apcal.report.units import egain, in_adu, in_electrons
from apcal.vocabulary import Keyword

STATS = {"median": 500 / 65535, "noise": 1.5 / 65535, "hot_pixels": 12.0, "rejected_low_fraction": 0.01}


def test_pixel_values_in_adu_counts_and_fractions_unchanged() -> None:
    adu = in_adu(STATS)
    assert adu["median"] == pytest.approx(500) and adu["noise"] == pytest.approx(1.5)
    assert adu["hot_pixels"] == 12.0 and adu["rejected_low_fraction"] == 0.01


def test_electrons_only_with_a_gain() -> None:
    electrons = in_electrons(STATS, 0.25)
    assert electrons == pytest.approx({"median": 125.0, "noise": 0.375})
    assert in_electrons(STATS, None) == {}
    assert math.isnan(in_electrons({"median": math.nan}, 1.0)["median"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.25, 0.25), (1, 1.0), (0, None), (-1.0, None), (math.inf, None), ("0.25", None), (True, None)],
)
def test_egain_from_the_header(value: object, expected: float | None) -> None:
    keywords = (Keyword("GAIN", 100, ""), Keyword("EGAIN", value, ""))  # type: ignore[arg-type]
    assert egain(keywords) == expected
    assert egain((Keyword("GAIN", 100, ""),)) is None
