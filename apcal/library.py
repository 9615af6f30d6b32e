"""The master library: existing bias, dark and flat-dark masters, and which one calibrates a flat group.

Only masters count in a library folder: a frame whose type keyword says 'Master ...' (PixInsight, APP's
CALFRAME) or that carries apcal's marker ``APCALMST = T`` (every master apcal writes). Raw frames,
lights and master flats found there are listed as skipped with the reason, so a user who points the
library at a folder of raw darks is told why nothing matched instead of having raw frames used as
masters. Byte-identical copies count once.

Matching (:func:`match_master`) follows the seed: masters match a flat group **only by instrument
settings** — INSTRUME, SET-TEMP (within ``tolerances.set_temp``), GAIN, OFFSET, READOUTM — plus binning
and image shape, which must always agree. Date and filter are ignored. A key is compared only when both
sides have it; when only one side has it the match still counts, with a warning naming the key
(PixInsight masters carry no GAIN, OFFSET or CCD-TEMP). Among matching masters:

* dark: the longest whose exposure is at most the flat group's (within ``tolerances.exposure``); when
  every dark is longer, the shortest of them (the dark is scaled to the flat anyway);
* flat-dark: its exposure must equal the flat group's within ``tolerances.exposure`` (it is subtracted
  unscaled);
* bias: exposure is ignored.

Remaining ties go to the master integrated from more frames (NCOMBINE), then the newest file, then the
first path in sort order.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from apcal.frames.discovery import drop_duplicates, scan
from apcal.frames.model import Frame, SkippedFile
from apcal.frames.normalize import MASTER_KEYWORD
from apcal.grouping import Group, frame_value, value_order
from apcal.naming import format_value
from apcal.recipe.model import Headers, InputSet, Tolerances
from apcal.vocabulary import FrameType, HeaderValue

#: Instrument settings a master must share with the flat group it calibrates (when both sides have them).
MATCH_KEYS = ("INSTRUME", "SET-TEMP", "GAIN", "OFFSET", "READOUTM")

#: Master types a library may hold: the ones that calibrate flats.
LIBRARY_TYPES = (FrameType.BIAS, FrameType.DARK, FrameType.FLATDARK)


@dataclass(frozen=True)
class LibraryIndex:
    """The masters found under ``folder`` (sorted by path) and every file that was not used, with why."""

    folder: Path
    masters: tuple[Frame, ...]
    skipped: tuple[SkippedFile, ...]

    def of_type(self, frame_type: FrameType) -> tuple[Frame, ...]:
        return tuple(m for m in self.masters if m.type is frame_type)


class MatchResult(NamedTuple):
    """The chosen master (None when nothing matches), warnings about it, and why it (or none) was chosen."""

    master: Frame | None
    warnings: tuple[str, ...]
    reason: str


def load_library(folder: Path, headers: Headers) -> LibraryIndex:
    """Index the masters under ``folder`` (recursively; same file rules as discovery)."""
    folder = Path(folder)
    frames, skipped = scan([InputSet(path=folder)], headers)
    masters: list[Frame] = []
    for frame in frames:
        if not frame.is_master:
            imagetyp = frame.raw_keywords.get("IMAGETYP")
            said = f"IMAGETYP {imagetyp!r}" if imagetyp is not None else f"a {frame.type.value} frame"
            skipped.append(
                SkippedFile(
                    frame.path,
                    f"not a master ({said}; masters have IMAGETYP 'Master ...' or {MASTER_KEYWORD} = T)",
                )
            )
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


def _group_value(group: Group, keyword: str) -> HeaderValue:
    """The group's value for ``keyword``: its grouping key, else the most common value among its frames."""
    keys = dict(group.keys)
    if keyword in keys:
        return keys[keyword]
    values = [frame_value(f, keyword) for f in group.frames]
    present = [v for v in values if v is not None]
    if not present:
        return None
    counts = Counter(value_order(v) for v in present)
    return max(sorted(present, key=value_order), key=lambda v: counts[value_order(v)])


def _same(keyword: str, a: HeaderValue, b: HeaderValue, tolerances: Tolerances) -> bool:
    if keyword == "SET-TEMP" and isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= tolerances.set_temp
    if isinstance(a, str) and isinstance(b, str):
        return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
    return value_order(a) == value_order(b)


def _seconds(value: float) -> str:
    return f"{format_value(value)} s"


def _ncombine(frame: Frame) -> float:
    value = frame.keywords.get("NCOMBINE")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _preference(frame: Frame) -> tuple[float, int, str]:
    """Ties: more frames combined, then newer file, then path order."""
    return (-_ncombine(frame), -frame.fingerprint.mtime_ns, str(frame.path))


def dark_rank(dark: Frame, flat_group: Group, tolerances: Tolerances) -> tuple[int, float]:
    """The seed's dark exposure rule as a sort key, smaller is better: first the darks not longer than
    the flats' exposure (within tolerance), longest first; then the longer ones, shortest first. Darks
    of unknown exposure, or flats of unknown exposure, rank by exposure alone (shortest first).

    :func:`match_master` picks with it inside one candidate set; the planner compares a library dark
    with one built in the same run by it.
    """
    flat_exposure = _group_value(flat_group, "EXPOSURE")
    exposure = dark.exposure if dark.exposure is not None else math.inf
    if not isinstance(flat_exposure, float):
        return (0, exposure)
    if exposure <= flat_exposure + tolerances.exposure:
        return (0, -exposure)
    return (1, exposure)


def _compare_keys(
    flat_group: Group, candidate: Frame, tolerances: Tolerances
) -> tuple[str | None, list[str]]:
    """The first of MATCH_KEYS on which ``candidate`` differs from the flat group (None: none), and a
    caution for each key only one side has (not compared)."""
    cautions: list[str] = []
    for keyword in MATCH_KEYS:
        ours, theirs = _group_value(flat_group, keyword), candidate.keywords.get(keyword)
        if ours is not None and theirs is not None:
            if not _same(keyword, ours, theirs, tolerances):
                return keyword, cautions
        elif ours is not None or theirs is not None:
            missing = "the master" if theirs is None else "the flat group"
            cautions.append(f"{keyword} not compared: {missing} has no {keyword} ({candidate.path.name})")
    return None, cautions


def match_master(
    flat_group: Group, candidates: Sequence[Frame], frame_type: FrameType, tolerances: Tolerances
) -> MatchResult:
    """Choose the master of ``frame_type`` among ``candidates`` that calibrates ``flat_group``.

    See the module docstring for the rule. ``candidates`` of another type are ignored.
    """
    label = frame_type.master_label.lower()
    shape = _group_value(flat_group, "SHAPE")
    binning = _group_value(flat_group, "BINNING")
    flat_exposure = _group_value(flat_group, "EXPOSURE")
    flat_exposure = flat_exposure if isinstance(flat_exposure, float) else None

    accepted: list[tuple[Frame, tuple[str, ...]]] = []
    rejected: Counter[str] = Counter()
    for candidate in sorted((c for c in candidates if c.type is frame_type), key=lambda c: str(c.path)):
        if frame_value(candidate, "SHAPE") != shape:
            rejected["image shape"] += 1
            continue
        if frame_value(candidate, "BINNING") != binning:
            rejected["binning"] += 1
            continue
        mismatch, cautions = _compare_keys(flat_group, candidate, tolerances)
        if mismatch:
            rejected[mismatch] += 1
            continue
        if frame_type in (FrameType.DARK, FrameType.FLATDARK) and candidate.exposure is None:
            rejected["no EXPOSURE"] += 1
            continue
        if (
            frame_type is FrameType.FLATDARK
            and flat_exposure is not None
            and candidate.exposure is not None
            and abs(candidate.exposure - flat_exposure) > tolerances.exposure
        ):
            rejected["EXPOSURE"] += 1
            continue
        accepted.append((candidate, tuple(cautions)))

    if not accepted:
        if not rejected:
            return MatchResult(None, (), f"no {label} in the library")
        why = ", ".join(f"{n} differ in {key}" for key, n in sorted(rejected.items()))
        return MatchResult(None, (), f"no {label} matches the flat group ({why})")

    if frame_type is not FrameType.DARK:
        master, warnings = min(accepted, key=lambda item: _preference(item[0]))
        return MatchResult(master, warnings, f"{label} {master.path.name} matches the instrument settings")

    if flat_exposure is None:
        master, warnings = min(accepted, key=lambda item: (item[0].exposure, *_preference(item[0])))
        warnings = (*warnings, "the flat group has no EXPOSURE; using the shortest matching dark")
        return MatchResult(
            master, warnings, f"{label} {master.path.name}: shortest dark (flat exposure unknown)"
        )

    master, warnings = min(
        accepted,
        key=lambda item: (*dark_rank(item[0], flat_group, tolerances), *_preference(item[0])),
    )
    exposure = master.exposure
    assert exposure is not None  # darks without EXPOSURE were rejected above
    if dark_rank(master, flat_group, tolerances)[0] == 0:
        reason = (
            f"{label} {master.path.name}: {_seconds(exposure)}, the longest not longer than "
            f"the flats' {_seconds(flat_exposure)}"
        )
    else:
        reason = (
            f"{label} {master.path.name}: {_seconds(exposure)}, the shortest available "
            f"(every matching dark is longer than the flats' {_seconds(flat_exposure)})"
        )
    return MatchResult(master, warnings, reason)


__all__ = [
    "LIBRARY_TYPES",
    "MATCH_KEYS",
    "LibraryIndex",
    "MatchResult",
    "dark_rank",
    "load_library",
    "match_master",
]
