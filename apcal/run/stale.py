"""Temporary files a killed run left in the output folder, found and removed by the next run.

A run ended by SIGTERM or Ctrl-C removes its own temporary files as it unwinds; one ended by SIGKILL, a
power cut or the OOM killer cannot. What it leaves is never mistaken for a master (the names are hidden
or tagged), but it takes space and confuses people, so the next run, once it holds the output folder's
lock (no other run can be writing them), removes them and says so in its log. Only names apcal itself
writes are matched:

:func:`apcal.io.temporary_names.is_temporary`, beside the functions that make those names (atomic
writes' ``.<name>.<hex>.part<ext>``, the PixInsight engine's ``.apcal-partial`` masters and ``.tmp``
captures and scripts), and the Siril engine's ``logs/<stamp>_siril_work`` folder
(:func:`~apcal.io.temporary_names.is_temporary_folder`), removed whole: it holds links to the frames
(removing a link never touches its target) and Siril's intermediate files.

A file is removed only when apcal can tell it made it: its name matches, it is a regular file (not a
link, FIFO or device), it belongs to the user running apcal, and it was reached without passing through
a symbolic link (the walk never follows one, and a linked ``master/`` or ``logs/`` is not entered), so a
planted link can never steer the clean-up outside the output folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from apcal.io.temporary_names import is_temporary, is_temporary_folder


def stale_temporaries(master_dir: Path, logs_dir: Path) -> list[Path]:
    """apcal's temporary files under ``master_dir`` (calibrated flats' folders included) and in
    ``logs_dir``, in path order. Call it only while holding the output folder's lock."""
    found: set[Path] = set()
    if _real_folder(master_dir):
        for folder, dirs, files in os.walk(master_dir, followlinks=False):
            dirs[:] = [d for d in dirs if _real_folder(Path(folder, d))]
            found.update(Path(folder, f) for f in files if _made_by_us(Path(folder, f)))
    if _real_folder(logs_dir):
        found.update(p for p in logs_dir.iterdir() if _made_by_us(p) or _work_folder_of_ours(p))
    return sorted(found)


def _work_folder_of_ours(path: Path) -> bool:
    """A real folder (not a link) with the name of an apcal work folder, owned by this user."""
    if not is_temporary_folder(path.name) or not _real_folder(path):
        return False
    owner = os.geteuid() if hasattr(os, "geteuid") else os.lstat(path).st_uid
    return os.lstat(path).st_uid == owner


def _real_folder(path: Path) -> bool:
    """A folder reached as itself, not through a symbolic link."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _made_by_us(path: Path) -> bool:
    """A regular file (not a link) with one of apcal's temporary names, owned by this user."""
    if not is_temporary(path.name):
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    owner = os.geteuid() if hasattr(os, "geteuid") else st.st_uid
    return stat.S_ISREG(st.st_mode) and st.st_uid == owner


def remove(paths: Iterable[Path]) -> list[Path]:
    """Remove ``paths``; the ones actually removed (one that cannot be removed is left for the next run)."""
    removed = []
    for path in paths:
        with contextlib.suppress(OSError):
            if _real_folder(path):
                shutil.rmtree(path)  # never follows a link inside (the links to frames go, not frames)
            else:
                path.unlink()
            removed.append(path)
    return removed
