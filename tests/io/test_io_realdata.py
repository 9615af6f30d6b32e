"""Frames written by real capture software (../shared/realdata): headers, shapes and pixels read right."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from apcal.io import open_image, read_header, write_image


def _values(path: Path) -> dict:
    return {k.name: k.value for k in read_header(path).keywords}


def _astropy_physical(path: Path) -> np.ndarray:
    with fits.open(path) as hdul:
        return np.asarray(hdul[0].data, dtype=np.float64)


def test_maximdl_st7_darks(realdata: Path) -> None:
    darks = sorted((realdata / "fits" / "maximdl-st7").glob("DarkBefore-*.fit"))
    assert len(darks) == 22
    for path in darks:
        info = read_header(path)
        assert info.shape == (510, 765), path
        assert info.sample_format == "uint16"
        values = {k.name: k.value for k in info.keywords}
        assert values["IMAGETYP"] == "DARK"  # 'DARK    ' in the file
        exposure = int(re.search(r"D(\d+)s", path.name).group(1))
        assert values["EXPTIME"] == float(exposure)
        assert values["SET-TEMP"] == -17.0
        assert values["XBINNING"] == 1 and type(values["XBINNING"]) is int
        assert values["SWCREATE"] == "MaxIm DL Version 4.07"
        assert [k.name for k in info.keywords][:2] == ["SIMPLE", "BITPIX"]


def test_maximdl_pixels_normalized_and_row_blocks_consistent(realdata: Path) -> None:
    folder = realdata / "fits" / "maximdl-st7"
    path = folder / "DarkBefore-001D900s.fit"
    adu = _astropy_physical(path)  # astropy applies BZERO 32768
    with open_image(path) as reader:
        whole = reader.read()
        np.testing.assert_array_equal(whole, (adu / 65535).astype(np.float32))
        blocks = np.concatenate([reader.read_rows(s, min(s + 64, 510)) for s in range(0, 510, 64)])
    assert blocks.tobytes() == whole.tobytes()
    assert whole.min() >= 0.0 and whole.max() <= 1.0
    with (
        open_image(folder / "DarkBefore-007D120s (1).fit") as a,
        open_image(folder / "DarkBefore-007D120s.fit") as b,
    ):
        assert a.read().tobytes() == b.read().tobytes()


def test_every_msumastro_file_reads(realdata: Path) -> None:
    files = sorted((realdata / "fits" / "msumastro").glob("*.fit"))
    assert len(files) == 22
    for path in files:
        with fits.open(path) as hdul:
            header = hdul[0].header
            expected_shape = (header["NAXIS2"], header["NAXIS1"])
            bitpix = header["BITPIX"]
        info = read_header(path)
        assert info.shape == expected_shape, path
        with open_image(path) as reader:
            data = reader.read()
        physical = _astropy_physical(path)
        if bitpix == 16:
            assert info.sample_format == "uint16"
            np.testing.assert_array_equal(data, (physical / 65535).astype(np.float32), err_msg=str(path))
        else:
            # MaxIm DL's float frames hold ADU (hundreds to tens of thousands): read as 16-bit data.
            assert info.sample_format == {-32: "float32", -64: "float64"}[bitpix]
            with open_image(path) as reader:
                assert reader.scaled_from_adu, path
            np.testing.assert_allclose(data, physical / 65535, rtol=1e-6, err_msg=str(path))


def test_msumastro_keywords(realdata: Path) -> None:
    folder = realdata / "fits" / "msumastro"
    aspen = _values(folder / "aspen_trimmed.fit")
    assert aspen["IMAGETYP"] == "FLAT" and aspen["SET-TEMP"] == -40.0
    assert aspen["CCD-TEMP"] == pytest.approx(-7.9, abs=0.05)
    flat_typed_bias = _values(folder / "flattest.fit")
    assert flat_typed_bias["IMAGETYP"] == "BIAS"
    # float data stored with BZERO 32768 read the same physical values as the float files without it
    with open_image(folder / "biastest1.fit") as a, open_image(folder / "darktest1.fit") as b:
        assert a.read().min() == b.read().min() == np.float32(35786.0 / 65535)


def test_real_header_survives_a_round_trip_through_both_writers(realdata: Path, tmp_path: Path) -> None:
    source = realdata / "fits" / "maximdl-st7" / "DarkBefore-003D300s_.fit"
    info = read_header(source)
    with open_image(source) as reader:
        data = reader.read()
    structural = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "BZERO", "BSCALE", "EXTEND"}
    structural |= {"CHECKSUM", "DATASUM"}  # the FITS writer's own checksum of the data
    user = [k for k in info.keywords if k.name not in structural]
    for name in ("master.xisf", "master.fits"):
        out = tmp_path / name
        write_image(out, data, info.keywords)
        back = read_header(out)
        assert [k for k in back.keywords if k.name not in structural] == user
        with open_image(out) as reader:
            assert reader.read().tobytes() == data.tobytes()
