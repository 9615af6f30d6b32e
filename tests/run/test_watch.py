"""``apcal run --watch``: real file-system events (watchdog), a real process, Ctrl-C and --until."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from apcal.run.lock import LOCK_NAME
from apcal.run.watch import until_time, watch_folders

NIGHT = NightPlan(n_bias=3, dark_exposures=(), n_darks=0, filters=("L",), flat_exposures=(1.0,), n_flats=3)
RECIPE = (
    "apcal: 1\nname: w\ninputs: [{path: frames}]\noutput: {dir: out}\nheaders: {timezone: Europe/Berlin}\n"
)


def _read_until(stream, text: str, lines: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if line:
            lines.append(line.rstrip("\n"))
            if text in line:
                return
    raise AssertionError(f"{text!r} not seen in:\n" + "\n".join(lines))


def test_watch_builds_when_frames_stop_arriving_and_ends_on_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    process = subprocess.Popen(
        [sys.executable, "-m", "apcal", "run", "recipe.yaml", "--watch", "--settle", "0.03"],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    lines: list[str] = []
    try:
        assert process.stderr is not None
        _read_until(process.stderr, "watching ", lines)
        assert lines[0] == f"nothing to build: no files in {tmp_path / 'frames'}; waiting for frames"
        generate_night(tmp_path / "frames", CameraModel(rows=32, cols=48), NIGHT)
        _read_until(process.stderr, "done in ", lines)
        assert sum(line.startswith("built ") for line in lines) == 2
        assert len(list((tmp_path / "out" / "master").glob("master*"))) == 2
        time.sleep(4)  # longer than --settle: the run's own files in out/ must not start another run
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines += rest.splitlines()
    assert process.returncode == 0  # Ctrl-C between runs is the watch's normal end
    assert sum(line.startswith("apcal run of ") for line in lines) == 1, lines
    assert lines[-1].startswith("watch ended at ") and "Traceback" not in "\n".join(lines)
    assert (tmp_path / "out" / LOCK_NAME).read_text() == ""  # released


def test_watch_ends_at_its_stop_time_after_running_for_new_frames(tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    runs: list[float] = []

    def run() -> int:
        runs.append(time.monotonic())
        return 0

    def arrive() -> None:
        time.sleep(0.5)
        for index in range(3):
            (tmp_path / "frames" / f"flat_{index}.fits").write_bytes(b"x")
            time.sleep(0.2)
        (tmp_path / "frames" / "notes.txt").write_text("not a frame: no run for this\n")

    started = time.monotonic()
    writer = threading.Thread(target=arrive)
    writer.start()
    code = watch_folders(
        [tmp_path / "frames"],
        tmp_path / "out",
        run,
        settle=1.0,
        stop_at=datetime.now() + timedelta(seconds=5),
        poll=0.1,
    )
    writer.join()
    assert code == 0
    assert len(runs) == 2  # at start, and once after the three frames settled
    assert runs[1] - started >= 0.5 + 0.4 + 1.0
    assert 4.5 < time.monotonic() - started < 8


def test_until_is_the_next_such_local_time() -> None:
    now = datetime(2026, 12, 6, 22, 30)
    assert until_time("23:15", now) == datetime(2026, 12, 6, 23, 15)
    assert until_time("07:00", now) == datetime(2026, 12, 7, 7, 0)
