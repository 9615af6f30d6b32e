"""Output folders apcal must refuse, or must recognise however they are reached; and errors from the
environment (a full disk, /proc, an unmounted disk behind a link): one line, exit 1 or 2, never 70."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hardening.corpus import RECIPE, ROOT, assert_same_masters, last_report, run_apcal
from tests.hardening.safety import card, snapshot, unshare_available


def set_output(night: Path, folder: str) -> None:
    (night / "recipe.yaml").write_text(RECIPE.replace("dir: out", f"dir: '{folder}'"), encoding="utf-8")


def refused(night: Path, **popen) -> str:
    """Run; assert exit 2, one line on stderr, nothing on stdout; return the line."""
    result = run_apcal("run", "recipe.yaml", cwd=night, **popen)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def test_an_output_of_root_is_refused_and_nothing_is_written_there(night: Path) -> None:
    set_output(night, "/")
    lock_before, logs_before = os.path.lexists("/.apcal.lock"), os.path.lexists("/logs")
    assert refused(night) == "recipe.yaml:4:15: $.output.dir: / is the root folder (refused)"
    assert os.path.lexists("/.apcal.lock") == lock_before
    assert os.path.lexists("/logs") == logs_before


def test_the_home_folder_itself_is_refused(night: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    set_output(night, "~")
    before = snapshot(home)
    line = refused(night, env={"HOME": str(home)})
    assert line == f"recipe.yaml:4:15: $.output.dir: {home} is the home folder itself (refused)"
    assert snapshot(home) == before


def test_the_input_folder_is_refused(night: Path) -> None:
    set_output(night, "frames")
    before = snapshot(night / "frames")
    line = refused(night)
    assert line == (
        f"recipe.yaml:4:15: $.output.dir: {night / 'frames'} is the input folder inputs[0].path "
        "(refused: use a folder of its own)"
    )
    assert snapshot(night / "frames") == before


def test_an_output_containing_the_input_is_refused(night: Path) -> None:
    set_output(night, ".")
    line = refused(night)
    expected = f"recipe.yaml:4:15: $.output.dir: {night} contains the input folder inputs[0].path "
    assert line.startswith(expected)
    assert not (night / "logs").exists() and not (night / "master").exists()


def test_the_input_reached_through_a_link_is_refused(night: Path) -> None:
    (night / "alias").symlink_to(night / "frames", target_is_directory=True)
    set_output(night, "alias")
    assert "is the input folder inputs[0].path" in refused(night)


def test_an_output_behind_a_dangling_link_is_refused_not_created(night: Path, tmp_path: Path) -> None:
    nas = tmp_path / "nas" / "calibration"  # an unmounted disk: its mount point's folder is missing
    (night / "out").symlink_to(nas, target_is_directory=True)
    line = refused(night)
    assert line == (
        f"recipe.yaml:4:15: $.output.dir: {night / 'out'} is a symbolic link to {nas}, which does not exist "
        "(an unmounted disk?)"
    )
    assert not nas.exists() and not nas.parent.exists()


def test_an_output_under_proc_is_one_line_not_an_internal_error(night: Path) -> None:
    set_output(night, "/proc/apcal-out")
    result = run_apcal("run", "recipe.yaml", cwd=night)
    assert result.returncode in (1, 2), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert "/proc/apcal-out" in result.stderr


def test_an_output_linked_into_the_input_does_not_grow_on_reruns(night: Path, clean) -> None:
    """out -> frames/calibration: the calibrated flats land inside the input folder; they must never be
    read back as raw flats (the group grew 4 -> 8 -> 12 when paths were compared unresolved)."""
    (night / "frames" / "calibration").mkdir()
    (night / "out").symlink_to(night / "frames" / "calibration", target_is_directory=True)
    for run in range(3):
        result = run_apcal("run", "recipe.yaml", "--force", "-q", cwd=night)
        assert result.returncode == 0, result.stderr
        report = last_report(night)
        flat = next(g for g in report["groups"] if g["id"].startswith("flat/"))
        assert card(Path(flat["output"]), "NCOMBINE") == 4, f"run {run + 1}"
        calibrated = list((night / "frames" / "calibration" / "calibrated").rglob("*.xisf"))
        assert len(calibrated) == 4
    assert_same_masters(night, clean)


@pytest.mark.skipif(not unshare_available(), reason="needs root and unshare -m to mount a small tmpfs")
@pytest.mark.parametrize("size", ["full", "4k", "64k"])
def test_a_full_disk_is_one_line_and_a_rerun_on_space_completes(night: Path, clean, size: str) -> None:
    """The output on a real tmpfs (a private mount namespace): already full (the lock cannot be written:
    exit 2), 4k (the log and masters fail: exit 1), 64k (fills mid-run: exit 1). One line per problem,
    never an internal error, nothing half-written; a rerun with space completes."""
    disk = night / "out"
    disk.mkdir()
    fill = f"dd if=/dev/zero of={disk}/filler bs=4k count=64 2>/dev/null; " if size == "full" else ""
    script = (
        f"mount -t tmpfs -o size={'16k' if size == 'full' else size} tmpfs {disk} && {fill}cd {night} && "
        f"exec {sys.executable} -m apcal run recipe.yaml -q"
    )
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == (2 if size == "full" else 1), result.stderr
    assert "No space left on device" in result.stderr
    if size == "full":
        assert result.stderr.splitlines() == [
            f"apcal: cannot write the lock file {disk / '.apcal.lock'}: No space left on device"
        ]
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert list(disk.iterdir()) == []  # the tmpfs went with its namespace
    assert run_apcal("run", "recipe.yaml", "-q", cwd=night).returncode == 0
    assert_same_masters(night, clean)
