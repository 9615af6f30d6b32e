"""Previews: PixInsight's STF auto-stretch, PNGs that decode to the right size, and the histogram's values."""

from __future__ import annotations

import io
import struct
from xml.etree import ElementTree

import numpy as np
import pytest
from matplotlib import image as mpimg

from apcal.report.preview import (
    _shrink,
    auto_stretch,
    histogram_svg_bytes,
    histogram_values,
    mtf,
    preview_png_bytes,
    stf_parameters,
    write_preview_png,
)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_mtf_fixed_points_and_midtones() -> None:
    assert mtf(0.3, 0.0) == 0.0 and mtf(0.3, 1.0) == 1.0
    assert mtf(0.3, 0.3) == pytest.approx(0.5)
    assert mtf(0.5, 0.42) == pytest.approx(0.42)  # m = 0.5 is the identity
    # the balance that sends x to 0.25 is MTF(0.25, x) (MTF is symmetric in its two arguments)
    x = 0.0123
    assert mtf(mtf(0.25, x), x) == pytest.approx(0.25)


def test_auto_stretch_puts_the_background_at_a_quarter() -> None:
    rng = np.random.default_rng(0)
    bias = (0.0076 + 3e-5 * rng.standard_normal((300, 400))).astype(np.float32)
    c0, c1, _ = stf_parameters(bias)
    assert c0 == pytest.approx(0.0076 - 2.8 * 3e-5, abs=3e-6) and c1 == 1.0
    out = auto_stretch(bias)
    assert out.dtype == np.uint8 and out.shape == (300, 400)
    assert abs(float(np.median(out)) - 0.25 * 255) <= 1.0
    assert (out == 0).mean() == pytest.approx(0.0026, abs=0.002)  # below -2.8 sigma: clipped black


def test_inverted_image_uses_the_highlights_branch() -> None:
    rng = np.random.default_rng(0)
    flat = (0.6 + 0.01 * rng.standard_normal((100, 100))).astype(np.float32)
    c0, c1, _ = stf_parameters(flat)
    assert c0 == 0.0 and c1 == pytest.approx(0.6 + 2.8 * 0.01, abs=1e-3)


def test_colour_previews_and_shrinking() -> None:
    rng = np.random.default_rng(0)
    rgb = (0.1 + 0.01 * rng.standard_normal((3, 2100, 900))).astype(np.float32)
    out = auto_stretch(rgb)
    assert out.shape == (525, 225, 3)  # binned 4 x 4: an even factor keeps a Bayer mosaic's colours mixed
    constant = auto_stretch(np.zeros((10, 10), np.float32))
    assert constant.shape == (10, 10)
    with_nan = np.full((10, 10), 0.2, np.float32)
    with_nan[0, 0] = np.nan
    assert auto_stretch(with_nan)[0, 0] == 0


@pytest.mark.parametrize("shape", [(2822, 4144), (3, 1001, 2050)])
def test_shrinking_takes_the_mean_of_each_block(shape) -> None:
    image = np.random.default_rng(1).random(shape, dtype=np.float32)
    small = _shrink(image, 1024)
    factor = 6 if shape[-1] == 4144 else 4  # ceil(long side / 1024), made even
    rows, cols = shape[-2] // factor, shape[-1] // factor
    assert small.shape == (*shape[:-2], rows, cols) and small.dtype == np.float32
    blocks = image[..., : rows * factor, : cols * factor].reshape(*shape[:-2], rows, factor, cols, factor)
    np.testing.assert_allclose(small, blocks.mean(axis=(-3, -1), dtype=np.float64), rtol=1e-6)


def test_pngs_decode(tmp_path) -> None:
    rng = np.random.default_rng(0)
    image = (0.4 + 0.01 * rng.standard_normal((120, 200))).astype(np.float32)
    data = preview_png_bytes(image)
    assert png_size(data) == (200, 120)
    decoded = mpimg.imread(io.BytesIO(data), format="png")
    assert decoded.shape[:2] == (120, 200)
    target = write_preview_png(image, tmp_path / "masterBias_x.png")
    assert target == tmp_path / "masterBias_x.png"
    assert png_size(target.read_bytes()) == (200, 120)
    assert [p.name for p in tmp_path.iterdir()] == ["masterBias_x.png"]  # no temporary file left


def test_a_master_in_adu_previews_like_the_same_master_in_0_1() -> None:
    """A bias master stored in ADU (older apcal, other tools) was stretched as a white square."""
    rng = np.random.default_rng(3)
    bias = (rng.normal(500, 1.5, (120, 160)) + rng.normal(0, 2, 160)).astype(np.float32)
    in_adu, in_unit = auto_stretch(bias), auto_stretch(bias / np.float32(65535))
    assert np.std(in_adu) > 5  # not a blank square
    assert np.abs(in_adu.astype(int) - in_unit.astype(int)).max() <= 1


def test_histogram_axis_is_in_adu_for_both_scales() -> None:
    from apcal.report.preview import HISTOGRAM_LABEL

    assert "ADU" in HISTOGRAM_LABEL
    rng = np.random.default_rng(4)
    bias = rng.normal(500, 1.5, (64, 64)).astype(np.float32)
    # The same values whichever scale the master is stored on, in ADU for both.
    adu, unit = histogram_values(bias), histogram_values(bias / np.float32(65535))
    np.testing.assert_allclose(unit, adu, rtol=1e-6)
    assert 490 < np.median(unit) < 510
    # the picture's axis too: its ticks read the same ADU values
    ticks = [t.text for t in ElementTree.fromstring(histogram_svg_bytes(bias / np.float32(65535))).iter()]
    assert "500" in ticks and ticks == [
        t.text for t in ElementTree.fromstring(histogram_svg_bytes(bias)).iter()
    ]
