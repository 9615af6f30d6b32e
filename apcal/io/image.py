"""The image format dispatcher: read headers, open readers and write masters in the format of a file.

The format follows the file name's extension (:func:`apcal.io.base.image_format`); :data:`FORMATS` maps
each format to its module's entry points, as :data:`apcal.engines.ENGINES` maps engine names to engines.
The formats build on :mod:`apcal.io.base` and never import this module back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from apcal.errors import FrameError
from apcal.io import fits, xisf
from apcal.io.atomic import atomic_path
from apcal.io.base import HeaderInfo, ImageFormat, ImageReader, image_format, one_line
from apcal.vocabulary import Keyword


class Format(NamedTuple):
    """One image format's entry points."""

    read_header: Callable[[Path], HeaderInfo]
    reader: Callable[[Path], ImageReader]
    write: Callable[[Path, np.ndarray, Sequence[Keyword]], None]


FORMATS: dict[ImageFormat, Format] = {
    "fits": Format(fits.read_fits_header, fits.FitsReader, fits.write_fits),
    "xisf": Format(xisf.read_xisf_header, xisf.XisfReader, xisf.write_xisf),
}


def read_header(path: Path) -> HeaderInfo:
    """The header of an image file; never reads pixel data (a file with truncated pixels still works)."""
    path = Path(path)
    return FORMATS[image_format(path)].read_header(path)


def open_image(path: Path) -> ImageReader:
    """Open an image for reading row blocks; use as a context manager or call ``close()``.

    Checks up front that the file holds all its pixels, so a truncated file fails here, not mid-stack.
    """
    path = Path(path)
    return FORMATS[image_format(path)].reader(path)


def write_image(
    path: Path,
    data: np.ndarray,
    keywords: Sequence[Keyword],
    *,
    format: ImageFormat | None = None,
) -> None:
    """Write ``data`` as a float32 image with ``keywords``, atomically (never a partial file at ``path``).

    ``data`` is ``(rows, cols)`` or ``(channels, rows, cols)``; the format is ``format`` or else the
    extension. FITS: ``BITPIX -32``; XISF: ``Float32``, ``bounds="0:1"``. See the format modules for how
    keywords that the format cannot hold are written.
    """
    path = Path(path)
    fmt = format or image_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown image format {fmt!r}")
    array = np.asarray(data)
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise ValueError(f"image data must be (rows, cols) or (channels, rows, cols), not {array.shape}")
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    array = np.ascontiguousarray(array, dtype=np.float32)
    try:
        with atomic_path(path) as tmp:
            FORMATS[fmt].write(tmp, array, keywords)
    except OSError as exc:
        raise FrameError(f"{path}: cannot write: {one_line(exc)}") from exc
