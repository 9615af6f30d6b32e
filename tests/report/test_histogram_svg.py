"""The report's SVG histogram: the bars, ticks and median it draws are the data's, read back from the SVG."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import numpy as np
import pytest

from apcal.report.histogram_svg import BASELINE, MARGINS, WIDTH, Axis, histogram_svg, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)


def bar_levels(root: ElementTree.Element) -> list[float]:
    """The y coordinate of each bin's top, from the bars' outline (M, then two L per bin, L, Z)."""
    (path,) = [e for e in root.iter(f"{SVG}path") if e.get("class") == "bars"]
    points = [tuple(map(float, p.split(","))) for p in re.findall(r"[ML]([-\d.]+,[-\d.]+)", path.get("d"))]
    tops = points[1:-1]
    assert len(tops) % 2 == 0
    return [tops[i][1] for i in range(0, len(tops), 2)]


def texts(root: ElementTree.Element, cls: str) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter(f"{SVG}text") if e.get("class") == cls]


def test_bars_are_the_counts_on_a_log_axis() -> None:
    rng = np.random.default_rng(5)
    values = np.round(rng.normal(500.0, 6.0, 200_000))
    root = parse(histogram_svg(values, "ADU", bins=64))
    levels = bar_levels(root)
    assert len(levels) == 64
    low, high = np.percentile(values, [0.05, 99.95])
    counts, _ = np.histogram(values, bins=64, range=(low, high))
    # Read the counts back through the y ticks: the decade ticks' positions give the log axis.
    ticks = [
        float(e.get("y1"))
        for e in root.iter(f"{SVG}line")
        if e.get("x2") == str(MARGINS[0]) and e.get("x1") == str(MARGINS[0] - 4)
    ]
    per_decade = ticks[0] - ticks[1]
    floor = ticks[0] + per_decade * np.log10(1 / BASELINE)
    shown = 10 ** ((floor - np.array(levels)) / per_decade) * BASELINE
    np.testing.assert_allclose(shown, np.maximum(counts, BASELINE), rtol=0.02)
    labels = texts(root, "ytick")
    assert labels[:3] == ["1", "10", "102"] and 10 ** (len(labels) - 1) >= counts.max()


def test_median_line_and_x_ticks_sit_where_their_values_are() -> None:
    rng = np.random.default_rng(6)
    values = rng.gamma(4.0, 250.0, 100_000) + 1000.0  # skewed: the median is not the middle of the axis
    root = parse(histogram_svg(values, "ADU"))
    low, high = np.percentile(values, [0.05, 99.95])
    x = Axis(float(low), float(high), MARGINS[0], WIDTH - MARGINS[1])
    (median,) = [e for e in root.iter(f"{SVG}line") if e.get("class") == "median"]
    assert float(median.get("x1")) == pytest.approx(x(float(np.median(values))), abs=0.06)
    ticks = [e for e in root.iter(f"{SVG}text") if e.get("class") == "xtick"]
    assert 3 <= len(ticks) <= 8
    for tick in ticks:
        assert float(tick.get("x")) == pytest.approx(x(float(tick.text)), abs=0.06)


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.0, 1.0, [0.0, 0.5, 1.0]),
        (493.2, 507.9, [495, 500, 505]),  # a bias
        (22100.0, 32480.0, [24000, 26000, 28000, 30000, 32000]),  # a flat: not just 25000 and 30000
        (0.013, 0.0191, [0.013, 0.014, 0.015, 0.016, 0.017, 0.018, 0.019]),
        (5.0, 5.0, [5.0]),
    ],
)
def test_nice_ticks(low: float, high: float, expected: list[float]) -> None:
    assert nice_ticks(low, high) == pytest.approx(expected)


def test_constant_empty_and_hostile_inputs_still_give_a_picture() -> None:
    levels = bar_levels(parse(histogram_svg(np.full(100, 0.3 * 65535), "ADU")))
    assert len(levels) == 256 and sum(level < max(levels) for level in levels) == 1  # one bar, mid-axis
    empty = parse(histogram_svg(np.array([]), "ADU"))
    assert not [e for e in empty.iter(f"{SVG}path")]
    hostile = histogram_svg(np.arange(10.0), 'a <b> & "c"')
    assert "a &lt;b&gt; &amp; &quot;c&quot;" in hostile
    assert "".join(parse(hostile).itertext()).count('a <b> & "c"') == 1
