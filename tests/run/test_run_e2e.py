"""``apcal run`` end to end with the native engine on generated nights, as cron would run it."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from apcal.io.image import read_header
from tests.cli.helpers import apcal

ROOT = Path(__file__).resolve().parents[2]
CAMERA = CameraModel(rows=48, cols=64)
NIGHT = NightPlan(
    n_bias=5, dark_exposures=(10.0, 30.0), n_darks=5, filters=("L", "R"), flat_exposures=(1.0, 2.0), n_flats=5
)
RECIPE = """\
apcal: 1
name: e2e
inputs: [{path: frames}]
output: {dir: out}
headers: {timezone: Europe/Berlin}
"""


@pytest.fixture(scope="module")
def night_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("night")
    generate_night(folder / "frames", CAMERA, NIGHT)
    (folder / "recipe.yaml").write_text(RECIPE)
    return folder


@pytest.fixture
def night(tmp_path: Path, night_template: Path) -> Path:
    shutil.copytree(night_template, tmp_path / "n")
    return tmp_path / "n"


def report(folder: Path) -> dict:
    (path,) = sorted((folder / "out" / "logs").glob("*_report.json"))[-1:]
    data = json.loads(path.read_text())
    schema = json.loads((ROOT / "schemas" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(data)
    return data


def test_one_run_builds_everything_then_nothing_then_only_what_changed(night: Path) -> None:
    first = apcal("run", "recipe.yaml", cwd=night)
    assert first.returncode == 0, first.stderr
    data = report(night)
    assert data["summary"] == {"built": 5}
    masters = sorted(p.name.split("_")[0] for p in (night / "out" / "master").glob("*.xisf"))
    assert masters == ["masterBias", "masterDark", "masterDark", "masterFlat", "masterFlat"]
    flats = [g for g in data["groups"] if g["type"] == "flat"]
    for flat in flats:
        assert flat["calibration"]["bias"]["source"] == "run"
        assert flat["calibration"]["dark"]["source"] == "run"
        assert flat["calibration"]["dark"]["exposure"] == 10.0  # shortest dark longer than 1-2 s flats
        assert len(flat["calibrated"]) == 5 and all(Path(p).is_file() for p in flat["calibrated"])
        assert set(flat["dark_scales"]) == {Path(p).name for p in flat["group"]["frames"]}
    for group in data["groups"]:
        assert group["stats"]["median"] > 0
        header = {k.name: k.value for k in read_header(Path(group["output"])).keywords}
        assert header["APCALHSH"] == group["hash"]

    time.sleep(0.05)
    second = apcal("run", "recipe.yaml", cwd=night)
    assert second.returncode == 0, second.stderr
    assert report(night)["summary"] == {"up_to_date": 5}

    dark = sorted((night / "frames").rglob("*DARK_30.00s_0001.fits"))[0]
    st = dark.stat()
    os.utime(dark, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    third = apcal("run", "recipe.yaml", cwd=night)
    assert third.returncode == 0, third.stderr
    rebuilt = sorted(
        g["id"].split("/")[0] + ("30" if "EXPOSURE_30" in g["id"] else "")
        for g in report(night)["groups"]
        if g["status"] == "built"
    )
    # the 30 s dark group only: the flats use the 10 s dark, so they stay up to date
    assert rebuilt == ["dark30"]

    ten = sorted((night / "frames").rglob("*DARK_10.00s_0001.fits"))[0]
    st = ten.stat()
    os.utime(ten, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    fourth = apcal("run", "recipe.yaml", cwd=night)
    assert fourth.returncode == 0
    rebuilt = sorted(g["type"] for g in report(night)["groups"] if g["status"] == "built")
    assert rebuilt == ["dark", "flat", "flat"]  # the 10 s dark and both flats it calibrates


def test_force_rebuilds_and_dry_run_builds_nothing(night: Path) -> None:
    dry = apcal("run", "recipe.yaml", "--dry-run", cwd=night)
    assert dry.returncode == 0 and not (night / "out").exists()
    assert "build" in dry.stderr and dry.stdout == ""
    assert apcal("run", "recipe.yaml", "--only", "bias", cwd=night).returncode == 0
    assert [p.name.split("_")[0] for p in (night / "out" / "master").glob("*.xisf")] == ["masterBias"]
    assert report(night)["summary"] == {"built": 1, "not_run": 4}
    forced = apcal("run", "recipe.yaml", "--force", cwd=night)
    assert forced.returncode == 0 and report(night)["summary"] == {"built": 5}


def test_a_second_run_on_the_same_output_exits_3_naming_the_holder(night: Path) -> None:
    # A stand-in PixInsight that just sleeps keeps the first run (and its lock) busy.
    binary = night / "PixInsight"
    binary.write_text("#!/bin/sh\nsleep 30\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    (night / "slow.yaml").write_text(
        RECIPE + f"engine: {{name: pixinsight, pixinsight: {{binary: {binary}, timeout: 20}}}}\n"
    )
    first = subprocess.Popen(
        [sys.executable, "-m", "apcal", "run", "slow.yaml"],
        cwd=night,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        lock = night / "out" / ".apcal.lock"
        deadline = time.monotonic() + 60
        while not (lock.is_file() and str(first.pid) in lock.read_text()):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        second = apcal("run", "recipe.yaml", cwd=night)
        assert second.returncode == 3
        assert f"in use by pid {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.kill()
        first.wait()


def test_seed_command_script_only_writes_the_seed_layout(night: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from apcal.cli.calibrate_cmd import seed_main; sys.exit(seed_main())",
            "frames",
            "OUT",
            "--script-only",
            "--instance-id",
            "42",
        ],
        cwd=night,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    logs = sorted(p.name for p in (night / "OUT" / "logs").iterdir())
    stamps = {name[:15] for name in logs}
    assert len(stamps) == 1
    (stamp,) = stamps
    assert logs == [
        f"{stamp}.log",
        f"{stamp}_calibrate_masters.js",
        f"{stamp}_report.html",
        f"{stamp}_report.json",
    ]
    assert "-n=42" in (night / "OUT" / "logs" / f"{stamp}.log").read_text()
    assert not (night / "OUT" / "master").exists() or not any((night / "OUT" / "master").rglob("*.xisf"))
