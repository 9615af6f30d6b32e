"""Coverage: for each configuration of tonight's light frames, the masters that would calibrate them.

Lights are grouped by camera (INSTRUME), set point, gain, offset, readout mode, binning, image shape,
exposure, filter and observing night. For each configuration the bias and the dark are chosen by the
same matcher that serves flat groups (:func:`apcal.library.matching.match_master`, with the library's
policy: maximum ages, masters marked bad), so "covered" means what a plan would do; the flat is the
catalogued master flat of the same camera, filter, binning and shape nearest in time (and within
``flat_max_age_days`` of the lights' night, when given). A type with no usable master is listed under
``missing``; the reason (no master, or only expired or bad ones) is kept for the text output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apcal.frames.model import Frame
from apcal.grouping import Group, frame_value
from apcal.library.matching import Policy, group_night, match_master
from apcal.library.records import MasterRecord
from apcal.naming import group_name
from apcal.recipe.model import Tolerances
from apcal.vocabulary import FrameType, HeaderValue

#: The JSON key of each light-frame key, in output order.
LIGHT_KEYS: Mapping[str, str] = {
    "camera": "INSTRUME",
    "set_temp": "SET-TEMP",
    "gain": "GAIN",
    "offset": "OFFSET",
    "readout": "READOUTM",
    "binning": "BINNING",
    "shape": "SHAPE",
    "exposure": "EXPOSURE",
    "filter": "FILTER",
    "night": "DATE-OBS",
}


#: The masters a light frame needs, in output order (``masters`` and ``missing``).
COVERED_TYPES = ("bias", "dark", "flat")


@dataclass(frozen=True)
class Configuration:
    """One configuration of lights, the masters found for it (path or None) and why one is missing."""

    keys: Mapping[str, HeaderValue]
    frames: int
    masters: Mapping[str, Path | None]
    reasons: Mapping[str, str]

    @property
    def missing(self) -> list[str]:
        return [kind for kind in COVERED_TYPES if self.masters.get(kind) is None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "keys": dict(self.keys),
            "frames": self.frames,
            "masters": {k: str(p) if p is not None else None for k, p in self.masters.items()},
            "missing": self.missing,
        }


def _same_text(a: HeaderValue, b: HeaderValue) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
    return a == b


def _flat_for(
    group: Group, flats: Sequence[MasterRecord], root: Path, max_age: float | None
) -> tuple[Path | None, str]:
    """The catalogued good flat nearest in time for ``group``'s lights, or None and why."""
    first = group.frames[0]
    night = group_night(group)
    fitting = [
        f
        for f in flats
        if all(
            _same_text(f.keys.get(k), frame_value(first, k))
            for k in ("INSTRUME", "FILTER", "BINNING", "SHAPE")
        )
    ]
    usable = [f for f in fitting if f.status != "bad"]
    if night is not None and max_age is not None:
        usable = [f for f in usable if f.night is None or abs((night - f.night).days) <= max_age]
    if not usable:
        if not fitting:
            return None, "no master flat of this camera, filter, binning and size"
        return None, f"{len(fitting)} master flats, all marked bad or older than {max_age:g} days"

    def distance(f: MasterRecord) -> tuple[float, str]:
        gap = abs((night - f.night).days) if night is not None and f.night is not None else float("inf")
        return (gap, f.path)

    best = min(usable, key=distance)
    return root / best.path, f"master flat {best.path}"


def _configurations(lights: Sequence[Frame]) -> list[Group]:
    buckets: dict[tuple[Any, ...], list[Frame]] = {}
    for frame in lights:
        key = tuple(frame_value(frame, k) for k in LIGHT_KEYS.values())
        buckets.setdefault(key, []).append(frame)
    groups = []
    for values, frames in buckets.items():
        keys = tuple(zip(LIGHT_KEYS.values(), values, strict=True))
        groups.append(Group(FrameType.LIGHT, keys, tuple(frames), group_name(FrameType.LIGHT, keys)))
    return sorted(groups, key=lambda g: tuple(str(v) for _, v in g.keys))


def coverage(
    lights: Sequence[Frame],
    masters: Sequence[Frame],
    flats: Sequence[MasterRecord],
    root: Path,
    policy: Policy,
    tolerances: Tolerances,
    flat_max_age_days: float | None = None,
) -> list[Configuration]:
    """Each configuration of ``lights`` with its bias, dark and flat (see the module docstring)."""
    found = []
    for group in _configurations(lights):
        chosen: dict[str, Path | None] = {}
        reasons: dict[str, str] = {}
        for kind in (FrameType.BIAS, FrameType.DARK):
            result = match_master(group, masters, kind, tolerances, policy, subject="the lights")
            chosen[kind.value] = result.master.path if result.master is not None else None
            reasons[kind.value] = result.reason
        chosen["flat"], reasons["flat"] = _flat_for(group, flats, root, flat_max_age_days)
        values = dict(group.keys)
        keys = {name: values[keyword] for name, keyword in LIGHT_KEYS.items()}
        found.append(Configuration(keys, len(group.frames), chosen, reasons))
    return found
