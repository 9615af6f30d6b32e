"""apcal's header vocabulary: the words io, frames, recipes and plans share about a frame file.

A bottom module on purpose: the readers (io) produce keywords, the frame model (frames) interprets them,
and neither should have to import the other to name a header card or a frame type.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

HeaderValue = str | float | int | bool | None


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
