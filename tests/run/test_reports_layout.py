"""What a run leaves on disk: masters only in master/, reports that link their previews from
logs/previews/, nothing rewritten when nothing is new, and only the last ``keep_reports`` runs' logs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from apcal.run.prune import prune_reports
from tests.cli.helpers import apcal

NIGHT = NightPlan(
    n_bias=3, dark_exposures=(), n_darks=0, filters=("L", "R"), flat_exposures=(1.0, 2.0), n_flats=3
)
RECIPE = """\
apcal: 1
name: layout
inputs: [{path: frames}]
output: {dir: out, keep_reports: 2}
headers: {timezone: Europe/Berlin}
library: {use_new_masters: true}
"""


@pytest.fixture(scope="module")
def night_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("night")
    generate_night(folder / "frames", CameraModel(rows=48, cols=64), NIGHT)
    (folder / "recipe.yaml").write_text(RECIPE)
    return folder


@pytest.fixture
def night(tmp_path: Path, night_template: Path) -> Path:
    shutil.copytree(night_template, tmp_path / "n")
    return tmp_path / "n"


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_masters_only_in_master_and_a_second_run_writes_nothing_there(night: Path) -> None:
    first = apcal("run", "recipe.yaml", cwd=night)
    assert first.returncode == 0, first.stderr
    master = night / "out" / "master"
    assert sorted(p.name.split("_")[0] for p in master.iterdir()) == [
        "masterBias",
        "masterFlat",
        "masterFlat",
    ]
    assert all(p.is_file() for p in master.iterdir())  # no previews, no calibrated/ folder
    assert len(list((night / "out" / "calibrated").rglob("*_c.xisf"))) == 6
    before = snapshot(master)
    second = apcal("run", "recipe.yaml", cwd=night)
    assert second.returncode == 0, second.stderr
    assert snapshot(master) == before


def test_reports_link_previews_written_for_the_masters_built(night: Path) -> None:
    logs, previews = night / "out" / "logs", night / "out" / "logs" / "previews"
    assert apcal("run", "recipe.yaml", cwd=night).returncode == 0
    (first,) = logs.glob("*_report.html")
    page = first.read_text()
    assert "data:image" not in page and page.count('src="previews/') == 6
    assert first.stat().st_size < 60_000  # was 1.9 MB with the pictures embedded
    assert len(list(previews.glob("master*.png"))) == 3  # previews
    assert len(list(previews.glob("master*_histogram.svg"))) == 3
    pictures = snapshot(previews)
    second = apcal("run", "recipe.yaml", cwd=night)
    assert second.returncode == 0, second.stderr
    assert snapshot(previews) == pictures  # up to date: nothing rendered again
    latest = sorted(logs.glob("*_report.html"))[-1]
    assert latest.read_text().count('src="previews/') == 6


def test_keep_reports_keeps_the_last_runs_and_touches_nothing_else(night: Path, tmp_path: Path) -> None:
    logs = night / "out" / "logs"
    logs.mkdir(parents=True)
    old = [
        logs / f"2020010{i}_000000{suffix}"
        for i in (1, 2)
        for suffix in (".log", "_report.json", "_report.html")
    ]
    for path in old:
        path.write_text("old run\n")
    outside = tmp_path / "precious.txt"
    outside.write_text("not apcal's\n")
    (logs / "20200103_000000.log").symlink_to(outside)
    (logs / "notes.txt").write_text("mine\n")
    assert apcal("run", "recipe.yaml", cwd=night).returncode == 0
    assert not any(p.exists() for p in old[:3])  # the oldest run is gone, the newer old run stays
    assert all(p.exists() for p in old[3:])
    assert outside.read_text() == "not apcal's\n" and (logs / "20200103_000000.log").is_symlink()
    assert (logs / "notes.txt").exists()
    runs = {p.name[:15] for p in logs.iterdir() if p.name[:1].isdigit() and not p.is_symlink()}
    assert len(runs) == 2  # keep_reports: 2


def test_prune_reports_counts_runs_not_files(tmp_path: Path) -> None:
    for stamp in ("20260101_000000", "20260102_000000", "20260103_000000"):
        for suffix in (".log", "_report.json", "_calibrate_masters.js"):
            (tmp_path / f"{stamp}{suffix}").write_text("x")
    (tmp_path / "previews").mkdir()
    removed = prune_reports(tmp_path, 1)
    assert sorted(p.name[:15] for p in removed) == ["20260101_000000"] * 3 + ["20260102_000000"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "20260103_000000.log",
        "20260103_000000_calibrate_masters.js",
        "20260103_000000_report.json",
        "previews",
    ]
