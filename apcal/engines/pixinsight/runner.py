"""Start PixInsight headless on a script, with a time limit, and read back the script's status lines.

PixInsight has no documented command line; the options below are those independent launchers use (see
/work/shared/pixinsight/NOTES.md, ``commandLine`` in process-parameters.json):

* ``--automation-mode``: no message boxes or other interaction; used by jewzaam/ap-create-master
  (``ap_create_master/calibrate_masters.py``: ``[binary, "--automation-mode", f"-n={instance_id}",
  f"-r={script}", "--force-exit"]``) and by other scripts' run instructions found in the code index
  (``<PI-exe> -n --automation-mode --force-exit -r=/abs/tests/gen-testdata.js``; an xvfb wrapper running
  ``PixInsight --new --automation-mode --force-exit -r="$script"``).
* ``-n=<slot>``: start a new instance in that slot, so a PixInsight the user has open is left alone
  (ap-create-master; JonathanMaccollum/PsXisfReader; jewzaam/astrophotography-data-scripts reads ``-n=``
  and ``--new=`` back from running instances).
* ``-r=<script>``: run the script after start-up. Items after a comma go to the script's ``jsArguments``,
  so a script path with a comma cannot be passed (the engine refuses such a path); values need ``=``,
  a space-separated value does not work (comment in ap-create-master).
* ``--force-exit``: quit once the ``-r`` scripts are done (ap-create-master, PsXisfReader).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from apcal.engines.pixinsight.capture import start_copier
from apcal.recipe.model import PixInsightSettings

DEFAULT_BINARY = "PixInsight"  # shown in script-only commands when no binary is configured
STATUS_PREFIX = "APCAL-STATUS"
_KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class RunOutcome(NamedTuple):
    returncode: int | None  # None when the process had to be killed
    timed_out: bool
    seconds: float


def pixinsight_command(settings: PixInsightSettings, script: Path) -> list[str]:
    """The argv that runs ``script`` in a new, unattended PixInsight instance."""
    binary = str(settings.binary) if settings.binary is not None else DEFAULT_BINARY
    command = [binary, "--automation-mode", f"-n={settings.instance_id}", f"-r={script}"]
    if settings.force_exit:
        command.append("--force-exit")
    return command


def run_pixinsight(command: Sequence[str], *, timeout: float, log_path: Path) -> RunOutcome:
    """Run ``command`` (no shell), appending its stdout and stderr to ``log_path`` as they come.

    PixInsight runs in a process group of its own; on timeout (or if we are interrupted) the whole group
    is terminated, then killed, and always reaped, so nothing is left running or as a zombie.
    """
    started = time.monotonic()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab", buffering=0) as log:  # O_APPEND: safe beside apcal's own log writes
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            **_new_group(),
        )
        assert process.stdout is not None
        copier = start_copier(process.stdout, log)  # head and tail only: never a 1 GB run log
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
            copier.join(timeout=_KILL_GRACE)  # a child PixInsight left may hold the pipe: not forever
            process.stdout.close()
    return RunOutcome(returncode=returncode, timed_out=timed_out, seconds=time.monotonic() - started)


def _new_group() -> dict[str, Any]:
    """PixInsight in a process group of its own (killed as a group) that dies with apcal on Linux."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    options: dict[str, Any] = {"start_new_session": True}
    if sys.platform.startswith("linux"):
        options["preexec_fn"] = _die_with_parent
    return options


def _die_with_parent() -> None:
    """In the child before exec: ask the kernel for SIGKILL when apcal dies (PR_SET_PDEATHSIG), so a
    SIGKILLed apcal leaves no PixInsight running against the next run; and if apcal is already gone
    (it died between fork and here), go too."""
    import ctypes

    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    if os.name == "nt":
        # taskkill /T ends the whole tree PixInsight started (Windows has no killpg).
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


def parse_status_lines(text: str, prefix: str = STATUS_PREFIX) -> dict[str, dict[str, Any]]:
    """The status records in ``text``, by job id (the last line per job wins); other lines are ignored."""
    statuses: dict[str, dict[str, Any]] = {}
    marker = prefix + " "
    for line in text.splitlines():
        at = line.find(marker)
        if at < 0:
            continue
        try:
            record = json.loads(line[at + len(marker) :])
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("job"), str):
            statuses[record["job"]] = record
    return statuses
