"""Faults during a run: PixInsight crashing, hanging or lying; the run killed mid-write; the file-size limit;
two runs at once. Each leaves a clear message, its exit code, no partial file and a free lock; then
``apcal run`` again on the same folder completes and its masters equal a clean run's.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hardening.corpus import RECIPE, ROOT, assert_same_masters, last_report, leftovers, run_apcal

PIXINSIGHT_TESTS = ROOT / "tests" / "engines" / "pixinsight"

# Runs apcal with the first master's write stopped half-way: the temporary file holds half the master
# when the marker file appears, and the process then waits to be killed.
STALLING_APCAL = """\
import os, sys, time
from pathlib import Path
from apcal.io.image import FORMATS

real = FORMATS["xisf"].write

def stalled(path, data, keywords):
    real(path, data, keywords)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    Path(os.environ["APCAL_TEST_MARK"]).write_text(str(path))
    time.sleep(120)

FORMATS["xisf"] = FORMATS["xisf"]._replace(write=stalled)
from apcal.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def assert_lock_free(night: Path) -> None:
    lock = night / "out" / ".apcal.lock"
    assert not lock.exists() or lock.read_text() == ""


def assert_rerun_completes(night: Path, clean, *args: str) -> subprocess.CompletedProcess[str]:
    again = run_apcal("run", "recipe.yaml", *args, cwd=night)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    assert_same_masters(night, clean)
    assert leftovers(night) == []
    assert_lock_free(night)
    return again


# --- PixInsight -------------------------------------------------------------------------------------------


@pytest.fixture
def fake_pixinsight(night: Path) -> Path:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (Node.js) is not installed: the PixInsight stand-in runs scripts under Node")
    binary = night / "bin" / "PixInsight"
    binary.parent.mkdir()
    binary.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(PIXINSIGHT_TESTS)!r})\n"
        "import fake_pixinsight\nsys.exit(fake_pixinsight.main(sys.argv))\n",
        encoding="utf-8",
    )
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    (night / "recipe.yaml").write_text(
        RECIPE + f"engine: {{name: pixinsight, pixinsight: {{binary: {binary}, timeout: 3}}}}\n"
    )
    return binary


def pixinsight_env(night: Path, mode: str) -> dict[str, str]:
    return {
        "APCAL_FAKE_PI_DIR": str(night / "fake-pi"),
        "APCAL_FAKE_PI_NODE": shutil.which("node") or "node",
        "APCAL_FAKE_PI_STANDIN": str(PIXINSIGHT_TESTS / "pjsr_standin.js"),
        "APCAL_FAKE_PI_MODE": mode,
    }


PIXINSIGHT_FAULTS = {
    "crash": "PixInsight exited with code 3",
    "hang": "PixInsight timed out after 3 s",
    "silent": "PixInsight exited without reporting on this job (see the run log)",
    "lost-output": "PixInsight reported ok but {output} was not written",
}


@pytest.mark.parametrize("mode", sorted(PIXINSIGHT_FAULTS))
def test_a_failing_pixinsight_fails_every_job_clearly(
    night: Path, fake_pixinsight: Path, clean, mode: str
) -> None:
    started = time.monotonic()
    result = run_apcal("run", "recipe.yaml", cwd=night, env=pixinsight_env(night, mode))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 30
    report = last_report(night)
    assert report["summary"] == {"failed": 3}
    for group in report["groups"]:
        assert group["message"] == PIXINSIGHT_FAULTS[mode].format(output=group["output"])
        assert f": {group['message']}" in result.stderr
    failed_lines = [line for line in result.stderr.splitlines() if line.startswith("error: failed ")]
    assert len(failed_lines) == len(report["groups"])  # one line per job as it ends
    assert not any((night / "out" / "master").glob("master*"))
    assert leftovers(night) == []
    assert_lock_free(night)
    assert_rerun_completes(night, clean, "--engine", "native")


# --- killed in the middle of writing a master ------------------------------------------------------------


def start_stalled_run(night: Path) -> tuple[subprocess.Popen[str], Path]:
    """``apcal run`` stopped half-way through writing its first master; returns it and the temp file."""
    mark = night / "writing"
    process = subprocess.Popen(
        [sys.executable, "-c", STALLING_APCAL, "run", "recipe.yaml"],
        cwd=night,
        env={**os.environ, "APCAL_TEST_MARK": str(mark)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not mark.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate()
            pytest.fail(f"the stalled run never reached its first write:\n{err}")
        time.sleep(0.05)
    return process, Path(mark.read_text())


def test_sigterm_mid_write_unwinds_and_exits_143(night: Path, clean) -> None:
    process, partial = start_stalled_run(night)
    assert partial.is_file() and ".part" in partial.name
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 143, err
    assert err.splitlines()[-1] == (
        "apcal: terminated (SIGTERM); nothing half-written is left, a rerun completes"
    )
    assert "Traceback" not in err
    assert "run terminated (SIGTERM) after 0 of 3 jobs" in err
    assert not partial.exists()
    assert leftovers(night) == []
    assert not any((night / "out" / "master").glob("master*"))
    assert_lock_free(night)
    assert_rerun_completes(night, clean)


def test_sigkill_mid_write_leaves_a_temp_file_the_next_run_removes(night: Path, clean) -> None:
    process, partial = start_stalled_run(night)
    process.kill()
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    # SIGKILL cannot be caught: the temporary file stays, but never under a master's name
    assert leftovers(night) == [str(partial.relative_to(night / "out"))]
    assert not any((night / "out" / "master").glob("master*"))
    assert str(process.pid) in (night / "out" / ".apcal.lock").read_text()  # stale, not held
    again = assert_rerun_completes(night, clean)
    assert f"took over the lock left by pid {process.pid}" in again.stderr
    log = Path(last_report(night)["log"]).read_text(encoding="utf-8")
    assert f"removed {partial}, a temporary file left by a run that was killed" in log


def test_two_runs_at_once_the_second_exits_3(night: Path, clean) -> None:
    holder, _ = start_stalled_run(night)
    try:
        second = run_apcal("run", "recipe.yaml", cwd=night)
        assert second.returncode == 3
        assert second.stderr.splitlines()[-1].startswith(
            f"apcal: {night / 'out'} is in use by pid {holder.pid} on "
        )
        assert "Traceback" not in second.stderr
        assert not (night / "out" / "logs").exists() or not any((night / "out" / "logs").glob("*.json"))
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.communicate(timeout=30)
    assert_rerun_completes(night, clean)


# --- the file-size limit ------------------------------------------------------------------------------------


def test_the_file_size_limit_fails_jobs_clearly_and_leaves_no_partial_file(night: Path, clean) -> None:
    limit = 8192  # below a master (10240 bytes): every write of a master, and of the report, fails

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = run_apcal("run", "recipe.yaml", cwd=night, preexec_fn=limited)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "Logging error" not in result.stderr
    lines = result.stderr.splitlines()
    assert any("failed bias " in line and "cannot write: [Errno 27] File too large" in line for line in lines)
    assert any("could not write the report" in line and "File too large" in line for line in lines)
    assert not any((night / "out" / "master").rglob("master*"))
    assert leftovers(night) == []
    assert not list((night / "out" / "logs").glob("*_report.json"))
    for path in (night / "out").rglob("*"):
        assert not path.is_file() or path.stat().st_size <= limit
    assert_lock_free(night)
    assert_rerun_completes(night, clean)
    json.loads((sorted((night / "out" / "logs").glob("*_report.json"))[-1]).read_text())
