"""Master library: what counts as a master, and which master calibrates a flat group."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from apcal.frames.discovery import discover
from apcal.frames.normalize import MASTER_KEYWORD
from apcal.grouping import Group, group_frames
from apcal.io.image import write_image
from apcal.library import load_library, match_master
from apcal.recipe.model import InputSet, Tolerances
from apcal.vocabulary import FrameType, Keyword
from tests.frames.helpers import SEED_GROUPING, headers, write_fits

CAMERA = {"INSTRUME": "ZWO ASI2600MM Pro", "SET-TEMP": -10.0, "XBINNING": 1, "YBINNING": 1}
TOL = Tolerances()


def pixinsight_master(path: Path, kind: str, **cards) -> Path:
    """A master as PixInsight writes it: IMAGETYP 'Master ...', no GAIN, OFFSET or CCD-TEMP."""
    return write_fits(path, {"IMAGETYP": f"Master {kind}", **CAMERA, **cards})


def flat_group(tmp_path: Path, exposure: float = 2.0, **cards) -> Group:
    for i in range(3):
        write_fits(
            tmp_path / "flats" / f"flat{i}.fits",
            {
                "IMAGETYP": "FLAT",
                **CAMERA,
                "GAIN": 100,
                "OFFSET": 50,
                "EXPTIME": exposure,
                "FILTER": "L",
                **cards,
            },
        )
    found = discover([InputSet(tmp_path / "flats")], headers())
    (group,) = group_frames(found.frames, SEED_GROUPING).groups
    return group


def test_library_holds_masters_only(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    pixinsight_master(lib / "masterDark_1s.xisf.fits", "Dark", EXPTIME=1.0)
    write_fits(
        lib / "apcal" / "dark.fits", {"IMAGETYP": "DARK", MASTER_KEYWORD: True, **CAMERA, "EXPTIME": 5.0}
    )
    write_fits(lib / "raw_dark.fits", {"IMAGETYP": "DARK", **CAMERA, "EXPTIME": 1.0})
    pixinsight_master(lib / "masterFlat.fits", "Flat")
    (lib / "broken.fits").write_text("nope")
    index = load_library(lib, headers())
    assert sorted(m.path.name for m in index.masters) == ["dark.fits", "masterDark_1s.xisf.fits"]
    assert {m.type for m in index.masters} == {FrameType.DARK}
    why = {s.path.name: s.reason for s in index.skipped}
    assert why["raw_dark.fits"].startswith("not a master (IMAGETYP 'DARK'")
    assert why["masterFlat.fits"] == "master flat is not used for calibration"
    assert "broken.fits" in why["broken.fits"]
    assert index.of_type(FrameType.BIAS) == ()


def test_dark_exposure_rule(tmp_path: Path) -> None:
    group = flat_group(tmp_path, exposure=2.0)
    lib = tmp_path / "lib"
    for seconds in (1, 3, 60):
        pixinsight_master(lib / f"dark{seconds}.fits", "Dark", EXPTIME=float(seconds))
    darks = load_library(lib, headers()).of_type(FrameType.DARK)

    chosen = match_master(group, darks, FrameType.DARK, TOL)
    assert chosen.master is not None and chosen.master.path.name == "dark1.fits"
    assert "longest not longer" in chosen.reason

    longer_only = [d for d in darks if d.path.name != "dark1.fits"]
    chosen = match_master(group, longer_only, FrameType.DARK, TOL)
    assert chosen.master is not None and chosen.master.path.name == "dark3.fits"
    assert "shortest available" in chosen.reason


def test_equal_exposure_counts_as_not_longer(tmp_path: Path) -> None:
    group = flat_group(tmp_path, exposure=3.0)
    lib = tmp_path / "lib"
    pixinsight_master(lib / "dark1.fits", "Dark", EXPTIME=1.0)
    pixinsight_master(lib / "dark3.fits", "Dark", EXPTIME=3.0)
    chosen = match_master(group, load_library(lib, headers()).masters, FrameType.DARK, TOL)
    assert chosen.master is not None and chosen.master.path.name == "dark3.fits"


def test_missing_keys_warn_and_still_match(tmp_path: Path) -> None:
    group = flat_group(tmp_path)
    pixinsight_master(tmp_path / "lib" / "bias.fits", "Bias")
    chosen = match_master(group, load_library(tmp_path / "lib", headers()).masters, FrameType.BIAS, TOL)
    assert chosen.master is not None
    assert any(w.startswith("GAIN not compared: the master has no GAIN") for w in chosen.warnings)
    assert any(w.startswith("OFFSET not compared") for w in chosen.warnings)


def test_mismatches_are_rejected_with_reasons(tmp_path: Path) -> None:
    group = flat_group(tmp_path)
    lib = tmp_path / "lib"
    pixinsight_master(lib / "warm.fits", "Bias", **{"SET-TEMP": 0.0})
    pixinsight_master(lib / "gain.fits", "Bias", GAIN=0)
    write_fits(lib / "small.fits", {"IMAGETYP": "Master Bias", **CAMERA}, shape=(3, 3))
    pixinsight_master(lib / "bin2.fits", "Bias", XBINNING=2, YBINNING=2)
    pixinsight_master(lib / "dark.fits", "Dark", EXPTIME=1.0)
    chosen = match_master(group, load_library(lib, headers()).masters, FrameType.BIAS, TOL)
    assert chosen.master is None
    assert chosen.reason == (
        "no master bias matches the flat group "
        "(1 differ in GAIN, 1 differ in SET-TEMP, 1 differ in binning, 1 differ in image shape)"
    )
    assert match_master(group, [], FrameType.DARK, TOL).reason == "no master dark in the library"


def test_set_temp_tolerance_and_instrument_case(tmp_path: Path) -> None:
    group = flat_group(tmp_path)
    pixinsight_master(
        tmp_path / "lib" / "bias.fits", "Bias", **{"SET-TEMP": -10.8, "INSTRUME": "zwo asi2600mm pro "}
    )
    chosen = match_master(group, load_library(tmp_path / "lib", headers()).masters, FrameType.BIAS, TOL)
    assert chosen.master is not None


def test_ties_prefer_more_frames_then_newer(tmp_path: Path) -> None:
    group = flat_group(tmp_path)
    lib = tmp_path / "lib"
    few = pixinsight_master(lib / "a.fits", "Dark", EXPTIME=1.0, NCOMBINE=10)
    many = pixinsight_master(lib / "b.fits", "Dark", EXPTIME=1.0, NCOMBINE=50)
    newer = pixinsight_master(lib / "c.fits", "Dark", EXPTIME=1.0, NCOMBINE=10)
    os.utime(few, ns=(1_000_000_000, 1_000_000_000))
    os.utime(newer, ns=(2_000_000_000, 2_000_000_000))
    masters = load_library(lib, headers()).masters
    assert match_master(group, masters, FrameType.DARK, TOL).master.path == many
    without_many = [m for m in masters if m.path != many]
    assert match_master(group, without_many, FrameType.DARK, TOL).master.path == newer


def test_flatdark_needs_the_flat_exposure(tmp_path: Path) -> None:
    group = flat_group(tmp_path, exposure=2.0)
    lib = tmp_path / "lib"
    pixinsight_master(lib / "fd1.fits", "Flat Dark", EXPTIME=1.0)
    masters = load_library(lib, headers()).masters
    assert match_master(group, masters, FrameType.FLATDARK, TOL).master is None
    pixinsight_master(lib / "fd2.fits", "Dark Flat", EXPTIME=2.0)
    masters = load_library(lib, headers()).masters
    assert match_master(group, masters, FrameType.FLATDARK, TOL).master.path.name == "fd2.fits"


def test_missing_library_folder_is_reported(tmp_path: Path) -> None:
    index = load_library(tmp_path / "none", headers())
    assert index.masters == () and len(index.skipped) == 1


def test_masters_written_by_apcal_are_found_in_xisf(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    cards = [Keyword("IMAGETYP", "DARK"), Keyword(MASTER_KEYWORD, True), Keyword("EXPTIME", 2.0)]
    cards += [Keyword(k, v) for k, v in CAMERA.items()]
    write_image(lib / "masterDark_2s.xisf", np.zeros((6, 8), np.float32), cards)
    index = load_library(lib, headers())
    assert [(m.path.name, m.type, m.is_master) for m in index.masters] == [
        ("masterDark_2s.xisf", FrameType.DARK, True)
    ]
    chosen = match_master(flat_group(tmp_path), index.masters, FrameType.DARK, TOL)
    assert chosen.master is not None and chosen.master.path.name == "masterDark_2s.xisf"
