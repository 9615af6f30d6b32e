"""The format-neutral entry points: dispatch on extension, reader lifecycle, write_image's contract."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from apcal.errors import FrameError
from apcal.io import image_format, open_image, read_header, write_image
from apcal.vocabulary import Keyword


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.fit", "fits"), ("a.FITS", "fits"), ("a.Fts", "fits"), ("a.fits", "fits"), ("a.XISF", "xisf")],
)
def test_format_from_extension_case_insensitive(name: str, fmt: str) -> None:
    assert image_format(Path(name)) == fmt


@pytest.mark.parametrize("name", ["a.tif", "a.fits.fz", "a", "a.cr2"])
def test_unknown_extension_is_a_frame_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"x")
    for call in (read_header, open_image, image_format):
        with pytest.raises(FrameError, match="unsupported file type"):
            call(path)
    with pytest.raises(FrameError, match="unsupported file type"):
        write_image(path, np.zeros((2, 2), np.float32), [])


@pytest.mark.parametrize("name", ["m.XISF", "m.FIT", "m.fts"])
def test_upper_case_extensions_write_and_read(tmp_path: Path, name: str) -> None:
    data = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / name
    write_image(path, data, [Keyword("IMAGETYP", "Master Bias", "")])
    assert ("IMAGETYP", "Master Bias") in [(k.name, k.value) for k in read_header(path).keywords]
    with open_image(path) as reader:
        np.testing.assert_array_equal(reader.read(), data)


def test_explicit_format_overrides_extension(tmp_path: Path) -> None:
    path = tmp_path / "master.dat"
    write_image(path, np.ones((2, 3), np.float32), [], format="fits")
    with fits.open(path) as hdul:
        assert hdul[0].data.shape == (2, 3)


def test_data_is_written_as_float32_and_single_channel_cube_as_mono(tmp_path: Path) -> None:
    data = np.arange(12, dtype=np.float64).reshape(1, 3, 4) / 11
    for name in ("m.xisf", "m.fits"):
        path = tmp_path / name
        write_image(path, data, [])
        info = read_header(path)
        assert info.shape == (3, 4) and info.sample_format == "float32"
        with open_image(path) as reader:
            np.testing.assert_array_equal(reader.read(), data[0].astype(np.float32))


@pytest.mark.parametrize("shape", [(5,), (2, 2, 2, 2), (0, 4)])
def test_invalid_shapes_are_refused_before_writing(tmp_path: Path, shape: tuple[int, ...]) -> None:
    path = tmp_path / "m.xisf"
    with pytest.raises(ValueError, match="image data"):
        write_image(path, np.zeros(shape, np.float32), [])
    assert list(tmp_path.iterdir()) == []


def test_write_into_missing_folder_is_a_frame_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "m.xisf"
    with pytest.raises(FrameError, match=r"m\.xisf: cannot write"):
        write_image(path, np.zeros((2, 2), np.float32), [])


@pytest.mark.parametrize("name", ["r.xisf", "r.fits"])
def test_reader_lifecycle(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_image(path, np.zeros((6, 4), np.float32), [])
    reader = open_image(path)
    assert reader.path == path and reader.shape == (6, 4)
    with pytest.raises(ValueError, match="outside"):
        reader.read_rows(4, 7)
    with pytest.raises(ValueError, match="outside"):
        reader.read_rows(3, 2)
    assert reader.read_rows(2, 2).shape == (0, 4)
    with reader:
        pass
    with pytest.raises(ValueError, match="closed"):
        reader.read_rows(0, 1)
    reader.close()  # idempotent


@pytest.mark.parametrize("name", ["k.xisf", "k.fits"])
def test_reader_keywords_are_the_headers(tmp_path: Path, name: str) -> None:
    """A reader parses the header once and keeps its keywords: callers need not read it again."""
    path = tmp_path / name
    cards = [Keyword("IMAGETYP", "Flat Frame", ""), Keyword("EXPTIME", 2.5, "s"), Keyword("HISTORY", "x", "")]
    write_image(path, np.zeros((3, 5), np.float32), cards)
    with open_image(path) as reader:
        assert reader.keywords == read_header(path).keywords
        named = [k.name for k in reader.keywords if k.name in ("IMAGETYP", "EXPTIME")]
        assert named == ["IMAGETYP", "EXPTIME"]


@pytest.mark.skipif(os.name == "nt", reason="Windows cannot replace a file that is open")
@pytest.mark.parametrize("name", ["r.xisf", "r.fits"])
def test_reader_keeps_reading_after_file_is_replaced(tmp_path: Path, name: str) -> None:
    # The handle stays open: an atomic replacement of the path (a new master) does not disturb it.
    path = tmp_path / name
    write_image(path, np.full((4, 4), 0.25, np.float32), [])
    with open_image(path) as reader:
        write_image(path, np.full((4, 4), 0.75, np.float32), [])
        np.testing.assert_array_equal(reader.read_rows(0, 4), np.full((4, 4), 0.25, np.float32))


@pytest.mark.parametrize("name", ["big.fits", "big.xisf"])
def test_row_blocks_do_not_load_the_whole_frame(tmp_path: Path, name: str) -> None:
    # A 4000x3000 frame (24 MB as uint16, 48 MB as float32): reading a 60-row block allocates about
    # the block (60 x 4000 x 4 bytes = 0.96 MB as float32, plus the stored samples), never the frame.
    path = tmp_path / name
    if name.endswith(".fits"):
        fits.PrimaryHDU(np.zeros((3000, 4000), np.uint16)).writeto(path)
    else:
        write_image(path, np.zeros((3000, 4000), np.float32), [])
    with open_image(path) as reader:
        tracemalloc.start()
        try:
            block = reader.read_rows(1500, 1560)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert block.shape == (60, 4000)
    assert peak < 4_000_000, f"peak {peak / 1e6:.1f} MB for a 60-row block"
