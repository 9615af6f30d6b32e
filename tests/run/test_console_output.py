"""What a run prints, as cron mails it and as a terminal shows it (issue: nightly runs that tell the truth).

Off a terminal: plain short lines, the compact plan, one line per finished job, every broken input file
named once, the warnings again at the end; errors that stop a run (the lock) before anything else. On a
terminal: rich's live display with the log printed through it, rendered into a fixed-width console and
on a real pseudo-terminal (tmux).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from apcal.cli.progress import run_display
from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from apcal.io.image import read_header
from apcal.recipe import load_recipe
from apcal.run.runner import run_recipe
from tests.cli.helpers import apcal
from tests.run.test_lock import hold_in_subprocess

CAMERA = CameraModel(rows=48, cols=64)
NIGHT = NightPlan(
    n_bias=5,
    dark_exposures=(),
    n_darks=0,
    filters=("Luminance-Long-Name", "R"),
    flat_exposures=(1.0, 2.0),
    n_flats=5,
)
RECIPE = """\
apcal: 1
name: nightly
inputs: [{path: frames}]
output: {dir: out}
headers: {timezone: Europe/Berlin}
library: {use_new_masters: true}
"""
BROKEN = {"empty.fits": "empty file", "truncated.fits": "truncated", "notes.fits": "not a readable FITS"}
BOX_DRAWING = re.compile("[\u2500-\u259f]")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


@pytest.fixture(scope="module")
def night_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("night")
    generate_night(folder / "frames", CAMERA, NIGHT)
    flats = folder / "frames" / "2026-11-23" / "FLAT"
    a_flat = sorted(flats.glob("*.fits"))[0]
    (flats / "empty.fits").write_bytes(b"")
    (flats / "truncated.fits").write_bytes(a_flat.read_bytes()[:5000])
    (flats / "notes.fits").write_text("not a frame\n")
    (folder / "recipe.yaml").write_text(RECIPE)
    return folder


@pytest.fixture
def night(tmp_path: Path, night_template: Path) -> Path:
    shutil.copytree(night_template, tmp_path / "n")
    return tmp_path / "n"


def test_off_a_terminal_a_night_is_a_few_plain_lines_naming_every_broken_file(night: Path) -> None:
    result = apcal("run", "recipe.yaml", cwd=night)
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    lines = text.splitlines()
    assert not BOX_DRAWING.search(text) and "\x1b" not in text
    assert len(lines) <= 16, text
    assert lines[0] == "apcal run of 'nightly': 3 masters (3 to build), native engine, into out"
    # The plan's lines fit a mail's 80 columns, a flat's masters included (its label gives way).
    planned = [line for line in lines if line.startswith("  build ")]
    assert len(planned) == 3 and all(len(line) <= 80 for line in planned), planned
    assert any(line.endswith("frames  with bias (run)") for line in planned), planned
    assert [line.split(":")[0].split()[:2] for line in lines if line.startswith("built ")] == [
        ["built", "bias"],
        ["built", "flat"],
        ["built", "flat"],
    ]
    for name, reason in BROKEN.items():
        named = [line for line in lines if name in line]
        assert len(named) == 1 and reason in named[0] and named[0].startswith("warning: skipped "), text
    assert sum(line.startswith("done in ") for line in lines) == 1
    done = next(i for i, line in enumerate(lines) if line.startswith("done in "))
    assert re.fullmatch(r"report: out/logs/\d{8}_\d{6}_report\.html", lines[done + 1]), lines[done + 1]
    assert lines[-2:] == ["3 warnings:", "  3 input files skipped (named above)"]
    # the long filter name is cut on the console, whole in the file names and the report
    assert "Luminance-Long-Name" not in text and "Luminance-Long-…" in text
    report = json.loads(next((night / "out" / "logs").glob("*_report.json")).read_text())
    assert any("Luminance-Long-Name" in g["output"] for g in report["groups"])
    # the run log holds the same lines, and the full paths
    log = next((night / "out" / "logs").glob("*.log")).read_text()
    assert all(line.removeprefix("warning: ").strip() in log for line in lines)


def test_a_run_alongside_another_says_locked_before_anything_else(night: Path) -> None:
    holder = hold_in_subprocess(night / "out")
    try:
        second = apcal("run", "recipe.yaml", cwd=night)
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 3
    assert second.stdout == ""
    assert second.stderr.splitlines() == [second.stderr.strip()]  # one line, no plan before it
    assert f"in use by pid {holder.pid}" in second.stderr


def test_a_terminal_display_prints_the_log_through_the_bars(night: Path, monkeypatch) -> None:
    monkeypatch.chdir(night)
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, force_terminal=True, color_system=None)
    with run_display(0, console) as bars:
        assert bars is not None
        outcome = run_recipe(load_recipe(night / "recipe.yaml"), progress=bars)
    assert outcome.exit_code == 0
    lines = [line for line in ANSI.sub("\n", buffer.getvalue()).splitlines() if line.strip()]
    finished = [line for line in lines if "built " in line]
    assert len(finished) == 3 and all(line.startswith("built ") for line in finished), lines  # none glued
    assert sum("done in " in line for line in lines) == 1
    assert sum(line.startswith("3 warnings:") for line in lines) == 1


def _screen_after(session: str, command: str, timeout: float = 120) -> str:
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "160",
            "-y",
            "50",
            f"{command}; echo EXIT=$?; sleep 60",
        ],
        check=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session, "-S", "-"], capture_output=True, text=True
            ).stdout
            if "EXIT=" in screen:
                return screen
            time.sleep(0.3)
        pytest.fail(f"no end of run within {timeout} s:\n{screen}")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_on_a_real_terminal_the_closing_lines_appear_once(night: Path) -> None:
    screen = _screen_after(
        f"apcal-test-{night.parent.name}", f"cd '{night}' && '{sys.executable}' -m apcal run recipe.yaml"
    )
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    assert "EXIT=0" in lines
    assert sum(line.startswith("done in ") for line in lines) == 1, screen
    assert sum(line == "3 warnings:" for line in lines) == 1, screen
    assert sum(line.startswith("built ") for line in lines) == 3, screen
    assert not any(" frames 0:0" in line or "/5 frames" in line for line in lines), screen  # bars are gone
    assert not re.search(r"\d:\d\d:\d\d\S", screen), screen  # nothing glued onto a bar's clock


def test_counts_after_screening_agree_in_the_log_the_report_and_ncombine(tmp_path: Path) -> None:
    from tests.plan.screening_nights import add_light_leak, small_night

    truth = small_night(tmp_path / "frames")
    add_light_leak(truth.files["bias"][3])
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    result = apcal("run", "recipe.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    n = len(truth.files["bias"])
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("built bias")]
    assert f": {n - 1} of {n} frames in " in line
    report = json.loads(next((tmp_path / "out" / "logs").glob("*_report.json")).read_text())
    (bias,) = [g for g in report["groups"] if g["type"] == "bias"]
    header = {k.name: k.value for k in read_header(Path(bias["output"])).keywords}
    assert header["NCOMBINE"] == n - 1
    html = next((tmp_path / "out" / "logs").glob("*_report.html")).read_text()
    assert f"{n - 1} of {n}" in html
