"""``read_rows(start, stop, out=...)``: the same numbers as ``read_rows`` written into the caller's buffer,
through a small reused slab of stored samples (whatever the block size)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xisf as xisf_pkg
from astropy.io import fits

from apcal.io import base as image_module
from apcal.io import open_image, write_image

RNG = np.random.default_rng(3)


def _files(tmp_path: Path) -> list[Path]:
    u16 = RNG.integers(0, 65535, size=(37, 29), dtype=np.uint16)
    cube = RNG.integers(0, 65535, size=(3, 37, 29), dtype=np.uint16)
    paths = []
    path = tmp_path / "u16.fits"
    fits.PrimaryHDU(u16).writeto(path)  # BITPIX 16 + BZERO 32768
    paths.append(path)
    path = tmp_path / "i32.fits"
    fits.PrimaryHDU(u16.astype(np.int32) - 30000).writeto(path)  # the float64 conversion path
    paths.append(path)
    path = tmp_path / "cube.fits"
    fits.PrimaryHDU(cube).writeto(path)
    paths.append(path)
    path = tmp_path / "rice.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(u16)]).writeto(path)
    paths.append(path)
    for name, data in (("f32.xisf", u16 / np.float32(65535)), ("cube.xisf", cube / np.float32(65535))):
        write_image(tmp_path / name, data.astype(np.float32), [])
        paths.append(tmp_path / name)
    path = tmp_path / "zlib.xisf"
    xisf_pkg.XISF.write(str(path), u16[:, :, None], codec="zlib", shuffle=True)
    paths.append(path)
    return paths


@pytest.mark.parametrize("slab", [1 << 20, 100])  # 100 bytes: less than a row, so one row per read
def test_read_rows_out_equals_read_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slab: int) -> None:
    monkeypatch.setattr(image_module, "READ_SLAB_BYTES", slab)
    for path in _files(tmp_path):
        with open_image(path) as reader:
            whole = reader.read()
            for start, stop in ((0, reader.rows), (5, 22), (36, 37), (4, 4)):
                buffer = np.full((2, *whole.shape), -1.0, dtype=np.float32)
                target = buffer[1][..., start:stop, :]
                got = reader.read_rows(start, stop, out=target)
                assert got is target
                np.testing.assert_array_equal(target, whole[..., start:stop, :], err_msg=str(path))
                np.testing.assert_array_equal(reader.read_rows(start, stop), whole[..., start:stop, :])
                assert (buffer[0] == -1).all()  # nothing written outside out


def test_read_rows_out_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "m.fits"
    write_image(path, np.zeros((6, 5), np.float32), [])
    with open_image(path) as reader:
        f32, f64 = np.float32, np.float64
        bad_outs = (np.empty((3, 5), f32), np.empty((2, 5), f64), np.empty((1, 2, 5), f32))
        for bad in bad_outs:
            with pytest.raises(ValueError, match="out must be"):
                reader.read_rows(0, 2, out=bad)
        readonly = np.empty((2, 5), np.float32)
        readonly.flags.writeable = False
        with pytest.raises(ValueError, match="out must be"):
            reader.read_rows(0, 2, out=readonly)
