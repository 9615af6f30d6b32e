"""Library folders (``library.bias`` / ``library.dark`` / ``library.flatdark``): the masters found in them.

Only masters count in a library folder: a frame whose type keyword says 'Master ...' (PixInsight, APP's
CALFRAME) or that carries apcal's marker ``APCALMST = T`` (every master apcal writes). Raw frames,
lights and master flats found there are listed as skipped with the reason, so a user who points the
library at a folder of raw darks is told why nothing matched instead of having raw frames used as
masters. Byte-identical copies count once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from apcal.frames.discovery import drop_duplicates, scan
from apcal.frames.model import Frame, SkippedFile
from apcal.frames.normalize import MASTER_KEYWORD
from apcal.recipe.model import Headers, InputSet
from apcal.vocabulary import FrameType

#: Master types a library folder may hold: the ones that calibrate flats.
LIBRARY_TYPES = (FrameType.BIAS, FrameType.DARK, FrameType.FLATDARK)


@dataclass(frozen=True)
class LibraryIndex:
    """The masters found under ``folder`` (sorted by path) and every file that was not used, with why."""

    folder: Path
    masters: tuple[Frame, ...]
    skipped: tuple[SkippedFile, ...]

    def of_type(self, frame_type: FrameType) -> tuple[Frame, ...]:
        return tuple(m for m in self.masters if m.type is frame_type)


def not_a_master(frame: Frame) -> str:
    """Why ``frame`` (not a master) is not used by a library."""
    imagetyp = frame.raw_keywords.get("IMAGETYP")
    said = f"IMAGETYP {imagetyp!r}" if imagetyp is not None else f"a {frame.type.value} frame"
    return f"not a master ({said}; masters have IMAGETYP 'Master ...' or {MASTER_KEYWORD} = T)"


def load_library(folder: Path, headers: Headers) -> LibraryIndex:
    """Index the masters under ``folder`` (recursively; same file rules as discovery)."""
    folder = Path(folder)
    frames, skipped = scan([InputSet(path=folder)], headers)
    masters: list[Frame] = []
    for frame in frames:
        if not frame.is_master:
            skipped.append(SkippedFile(frame.path, not_a_master(frame)))
        elif frame.type not in LIBRARY_TYPES:
            skipped.append(
                SkippedFile(frame.path, f"{frame.type.master_label.lower()} is not used for calibration")
            )
        else:
            masters.append(frame)
    kept, duplicates = drop_duplicates(masters)
    skipped.extend(duplicates)
    return LibraryIndex(
        folder=folder,
        masters=tuple(kept),
        skipped=tuple(sorted(skipped, key=lambda s: (str(s.path), s.reason))),
    )
