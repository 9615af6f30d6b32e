"""Helpers for the frames tests: tiny FITS files written by astropy, header dumps, recipe settings."""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from astropy.io import fits

from apcal.recipe.model import Grouping, Headers
from apcal.vocabulary import FrameType, HeaderValue

_serial = itertools.count(1)

# the seed's default grouping keys (README, "Frame Grouping")
BIAS_KEYS = ("INSTRUME", "SET-TEMP", "GAIN", "OFFSET", "READOUTM")
SEED_GROUPING = Grouping(
    bias=BIAS_KEYS,
    dark=(*BIAS_KEYS, "EXPOSURE"),
    flat=(*BIAS_KEYS, "DATE-OBS", "FILTER"),
    flatdark=(*BIAS_KEYS, "EXPOSURE"),
    min_frames=3,
)


def write_fits(
    path: Path,
    cards: Mapping[str, HeaderValue],
    *,
    shape: tuple[int, ...] = (6, 8),
    fill: int | None = None,
) -> Path:
    """Write a small uint16 FITS file with ``cards``; pixels differ per call unless ``fill`` is given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = next(_serial) if fill is None else fill
    hdu = fits.PrimaryHDU(np.full(shape, value, dtype=np.uint16))
    for key, card_value in cards.items():
        hdu.header[key] = card_value
    hdu.writeto(path)
    return path


def headers(
    imagetyp_aliases: Mapping[str, FrameType] | None = None,
    keyword_aliases: Mapping[str, str] | None = None,
    timezone: str | None = None,
    longitude: float | None = None,
) -> Headers:
    return Headers(imagetyp_aliases or {}, keyword_aliases or {}, timezone=timezone, longitude=longitude)


_CARD_START = re.compile(r"^(?:HIERARCH |[A-Za-z0-9_ -]{8}(?:= |\s|$)|[A-Za-z0-9_-]{1,7}$)")


def parse_dump(path: Path) -> dict[str, HeaderValue]:
    """A header dump (one card per line, '#' notes, comments wrapped onto the next line) as a mapping.

    The dumps are text, not FITS files: lines are not padded to 80 columns, some comments overflow
    onto a line of their own, and APP writes lower-case keywords. Astropy warns about such cards; the
    warnings are the dump's artefacts, so they are recorded here and not raised.
    """
    cards: list[str] = []
    for line in path.read_text(encoding="ascii").splitlines():
        if line.startswith("#"):
            continue
        line = line.rstrip()
        if not line:
            continue
        if line == "END":
            break
        if _CARD_START.match(line) or not cards:
            cards.append(line)
        # else: the wrapped tail of the previous card's comment, dropped
    raw: dict[str, HeaderValue] = {}
    for text in cards:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            card = fits.Card.fromstring(text[:80] if not text.startswith("HIERARCH") else text)
            keyword, value = card.keyword, card.value
        if keyword in ("COMMENT", "HISTORY", "") or keyword in raw:
            continue
        raw[keyword] = None if isinstance(value, fits.card.Undefined) else value
    return raw
