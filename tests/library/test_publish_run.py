"""``library.publish``: a run files its masters into the library behind the QC gate; concurrent runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

from tests.cli.helpers import apcal
from tests.library.helpers import write_raw_frames, write_recipe

ROOT = Path(__file__).parents[2]
REPORT_SCHEMA = json.loads((ROOT / "schemas" / "report.schema.json").read_text())


def _report(out: Path) -> dict:
    (path,) = sorted((out / "logs").glob("*_report.json"))[-1:]
    report = json.loads(path.read_text())
    jsonschema.validate(report, REPORT_SCHEMA)
    return report


def _listing(root: Path) -> list[dict]:
    done = apcal("library", "list", root, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["masters"]


def test_a_light_leak_is_held_a_new_camera_is_filed_and_a_rerun_is_up_to_date(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    first = write_raw_frames(tmp_path / "n1", "BIAS", "Cam A", "2026-11-01")
    recipe1 = write_recipe(tmp_path / "r1.yaml", first, tmp_path / "out1", library, publish=True)
    done = apcal("run", recipe1)
    assert done.returncode == 0, done.stderr
    (filed,) = _listing(library)
    assert Path(filed["path"]).relative_to(library).parts[:2] == ("bias", "Cam-A")

    second = write_raw_frames(tmp_path / "n2" / "a", "BIAS", "Cam A", "2026-12-01", leak=60.0)
    write_raw_frames(tmp_path / "n2" / "b", "BIAS", "Cam B", "2026-12-01")
    recipe2 = write_recipe(tmp_path / "r2.yaml", second.parent, tmp_path / "out2", library, publish=True)
    done = apcal("run", recipe2)
    assert done.returncode == 1, done.stderr
    log = done.stderr + done.stdout
    assert "held back from the library" in log and "beyond 6 sigma" in log
    assert "2 built, 0 up to date, 0 failed, 1 held back from the library" in log
    report = _report(tmp_path / "out2")
    assert report["exit_code"] == 1 and report["library"]["held"] == 1
    by_status = {m["status"]: m for m in report["library"]["masters"]}
    held, new = by_status["held"], by_status["filed"]
    assert "Cam-A" in held["master"] and held["outlier_fraction"] > 0.4
    assert held["predecessor"] == filed["path"] and Path(held["master"]).is_file()
    assert new["predecessor"] is None and new["reason"] == "no predecessor of this configuration"
    assert Path(new["library_path"]).relative_to(library).parts[:2] == ("bias", "Cam-B")
    listing = _listing(library)
    assert sorted(m["camera"] for m in listing) == ["Cam A", "Cam B"]  # the leak is not in the library
    html = sorted((tmp_path / "out2" / "logs").glob("*_report.html"))[-1].read_text()
    assert "held" in html and "beyond 6 sigma" in html

    assert f"apcal library file {library} {held['master']}" in log

    again = apcal("run", recipe2)
    said = again.stderr + again.stdout
    assert "2 up to date" in said and "already in the library" in said
    assert "still held back from the library (unchanged)" in said
    assert again.returncode == 0, said  # held and said by the run that built it: nothing new to fail on
    assert _listing(library) == listing

    # The observer looks at the held master, finds it right (say, a new driver), and files it by hand.
    accepted = apcal("library", "file", library, held["master"])
    assert accepted.returncode == 0, accepted.stderr
    assert "filed as" in accepted.stdout and "without the QC gate" in accepted.stdout
    assert sorted(m["camera"] for m in _listing(library)) == ["Cam A", "Cam A", "Cam B"]
    after = apcal("run", recipe2)  # the next run finds both masters in the library, none held
    assert after.returncode == 0 and (after.stderr + after.stdout).count("already in the library") == 2
    assert apcal("library", "file", library, held["master"]).stdout.count("already in the library") == 1


def _concurrent_night(folder: Path, camera: str) -> Path:
    write_raw_frames(folder / "bias", "BIAS", camera, "2026-12-01")
    write_raw_frames(folder / "dark", "DARK", camera, "2026-12-01", level=520.0, EXPTIME=60.0)
    return folder


def test_two_runs_publishing_at_once_catalogue_every_master_once(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    runs = []
    for camera in ("Cam C", "Cam D"):
        night = _concurrent_night(tmp_path / camera, camera)
        recipe = write_recipe(
            tmp_path / f"{camera}.yaml", night, tmp_path / f"out {camera}", library, publish=True
        )
        command = [sys.executable, "-m", "apcal", "run", str(recipe)]
        runs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for process in runs:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    listing = _listing(library)
    paths = [m["path"] for m in listing]
    assert len(paths) == len(set(paths)) == 4
    on_disk = sorted(str(p) for p in library.rglob("*.fits"))
    assert on_disk == sorted(paths)
    assert sorted((m["camera"], m["type"]) for m in listing) == [
        ("Cam C", "bias"), ("Cam C", "dark"), ("Cam D", "bias"), ("Cam D", "dark")
    ]  # fmt: skip
