"""The output folder's lock, between real processes: held, refused with the holder named, released by
the kernel when the holder dies (even by SIGKILL), then taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apcal.errors import LockedError
from apcal.run.lock import LOCK_NAME, output_lock

HOLD = """
import sys, time
from pathlib import Path
from apcal.run.lock import output_lock
with output_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def hold_in_subprocess(folder: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    proc.stdout.close()
    return proc


def test_second_holder_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    proc = hold_in_subprocess(tmp_path)
    try:
        with (
            pytest.raises(LockedError, match=rf"in use by pid {proc.pid} on .*, started ") as info,
            output_lock(tmp_path),
        ):
            pass
        assert info.value.exit_code == 3
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_lock_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    proc = hold_in_subprocess(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == proc.pid  # the dead run's record
    with output_lock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert (tmp_path / LOCK_NAME).read_text() == ""  # a clean end leaves no holder behind


def test_lock_is_released_after_the_block_and_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), output_lock(tmp_path):
        raise RuntimeError("boom")
    t0 = time.monotonic()
    with output_lock(tmp_path):
        pass
    assert time.monotonic() - t0 < 1
