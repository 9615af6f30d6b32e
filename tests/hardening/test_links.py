"""Planted symbolic links never steer a write, truncation or deletion outside the output folder.

Cron runs apcal as root: a link planted as ``.apcal.lock``, ``logs/``, ``master/`` or a stale-looking
``.part`` file must not make a run truncate or delete anything it points to. Each case snapshots a folder
outside the output, runs apcal, and compares; then removes the link and checks a rerun's masters equal a
clean run's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.hardening.corpus import assert_same_masters, leftovers, run_apcal
from tests.hardening.safety import snapshot


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the night that apcal must never change: a file, a stale-looking temporary, a
    master-looking file."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (folder / ".masterBias_x.xisf.0123abcd.part.xisf").write_text("not apcal's\n")
    (folder / "keep.xisf.apcal-partial.xisf").write_text("not apcal's either\n")
    (folder / "20260101_000000.log").write_text("someone's log\n")
    return folder


def test_links_planted_as_lock_and_logs_change_nothing_outside(night: Path, outside: Path, clean) -> None:
    out = night / "out"
    out.mkdir()
    (out / ".apcal.lock").symlink_to(outside / "passwd")
    (out / "logs").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    result = run_apcal("run", "recipe.yaml", cwd=night)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"apcal: lock file {out / '.apcal.lock'} is a symbolic link (refused: remove it)"
    ]
    assert snapshot(outside) == before
    (out / ".apcal.lock").unlink()
    second = run_apcal("run", "recipe.yaml", cwd=night)
    assert second.returncode == 2, second.stderr
    assert second.stderr.splitlines() == [
        f"apcal: {out / 'logs'} is a symbolic link (refused: apcal writes only inside {out}; remove the link)"
    ]
    assert snapshot(outside) == before
    assert not (out / "master").exists()
    (out / "logs").unlink()
    assert run_apcal("run", "recipe.yaml", "-q", cwd=night).returncode == 0
    assert_same_masters(night, clean)
    assert snapshot(outside) == before


def test_a_linked_master_folder_is_refused_and_never_cleaned(night: Path, outside: Path) -> None:
    out = night / "out"
    out.mkdir()
    (out / "master").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    result = run_apcal("run", "recipe.yaml", cwd=night)
    assert result.returncode == 2, result.stderr
    assert "master is a symbolic link (refused" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(outside) == before


def test_a_linked_calibrated_folder_is_refused(night: Path, outside: Path) -> None:
    calibrated = night / "out" / "calibrated"
    calibrated.parent.mkdir(parents=True)
    calibrated.symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    result = run_apcal("run", "recipe.yaml", cwd=night)
    assert result.returncode == 2, result.stderr
    assert f"apcal: {calibrated} is a symbolic link (refused" in result.stderr
    assert snapshot(outside) == before


def test_clean_up_removes_only_regular_temporaries_of_its_own(night: Path, outside: Path, clean) -> None:
    """Inside a real master/ folder: a link named like a temporary (to a file outside), a link to a folder
    of temporaries, and a FIFO named like one are left alone; a real stale temporary is removed."""
    master = night / "out" / "master"
    (master / "calibrated").mkdir(parents=True)
    (master / ".masterDark_y.xisf.89abcdef.part.xisf").symlink_to(outside / "passwd")
    (master / "calibrated" / "elsewhere").symlink_to(outside, target_is_directory=True)
    os.mkfifo(master / ".masterFlat_z.xisf.00112233.part.xisf")
    stale = master / ".masterBias_w.xisf.deadbeef.part.xisf"
    stale.write_bytes(b"half a master")
    before = snapshot(outside)
    result = run_apcal("run", "recipe.yaml", "-q", cwd=night)
    assert result.returncode == 0, result.stderr
    assert snapshot(outside) == before
    assert not stale.exists()
    assert (master / ".masterDark_y.xisf.89abcdef.part.xisf").is_symlink()
    assert (master / ".masterFlat_z.xisf.00112233.part.xisf").exists()
    assert_same_masters(night, clean)


def test_a_fifo_planted_as_the_lock_is_refused_without_blocking(night: Path) -> None:
    out = night / "out"
    out.mkdir()
    os.mkfifo(out / ".apcal.lock")
    result = run_apcal("run", "recipe.yaml", cwd=night, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"apcal: lock file {out / '.apcal.lock'} is not a regular file (refused: remove it)"
    ]


def test_a_planted_master_link_is_replaced_not_written_through(night: Path, outside: Path, clean) -> None:
    """A link planted under a master's own name: the master replaces the link (rename never follows it)."""
    first = run_apcal("plan", "recipe.yaml", "--json", cwd=night)
    assert first.returncode == 0
    output = Path(json.loads(first.stdout)["jobs"][0]["output"])
    output.parent.mkdir(parents=True)
    output.symlink_to(outside / "passwd")
    before = snapshot(outside)
    assert run_apcal("run", "recipe.yaml", "-q", cwd=night).returncode == 0
    assert snapshot(outside) == before
    assert not output.is_symlink()
    assert_same_masters(night, clean)
    assert leftovers(night) == []
