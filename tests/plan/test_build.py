"""Planning on real FITS files written by astropy: jobs, order, matching with library and same-run
masters, master headers, and the hash that makes runs incremental."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from apcal.plan.model import Plan
from apcal.plan.prepare import prepare_plan
from apcal.recipe import recipe_from_mapping
from apcal.vocabulary import FrameType

BASE = {"INSTRUME": "ZWO ASI2600MM Pro", "SET-TEMP": -10.0, "GAIN": 100, "OFFSET": 50, "XBINNING": 1}


def write_frame(path: Path, imagetyp: str, **cards: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = fits.Header()
    header["IMAGETYP"] = imagetyp
    header["FILENAME"] = path.name  # distinct files: byte-identical ones are reported as duplicates
    for key, value in {**BASE, **cards}.items():
        if value is not None:
            header[key] = value
    fits.PrimaryHDU(np.zeros((8, 12), dtype=np.uint16), header=header).writeto(path)
    return path


def night(folder: Path, *, dark_exposures=(2.0,), flat_exposure=2.0, filters=("L",), n=3) -> None:
    for i in range(n):
        write_frame(folder / "BIAS" / f"bias_{i}.fits", "BIAS", EXPTIME=0.0)
        for exposure in dark_exposures:
            write_frame(folder / "DARK" / f"dark_{exposure:g}s_{i}.fits", "DARK", EXPOSURE=exposure)
        for name in filters:
            write_frame(
                folder / "FLAT" / f"flat_{name}_{i}.fits",
                "FLAT",
                EXPOSURE=flat_exposure,
                FILTER=name,
                **{"DATE-OBS": "2026-11-24T05:10:00"},
            )


def master(path: Path, label: str, **cards: Any) -> Path:
    return write_frame(path, label, NCOMBINE=20, **cards)


def plan_for(tmp_path: Path, **extra: Any) -> Plan:
    data = {"apcal": 1, "name": "t", "inputs": [{"path": "night"}], "output": {"dir": "out"}, **extra}
    return prepare_plan(recipe_from_mapping(data, base_dir=tmp_path))


def test_jobs_in_order_with_seed_names_and_flats_calibrated_by_this_runs_masters(tmp_path: Path) -> None:
    night(tmp_path / "night", filters=("L", "R"))
    plan = plan_for(tmp_path)
    assert [j.type for j in plan.jobs] == [FrameType.BIAS, FrameType.DARK, FrameType.FLAT, FrameType.FLAT]
    bias, dark, flat_l, flat_r = plan.jobs
    out = tmp_path / "out" / "master"
    assert bias.output == out / f"masterBias_{bias.group.name}.xisf"
    assert dark.output.name.startswith("masterDark_") and flat_l.output.name.startswith("masterFlat_")
    assert "FILTER_L" in flat_l.group.name and "FILTER_R" in flat_r.group.name
    for flat in (flat_l, flat_r):
        cal = flat.calibration
        assert cal is not None
        assert (cal.bias.path, cal.bias.source) == (bias.output, "run")
        assert (cal.dark.path, cal.dark.source) == (dark.output, "run")
        assert cal.flatdark is None
        assert cal.output_dir == tmp_path / "out" / "calibrated" / flat.group.name
        assert flat.depends_on == (bias.id, dark.id)
        assert flat.integration.normalization == "multiplicative"
    assert bias.integration.normalization == "none"


def test_master_header_is_self_describing(tmp_path: Path) -> None:
    night(tmp_path / "night")
    # SETTEMP (the seed's spelling) instead of SET-TEMP: the master keeps the original name
    for p in (tmp_path / "night" / "DARK").iterdir():
        with fits.open(p, mode="update") as hdul:
            hdul[0].header["SETTEMP"] = hdul[0].header.pop("SET-TEMP")
    dark = plan_for(tmp_path).jobs[1]
    cards = {k.name: k.value for k in dark.keywords if k.name != "HISTORY"}
    assert cards["IMAGETYP"] == "Master Dark" and cards["APCALMST"] is True and cards["NCOMBINE"] == 3
    assert cards["SETTEMP"] == -10.0 and "SET-TEMP" not in cards
    assert cards["GAIN"] == 100 and cards["INSTRUME"] == "ZWO ASI2600MM Pro"
    assert cards["EXPTIME"] == cards["EXPOSURE"] == 2.0
    assert len(cards["APCALHSH"]) == 64
    history = [k.value for k in dark.keywords if k.name == "HISTORY"]
    # 3 darks: rejection 'auto' resolves to percentile (WBPP's bestRejectionMethod, fewer than 6)
    assert any("rejection=percentile" in h for h in history) and all(len(h) <= 72 for h in history)


@pytest.mark.parametrize(
    ("library_exposures", "run_exposures", "expected"),
    [
        ((1.0,), (2.0,), ("run", 2.0)),  # this run's dark is nearer the flats' 2 s
        ((2.0,), (2.0,), ("run", 2.0)),  # equal: tonight's dark wins
        ((1.0,), (10.0,), ("library", 1.0)),  # library's is the longest not longer than 2 s
        ((1.0, 3.0, 60.0), (), ("library", 1.0)),
        ((3.0, 60.0), (), ("library", 3.0)),
    ],
)
def test_library_and_same_run_darks_follow_the_seed_exposure_rule(
    tmp_path: Path,
    library_exposures: tuple[float, ...],
    run_exposures: tuple[float, ...],
    expected: tuple[str, float],
) -> None:
    night(tmp_path / "night", dark_exposures=run_exposures, flat_exposure=2.0)
    for exposure in library_exposures:
        master(tmp_path / "lib" / "dark" / f"d{exposure:g}.fits", "Master Dark", EXPTIME=exposure)
    master(tmp_path / "lib" / "bias" / "b.fits", "Master Bias")
    plan = plan_for(tmp_path, library={"bias": "lib/bias", "dark": "lib/dark"})
    (flat,) = [j for j in plan.jobs if j.type is FrameType.FLAT]
    assert flat.calibration is not None
    dark = flat.calibration.dark
    assert (dark.source, dark.exposure) == expected


def test_seed_mode_uses_the_library_only_and_says_why_nothing_matched(tmp_path: Path) -> None:
    night(tmp_path / "night")
    master(tmp_path / "lib" / "b.fits", "Master Bias", GAIN=0)  # other gain: must not match
    plan = plan_for(tmp_path, library={"bias": "lib", "use_new_masters": False})
    (flat,) = [j for j in plan.jobs if j.type is FrameType.FLAT]
    assert flat.calibration is None
    assert any("no master bias" in n and "GAIN" in n for n in flat.notes)
    assert flat.notes[-1] == "flats are integrated uncalibrated"


def test_pixinsight_masters_without_gain_match_with_a_warning(tmp_path: Path) -> None:
    night(tmp_path / "night")
    master(tmp_path / "lib" / "b.xisf.fits", "Master Bias", GAIN=None, OFFSET=None)
    plan = plan_for(tmp_path, library={"bias": "lib", "use_new_masters": False})
    flat = plan.jobs[-1]
    assert flat.calibration is not None and flat.calibration.bias is not None
    assert any("GAIN not compared" in w for w in flat.calibration.bias.warnings)


def test_hash_changes_only_for_the_touched_group_and_the_flats_that_use_it(tmp_path: Path) -> None:
    night(tmp_path / "night", dark_exposures=(2.0, 30.0))
    before = {j.id: j.keywords for j in plan_for(tmp_path).jobs}
    dark = next((tmp_path / "night" / "DARK").glob("dark_2s_0.fits"))
    st = dark.stat()
    os.utime(dark, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    after = {j.id: j.keywords for j in plan_for(tmp_path).jobs}
    changed = sorted(i for i in before if before[i] != after[i])
    assert [c.split("/")[0] for c in changed] == ["dark", "flat"]
    assert "EXPOSURE_2" in changed[0]


def test_output_inside_an_input_folder_is_not_read_back(tmp_path: Path) -> None:
    night(tmp_path / "night")
    write_frame(
        tmp_path / "night" / "out" / "calibrated" / "g" / "flat_c.fits",
        "FLAT",
        EXPOSURE=2.0,
        FILTER="L",
        **{"DATE-OBS": "2026-11-24T05:10:00"},
    )
    plan = prepare_plan(
        recipe_from_mapping(
            {"apcal": 1, "name": "t", "inputs": [{"path": "night"}], "output": {"dir": "night/out"}},
            base_dir=tmp_path,
        )
    )
    assert all(len(j.inputs) == 3 for j in plan.jobs)
    assert any("inside the output folder" in s.reason for s in plan.skipped_files)


def test_hostile_header_values_give_names_inside_the_output_folder(tmp_path: Path) -> None:
    for i in range(3):
        write_frame(
            tmp_path / "night" / f"f{i}.fits",
            "FLAT",
            EXPOSURE=1.0,
            FILTER="../../etc",
            INSTRUME="a'b\"c\\d</script>" + "x" * 40,
        )
    plan = plan_for(tmp_path)
    (flat,) = plan.jobs
    out = (tmp_path / "out").resolve()
    assert flat.output.resolve().is_relative_to(out)
    assert flat.output.parent == out / "master"
    assert "/" not in flat.group.name and ".." not in flat.group.name


def test_missing_input_and_library_folders_are_recipe_errors(tmp_path: Path) -> None:
    from apcal.errors import RecipeError

    with pytest.raises(RecipeError) as info:
        plan_for(tmp_path, library={"dark": "nowhere"})
    text = str(info.value)
    assert "inputs[0].path" in text and "does not exist" in text and "library.dark" in text
