"""Grouping: which frames may be stacked together.

Frames of one type are split by each of the recipe's keywords for that type, in the recipe's order,
then by binning and image shape, which apcal always adds (frames of different geometry can never be
stacked). Keyword names are canonical (EXPTIME and EXPOSURE are the same key; see
:mod:`apcal.frames.normalize`), and 'DATE-OBS' in a list means the frame's observing night (see
:mod:`apcal.frames.night`), not its timestamp.

Numeric keys with a tolerance are clustered, not compared exactly: SET-TEMP within
``tolerances.set_temp`` degrees, CCD-TEMP within ``tolerances.sensor_temp`` degrees, EXPOSURE within
``tolerances.exposure`` seconds. Clustering is deterministic and independent of the frames' order: the
values are sorted and a new cluster starts whenever a value is more than the tolerance above the
*first* value of the current cluster (so a cluster never spans more than one tolerance). A cluster's
value, used in the group's name, is its most common value (the lowest on a tie). Other keys must be
equal after normalization (numbers as float, so GAIN 100 and '100.0' agree; strings compare exactly).

A frame without a keyword has the value None for it: all frames lacking GAIN form their own group,
apart from those with a GAIN, and the name leaves the key out.

Groups come in type order (bias, dark, flat-dark, flat), then sorted by key values; each group's
frames are sorted by path. Groups smaller than ``grouping.min_frames`` are returned as skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from apcal.frames.model import Frame
from apcal.frames.normalize import canonical_name
from apcal.naming import group_name, unique_names
from apcal.recipe.model import Grouping, Tolerances
from apcal.vocabulary import FrameType, HeaderValue


@dataclass(frozen=True)
class Group:
    """Frames of one type that share every grouping key, shape and binning, so they may be stacked.

    ``keys`` are (keyword, value) pairs in the recipe's order followed by apcal's always-on geometry keys;
    ``name`` is the filesystem-safe name built from them, unique within the run.
    """

    type: FrameType
    keys: tuple[tuple[str, HeaderValue], ...]
    frames: tuple[Frame, ...]
    name: str

    def key(self, keyword: str) -> HeaderValue:
        """The group's value for ``keyword`` (None when it is not a grouping key)."""
        return dict(self.keys).get(keyword)


@dataclass(frozen=True)
class SkippedGroup:
    """A group the plan does not build, with the reason (too few frames, ...)."""

    type: FrameType
    name: str
    frame_count: int
    reason: str


#: The order groups (and therefore jobs) come in: masters needed to calibrate flats are built first.
TYPE_ORDER = (FrameType.BIAS, FrameType.DARK, FrameType.FLATDARK, FrameType.FLAT)

#: Keys apcal adds to every group, after the recipe's: binning as 'XxY', shape as 'NAXIS1xNAXIS2[xNAXIS3]'.
GEOMETRY_KEYS = ("BINNING", "SHAPE")

_BINNING_KEYS = frozenset({"XBINNING", "YBINNING", "BINNING"})


class GroupingResult(NamedTuple):
    groups: tuple[Group, ...]
    skipped: tuple[SkippedGroup, ...]


def tolerance_for(keyword: str, tolerances: Tolerances) -> float | None:
    """How far values of ``keyword`` may differ and still count as equal; None: must be equal."""
    return {
        "SET-TEMP": tolerances.set_temp,
        "CCD-TEMP": tolerances.sensor_temp,
        "EXPOSURE": tolerances.exposure,
    }.get(keyword)


def shape_text(shape: tuple[int, ...]) -> str:
    """numpy (rows, cols) / (channels, rows, cols) as FITS axis order 'cols x rows [x channels]'."""
    return "x".join(str(n) for n in reversed(shape))


def frame_value(frame: Frame, keyword: str) -> HeaderValue:
    """The value ``frame`` has for grouping key ``keyword`` (canonical name or a geometry key)."""
    if keyword == "DATE-OBS":
        return frame.night.isoformat() if frame.night is not None else None
    if keyword == "BINNING":
        x, y = frame.binning
        return f"{x}x{y}"
    if keyword == "SHAPE":
        return shape_text(frame.shape)
    return frame.keywords.get(keyword)


def grouping_keys(frame_type: FrameType, grouping: Grouping) -> tuple[str, ...]:
    """The recipe's keywords for ``frame_type`` as canonical names, without repeats, then the geometry."""
    names = [canonical_name(k) for k in grouping.keywords(frame_type)]
    recipe = [k for k in dict.fromkeys(names) if k not in _BINNING_KEYS and k not in GEOMETRY_KEYS]
    return (*recipe, *GEOMETRY_KEYS)


def value_order(value: HeaderValue) -> tuple[int, float, str]:
    """Total order over header values of mixed types: missing, booleans, numbers, strings."""
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, bool):
        return (1, float(value), "")
    if isinstance(value, int | float):
        return (2, float(value), "")
    return (3, 0.0, str(value))


def _cluster(
    frames: Sequence[Frame], value_of: Callable[[Frame], HeaderValue], tolerance: float | None
) -> list[tuple[HeaderValue, list[Frame]]]:
    """Split ``frames`` by value: exact for non-numbers or without tolerance, else gap clustering."""
    by_value: dict[tuple[int, float, str], list[Frame]] = {}
    for frame in frames:
        by_value.setdefault(value_order(value_of(frame)), []).append(frame)
    clusters: list[tuple[HeaderValue, list[Frame]]] = []
    current: list[tuple[HeaderValue, list[Frame]]] = []
    start: float | None = None

    def close() -> None:
        if current:
            # the most common value names the cluster; on a tie the lowest (current is sorted)
            best = max(current, key=lambda item: len(item[1]))
            clusters.append((best[0], [f for _, fs in current for f in fs]))
            current.clear()

    for key in sorted(by_value):
        members = by_value[key]
        value = value_of(members[0])
        numeric = key[0] == 2 and tolerance is not None
        if numeric and start is not None and tolerance is not None and key[1] - start <= tolerance:
            current.append((value, members))
            continue
        close()
        current.append((value, members))
        start = key[1] if numeric else None
        if not numeric:
            close()
    close()
    return clusters


def _split(
    frames: list[Frame], keys: Sequence[str], tolerances: Tolerances
) -> list[tuple[tuple[tuple[str, HeaderValue], ...], list[Frame]]]:
    """Recursive partition of ``frames`` by each key in turn."""
    if not keys:
        return [((), frames)]
    keyword, rest = keys[0], keys[1:]
    out = []
    for value, members in _cluster(
        frames, lambda f: frame_value(f, keyword), tolerance_for(keyword, tolerances)
    ):
        for sub_keys, sub_frames in _split(members, rest, tolerances):
            out.append((((keyword, value), *sub_keys), sub_frames))
    return out


def group_frames(frames: Sequence[Frame], grouping: Grouping) -> GroupingResult:
    """Group bias, dark, flat-dark and flat frames (lights are ignored) as the module docstring says.

    Every group, built or skipped, gets a name from :func:`apcal.naming.group_name`, unique within the
    result (case-insensitively).
    """
    candidates: list[tuple[FrameType, tuple[tuple[str, HeaderValue], ...], list[Frame]]] = []
    for frame_type in TYPE_ORDER:
        of_type = sorted((f for f in frames if f.type is frame_type), key=lambda f: str(f.path))
        if not of_type:
            continue
        for keys, members in _split(of_type, grouping_keys(frame_type, grouping), grouping.tolerances):
            candidates.append((frame_type, keys, sorted(members, key=lambda f: str(f.path))))
    names = unique_names([group_name(t, keys) for t, keys, _ in candidates])
    groups: list[Group] = []
    skipped: list[SkippedGroup] = []
    for (frame_type, keys, members), name in zip(candidates, names, strict=True):
        if len(members) < grouping.min_frames:
            reason = (
                f"{len(members)} frame{'s' if len(members) != 1 else ''}, "
                f"fewer than min_frames ({grouping.min_frames})"
            )
            skipped.append(SkippedGroup(type=frame_type, name=name, frame_count=len(members), reason=reason))
        else:
            groups.append(Group(type=frame_type, keys=keys, frames=tuple(members), name=name))
    return GroupingResult(tuple(groups), tuple(skipped))


__all__ = ["GEOMETRY_KEYS", "TYPE_ORDER", "GroupingResult", "frame_value", "group_frames", "grouping_keys"]
