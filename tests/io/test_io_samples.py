"""The readers' one-pass conversion of 16-bit samples (apcal.io._samples) against numpy's three passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from apcal.io._samples import is_16bit, normalize_16bit
from apcal.io.base import SampleEncoding
from apcal.io.image import open_image


def numpy_normalized(raw: np.ndarray, scale: float, shift: float, span: float) -> np.ndarray:
    """What SampleEncoding.normalize computed before the compiled pass: float32, operation by operation."""
    work = raw.astype(np.float32)
    if scale != 1.0:
        work *= np.float32(scale)
    if shift:
        work += np.float32(shift)
    if span != 1.0:
        work /= np.float32(span)
    return work


EVERY_INT16 = np.arange(-32768, 32768, dtype=np.int64)
EVERY_UINT16 = np.arange(0, 65536, dtype=np.int64)


@pytest.mark.parametrize(
    ("dtype", "values", "scale", "shift", "span"),
    [
        (">i2", EVERY_INT16, 1.0, 32768.0, 65535.0),  # FITS unsigned 16-bit (BZERO 32768)
        (">i2", EVERY_INT16, 1.0, 32768.0, 1.0),
        (">i2", EVERY_INT16, 2.0, 65536.0, 131071.0),  # BSCALE 2
        (">i2", EVERY_INT16, 0.1, -3.25, 7.0),  # scale, shift and span that round in float32
        ("<u2", EVERY_UINT16, 1.0, 0.0, 65535.0),  # XISF UInt16
        ("<i2", EVERY_INT16, 1.0, 32768.0, 65535.0),
        (">u2", EVERY_UINT16, 1.0, 0.0, 65535.0),
        ("<u2", EVERY_UINT16, 1.0, 0.0, 1.0),  # nothing to do but convert
    ],
)
def test_every_16bit_value_converts_as_numpy_does(dtype, values, scale, shift, span) -> None:
    raw = values.astype(dtype).reshape(256, 256)
    out = np.full(raw.shape, np.nan, dtype=np.float32)
    assert is_16bit(raw, out)
    normalize_16bit(raw, out, scale, shift, span)
    expected = numpy_normalized(raw, scale, shift, span)
    assert out.tobytes() == expected.tobytes()


def test_only_contiguous_16bit_integers_take_the_compiled_pass() -> None:
    out = np.empty((4, 4), dtype=np.float32)
    assert not is_16bit(np.zeros((4, 4), dtype=np.uint8), out)
    assert not is_16bit(np.zeros((4, 4), dtype=">f4"), out)
    assert not is_16bit(np.zeros((4, 8), dtype=">i2")[:, ::2], out)  # a strided view
    assert not is_16bit(np.zeros((4, 4), dtype=">i2"), np.empty((4, 8), dtype=np.float32)[:, ::2])
    assert not is_16bit(np.zeros((4, 4), dtype=">i2"), np.empty((4, 4), dtype=np.float64))


def test_encoding_without_out_allocates_the_same_numbers() -> None:
    raw = EVERY_INT16.astype(">i2").reshape(128, 512)
    encoding = SampleEncoding(np.dtype(">i2"), offset=32768.0, hi=65535.0)
    into = np.empty(raw.shape, dtype=np.float32)
    assert encoding.normalize(raw, out=into) is into
    fresh = encoding.normalize(raw)
    assert fresh.dtype == np.float32 and fresh.tobytes() == into.tobytes()
    assert fresh.tobytes() == numpy_normalized(raw, 1.0, 32768.0, 65535.0).tobytes()


def test_fits_written_by_astropy_reads_as_its_values_over_65535(tmp_path: Path) -> None:
    data = np.random.default_rng(3).integers(0, 65536, size=(37, 53)).astype(np.uint16)
    data[0, :3] = (0, 1, 65535)
    path = tmp_path / "frame.fits"
    fits.PrimaryHDU(data).writeto(path)  # stored as int16 with BZERO 32768
    with open_image(path) as reader:
        rows = reader.read_rows(0, 37)
        into = np.empty((10, 53), dtype=np.float32)
        reader.read_rows(20, 30, out=into)
    expected = data.astype(np.float32) / np.float32(65535)
    assert rows.tobytes() == expected.tobytes()
    assert into.tobytes() == expected[20:30].tobytes()
    assert rows[0, 0] == 0.0 and rows[0, 2] == 1.0
