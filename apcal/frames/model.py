"""What apcal knows about a frame file once its header is read: type, geometry and normalized keywords.

Frames never carry pixels: discovery reads headers only, and the engines open the files themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from apcal.vocabulary import FrameType, HeaderValue


@dataclass(frozen=True)
class Fingerprint:
    """Identity of a file's content for incremental runs: size, mtime and a hash of its header."""

    size: int
    mtime_ns: int
    header_hash: str


@dataclass(frozen=True, eq=False)
class Frame:
    """One calibration frame (or master) as found on disk.

    ``keywords`` holds canonical keyword names (aliases folded: EXPTIME -> EXPOSURE, SETTEMP -> SET-TEMP,
    CCDXBIN -> XBINNING, ...) with normalized values: strings trimmed, numbers as float. ``raw_keywords``
    keeps every keyword as written, so masters can copy them. ``shape`` is in numpy order:
    (rows, cols) or (channels, rows, cols).
    """

    path: Path
    type: FrameType
    shape: tuple[int, ...]
    keywords: Mapping[str, HeaderValue]
    raw_keywords: Mapping[str, HeaderValue] = field(repr=False)
    fingerprint: Fingerprint = field(repr=False)
    is_master: bool = False
    night: date | None = None

    @property
    def exposure(self) -> float | None:
        """Exposure time in seconds, whichever keyword the capture program used."""
        value = self.keywords.get("EXPOSURE")
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    @property
    def binning(self) -> tuple[int, int]:
        """(x, y) binning; 1x1 when the header does not say."""
        x = self.keywords.get("XBINNING")
        y = self.keywords.get("YBINNING", x)
        xi = int(x) if isinstance(x, int | float) else 1
        yi = int(y) if isinstance(y, int | float) else xi
        return (xi, yi)


@dataclass(frozen=True)
class SkippedFile:
    """A file discovery looked at and did not use, with the reason shown to the user."""

    path: Path
    reason: str

    @property
    def shown(self) -> str:
        """The path as text any output accepts (see :func:`shown_path`)."""
        return shown_path(self.path)


def shown_path(path: Path | str) -> str:
    """``path`` as valid Unicode text: a name that is not UTF-8 shows its odd bytes as ``\\xff``.

    Python keeps such bytes as lone surrogates, which UTF-8 logs, reports and terminals refuse.
    """
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text
