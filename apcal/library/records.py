"""One catalogued master: what the catalogue stores about it, and its configuration.

A master's *configuration* is what makes two masters interchangeable: its type, the instrument
settings of :data:`~apcal.library.matching.MATCH_KEYS`, binning and image shape, plus the exposure for
darks and flat-darks and the filter for flats. The QC gate compares a new master with the previous
good one of the same configuration, and ``apcal library history`` draws one line per configuration.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from apcal.frames.model import Fingerprint, Frame
from apcal.grouping import frame_value
from apcal.library.matching import MATCH_KEYS
from apcal.naming import format_value, safe_part
from apcal.vocabulary import FrameType, HeaderValue

#: Types a library root catalogues: the masters that calibrate flats, and flats (for coverage).
CATALOGUED_TYPES = (FrameType.BIAS, FrameType.DARK, FrameType.FLATDARK, FrameType.FLAT)

#: Header cards that say where a master came from: apcal's input hash and version
#: (:mod:`apcal.plan.keywords` writes them), and other tools' names for their software.
PROVENANCE_KEYWORDS = ("APCALHSH", "APCALVER", "APCALCFG", "SWCREATE", "CREATOR", "PROGRAM", "SOFTWARE")

#: Statuses a catalogued master can have; 'superseded' is derived (a newer good master of the same
#: configuration exists), 'good' and 'bad' are set by ``apcal library mark-good`` / ``mark-bad``.
STATUSES = ("good", "bad", "superseded")


def configuration(frame: Frame) -> dict[str, HeaderValue]:
    """The keys that make masters of ``frame``'s type interchangeable (see the module docstring)."""
    keys: dict[str, HeaderValue] = {"TYPE": frame.type.value}
    for keyword in (*MATCH_KEYS, "BINNING", "SHAPE"):
        keys[keyword] = frame_value(frame, keyword)
    if frame.type in (FrameType.DARK, FrameType.FLATDARK):
        keys["EXPOSURE"] = frame.exposure
    if frame.type is FrameType.FLAT:
        keys["FILTER"] = frame.keywords.get("FILTER")
    return keys


def configuration_id(keys: Mapping[str, HeaderValue]) -> str:
    """A stable text of a configuration, for comparing and grouping (case and spacing folded)."""
    parts = []
    for name in sorted(keys):
        value = keys[name]
        text = " ".join(value.split()).casefold() if isinstance(value, str) else format_value(value)
        parts.append(f"{name}={text if value is not None else '-'}")
    return ";".join(parts)


def camera_folder(frame: Frame) -> str:
    """The folder a published master of ``frame``'s camera goes into: its INSTRUME, made path-safe."""
    instrument = frame.keywords.get("INSTRUME")
    return (safe_part(str(instrument)) if instrument is not None else "") or "unknown-camera"


@dataclass(frozen=True)
class MasterRecord:
    """A catalogued master. ``path`` is relative to the library root (POSIX separators)."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    type: FrameType
    keys: Mapping[str, HeaderValue]
    exposure: float | None
    set_temp: float | None
    ccd_temp: float | None
    night: date | None
    ncombine: int | None
    provenance: Mapping[str, HeaderValue]
    qc: Mapping[str, float | None]
    status: str = "good"
    reason: str | None = None
    shape: tuple[int, ...] = ()
    keywords: Mapping[str, HeaderValue] = field(default_factory=dict)
    header_hash: str = ""

    @property
    def config_id(self) -> str:
        return configuration_id(self.keys)

    @property
    def camera(self) -> str:
        value = self.keys.get("INSTRUME")
        return str(value) if value is not None else "unknown camera"

    def frame(self, root: Path) -> Frame:
        """The master as a :class:`Frame` (for matching), from what the catalogue holds."""
        return Frame(
            path=root / self.path,
            type=self.type,
            shape=self.shape,
            keywords=dict(self.keywords),
            raw_keywords={},
            fingerprint=Fingerprint(self.size, self.mtime_ns, self.header_hash),
            is_master=True,
            night=self.night,
        )

    def to_dict(self, root: Path, status: str | None = None) -> dict[str, Any]:
        """The record as JSON (``schemas/library.schema.json``'s master)."""
        return {
            "path": str(root / self.path),
            "type": self.type.value,
            "camera": self.camera,
            "keys": {k: v for k, v in self.keys.items() if k != "TYPE"},
            "exposure": self.exposure,
            "set_temp": self.set_temp,
            "ccd_temp": self.ccd_temp,
            "night": self.night.isoformat() if self.night else None,
            "ncombine": self.ncombine,
            "size": self.size,
            "sha256": self.sha256,
            "provenance": dict(self.provenance),
            "qc": dict(self.qc),
            "status": status or self.status,
            "reason": self.reason,
        }


def _number(value: HeaderValue) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def record_from_frame(
    frame: Frame, relative: str, sha256: str, qc: Mapping[str, float | None]
) -> MasterRecord:
    """What the catalogue stores about the master ``frame`` found at ``relative`` under the root.

    Its night is its DATE-OBS's observing night, else the local date of the file's modification time
    (a master filed by ``library.publish`` is copied on the night it was built); ``provenance``'s
    ``night_from`` says which.
    """
    ncombine = _number(frame.keywords.get("NCOMBINE"))
    provenance: dict[str, HeaderValue] = {
        k: frame.raw_keywords[k] for k in PROVENANCE_KEYWORDS if k in frame.raw_keywords
    }
    night = frame.night
    provenance["night_from"] = "DATE-OBS"
    if night is None:  # apcal's own masters carry no DATE-OBS (their frames' differ): the file's date
        night = datetime.fromtimestamp(frame.fingerprint.mtime_ns / 1e9).date()
        provenance["night_from"] = "file time"
    return MasterRecord(
        path=relative,
        size=frame.fingerprint.size,
        mtime_ns=frame.fingerprint.mtime_ns,
        sha256=sha256,
        type=frame.type,
        keys=configuration(frame),
        exposure=frame.exposure,
        set_temp=_number(frame.keywords.get("SET-TEMP")),
        ccd_temp=_number(frame.keywords.get("CCD-TEMP")),
        night=night,
        ncombine=int(ncombine) if ncombine is not None else None,
        provenance=provenance,
        qc=dict(qc),
        shape=frame.shape,
        keywords=dict(frame.keywords),
        header_hash=frame.fingerprint.header_hash,
    )


def dumps(value: object) -> str:
    """JSON for a catalogue column: sorted keys, so equal content is equal text."""
    return json.dumps(value, sort_keys=True, allow_nan=True)
