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

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from apcal.engines.process import RunOutcome, run_logged
from apcal.recipe.model import PixInsightSettings

DEFAULT_BINARY = "PixInsight"  # shown in script-only commands when no binary is configured
STATUS_PREFIX = "APCAL-STATUS"

__all__ = ["RunOutcome", "parse_status_lines", "pixinsight_command", "run_pixinsight"]


def pixinsight_command(settings: PixInsightSettings, script: Path) -> list[str]:
    """The argv that runs ``script`` in a new, unattended PixInsight instance."""
    binary = str(settings.binary) if settings.binary is not None else DEFAULT_BINARY
    command = [binary, "--automation-mode", f"-n={settings.instance_id}", f"-r={script}"]
    if settings.force_exit:
        command.append("--force-exit")
    return command


def run_pixinsight(command: Sequence[str], *, timeout: float, log_path: Path) -> RunOutcome:
    """Run ``command`` with :func:`apcal.engines.process.run_logged` (no shell, time limit, output
    into ``log_path``, the process group killed on timeout)."""
    return run_logged(command, timeout=timeout, log_path=log_path, label="PixInsight")


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
