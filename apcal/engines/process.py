"""Run an engine's external program (PixInsight, Siril) unattended: no shell, a time limit, output into
the run log, and nothing left running.

The program runs in a process group of its own that dies with apcal on Linux (``PR_SET_PDEATHSIG``), so a
SIGKILLed apcal leaves nothing running against the next run; on timeout, or when apcal is interrupted,
the whole group is terminated, then killed, and always reaped. What it prints goes to the run log as it
comes, head and tail only (:mod:`apcal.engines.capture`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from apcal.engines.capture import start_copier

_KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class RunOutcome(NamedTuple):
    returncode: int | None  # None when the process had to be killed
    timed_out: bool
    seconds: float


def run_logged(
    command: Sequence[str], *, timeout: float, log_path: Path, label: str, cwd: Path | None = None
) -> RunOutcome:
    """Run ``command`` (no shell) in ``cwd``, appending its stdout and stderr to ``log_path`` as they come
    (``label`` names the program where output is cut)."""
    started = time.monotonic()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab", buffering=0) as log:  # O_APPEND: safe beside apcal's own log writes
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            **_new_group(),
        )
        assert process.stdout is not None
        copier = start_copier(process.stdout, log, label)  # head and tail only: never a 1 GB run log
        try:
            returncode: int | None = process.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(process)
            returncode, timed_out = None, True
        except BaseException:
            _kill_group(process)
            raise
        finally:
            copier.join(timeout=_KILL_GRACE)  # a child the program left may hold the pipe: not forever
            process.stdout.close()
    return RunOutcome(returncode=returncode, timed_out=timed_out, seconds=time.monotonic() - started)


def _new_group() -> dict[str, Any]:
    """The program in a process group of its own (killed as a group) that dies with apcal on Linux."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    options: dict[str, Any] = {"start_new_session": True}
    if sys.platform.startswith("linux"):
        options["preexec_fn"] = _die_with_parent
    return options


def _die_with_parent() -> None:
    """In the child before exec: ask the kernel for SIGKILL when apcal dies (PR_SET_PDEATHSIG), so a
    SIGKILLed apcal leaves no program running against the next run; and if apcal is already gone
    (it died between fork and here), go too."""
    import ctypes

    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    if os.name == "nt":
        # taskkill /T ends the whole tree the program started (Windows has no killpg).
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True, check=False)
        process.kill()
        process.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)  # the pid is the group id: start_new_session made it leader
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_KILL_GRACE)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is still there, leader or not
    process.wait()
