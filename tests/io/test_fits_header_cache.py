"""A FITS header is parsed once per process while the file stays the same, and again once it changes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from apcal.io import fits as apcal_fits
from apcal.io import open_image, read_header


def write(path: Path, value: str, data: np.ndarray | None = None) -> None:
    header = fits.Header()
    header["IMAGETYP"] = value
    pixels = np.arange(12, dtype=np.uint16).reshape(3, 4) if data is None else data
    fits.PrimaryHDU(pixels, header=header).writeto(path, overwrite=True)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every astropy open of a file, in order (astropy still does the work)."""
    seen: list[Path] = []
    real_open = apcal_fits.fits.open

    def counting_open(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(Path(name))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(apcal_fits.fits, "open", counting_open)
    return seen


def imagetyp(path: Path) -> object:
    return next(k.value for k in read_header(path).keywords if k.name == "IMAGETYP")


def test_planning_then_stacking_parses_the_header_once(tmp_path: Path, parses: list[Path]) -> None:
    path = tmp_path / "a.fits"
    write(path, "Bias Frame")
    assert imagetyp(path) == "Bias Frame"
    with open_image(path) as reader:
        assert reader.read()[0, 1] == pytest.approx(1 / 65535)
        assert [k.value for k in reader.keywords if k.name == "IMAGETYP"] == ["Bias Frame"]
    assert imagetyp(path) == "Bias Frame"
    assert parses == [path]


def test_a_replaced_file_is_parsed_again(tmp_path: Path, parses: list[Path]) -> None:
    path = tmp_path / "a.fits"
    write(path, "Bias Frame")
    assert imagetyp(path) == "Bias Frame"
    other = tmp_path / "b.fits"
    write(other, "Dark Frame")
    os.replace(other, path)  # same size, new inode
    assert imagetyp(path) == "Dark Frame"
    assert parses == [path, path]


def test_a_file_rewritten_in_place_is_parsed_again(tmp_path: Path, parses: list[Path]) -> None:
    path = tmp_path / "a.fits"
    write(path, "Bias Frame")
    assert imagetyp(path) == "Bias Frame"
    before = path.stat()
    with open(path, "r+b") as f:  # same inode, same size: only the modification time tells
        raw = f.read()
        f.seek(0)
        f.write(raw.replace(b"'Bias Frame'", b"'Dark Frame'"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert path.stat().st_ino == before.st_ino and path.stat().st_size == before.st_size
    assert imagetyp(path) == "Dark Frame"
    with open_image(path) as reader:
        assert reader.shape == (3, 4)
    assert len(parses) == 2


def test_a_file_truncated_after_planning_still_fails_to_open(tmp_path: Path) -> None:
    path = tmp_path / "a.fits"
    write(path, "Flat Frame", np.zeros((200, 300), np.uint16))
    read_header(path)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 5000)
    from apcal.errors import FrameError

    with pytest.raises(FrameError, match="truncated"):
        open_image(path)


def test_compressed_images_are_not_remembered(tmp_path: Path, parses: list[Path]) -> None:
    path = tmp_path / "c.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(np.ones((8, 8), np.int16))]).writeto(path)
    for _ in range(2):
        with open_image(path) as reader:
            assert reader.read().shape == (8, 8)
    assert parses == [path, path]
