"""Group names are readable and safe: hostile header values never leave the output folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apcal.frames.discovery import discover
from apcal.grouping import group_frames
from apcal.naming import MAX_LENGTH, format_value, group_name, unique_names
from apcal.recipe.model import Grouping, InputSet
from apcal.vocabulary import FrameType
from tests.frames.helpers import headers, write_fits

SAFE = re.compile(r"[A-Za-z0-9._+-]+")


def assert_safe(name: str, out: Path) -> None:
    assert SAFE.fullmatch(name), name
    assert not name.startswith(".") and ".." not in name
    assert len(name) <= MAX_LENGTH
    target = (out / name).resolve()
    assert target.parent == out.resolve(), name


def test_readable_format() -> None:
    keys = [
        ("INSTRUME", "ZWO ASI2600MM Pro"),
        ("SET-TEMP", -10.0),
        ("GAIN", 100.0),
        ("EXPOSURE", 300.0),
        ("READOUTM", None),
        ("BINNING", "1x1"),
        ("SHAPE", "6248x4176"),
    ]
    assert group_name(FrameType.DARK, keys) == (
        "INSTRUME_ZWO-ASI2600MM-Pro_SET-TEMP_-10_GAIN_100_EXPOSURE_300_BIN_1x1_6248x4176"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [(100.0, "100"), (-10.0, "-10"), (0.5, "0.5"), (-0.0, "0"), (0.001, "0.001"), (True, "T")],
)
def test_numbers_without_trailing_zero(value, text) -> None:
    assert format_value(value) == text


HOSTILE = [
    "../../etc",
    "..",
    ".hidden",
    'ZWO "ASI" 2600',
    "it's",
    "line\nbreak",
    "back\\slash",
    "</script><script>alert(1)</script>",
    "a/b/../../c",
    "C:\\Windows\\System32",
    "x" * 300,
    "Kamera Über Ça 光",
    "\x00\x01\x1b[31m",
    "CON",
    "",
    "   ",
    "_",
    "-rf",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_give_safe_names(value: str, tmp_path: Path) -> None:
    name = group_name(FrameType.FLAT, [("FILTER", value), ("INSTRUME", value), ("SHAPE", "4x6")])
    assert_safe(name, tmp_path)


def test_long_names_are_cut_with_a_hash() -> None:
    a = group_name(FrameType.DARK, [("INSTRUME", "x" * 300 + "a")])
    b = group_name(FrameType.DARK, [("INSTRUME", "x" * 300 + "b")])
    assert len(a) == len(b) == MAX_LENGTH and a != b


def test_non_ascii_keeps_letters() -> None:
    assert group_name(FrameType.DARK, [("INSTRUME", "Kamera Über")]) == "INSTRUME_Kamera-Uber"


def test_hostile_fits_header_gives_a_name_inside_the_output_folder(tmp_path: Path) -> None:
    frames_dir, out = tmp_path / "in", tmp_path / "out"
    out.mkdir()
    for i in range(3):
        write_fits(
            frames_dir / f"f{i}.fits",
            {"IMAGETYP": "FLAT", "FILTER": "../../etc", "INSTRUME": "O'Neil\\ </x>"},
        )
    found = discover([InputSet(frames_dir)], headers())
    result = group_frames(found.frames, Grouping(bias=(), dark=(), flat=("FILTER", "INSTRUME"), flatdark=()))
    (group,) = result.groups
    assert group.key("FILTER") == "../../etc"  # the value itself is kept for the header
    assert_safe(group.name, out)
    assert group.name == "FILTER_etc_INSTRUME_O-Neil-x_BIN_1x1_8x6"


def test_unique_names() -> None:
    assert unique_names(["a", "b", "a", "A", "a-2"]) == ["a", "b", "a-3", "A-4", "a-2"]
    long = "y" * MAX_LENGTH
    renamed = unique_names([long, long])
    assert renamed[1] != long and len(renamed[1]) == MAX_LENGTH


@given(
    st.lists(
        st.tuples(st.text(max_size=20), st.one_of(st.text(max_size=200), st.floats(), st.none())), max_size=6
    )
)
def test_any_keys_give_a_safe_name(keys) -> None:
    name = group_name(FrameType.BIAS, keys)
    assert_safe(name, Path("/out"))
