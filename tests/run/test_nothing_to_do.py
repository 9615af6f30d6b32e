"""A run that would build nothing says why in one line and exits 2, never "0 jobs ... done" and 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from tests.cli.helpers import apcal

NIGHT = NightPlan(n_bias=3, dark_exposures=(), n_darks=0, filters=("L",), flat_exposures=(1.0,), n_flats=3)


def _jpeg(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "M31.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    (folder / "session.txt").write_text("guiding log\n")


def _broken(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "empty.fits").write_bytes(b"")
    (folder / "text.fits").write_text("SIMPLE? no\n")


CASES = {
    "jpegs and text only": (_jpeg, "no usable calibration frame in", "2 not frames"),
    "an empty folder": (lambda f: f.mkdir(parents=True), "no files in", ""),
    "every file unreadable": (_broken, "no usable calibration frame in", "2 unreadable"),
}


def _recipe(folder: Path, inputs: str, output: str) -> Path:
    path = folder / "recipe.yaml"
    path.write_text(f"apcal: 1\nname: t\ninputs: [{{path: {inputs}}}]\noutput: {{dir: {output}}}\n")
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_run_with_no_usable_frame_exits_2_with_one_line(tmp_path: Path, case: str) -> None:
    make, reason, detail = CASES[case]
    make(tmp_path / "frames")
    _recipe(tmp_path, "frames", "out")
    for args in (("run", "recipe.yaml"), ("run", "recipe.yaml", "--dry-run")):
        result = apcal(*args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"apcal: nothing to build: {reason} ") and detail in line
        assert result.stdout == ""
        assert not (tmp_path / "out").exists()  # no lock, no log, no report


def test_an_output_folder_that_is_the_input_folder_exits_2_with_one_line(tmp_path: Path) -> None:
    generate_night(tmp_path / "frames", CameraModel(rows=32, cols=48), NIGHT)
    _recipe(tmp_path, "frames", "frames")
    before = sorted(p for p in (tmp_path / "frames").rglob("*"))
    result = apcal("run", "recipe.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()  # this branch's rule, or the data-safety path rule: one line
    assert "output" in line and "Traceback" not in line
    assert sorted(p for p in (tmp_path / "frames").rglob("*")) == before  # nothing written


def test_plan_files_lists_files_that_are_not_frames(tmp_path: Path) -> None:
    generate_night(tmp_path / "frames", CameraModel(rows=32, cols=48), NIGHT)
    _jpeg(tmp_path / "frames" / "extras")
    _recipe(tmp_path, "frames", "out")
    listed = apcal("plan", "recipe.yaml", "--files", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "M31.jpg" in listed.stdout and "not a frame file (.jpg)" in listed.stdout
    assert "session.txt" in listed.stdout and "not a frame file (.txt)" in listed.stdout
    # a run counts them in one line instead of naming each; its own logs and reports, in an output
    # folder inside the input folder here, are never counted
    _recipe(tmp_path, "frames", "frames/apcal-out")
    for _ in range(2):
        run = apcal("run", "recipe.yaml", cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        assert "2 other files not used (2 not frames; `apcal plan --files` lists them)" in run.stderr
