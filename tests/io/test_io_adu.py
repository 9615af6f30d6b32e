"""Float FITS data in ADU read as 16-bit data, data in [0, 1] left alone, and ±inf read as NaN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from apcal.io.adu import ADU_FULL_SCALE, looks_like_adu, probe_rows
from apcal.io.image import open_image

RNG = np.random.default_rng(14)
SHAPE = (64, 96)


def write(path: Path, data: np.ndarray) -> Path:
    fits.PrimaryHDU(data).writeto(path)
    return path


@pytest.mark.parametrize(
    ("what", "data", "adu"),
    [
        ("bias in ADU", RNG.normal(500, 6, SHAPE), True),
        ("flat in ADU", RNG.normal(30000, 200, SHAPE), True),
        ("zero-offset dark in ADU, 1 ADU noise", np.maximum(RNG.normal(0, 1.0, SHAPE), 0), True),
        ("bias in [0, 1]", RNG.normal(500, 6, SHAPE) / 65535, False),
        ("saturated flat in [0, 1]", np.ones(SHAPE), False),
        ("calibrated frame around 0", RNG.normal(0, 1e-4, SHAPE), False),
        ("master flat normalized to mean 1", RNG.uniform(0.7, 1.5, SHAPE), False),
        ("all NaN", np.full(SHAPE, np.nan), False),
    ],
)
def test_the_rule(what: str, data: np.ndarray, adu: bool) -> None:
    assert looks_like_adu(data) is adu, what


def test_a_few_corrupt_samples_do_not_make_data_in_0_1_look_like_adu() -> None:
    data = RNG.uniform(0, 1, SHAPE)
    data.reshape(-1)[:5] = 1e30  # 0.08 % of the samples
    assert not looks_like_adu(data)


def test_probe_rows_spread_over_the_image() -> None:
    assert probe_rows(1) == [0]
    assert probe_rows(5) == [0, 1, 2, 3, 4]
    rows = probe_rows(3000)
    assert len(rows) == 16 and rows[0] == 0 and rows[-1] == 2999


@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_float_adu_file_reads_like_the_integer_file(tmp_path: Path, dtype: str) -> None:
    adu = RNG.integers(400, 40000, SHAPE).astype(np.uint16)
    integer = write(tmp_path / "int.fits", adu)
    floating = write(tmp_path / "float.fits", adu.astype(dtype))
    with open_image(integer) as a, open_image(floating) as b:
        assert not a.scaled_from_adu and b.scaled_from_adu
        np.testing.assert_array_equal(b.read(), a.read())
        np.testing.assert_array_equal(b.read_rows(10, 20), a.read_rows(10, 20))
    with open_image(floating) as again:  # decided once, remembered with the header, same answer
        assert again.scaled_from_adu
        assert again.read().max() <= 40000 / ADU_FULL_SCALE


def test_float_data_in_0_1_read_as_stored(tmp_path: Path) -> None:
    data = RNG.uniform(0, 1, SHAPE).astype(np.float32)
    with open_image(write(tmp_path / "unit.fits", data)) as reader:
        assert not reader.scaled_from_adu
        np.testing.assert_array_equal(reader.read(), data)


def test_infinities_read_as_nan_nan_kept(tmp_path: Path) -> None:
    data = RNG.normal(1000, 6, SHAPE).astype(np.float32)
    data[3, :4] = np.inf
    data[4, :2] = -np.inf
    data[5, 0] = np.nan
    with open_image(write(tmp_path / "inf.fits", data)) as reader:
        image = reader.read()
        block = np.empty((3, SHAPE[1]), dtype=np.float32)
        reader.read_rows(3, 6, out=block)
    for got in (image[3:6], block):
        assert not np.isinf(got).any()
        assert np.isnan(got).sum() == 7
    finite = np.isfinite(data)
    np.testing.assert_allclose(image[finite], data[finite] / 65535, rtol=1e-6)
