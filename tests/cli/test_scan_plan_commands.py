"""``apcal scan`` and ``apcal plan`` as a user runs them, on the real corpus and a generated night."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from tests.cli.helpers import apcal


def test_scan_of_the_real_maxim_darks(realdata: Path, tmp_path: Path) -> None:
    folder = tmp_path / "st7"
    shutil.copytree(realdata / "fits" / "maximdl-st7", folder)
    (folder / "broken.fits").write_text("not a FITS file at all\n")
    done = apcal("scan", folder, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    darks = sorted((g["keys"]["EXPOSURE"], len(g["frames"])) for g in data["groups"])
    assert darks == [(120.0, 11), (300.0, 5), (900.0, 5)]
    reasons = {Path(s["path"]).name: s["reason"] for s in data["skipped_files"]}
    assert "duplicate of" in reasons["DarkBefore-007D120s (1).fit"]
    assert reasons["Vega.fit"] == "light frame (ignored)"
    assert "broken.fits" in reasons["broken.fits"]  # the reader's message names the file
    table = apcal("scan", folder)
    assert table.returncode == 0 and "EXPOSURE=900" in table.stdout and "broken.fits" in table.stdout


def test_scan_of_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    done = apcal("scan", tmp_path / "nowhere")
    assert done.returncode == 2 and "folder not found" in done.stderr and "Traceback" not in done.stderr


def test_plan_lists_jobs_masters_and_outputs(tmp_path: Path) -> None:
    generate_night(
        tmp_path / "frames",
        CameraModel(rows=32, cols=48),
        NightPlan(
            n_bias=3, dark_exposures=(5.0,), n_darks=3, filters=("Ha",), flat_exposures=(3.0,), n_flats=3
        ),
    )
    (tmp_path / "r.yaml").write_text("apcal: 1\nname: p\ninputs: [{path: frames}]\noutput: {dir: out}\n")
    done = apcal("plan", "r.yaml", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    jobs = json.loads(done.stdout)["jobs"]
    assert [j["type"] for j in jobs] == ["bias", "dark", "flat"]
    flat = jobs[2]
    assert flat["calibration"]["dark"]["job"] == jobs[1]["id"]
    assert flat["output"].endswith(".xisf") and "/out/master/masterFlat_" in flat["output"]
    assert not (tmp_path / "out").exists()  # planning writes nothing
    assert flat["calibration"]["dark_scaling"] == {"method": "optimize", "exposure_ratio": 0.6}
    table = apcal("plan", "r.yaml", cwd=tmp_path)
    assert "masterBias_" in table.stdout and "(this run)" in table.stdout
    assert "dark scaling: optimize (exposure ratio 0.6)" in table.stdout
    # Off a terminal (this pipe, cron's mail): plain lines, no box drawing, every name whole on its line.
    assert not set(table.stdout) & set("─│┃━┏┓┗┛┡┩└┘├┤┬┴┼")
    lines = table.stdout.splitlines()
    for job in jobs:
        output = Path(job["output"]).relative_to(tmp_path / "out")
        assert f"    output: {output}" in lines


@pytest.mark.parametrize(
    ("scaling", "optimize_darks", "shown", "note"),
    [
        ("exposure", None, "exposure", True),
        ("optimize", None, "optimize", True),
        ("pixinsight", None, "pixinsight", False),
        ("optimize", False, "none", False),  # the seed's optimizeDarks: false
    ],
)
def test_plan_shows_the_dark_scaling_and_what_pixinsight_cannot_do(
    tmp_path: Path, scaling: str, optimize_darks: bool | None, shown: str, note: bool
) -> None:
    generate_night(
        tmp_path / "frames",
        CameraModel(rows=32, cols=48),
        NightPlan(
            n_bias=3, dark_exposures=(300.0,), n_darks=3, filters=("L",), flat_exposures=(2.0,), n_flats=3
        ),
    )
    alias = "" if optimize_darks is None else f", optimize_darks: {str(optimize_darks).lower()}"
    (tmp_path / "r.yaml").write_text(
        "apcal: 1\nname: p\ninputs: [{path: frames}]\noutput: {dir: out}\n"
        "engine: {name: pixinsight, pixinsight: {script_only: true}}\n"
        f"calibration: {{dark_scaling: {scaling}{alias}}}\n"
    )
    done = apcal("plan", "r.yaml", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    flat = json.loads(done.stdout)["jobs"][2]
    assert flat["calibration"]["dark_scaling"]["method"] == shown
    assert flat["calibration"]["dark_scaling"]["exposure_ratio"] == pytest.approx(2 / 300)
    cannot = [n for n in flat["notes"] if "PixInsight's ImageCalibration cannot" in n]
    assert bool(cannot) == note, flat["notes"]
    table = apcal("plan", "r.yaml", cwd=tmp_path)
    assert f"dark scaling: {shown} (exposure ratio 0.006667)" in table.stdout
    if note:
        assert f"dark_scaling: {scaling} is apcal's own" in " ".join(table.stdout.split())


def test_optimize_darks_contradicting_dark_scaling_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    (tmp_path / "r.yaml").write_text(
        "apcal: 1\nname: p\ninputs: [{path: frames}]\noutput: {dir: out}\n"
        "calibration:\n  dark_scaling: exposure\n  optimize_darks: false\n"
    )
    done = apcal("plan", "r.yaml", cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "r.yaml:7:" in done.stderr and "contradicts dark_scaling: exposure" in done.stderr, done.stderr
