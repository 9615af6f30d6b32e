"""``output.keep_reports``: a nightly run keeps the logs and reports of its last N runs, not every one.

Every run writes ``<stamp>.log``, ``<stamp>_report.json`` and ``<stamp>_report.html`` (and, with the
PixInsight engine, ``<stamp>_*`` scripts) into the logs folder; run nightly for a year that is a thousand
files. At the end of a run, files of runs older than the newest ``keep`` are deleted. Only regular files
directly in the logs folder whose names start with a run stamp are candidates: a symbolic link, a folder
(``previews/``) or a file apcal did not name is never touched.
"""

from __future__ import annotations

import contextlib
import re
import stat
from pathlib import Path

_STAMPED = re.compile(r"^(\d{8}_\d{6})(?:\.log|_.+)$")


def prune_reports(logs_dir: Path, keep: int) -> list[Path]:
    """Delete the files of all but the newest ``keep`` runs in ``logs_dir``; returns the files deleted."""
    runs: dict[str, list[Path]] = {}
    try:
        entries = list(logs_dir.iterdir())
    except OSError:
        return []
    for path in entries:
        match = _STAMPED.match(path.name)
        if match is None:
            continue
        with contextlib.suppress(OSError):
            if stat.S_ISREG(path.lstat().st_mode):
                runs.setdefault(match.group(1), []).append(path)
    removed = []
    for stamp in sorted(runs)[: max(len(runs) - keep, 0)]:
        for path in sorted(runs[stamp]):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed
