"""``apcal scan`` and ``apcal plan`` as a user runs them, on the real corpus and a generated night."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from apcal.demo.synthetic import CameraModel, NightPlan, generate_night
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
    table = apcal("plan", "r.yaml", cwd=tmp_path)
    assert "masterBias_" in table.stdout and "(this run)" in table.stdout
