"""Discovery over real corpora and hand-made folders: what is read, what is skipped and why."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from apcal.frames.discovery import discover, glob_match
from apcal.grouping import group_frames
from apcal.recipe.model import InputSet
from apcal.vocabulary import FrameType
from tests.frames.helpers import SEED_GROUPING, headers, write_fits


def names(paths) -> list[str]:
    return [Path(p).name for p in paths]


def reasons(discovery) -> dict[str, str]:
    return {s.path.name: s.reason for s in discovery.skipped}


# --- the real corpus -------------------------------------------------------------------------------


def test_maximdl_st7_darks_lights_and_duplicate(realdata: Path) -> None:
    folder = realdata / "fits" / "maximdl-st7"
    found = discover([InputSet(folder)], headers())
    assert all(f.type is FrameType.DARK for f in found.frames)
    assert len(found.frames) == 21  # 22 dark files, one of them a byte-identical copy
    why = reasons(found)
    lights = ["EnifSpec.fit", "NaviSpec.fit", "NeonCalibration.fit", "ScheatSpec.fit", "Vega.fit"]
    assert {n: why[n] for n in lights} == dict.fromkeys(lights, "light frame (ignored)")
    duplicates = [s for s in found.skipped if s.reason.startswith("duplicate of")]
    assert len(duplicates) == 1
    assert duplicates[0].path.name == "DarkBefore-007D120s (1).fit"
    assert duplicates[0].reason == f"duplicate of {folder / 'DarkBefore-007D120s.fit'}"
    assert len(found.skipped) == 6

    result = group_frames(found.frames, SEED_GROUPING)
    assert result.skipped == ()
    assert [(g.key("EXPOSURE"), len(g.frames)) for g in result.groups] == [
        (120.0, 11),
        (300.0, 5),
        (900.0, 5),
    ]
    assert all(g.key("SET-TEMP") == -17.0 and g.key("INSTRUME") == "ST-7" for g in result.groups)
    assert all(g.key("SHAPE") == "765x510" for g in result.groups)
    stacked = [f.path.name for g in result.groups for f in g.frames]
    assert "DarkBefore-007D120s.fit" in stacked and "DarkBefore-007D120s (1).fit" not in stacked


def test_msumastro_files_are_what_their_headers_say(realdata: Path) -> None:
    found = discover([InputSet(realdata / "fits" / "msumastro")], headers())
    types = {f.path.name: f.type for f in found.frames}
    assert types == {
        **{f"biastest{i}.fit": FrameType.BIAS for i in range(1, 6)},
        **{f"darktest{i}.fit": FrameType.DARK for i in range(1, 6)},
        "flattest.fit": FrameType.BIAS,  # named 'flat' but typed BIAS: the header decides
        "aspen_trimmed.fit": FrameType.FLAT,
    }
    why = reasons(found)
    assert why["neon-on-dome-10-sec-high-res-though-scope.fit"].endswith(
        "unknown frame type (no IMAGETYP, FRAME or CALFRAME keyword)"
    )
    for name in ["celestron_nightscape_10100_astro_fx_v106.fit", "maximdl_5_21_header.fit", "uint16.fit"]:
        assert why[name] == "light frame (ignored)"
    assert len(found.frames) + len(found.skipped) == 22

    result = group_frames(found.frames, SEED_GROUPING)
    built = {(g.type, len(g.frames)) for g in result.groups}
    assert built == {(FrameType.BIAS, 6), (FrameType.DARK, 5)}
    assert [(s.type, s.frame_count) for s in result.skipped] == [(FrameType.FLAT, 1)]


def test_whole_corpus_in_one_scan_is_deterministic(realdata: Path) -> None:
    inputs = [InputSet(realdata / "fits")]
    first, second = discover(inputs, headers()), discover(inputs, headers())
    assert [f.path for f in first.frames] == sorted(f.path for f in first.frames)
    assert [f.path for f in first.frames] == [f.path for f in second.frames]
    assert first.skipped == second.skipped
    assert len(first.frames) == 21 + 12


# --- hand-made folders -----------------------------------------------------------------------------


def bias(path: Path, **cards) -> Path:
    return write_fits(path, {"IMAGETYP": "BIAS", **cards})


def test_corrupt_and_non_fits_files_are_skipped_and_the_scan_goes_on(tmp_path: Path) -> None:
    bias(tmp_path / "a.fits")
    (tmp_path / "b.fits").write_text("this is not a FITS file\n")
    (tmp_path / "c.fits").write_bytes(b"")
    (tmp_path / "d.xisf").write_bytes(b"XISF0100garbage")
    bias(tmp_path / "e.fits")
    found = discover([InputSet(tmp_path)], headers())
    assert names(f.path for f in found.frames) == ["a.fits", "e.fits"]
    why = reasons(found)
    assert set(why) == {"b.fits", "c.fits", "d.xisf"}
    assert all(str(tmp_path) in reason for reason in why.values())  # FrameError names the file


def test_extensions_any_case_other_files_listed_as_not_frames(tmp_path: Path) -> None:
    for name in ["a.fit", "b.FITS", "c.Fts", "d.fits"]:
        bias(tmp_path / name)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "e.fits.bak").write_text("x")
    found = discover([InputSet(tmp_path)], headers())
    assert names(f.path for f in found.frames) == ["a.fit", "b.FITS", "c.Fts", "d.fits"]
    assert [(s.path.name, s.reason) for s in found.skipped] == [
        ("e.fits.bak", "not a frame file (.bak)"),
        ("notes.txt", "not a frame file (.txt)"),
    ]


def test_hidden_files_and_folders_are_not_read(tmp_path: Path) -> None:
    bias(tmp_path / "a.fits")
    bias(tmp_path / ".hidden.fits")
    bias(tmp_path / ".cache" / "b.fits")
    found = discover([InputSet(tmp_path)], headers())
    assert names(f.path for f in found.frames) == ["a.fits"]


def test_include_and_exclude_globs(tmp_path: Path) -> None:
    bias(tmp_path / "top.fit")
    bias(tmp_path / "n1" / "deep" / "x.fit")
    bias(tmp_path / "n1" / "y.fits")
    bias(tmp_path / "_stash" / "s.fit")
    bias(tmp_path / "n2" / "_stash" / "t.fit")
    bias(tmp_path / "old" / "u.fit")

    only_fit = discover([InputSet(tmp_path, include=("*.fit",))], headers())
    assert names(f.path for f in only_fit.frames) == ["s.fit", "x.fit", "t.fit", "u.fit", "top.fit"]

    excluded = discover([InputSet(tmp_path, exclude=("**/_stash/**", "old"))], headers())
    assert names(f.path for f in excluded.frames) == ["x.fit", "y.fits", "top.fit"]

    nested = discover([InputSet(tmp_path, include=("n1/**/*.fit*",))], headers())
    assert names(f.path for f in nested.frames) == ["x.fit", "y.fits"]

    flat = discover([InputSet(tmp_path, recursive=False)], headers())
    assert names(f.path for f in flat.frames) == ["top.fit"]


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.fit", "a/b/c.FIT", True),
        ("*.fit", "a/b/c.fits", False),
        ("**/_stash/**", "_stash/x.fit", True),
        ("**/_stash/**", "a/_stash/b/x.fit", True),
        ("**/_stash/**", "a/stash/x.fit", False),
        ("darks/*.fits", "darks/a.fits", True),
        ("darks/*.fits", "darks/sub/a.fits", False),
        ("darks/**/*.fits", "darks/a.fits", True),
        ("dark?.fits", "darkA.fits", True),
        ("[ab]*.fit", "b1.fit", True),
        ("[!ab]*.fit", "b1.fit", False),
    ],
)
def test_glob_match(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(pattern, path) is expected


def test_symlink_loop_and_links_count_once(tmp_path: Path) -> None:
    root = tmp_path / "in"
    bias(root / "sub" / "a.fits")
    os.symlink(root, root / "sub" / "loop")  # a folder link back to the root
    os.symlink(root / "sub" / "a.fits", root / "alias.fits")  # the same file under another name
    os.symlink(tmp_path / "missing.fits", root / "broken.fits")
    found = discover([InputSet(root)], headers())
    assert len(found.frames) == 1
    assert reasons(found) == {"broken.fits": "broken symbolic link"}


def test_overlapping_input_sets_read_each_file_once(tmp_path: Path) -> None:
    bias(tmp_path / "darks" / "a.fits")
    bias(tmp_path / "b.fits")
    found = discover([InputSet(tmp_path), InputSet(tmp_path / "darks"), InputSet(tmp_path)], headers())
    assert names(f.path for f in found.frames) == ["b.fits", "a.fits"]
    assert found.skipped == ()


def test_byte_identical_copies_are_skipped_as_duplicates(tmp_path: Path) -> None:
    original = bias(tmp_path / "a" / "frame.fits", fill=7)
    for copy in ["b/frame.fits", "frame - Copy.fits"]:
        (tmp_path / copy).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, tmp_path / copy)
    same_header = bias(tmp_path / "a" / "other.fits", fill=8)  # same header, other pixels: not a duplicate
    found = discover([InputSet(tmp_path)], headers())
    assert {f.path for f in found.frames} == {original, same_header}
    assert reasons(found) == {
        "frame.fits": f"duplicate of {original}",
        "frame - Copy.fits": f"duplicate of {original}",
    }


def test_masters_in_inputs_are_not_stacked(tmp_path: Path) -> None:
    write_fits(tmp_path / "m.fits", {"IMAGETYP": "Master Dark"})
    found = discover([InputSet(tmp_path)], headers())
    assert found.frames == ()
    assert reasons(found) == {"m.fits": "master dark (masters are not stacked)"}


def test_missing_input_folder_is_reported(tmp_path: Path) -> None:
    found = discover([InputSet(tmp_path / "nope")], headers())
    assert found.frames == ()
    assert [s.path for s in found.skipped] == [tmp_path / "nope"]


def test_imagetyp_alias_from_recipe(tmp_path: Path) -> None:
    write_fits(tmp_path / "a.fits", {"IMAGETYP": "Calibration: zero"})
    assert discover([InputSet(tmp_path)], headers()).frames == ()
    found = discover([InputSet(tmp_path)], headers(imagetyp_aliases={"calibration: ZERO": FrameType.BIAS}))
    assert [f.type for f in found.frames] == [FrameType.BIAS]
