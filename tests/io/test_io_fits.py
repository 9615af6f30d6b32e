"""FITS: normalization of every BITPIX, row blocks, keywords both ways, and clean errors on bad files."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from apcal.errors import FrameError
from apcal.io import open_image, read_header, write_image
from apcal.vocabulary import Keyword

RNG = np.random.default_rng(20240601)


def _extremes(dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Random samples of ``dtype`` with the type's minimum and maximum in the first two pixels."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        data = RNG.normal(1000.0, 300.0, size=shape)
    else:
        info = np.iinfo(dtype)
        data = RNG.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype.newbyteorder("="))
        flat = data.reshape(-1)
        flat[0], flat[1] = info.min, info.max
    return data.astype(dtype)


def _expected(data: np.ndarray) -> np.ndarray:
    """The normalization rule, computed independently in float64: integers span their type's range;
    floats are read as stored unless they are in ADU (these are: ~1000 ± 300), then divided by 65535."""
    if data.dtype.kind == "f":
        assert np.mean(data > 2.0) > 0.5  # _extremes' floats are ADU-like
        return (data.astype(np.float64) / 65535.0).astype(np.float32)
    info = np.iinfo(data.dtype)
    return ((data.astype(np.float64) - info.min) / (2.0**info.bits - 1)).astype(np.float32)


# (array dtype astropy is given, expected sample_format, BITPIX, BZERO in the file)
BITPIX_CASES = [
    ("u1", "uint8", 8, None),
    ("i2", "int16", 16, None),
    (">i2", "int16", 16, None),
    ("u2", "uint16", 16, 32768),
    (">u2", "uint16", 16, 32768),
    ("i4", "int32", 32, None),
    ("u4", "uint32", 32, 2**31),
    (">u4", "uint32", 32, 2**31),
    ("f4", "float32", -32, None),
    (">f4", "float32", -32, None),
    ("f8", "float64", -64, None),
    (">f8", "float64", -64, None),
]


@pytest.mark.parametrize(("dtype", "sample_format", "bitpix", "bzero"), BITPIX_CASES)
def test_every_bitpix_reads_normalized(
    tmp_path: Path, dtype: str, sample_format: str, bitpix: int, bzero: int | None
) -> None:
    data = _extremes(np.dtype(dtype), (37, 53))
    path = tmp_path / "frame.fits"
    fits.PrimaryHDU(data).writeto(path)
    raw_header = fits.getheader(path)
    assert raw_header["BITPIX"] == bitpix
    assert raw_header.get("BZERO") == bzero

    info = read_header(path)
    assert info.shape == (37, 53)
    assert info.sample_format == sample_format
    with open_image(path) as reader:
        assert reader.shape == (37, 53)
        whole = reader.read()
        assert whole.dtype == np.float32
        np.testing.assert_array_equal(whole, _expected(data))
        for start, stop in [(0, 1), (5, 17), (36, 37), (0, 37), (20, 20)]:
            np.testing.assert_array_equal(reader.read_rows(start, stop), whole[start:stop])


def test_uint16_endpoints(tmp_path: Path) -> None:
    path = tmp_path / "u16.fit"
    fits.PrimaryHDU(np.array([[0, 65535, 32768]], dtype=np.uint16)).writeto(path)
    with open_image(path) as reader:
        values = reader.read()
    assert values[0, 0] == 0.0
    assert values[0, 1] == 1.0
    assert values[0, 2] == np.float32(32768 / 65535)


def test_signed_int16_maps_full_range_like_pixinsight(tmp_path: Path) -> None:
    path = tmp_path / "i16.fits"
    fits.PrimaryHDU(np.array([[-32768, 32767, 0]], dtype=np.int16)).writeto(path)
    with open_image(path) as reader:
        values = reader.read()
    assert values[0, 0] == 0.0
    assert values[0, 1] == 1.0
    assert values[0, 2] == np.float32(32768 / 65535)


def _raw_fits(path: Path, stored: np.ndarray, bitpix: int, **cards: float) -> None:
    """A FITS file written byte by byte, so BZERO/BSCALE stay exactly as given (astropy rewrites them)."""
    header = fits.Header([("SIMPLE", True), ("BITPIX", bitpix), ("NAXIS", 2)])
    header["NAXIS1"], header["NAXIS2"] = stored.shape[1], stored.shape[0]
    header.update(cards)
    body = stored.astype(stored.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(header.tostring().encode("ascii") + body + b"\0" * (-len(body) % 2880))


def test_float_data_with_bzero_gets_it_applied(tmp_path: Path) -> None:
    # Some MaxIm DL files store float data with BZERO 32768 (see the msumastro biastest files).
    path = tmp_path / "fz.fits"
    _raw_fits(path, np.array([[3018.0, 3192.0]], dtype=">f4"), -32, BZERO=32768.0, BSCALE=1.0)
    assert fits.getheader(path)["BZERO"] == 32768.0
    with open_image(path) as reader:  # then read as ADU (they are far above 1), like 16-bit data
        np.testing.assert_array_equal(reader.read(), np.float32([[35786.0, 35960.0]]) / np.float32(65535))


def test_unsupported_integer_scaling_is_a_frame_error(tmp_path: Path) -> None:
    path = tmp_path / "scaled.fits"
    _raw_fits(path, np.zeros((2, 2), ">i2"), 16, BZERO=100.0, BSCALE=2.0)
    with pytest.raises(FrameError, match=r"scaled\.fits.*BSCALE"):
        open_image(path)


def test_colour_cube_rows_and_channels(tmp_path: Path) -> None:
    data = RNG.integers(0, 65535, size=(3, 21, 16), dtype=np.uint16)
    path = tmp_path / "rgb.fits"
    fits.PrimaryHDU(data).writeto(path)
    assert read_header(path).shape == (3, 21, 16)
    with open_image(path) as reader:
        whole = reader.read()
        assert whole.shape == (3, 21, 16)
        np.testing.assert_array_equal(whole, _expected(data))
        np.testing.assert_array_equal(reader.read_rows(4, 9), whole[:, 4:9])


def test_empty_primary_uses_first_image_extension_and_inherits_keywords(tmp_path: Path) -> None:
    data = RNG.integers(0, 65535, size=(12, 10), dtype=np.uint16)
    primary = fits.PrimaryHDU(header=fits.Header([("OBSERVER", "me"), ("IMAGETYP", "LIGHT")]))
    image = fits.ImageHDU(data, header=fits.Header([("IMAGETYP", "DARK")]))
    path = tmp_path / "ext.fits"
    fits.HDUList([primary, image]).writeto(path)
    info = read_header(path)
    values = {k.name: k.value for k in info.keywords}
    assert info.shape == (12, 10)
    assert values["IMAGETYP"] == "DARK"  # the image HDU's own keyword wins
    assert values["OBSERVER"] == "me"
    with open_image(path) as reader:
        np.testing.assert_array_equal(reader.read(), _expected(data))


def test_tile_compressed_image(tmp_path: Path) -> None:
    data = RNG.integers(0, 65535, size=(64, 48), dtype=np.uint16)
    path = tmp_path / "rice.fits"
    fits.HDUList(
        [fits.PrimaryHDU(), fits.CompImageHDU(data, header=fits.Header([("EXPTIME", 30.0)]))]
    ).writeto(path)
    info = read_header(path)
    assert (info.shape, info.sample_format) == ((64, 48), "uint16")
    assert ("EXPTIME", 30.0) in [(k.name, k.value) for k in info.keywords]
    with open_image(path) as reader:
        whole = reader.read()
        np.testing.assert_array_equal(whole, _expected(data))
        np.testing.assert_array_equal(reader.read_rows(10, 30), whole[10:30])


def test_header_keywords_typed_in_file_order(tmp_path: Path) -> None:
    header = fits.Header()
    header["IMAGETYP"] = ("DARK    ", "padded string")
    header["EXPTIME"] = (120.0, "seconds")
    header["XBINNING"] = 1
    header["COOLER"] = True
    header["EMPTY"] = (None, "undefined value")
    header["LONGSTR"] = "x" * 150
    header.add_history("first history")
    header.add_comment("a comment")
    path = tmp_path / "kw.fits"
    fits.PrimaryHDU(np.zeros((2, 2), np.uint16), header=header).writeto(path)
    keywords = read_header(path).keywords
    names = [k.name for k in keywords]
    assert names[:3] == ["SIMPLE", "BITPIX", "NAXIS"]
    user = [
        k
        for k in keywords
        if k.name not in {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "BZERO", "BSCALE"}
    ]
    assert user == [
        Keyword("IMAGETYP", "DARK", "padded string"),
        Keyword("EXPTIME", 120.0, "seconds"),
        Keyword("XBINNING", 1, ""),
        Keyword("COOLER", True, ""),
        Keyword("EMPTY", None, "undefined value"),
        Keyword("LONGSTR", "x" * 150, ""),
        Keyword("HISTORY", "first history", ""),
        Keyword("COMMENT", "a comment", ""),
    ]
    assert type(user[2].value) is int and type(user[3].value) is bool


KEYWORDS = [
    Keyword("SIMPLE", True, "must be skipped"),
    Keyword("BITPIX", 16, "must be skipped"),
    Keyword("NAXIS1", 99, "must be skipped"),
    Keyword("BZERO", 32768, "must be skipped"),
    Keyword("BSCALE", 1, "must be skipped"),
    Keyword("IMAGETYP", "Master Dark", "Type of image"),
    Keyword("EXPTIME", 300.0, "Exposure time in seconds"),
    Keyword("NCOMBINE", 20, ""),
    Keyword("SMALL", 1.5e-7, ""),
    Keyword("COOLER", False, ""),
    Keyword("QUOTED", "it's", "a quote inside"),
    Keyword("UNDEF", None, "no value"),
    Keyword("HISTORY", "calibrated by apcal", ""),
    Keyword("COMMENT", "a comment card", ""),
    Keyword("LONGSTR", "a very long value " * 10, "continued"),
    Keyword("LONGCOMM", "v", "c" * 120),
    Keyword("LONGNAMEKEY", 3, "hierarch"),
    Keyword("UNICODE", "Café 5°", "é"),
    Keyword("NAN", float("nan"), ""),
]


@pytest.mark.parametrize("shape", [(20, 30), (3, 20, 30)])
def test_written_fits_read_back_by_astropy(tmp_path: Path, shape: tuple[int, ...]) -> None:
    data = RNG.random(shape, dtype=np.float32)
    path = tmp_path / "master.fits"
    write_image(path, data, KEYWORDS)
    with fits.open(path) as hdul:
        hdu = hdul[0]
        header = hdu.header
        assert header["BITPIX"] == -32
        assert "BZERO" not in header and "BSCALE" not in header
        assert hdu.data.shape == shape
        np.testing.assert_array_equal(hdu.data, data)
        assert header["NAXIS1"] == 30
        assert header["IMAGETYP"] == "Master Dark"
        assert header.comments["IMAGETYP"] == "Type of image"
        assert header["EXPTIME"] == 300.0 and type(header["EXPTIME"]) is float
        assert header["NCOMBINE"] == 20 and type(header["NCOMBINE"]) is int
        assert header["SMALL"] == 1.5e-7
        assert header["COOLER"] is False
        assert header["QUOTED"] == "it's"
        assert header["UNDEF"] is None or isinstance(header["UNDEF"], fits.card.Undefined)
        assert list(header["HISTORY"]) == ["calibrated by apcal"]
        assert list(header["COMMENT"]) == ["a comment card"]
        assert (
            header["LONGSTR"] == ("a very long value " * 10).rstrip()
        )  # CONTINUE cards; FITS drops trailing blanks
        assert header["LONGCOMM"] == "v"
        assert header.comments["LONGCOMM"] == "c" * len(header.comments["LONGCOMM"])  # truncated
        assert header["LONGNAMEKEY"] == 3  # HIERARCH
        assert header["UNICODE"] == "Cafe 5?"
        assert header["NAN"] == "nan"
    # and our own reader agrees
    info = read_header(path)
    assert info.sample_format == "float32"
    with open_image(path) as reader:
        np.testing.assert_array_equal(reader.read(), data)


def test_large_header_only_read_does_not_touch_data(tmp_path: Path) -> None:
    # A 100 MB frame: read_header must not read the data (timed), and must still work when the data
    # unit is cut off entirely.
    path = tmp_path / "big.fits"
    header = fits.Header(
        [("SIMPLE", True), ("BITPIX", 16), ("NAXIS", 2), ("NAXIS1", 10000), ("NAXIS2", 5000)]
    )
    header["BZERO"] = 32768
    header["IMAGETYP"] = "DARK"
    header_bytes = header.tostring().encode("ascii")
    with open(path, "wb") as f:
        f.write(header_bytes)
        f.truncate(len(header_bytes) + 10000 * 5000 * 2)  # sparse: cheap to make, 100 MB long
    assert path.stat().st_size > 100_000_000
    start = time.perf_counter()
    info = read_header(path)
    elapsed = time.perf_counter() - start
    assert info.shape == (5000, 10000) and info.sample_format == "uint16"
    assert elapsed < 0.5, f"read_header took {elapsed:.2f}s on a 100 MB file"

    truncated = tmp_path / "cut.fits"
    truncated.write_bytes(header_bytes)
    info = read_header(truncated)
    assert ("IMAGETYP", "DARK") in [(k.name, k.value) for k in info.keywords]


def _assert_one_line_frame_error(path: Path, call) -> FrameError:
    with pytest.raises(FrameError) as excinfo:
        call(path)
    message = str(excinfo.value)
    assert str(path) in message
    assert "\n" not in message
    return excinfo.value


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.fits"
    path.write_bytes(b"")
    for call in (read_header, open_image):
        assert "empty" in str(_assert_one_line_frame_error(path, call))


def test_text_file_named_fits(tmp_path: Path) -> None:
    path = tmp_path / "notes.fits"
    path.write_text("this is not a FITS file\n" * 20)
    for call in (read_header, open_image):
        assert "not a readable FITS file" in str(_assert_one_line_frame_error(path, call))


def test_truncated_data_unit(tmp_path: Path) -> None:
    path = tmp_path / "cut.fit"
    fits.PrimaryHDU(np.zeros((100, 100), np.uint16)).writeto(path)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) - 5000])
    assert read_header(path).shape == (100, 100)  # the header is intact
    assert "truncated" in str(_assert_one_line_frame_error(path, open_image))


def test_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "half.fits"
    fits.PrimaryHDU(np.zeros((10, 10), np.uint16)).writeto(path)
    path.write_bytes(path.read_bytes()[:1000])
    for call in (read_header, open_image):
        _assert_one_line_frame_error(path, call)


def test_no_image_hdu(tmp_path: Path) -> None:
    path = tmp_path / "table.fits"
    table = fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=np.arange(3.0))])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    for call in (read_header, open_image):
        assert "no image" in str(_assert_one_line_frame_error(path, call))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.fits"
    for call in (read_header, open_image):
        assert "not found" in str(_assert_one_line_frame_error(path, call))


def test_one_dimensional_data_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "spectrum.fits"
    fits.PrimaryHDU(np.zeros(50, np.float32)).writeto(path)
    _assert_one_line_frame_error(path, read_header)
