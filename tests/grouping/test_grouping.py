"""Grouping: keys, tolerances, missing keywords, geometry, order and min_frames."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

from apcal.frames.model import Fingerprint, Frame
from apcal.frames.normalize import normalize_keywords
from apcal.grouping import group_frames
from apcal.recipe.model import Grouping, Tolerances
from apcal.vocabulary import FrameType, HeaderValue
from tests.frames.helpers import SEED_GROUPING


def frame(
    name: str,
    kind: FrameType = FrameType.DARK,
    *,
    shape: tuple[int, ...] = (4, 6),
    night: date | None = None,
    **raw: HeaderValue,
) -> Frame:
    keywords = normalize_keywords({"INSTRUME": "Cam", "SET-TEMP": -10, "GAIN": 100, **raw})
    return Frame(
        path=Path("/data") / name,
        type=kind,
        shape=shape,
        keywords=keywords,
        raw_keywords=raw,
        fingerprint=Fingerprint(0, 0, name),
        night=night,
    )


def grouping(min_frames: int = 1, **tol: float) -> Grouping:
    return Grouping(
        bias=SEED_GROUPING.bias,
        dark=SEED_GROUPING.dark,
        flat=SEED_GROUPING.flat,
        flatdark=SEED_GROUPING.flatdark,
        min_frames=min_frames,
        tolerances=Tolerances(**tol),
    )


def sizes(result) -> list[tuple[str, int]]:
    return [(g.type.value, len(g.frames)) for g in result.groups]


def test_gain_as_text_or_number_is_one_group() -> None:
    frames = [frame("a", GAIN="100"), frame("b", GAIN="100.0"), frame("c", GAIN=100)]
    result = group_frames(frames, grouping())
    assert sizes(result) == [("dark", 3)]
    assert result.groups[0].key("GAIN") == 100.0


def test_set_temp_within_tolerance_clusters_and_is_order_independent() -> None:
    temps = [-10.0, -9.6, -10.4, -9.9, -8.0, -7.5, -15.0]
    frames = [frame(f"f{i}", **{"SET-TEMP": t}) for i, t in enumerate(temps)]
    expected = None
    for seed in range(5):
        shuffled = frames[:]
        random.Random(seed).shuffle(shuffled)
        result = group_frames(shuffled, grouping(set_temp=1.0))
        got = [(g.key("SET-TEMP"), [f.path.name for f in g.frames]) for g in result.groups]
        expected = expected or got
        assert got == expected
    # sorted: -15 | -10.4 -10 -9.9 -9.6 (all within 1 of -10.4) | -8 -7.5
    assert [len(members) for _, members in expected] == [1, 4, 2]
    # a cluster is named after its most common value, the lowest on a tie
    assert [value for value, _ in expected] == [-15.0, -10.4, -8.0]


def test_exposure_tolerance() -> None:
    frames = [frame("a", EXPTIME=300.0), frame("b", EXPTIME=300.004), frame("c", EXPOSURE=300.5)]
    result = group_frames(frames, grouping(exposure=0.01))
    assert [len(g.frames) for g in result.groups] == [2, 1]
    assert result.groups[0].key("EXPOSURE") == 300.0


def test_missing_keyword_is_its_own_value() -> None:
    frames = [frame("a", OFFSET=10), frame("b", OFFSET=10), frame("c"), frame("d")]
    result = group_frames(frames, grouping())
    assert [(g.key("OFFSET"), len(g.frames)) for g in result.groups] == [(None, 2), (10.0, 2)]
    assert "OFFSET" not in result.groups[0].name and "OFFSET_10" in result.groups[1].name


def test_shape_and_binning_always_split() -> None:
    frames = [
        frame("a", shape=(4, 6)),
        frame("b", shape=(6, 4)),
        frame("c", shape=(4, 6), XBINNING=2, YBINNING=2),
        frame("d", shape=(3, 4, 6)),
    ]
    result = group_frames(frames, grouping())
    assert len(result.groups) == 4
    assert {g.key("SHAPE") for g in result.groups} == {"6x4", "4x6", "6x4x3"}
    assert {g.key("BINNING") for g in result.groups} == {"1x1", "2x2"}


def test_date_obs_means_the_observing_night() -> None:
    flats = [
        frame("a", FrameType.FLAT, night=date(2026, 3, 7), FILTER="L", **{"DATE-OBS": "2026-03-07T23:00:00"}),
        frame("b", FrameType.FLAT, night=date(2026, 3, 7), FILTER="L", **{"DATE-OBS": "2026-03-08T03:00:00"}),
        frame("c", FrameType.FLAT, night=date(2026, 3, 8), FILTER="L", **{"DATE-OBS": "2026-03-08T23:00:00"}),
    ]
    result = group_frames(flats, grouping())
    assert [(g.key("DATE-OBS"), len(g.frames)) for g in result.groups] == [
        ("2026-03-07", 2),
        ("2026-03-08", 1),
    ]


def test_recipe_names_are_canonicalized() -> None:
    g = Grouping(bias=(), dark=("EXPTIME", "SETTEMP", "XBINNING"), flat=(), flatdark=(), min_frames=1)
    result = group_frames([frame("a", EXPTIME=5), frame("b", EXPOSURE=5)], g)
    assert len(result.groups) == 1
    assert [k for k, _ in result.groups[0].keys] == ["EXPOSURE", "SET-TEMP", "BINNING", "SHAPE"]


def test_min_frames_and_type_order_and_lights_ignored() -> None:
    frames = [
        frame("f1", FrameType.FLAT, FILTER="R"),
        frame("l1", FrameType.LIGHT),
        *(frame(f"d{i}", EXPTIME=60) for i in range(3)),
        *(frame(f"b{i}", FrameType.BIAS) for i in range(3)),
        *(frame(f"fd{i}", FrameType.FLATDARK, EXPTIME=2) for i in range(3)),
    ]
    result = group_frames(frames, grouping(min_frames=3))
    assert sizes(result) == [("bias", 3), ("dark", 3), ("flatdark", 3)]
    assert [(s.type, s.frame_count) for s in result.skipped] == [(FrameType.FLAT, 1)]
    assert "fewer than min_frames (3)" in result.skipped[0].reason
    assert all(f.path.name == n for f, n in zip(result.groups[0].frames, ["b0", "b1", "b2"], strict=True))


def test_names_are_unique_within_the_run() -> None:
    # same key values for a bias and a flat-dark group: names must still differ
    g = Grouping(bias=("INSTRUME",), dark=(), flat=(), flatdark=("INSTRUME",), min_frames=1)
    result = group_frames([frame("a", FrameType.BIAS), frame("b", FrameType.FLATDARK)], g)
    first, second = (grp.name for grp in result.groups)
    assert first != second and second == f"{first}-2"
