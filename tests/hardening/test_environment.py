"""The rest of the campaign: PixInsight dies with apcal and cannot flood the log; names with control
characters cannot forge log lines; messages never echo a secret or a non-recipe file; links to /etc,
FIFOs and /dev/zero among the frames are skipped without harm."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hardening.corpus import RECIPE, assert_same_masters, last_report, leftovers, run_apcal

FAKE_PIXINSIGHT = """\
import os, sys, time
mode = {mode!r}
if mode == "hang":
    open({pid_file!r}, "w").write(str(os.getpid()))
    time.sleep(3600)
if mode == "flood":
    line = "PixInsight says something, again and again " * 4 + "\\n"
    for _ in range(120_000):  # about 21 MB
        sys.stdout.write(line)
    sys.stdout.flush()
"""


def pixinsight_recipe(night: Path, mode: str) -> Path:
    """A recipe for the PixInsight engine whose 'PixInsight' is a small Python program of ``mode``."""
    binary = night / "bin" / "PixInsight"
    binary.parent.mkdir()
    pid_file = night / "pixinsight.pid"
    binary.write_text(f"#!{sys.executable}\n" + FAKE_PIXINSIGHT.format(mode=mode, pid_file=str(pid_file)))
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    (night / "recipe.yaml").write_text(
        RECIPE + f"engine: {{name: pixinsight, pixinsight: {{binary: {binary}, timeout: 600}}}}\n"
    )
    return pid_file


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its reaper is not)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_pixinsight_dies_when_apcal_is_killed(night: Path, clean) -> None:
    pid_file = pixinsight_recipe(night, "hang")
    apcal = subprocess.Popen(
        [sys.executable, "-m", "apcal", "run", "recipe.yaml"],
        cwd=night,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert apcal.poll() is None and time.monotonic() < deadline, "PixInsight never started"
        time.sleep(0.05)
    pixinsight = int(pid_file.read_text())
    assert running(pixinsight)
    apcal.send_signal(signal.SIGKILL)
    apcal.wait(timeout=30)
    deadline = time.monotonic() + 10
    while running(pixinsight) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(pixinsight), "PixInsight outlived a SIGKILLed apcal"
    again = run_apcal("run", "recipe.yaml", "--engine", "native", "-q", cwd=night)
    assert again.returncode == 0, again.stderr
    assert_same_masters(night, clean)


def test_a_flooding_pixinsight_leaves_a_log_of_head_and_tail(night: Path, clean) -> None:
    pixinsight_recipe(night, "flood")
    result = run_apcal("run", "recipe.yaml", cwd=night)
    assert result.returncode == 1, result.stderr  # it reported no job: every job failed
    log = Path(last_report(night)["log"])
    assert log.stat().st_size < 3 * 2**20
    text = log.read_text()
    assert re.search(r"\[\.\.\. \d+ bytes of PixInsight output left out \.\.\.\]", text)
    assert text.count("PixInsight says something") > 10_000  # the head and the tail are there
    assert leftovers(night) == []
    again = run_apcal("run", "recipe.yaml", "--engine", "native", "-q", cwd=night)
    assert again.returncode == 0, again.stderr
    assert_same_masters(night, clean)


def test_names_with_newlines_and_escapes_cannot_forge_log_lines(night: Path) -> None:
    flat = sorted((night / "frames").rglob("*_FLAT_*.fits"))[0]
    forged = flat.with_name("f\n2026-01-01 00:00:00 INFO    all good\x1b[2J.fits")
    flat.rename(forged)
    result = run_apcal("run", "recipe.yaml", "-v", cwd=night)
    assert result.returncode == 0, result.stderr
    log = Path(last_report(night)["log"]).read_text()
    assert "\x1b" not in log and "\x1b" not in result.stderr
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
    assert all(stamp.match(line) for line in log.splitlines() if not line.startswith(("  ", "|")))
    assert "f\\n2026-01-01 00:00:00 INFO    all good\\x1b[2J" in log
    assert not any(line.startswith("2026-01-01 00:00:00 INFO    all good") for line in log.splitlines())


def test_errors_never_echo_a_variables_value(night: Path) -> None:
    (night / "recipe.yaml").write_text(RECIPE + "engine: {threads: '${env:APCAL_SECRET}'}\n")
    result = run_apcal("run", "recipe.yaml", cwd=night, env={"APCAL_SECRET": "hunter2-s3cr3t"})
    assert result.returncode == 2
    assert "hunter2" not in result.stderr + result.stdout
    assert result.stderr.splitlines() == [
        "recipe.yaml:6:19: $.engine.threads: '${env:APCAL_SECRET}' (expanded) is not of type 'integer'"
    ]


@pytest.mark.parametrize("target", ["/etc/passwd", "secrets.yaml"])
def test_extends_of_a_file_that_is_not_a_recipe_never_shows_it(night: Path, target: str) -> None:
    (night / "secrets.yaml").write_text("root: '$6$saltsalt$hashhash'\ndb_password: hunter2\n")
    (night / "recipe.yaml").write_text(f"extends: {target}\n" + RECIPE)
    result = run_apcal("run", "recipe.yaml", cwd=night)
    assert result.returncode == 2
    assert "root" not in result.stderr and "hunter2" not in result.stderr and "$6$" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_links_to_etc_fifos_and_dev_zero_among_the_frames_are_skipped(night: Path, clean) -> None:
    frames = night / "frames"
    (frames / "passwd.fits").symlink_to("/etc/passwd")
    (frames / "etc").symlink_to("/etc", target_is_directory=True)
    (frames / "zero.fits").symlink_to("/dev/zero")
    os.mkfifo(frames / "pipe.fits")
    os.mkfifo(frames / "pipe_target")
    (frames / "linked_pipe.fits").symlink_to(frames / "pipe_target")
    passwd = os.stat("/etc/passwd")
    result = run_apcal("run", "recipe.yaml", "-q", cwd=night, timeout=300)
    assert result.returncode == 0, result.stderr
    reasons = {Path(s["path"]).name: s["reason"] for s in last_report(night)["skipped_files"]}
    assert "no SIMPLE card" in reasons["passwd.fits"]
    not_a_file = "symbolic link to something that is not a file"
    assert reasons["zero.fits"] == reasons["linked_pipe.fits"] == not_a_file
    assert os.stat("/etc/passwd").st_mtime_ns == passwd.st_mtime_ns
    assert_same_masters(night, clean)
