"""The library over time: statuses in a listing, QC figures per configuration, and change points.

A configuration (:func:`apcal.library.records.configuration`) is one line of the rig's history: the
masters of one camera, type and settings, ordered by night. For each QC figure the change point is the
split of that line into an earlier and a later part that leaves the least spread within each part
(least squares); it is named when the parts' medians differ by at least :data:`CHANGE_THRESHOLD`
(relative), as "read noise +18 % since 2026-09-14" — the night of the first master after the split.
One split per figure is what a log of months shows well
(a new driver, a warmer season); several would need more masters than a library holds per setting.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from apcal.library.records import MasterRecord

CHANGE_THRESHOLD = 0.10

#: The figures drawn and searched for change points, with their names in words.
FIGURES = {
    "median_adu": "level",
    "noise_adu": "noise",
    "read_noise_adu": "read noise",
    "dark_current_adu_s": "dark current",
    "hot_pixels": "hot pixels",
}


def _order(record: MasterRecord) -> tuple[str, int, str]:
    return (record.night.isoformat() if record.night else "", record.mtime_ns, record.path)


def listing_status(records: Sequence[MasterRecord]) -> dict[str, str]:
    """Path -> status: 'bad' as marked; of the good masters of one configuration the newest is 'good'
    and the older ones 'superseded' (still usable: the matcher may prefer them, nearer in time)."""
    status: dict[str, str] = {}
    newest: dict[str, MasterRecord] = {}
    for record in sorted(records, key=_order):
        if record.status == "bad":
            status[record.path] = "bad"
            continue
        previous = newest.get(record.config_id)
        if previous is not None:
            status[previous.path] = "superseded"
        newest[record.config_id] = record
        status[record.path] = "good"
    return status


@dataclass(frozen=True)
class ChangePoint:
    figure: str
    change: float  # relative: later median over earlier median, minus 1
    since: str  # the night of the first master after the split

    @property
    def text(self) -> str:
        return f"{FIGURES[self.figure]} {self.change:+.0%} since {self.since}".replace("%", " %")


def _spread(values: Sequence[float]) -> float:
    """Sum of squared deviations from the mean."""
    mean = statistics.fmean(values)
    return sum((v - mean) ** 2 for v in values)


def change_point(records: Sequence[MasterRecord], figure: str) -> ChangePoint | None:
    """The step in ``figure`` along ``records`` (ordered): the split that leaves the least spread within
    the two parts (least squares, as in binary segmentation), named when the medians of the parts differ
    by at least CHANGE_THRESHOLD."""
    values = [(r, float(v)) for r in records if (v := r.qc.get(figure)) is not None]
    if len(values) < 2:
        return None
    numbers = [v for _, v in values]
    split = min(range(1, len(values)), key=lambda k: _spread(numbers[:k]) + _spread(numbers[k:]))
    before, after = statistics.median(numbers[:split]), statistics.median(numbers[split:])
    if before == 0 or abs(after / before - 1) < CHANGE_THRESHOLD:
        return None
    first = values[split][0]
    return ChangePoint(figure, after / before - 1, first.night.isoformat() if first.night else first.path)


@dataclass(frozen=True)
class Line:
    """One configuration's masters in night order, with the change points found along it."""

    camera: str
    type: str
    config: str
    records: tuple[MasterRecord, ...]
    changes: tuple[ChangePoint, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "type": self.type,
            "configuration": self.config,
            "points": [
                {
                    "night": r.night.isoformat() if r.night else None,
                    "path": r.path,
                    "status": r.status,
                    **{name: r.qc.get(name) for name in FIGURES},
                }
                for r in self.records
            ],
            "changes": [
                {"figure": c.figure, "change": c.change, "since": c.since, "text": c.text}
                for c in self.changes
            ],
        }


def history(records: Sequence[MasterRecord], camera: str | None = None) -> list[Line]:
    """Every configuration's line (of ``camera`` only, when given; compared case-insensitively)."""
    lines: dict[str, list[MasterRecord]] = {}
    for record in sorted(records, key=_order):
        if camera is not None and record.camera.casefold() != camera.casefold():
            continue
        lines.setdefault(record.config_id, []).append(record)
    found = []
    for config, members in sorted(
        lines.items(), key=lambda item: (item[1][0].camera, item[1][0].type.value, item[0])
    ):
        good = [r for r in members if r.status != "bad"]
        changes = tuple(c for figure in FIGURES if (c := change_point(good, figure)) is not None)
        found.append(Line(members[0].camera, members[0].type.value, config, tuple(members), changes))
    return found
