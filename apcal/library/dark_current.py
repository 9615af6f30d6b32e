"""Dark current of the catalogued darks: (dark level − bias level) / exposure, from a bias of the rig.

A master dark as apcal and PixInsight build it is not bias-subtracted (ImageCalibration subtracts the
bias from it when it calibrates), so its median alone is bias plus thermal signal. The dark current is
derived when a listing is read, not stored: it depends on another master, the good bias of the same
configuration (the dark's keys less its exposure) nearest in time, and must follow when that bias is
marked bad or a better one is indexed. In ADU/s always; in e-/s when the dark's header gives EGAIN
(e-/ADU). Left out (None) when no bias matches or the exposure is unknown or zero — a guess would be
plotted as a trend.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from apcal.library.records import MasterRecord
from apcal.vocabulary import FrameType


def _bias_keys(record: MasterRecord) -> dict[str, object]:
    return {k: v for k, v in record.keys.items() if k not in ("TYPE", "EXPOSURE")}


def _days_apart(a: MasterRecord, b: MasterRecord) -> float:
    if a.night is None or b.night is None:
        return abs(a.mtime_ns - b.mtime_ns) / 86400e9
    return abs((a.night - b.night).days)


def _gain(record: MasterRecord) -> float | None:
    value = record.keywords.get("EGAIN")
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None
    )


def with_dark_current(records: Sequence[MasterRecord]) -> list[MasterRecord]:
    """``records`` with ``dark_current_adu_s`` and ``dark_current_e_s`` in each dark's QC figures."""
    biases = [r for r in records if r.type is FrameType.BIAS and r.status == "good"]
    out = []
    for record in records:
        if record.type is not FrameType.DARK:
            out.append(record)
            continue
        rate = _rate(record, [b for b in biases if _bias_keys(b) == _bias_keys(record)])
        gain = _gain(record)
        qc = {
            **record.qc,
            "dark_current_adu_s": rate,
            "dark_current_e_s": rate * gain if rate is not None and gain is not None else None,
        }
        out.append(dataclasses.replace(record, qc=qc))
    return out


def _rate(dark: MasterRecord, biases: Sequence[MasterRecord]) -> float | None:
    level = dark.qc.get("median_adu")
    if not biases or level is None or not dark.exposure or dark.exposure <= 0:
        return None
    bias = min(biases, key=lambda b: (_days_apart(dark, b), b.path))
    bias_level = bias.qc.get("median_adu")
    return None if bias_level is None else (level - bias_level) / dark.exposure
