"""apcal's header vocabulary: the words io, frames, recipes and plans share about a frame file
(header cards, frame types, image formats), each declared once.

A bottom module on purpose: the readers (io) produce keywords, the frame model (frames) interprets them,
and neither should have to import the other to name a header card or a frame type.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, NamedTuple, get_args

HeaderValue = str | float | int | bool | None

#: The image file formats apcal reads and writes (io's FORMATS registry, a recipe's output.format).
ImageFormat = Literal["xisf", "fits"]
IMAGE_FORMATS: tuple[ImageFormat, ...] = get_args(ImageFormat)


class Keyword(NamedTuple):
    """One FITS header card (also how XISF stores FITS keywords): name, typed value, comment."""

    name: str
    value: HeaderValue
    comment: str = ""


class FrameType(str, Enum):
    """The kinds of frame apcal recognises; lights are recognised only to be ignored."""

    BIAS = "bias"
    DARK = "dark"
    FLAT = "flat"
    FLATDARK = "flatdark"
    LIGHT = "light"

    @property
    def master_label(self) -> str:
        """The IMAGETYP value PixInsight writes on a master of this type ('Master Bias', ...)."""
        return {
            FrameType.BIAS: "Master Bias",
            FrameType.DARK: "Master Dark",
            FrameType.FLAT: "Master Flat",
            FrameType.FLATDARK: "Master Flat Dark",
            FrameType.LIGHT: "Master Light",
        }[self]

    @property
    def file_prefix(self) -> str:
        """The seed's master file name prefix: masterBias, masterDark, masterFlat (and masterFlatDark)."""
        return {
            FrameType.BIAS: "masterBias",
            FrameType.DARK: "masterDark",
            FrameType.FLAT: "masterFlat",
            FrameType.FLATDARK: "masterFlatDark",
            FrameType.LIGHT: "masterLight",
        }[self]


#: The frame types apcal builds masters of, in FrameType's order (lights are only recognised).
MASTER_TYPES: tuple[FrameType, ...] = tuple(t for t in FrameType if t is not FrameType.LIGHT)
#: The types ``apcal run --only`` offers: flat-darks go with flats (``apcal.run.runner.selected``).
ONLY_TYPES: tuple[FrameType, ...] = tuple(t for t in MASTER_TYPES if t is not FrameType.FLATDARK)
