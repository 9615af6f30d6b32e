"""A flat group's plan against a catalogued library: the good bias wins over a bad one, one too old and
one at another set point, and ``apcal plan --explain`` names the rule each failed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import apcal
from tests.library.helpers import write_frames, write_master, write_recipe


def _library(root: Path) -> dict[str, Path]:
    return {
        "good": write_master(root / "bias" / "good.fits", "Bias", "2026-11-20", seed=1),
        "bad": write_master(root / "bias" / "newest.fits", "Bias", "2026-12-04", seed=2),
        "old": write_master(root / "bias" / "old.fits", "Bias", "2025-10-01", seed=3),
        "warm": write_master(root / "bias" / "warm.fits", "Bias", "2026-12-03", seed=4, **{"SET-TEMP": 0.0}),
    }


def test_plan_picks_the_good_bias_and_explains_the_others(tmp_path: Path) -> None:
    root = tmp_path / "library"
    masters = _library(root)
    flats = write_frames(tmp_path / "flats", "FLAT", "2026-12-05", EXPTIME=2.0, FILTER="L")
    recipe = write_recipe(tmp_path / "r.yaml", flats, tmp_path / "out", root)

    before = json.loads(apcal("plan", recipe, "--json").stdout)
    (flat_job,) = [j for j in before["jobs"] if j["type"] == "flat"]
    assert flat_job["calibration"]["bias"]["path"] == str(masters["bad"])  # newest, nearest: until marked

    marked = apcal("library", "mark-bad", root, masters["bad"], "--reason", "light leak")
    assert marked.returncode == 0, marked.stderr

    done = apcal("plan", recipe, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == set(before)  # the shape is kept: no new key without --explain
    (flat_job,) = [j for j in data["jobs"] if j["type"] == "flat"]
    assert flat_job["calibration"]["bias"] == {
        **flat_job["calibration"]["bias"],
        "path": str(masters["good"]),
    }
    assert flat_job["calibration"]["bias"]["source"] == "library"

    explained = apcal("plan", recipe, "--explain")
    assert explained.returncode == 0, explained.stderr
    text = explained.stdout
    assert f"✓ {masters['good']}: chosen" in text
    assert f"✗ {masters['bad']}: failed marked bad (light leak)" in text
    assert f"✗ {masters['old']}: failed max age (430 days from the flats' night; a bias may be 365)" in text
    assert f"✗ {masters['warm']}: failed SET-TEMP (SET-TEMP 0, the flats' -10 (tolerance 1))" in text

    as_json = json.loads(apcal("plan", recipe, "--json", "--explain").stdout)
    (entry,) = as_json["explain"]
    (bias,) = [m for m in entry["masters"] if m["type"] == "bias"]
    failed = {Path(c["path"]).name: c["failed"] for c in bias["candidates"]}
    assert failed == {
        "good.fits": None,
        "newest.fits": "marked bad",
        "old.fits": "max age",
        "warm.fits": "SET-TEMP",
    }
    assert bias["chosen"] == str(masters["good"])


def test_max_age_and_set_point_tolerance_come_from_the_recipe(tmp_path: Path) -> None:
    root = tmp_path / "library"
    masters = _library(root)
    flats = write_frames(tmp_path / "flats", "FLAT", "2026-12-05", EXPTIME=2.0, FILTER="L")
    apcal("library", "mark-bad", root, masters["bad"], "--reason", "light leak")
    (masters["good"]).unlink()  # only the old and the warm one are left usable under other rules
    recipe = write_recipe(
        tmp_path / "r.yaml", flats, tmp_path / "out", root, max_age_days={"bias": 500}, set_temp_tolerance=0.5
    )
    data = json.loads(apcal("plan", recipe, "--json").stdout)
    (flat_job,) = [j for j in data["jobs"] if j["type"] == "flat"]
    assert flat_job["calibration"]["bias"]["path"] == str(masters["old"])
    loose = write_recipe(tmp_path / "l.yaml", flats, tmp_path / "out", root, set_temp_tolerance=15)
    data = json.loads(apcal("plan", loose, "--json").stdout)
    (flat_job,) = [j for j in data["jobs"] if j["type"] == "flat"]
    assert flat_job["calibration"]["bias"]["path"] == str(masters["warm"])
