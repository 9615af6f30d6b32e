"""Which library master calibrates a flat group: hard keys, then the library's policy, then a score.

Hard keys follow the seed: masters match a flat group **only by instrument settings** — INSTRUME,
SET-TEMP (within the set-point tolerance), GAIN, OFFSET, READOUTM — plus binning and image shape, which
must always agree. Date and filter are not keys. A key is compared only when both sides have it; when
only one side has it the match still counts, with a warning naming the key (PixInsight masters carry
no GAIN, OFFSET or CCD-TEMP). A flat-dark's exposure must equal the flats' (it is subtracted unscaled);
a dark or flat-dark without EXPOSURE is refused.

The policy (:class:`Policy`, from the recipe's ``library`` section and the catalogue) then refuses a
master marked bad, and one whose observing night lies further from the flats' than the maximum age of
its type (``library.max_age_days``; the idea and the per-type limits are DRAGONS' ``calcheck`` and
BANZAI's validity windows). Its age is unknown when the master or the flats have no DATE-OBS: it is
kept, and its verdict says 'night unknown'. The default :class:`Policy` refuses nothing (the seed's
behaviour).

Among the masters left, the best has the smallest score, compared in this order: the difference in
sensor temperature (CCD-TEMP when both sides have it, else SET-TEMP; none within the grouping's
``tolerances.sensor_temp``, to 0.1 °C beyond), for darks the seed's exposure rule (:func:`dark_rank`:
the longest not longer than the flats', else the shortest), the number of days between the master's
night and the flats', then more frames combined (NCOMBINE), the newest file and the first path. Every
candidate keeps its verdict (:class:`Verdict`: the rule it failed, or its score) so
``apcal plan --explain`` can show why each was or was not chosen.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import NamedTuple

from apcal.frames.model import Frame
from apcal.grouping import Group, frame_value, value_order
from apcal.naming import format_value
from apcal.recipe.model import Tolerances
from apcal.vocabulary import FrameType, HeaderValue

#: Instrument settings a master must share with the flat group it calibrates (when both sides have them).
MATCH_KEYS = ("INSTRUME", "SET-TEMP", "GAIN", "OFFSET", "READOUTM")

#: ``library.max_age_days`` when the recipe does not say (days between a master's night and the flats').
DEFAULT_MAX_AGE_DAYS: Mapping[str, float] = {"bias": 365.0, "dark": 180.0, "flatdark": 30.0}

RULE_AGE = "max age"
RULE_BAD = "marked bad"


@dataclass(frozen=True)
class Policy:
    """The library's rules after the hard keys; the default refuses nothing (the seed's matching).

    ``max_age_days`` maps a type's value ('bias', 'dark', 'flatdark') to its limit; ``bad`` maps a
    master's path to the reason it was marked bad; ``set_temp_tolerance`` (None: the grouping
    tolerance) is how far SET-TEMP may differ.
    """

    max_age_days: Mapping[str, float] = field(default_factory=dict)
    set_temp_tolerance: float | None = None
    bad: Mapping[Path, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """One candidate master: the rule it failed (None: it passed) and why, or its score explained."""

    master: Frame
    failed: str | None
    detail: str
    cautions: tuple[str, ...] = ()
    score: tuple[float, ...] = ()


class MatchResult(NamedTuple):
    """The chosen master (None when nothing matches), warnings about it, why, and every verdict."""

    master: Frame | None
    warnings: tuple[str, ...]
    reason: str
    verdicts: tuple[Verdict, ...] = ()


@dataclass(frozen=True)
class _Target:
    """What the candidates are compared with: the flat group's geometry, settings, night, temperature."""

    group: Group
    frame_type: FrameType
    tolerances: Tolerances
    policy: Policy
    shape: HeaderValue
    binning: HeaderValue
    exposure: float | None
    night: date | None


def group_value(group: Group, keyword: str) -> HeaderValue:
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


def group_night(group: Group) -> date | None:
    """The observing night most of the group's frames belong to (None when no frame has one)."""
    nights = Counter(f.night for f in group.frames if f.night is not None)
    return max(sorted(nights), key=lambda n: nights[n]) if nights else None


def _same(keyword: str, a: HeaderValue, b: HeaderValue, set_temp: float) -> bool:
    if keyword == "SET-TEMP" and isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= set_temp
    if isinstance(a, str) and isinstance(b, str):
        return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
    return value_order(a) == value_order(b)


def _seconds(value: float) -> str:
    return f"{format_value(value)} s"


def _number(frame: Frame, keyword: str) -> float | None:
    value = frame.keywords.get(keyword)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def dark_rank(dark: Frame, flat_group: Group, tolerances: Tolerances) -> tuple[int, float]:
    """The seed's dark exposure rule as a sort key, smaller is better: first the darks not longer than
    the flats' exposure (within tolerance), longest first; then the longer ones, shortest first. Darks
    of unknown exposure, or flats of unknown exposure, rank by exposure alone (shortest first).

    :func:`match_master` scores with it; the planner compares a library dark with one built in the same
    run by it.
    """
    flat_exposure = group_value(flat_group, "EXPOSURE")
    exposure = dark.exposure if dark.exposure is not None else math.inf
    if not isinstance(flat_exposure, float):
        return (0, exposure)
    if exposure <= flat_exposure + tolerances.exposure:
        return (0, -exposure)
    return (1, exposure)


def _compare_keys(target: _Target, candidate: Frame) -> tuple[str | None, str, list[str]]:
    """The first of MATCH_KEYS on which ``candidate`` differs from the flat group (None: none) with the
    two values, and a caution for each key only one side has (not compared)."""
    cautions: list[str] = []
    tolerance = target.policy.set_temp_tolerance
    set_temp = target.tolerances.set_temp if tolerance is None else tolerance
    for keyword in MATCH_KEYS:
        ours, theirs = group_value(target.group, keyword), candidate.keywords.get(keyword)
        if ours is not None and theirs is not None:
            if not _same(keyword, ours, theirs, set_temp):
                within = f" (tolerance {format_value(set_temp)})" if keyword == "SET-TEMP" else ""
                detail = f"{keyword} {format_value(theirs)}, the flats' {format_value(ours)}{within}"
                return keyword, detail, cautions
        elif ours is not None or theirs is not None:
            missing = "the master" if theirs is None else "the flat group"
            cautions.append(f"{keyword} not compared: {missing} has no {keyword} ({candidate.path.name})")
    return None, "", cautions


def _hard_failure(target: _Target, candidate: Frame) -> tuple[str | None, str, list[str]]:
    """The hard rule ``candidate`` fails (geometry, instrument keys, exposure) with why, and cautions."""
    if frame_value(candidate, "SHAPE") != target.shape:
        return "image shape", f"image shape {frame_value(candidate, 'SHAPE')}, the flats' {target.shape}", []
    if frame_value(candidate, "BINNING") != target.binning:
        return "binning", f"binning {frame_value(candidate, 'BINNING')}, the flats' {target.binning}", []
    mismatch, detail, cautions = _compare_keys(target, candidate)
    if mismatch:
        return mismatch, detail, cautions
    if target.frame_type in (FrameType.DARK, FrameType.FLATDARK) and candidate.exposure is None:
        return "no EXPOSURE", "the master has no EXPOSURE", cautions
    flat_exposure, exposure = target.exposure, candidate.exposure
    if (
        target.frame_type is FrameType.FLATDARK
        and flat_exposure is not None
        and exposure is not None
        and abs(exposure - flat_exposure) > target.tolerances.exposure
    ):
        return "EXPOSURE", f"EXPOSURE {_seconds(exposure)}, the flats' {_seconds(flat_exposure)}", cautions
    return None, "", cautions


def _days_apart(target: _Target, candidate: Frame) -> int | None:
    if target.night is None or candidate.night is None:
        return None
    return abs((target.night - candidate.night).days)


def _policy_failure(target: _Target, candidate: Frame) -> tuple[str | None, str, list[str]]:
    """The policy rule ``candidate`` fails (marked bad, too old) with why, and cautions."""
    bad = target.policy.bad.get(candidate.path)
    if bad is not None:
        return RULE_BAD, bad, []
    limit = target.policy.max_age_days.get(target.frame_type.value)
    if limit is None:
        return None, "", []
    days = _days_apart(target, candidate)
    if days is not None and days > limit:  # unknown age (no DATE-OBS): kept; its score says so
        return (
            RULE_AGE,
            f"{days} days from the flats' night; a {target.frame_type.value} may be {format_value(limit)}",
            [],
        )
    return None, "", []


def _temperature_gap(target: _Target, candidate: Frame) -> float:
    """How far the master's temperature is from the flats': 0 within ``tolerances.sensor_temp`` (the
    spread grouping counts as one temperature, so sensor jitter never overrides the exposure rule)."""
    for keyword in ("CCD-TEMP", "SET-TEMP"):
        ours, theirs = group_value(target.group, keyword), _number(candidate, keyword)
        if isinstance(ours, float) and theirs is not None:
            gap = abs(ours - theirs)
            return 0.0 if gap <= target.tolerances.sensor_temp else round(gap, 1)
    return 0.0


def _score(target: _Target, candidate: Frame) -> tuple[tuple[float, ...], str]:
    """The candidate's score (smaller is better) and the same in words."""
    gap = _temperature_gap(target, candidate)
    rank = (
        dark_rank(candidate, target.group, target.tolerances)
        if target.frame_type is FrameType.DARK
        else (0, 0.0)
    )
    days = _days_apart(target, candidate)
    ncombine = _number(candidate, "NCOMBINE") or 0.0
    score = (gap, float(rank[0]), rank[1], math.inf if days is None else float(days), -ncombine)
    words = [f"ΔT {format_value(gap)} °C"]
    if candidate.exposure is not None and target.frame_type is not FrameType.BIAS:
        words.append(f"exposure {_seconds(candidate.exposure)}")
    words.append("night unknown" if days is None else f"{days} days apart")
    words.append(f"{format_value(ncombine)} frames")
    return score, ", ".join(words)


def _verdict(target: _Target, candidate: Frame) -> Verdict:
    failed, detail, cautions = _hard_failure(target, candidate)
    if failed is None:
        failed, detail, more = _policy_failure(target, candidate)
        cautions += more
    if failed is not None:
        return Verdict(candidate, failed, detail, tuple(cautions))
    score, words = _score(target, candidate)
    return Verdict(candidate, None, words, tuple(cautions), score)


def _rejected_phrase(rule: str, count: int) -> str:
    if rule == RULE_AGE:
        return f"{count} older than the maximum age"
    if rule == RULE_BAD:
        return f"{count} marked bad"
    return f"{count} differ in {rule}"


def _choice_reason(target: _Target, master: Frame) -> tuple[str, tuple[str, ...]]:
    label = target.frame_type.master_label.lower()
    if target.frame_type is not FrameType.DARK:
        return f"{label} {master.path.name} matches the instrument settings", ()
    flat_exposure = target.exposure
    if flat_exposure is None:
        return (
            f"{label} {master.path.name}: shortest dark (flat exposure unknown)",
            ("the flat group has no EXPOSURE; using the shortest matching dark",),
        )
    exposure = master.exposure
    assert exposure is not None  # darks without EXPOSURE fail a hard rule
    if dark_rank(master, target.group, target.tolerances)[0] == 0:
        return (
            f"{label} {master.path.name}: {_seconds(exposure)}, the longest not longer than "
            f"the flats' {_seconds(flat_exposure)}",
            (),
        )
    return (
        f"{label} {master.path.name}: {_seconds(exposure)}, the shortest available "
        f"(every matching dark is longer than the flats' {_seconds(flat_exposure)})",
        (),
    )


def _tie_break(verdict: Verdict) -> tuple[tuple[float, ...], int, str]:
    """Score, then the newest file, then path order."""
    return (verdict.score, -verdict.master.fingerprint.mtime_ns, str(verdict.master.path))


def match_master(
    flat_group: Group,
    candidates: Sequence[Frame],
    frame_type: FrameType,
    tolerances: Tolerances,
    policy: Policy | None = None,
    subject: str = "the flat group",
) -> MatchResult:
    """Choose the master of ``frame_type`` among ``candidates`` that calibrates ``flat_group``.

    See the module docstring for the rules. ``candidates`` of another type are ignored; ``subject``
    names the frames in the reason ('the lights' for coverage).
    """
    exposure = group_value(flat_group, "EXPOSURE")
    target = _Target(
        group=flat_group,
        frame_type=frame_type,
        tolerances=tolerances,
        policy=policy or Policy(),
        shape=group_value(flat_group, "SHAPE"),
        binning=group_value(flat_group, "BINNING"),
        exposure=exposure if isinstance(exposure, float) else None,
        night=group_night(flat_group),
    )
    label = frame_type.master_label.lower()
    ordered = sorted((c for c in candidates if c.type is frame_type), key=lambda c: str(c.path))
    verdicts = tuple(_verdict(target, c) for c in ordered)
    passed = [v for v in verdicts if v.failed is None]
    if not passed:
        if not verdicts:
            return MatchResult(None, (), f"no {label} in the library", verdicts)
        rejected = Counter(v.failed for v in verdicts if v.failed is not None)
        why = ", ".join(_rejected_phrase(rule, n) for rule, n in sorted(rejected.items()))
        return MatchResult(None, (), f"no {label} matches {subject} ({why})", verdicts)
    best = min(passed, key=_tie_break)
    reason, extra = _choice_reason(target, best.master)
    return MatchResult(best.master, (*best.cautions, *extra), reason, verdicts)
