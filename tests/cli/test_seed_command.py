"""The seed-compatible command says plainly what it did: flats left uncalibrated, the script written, the
PixInsight command line once, and a recipe with a name rather than a made-up path."""

from __future__ import annotations

import json
from pathlib import Path

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from tests.cli.helpers import apcal

NIGHT = NightPlan(
    n_bias=3, dark_exposures=(), n_darks=0, filters=("L", "R"), flat_exposures=(1.0, 2.0), n_flats=3
)


def test_script_only_warns_of_uncalibrated_flats_and_ends_with_what_was_written(tmp_path: Path) -> None:
    generate_night(tmp_path / "frames", CameraModel(rows=32, cols=48), NIGHT)
    result = apcal("calibrate", "frames", "out", "--script-only", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    uncalibrated = [line for line in lines if line.endswith("integrated uncalibrated")]
    assert [line.split()[:2] for line in uncalibrated[:2]] == [["warning:", "flat"]] * 2
    assert [line.split()[:2] for line in uncalibrated[2:]] == [["flat", "L"], ["flat", "R"]]  # the summary
    (script,) = (tmp_path / "out" / "logs").glob("*_calibrate_masters.js")
    text = script.read_text()
    assert "// WARNING: these flats are integrated uncalibrated" in text
    assert sum(line.startswith("//   flat/") for line in text.splitlines()) == 2
    assert result.stderr.count("PixInsight --automation-mode") == 1
    done = next(i for i, line in enumerate(lines) if line.startswith("done in "))
    assert "0 built, 0 up to date, 0 failed, 3 in a PixInsight script" in lines[done]
    assert lines[done + 1] == f"build them with: PixInsight --automation-mode -n=123 -r={script} --force-exit"
    assert lines[done + 2].startswith("report: out/logs/") and lines[done + 2].endswith("_report.html")
    report = json.loads(next((tmp_path / "out" / "logs").glob("*_report.json")).read_text())
    assert report["recipe"] == {"name": "ap-wbpp-calibration", "path": None}
    assert "<command line>" not in result.stderr + script.read_text()
