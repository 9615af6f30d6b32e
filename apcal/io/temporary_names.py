"""Every temporary file name apcal writes, made and recognised in this one module.

Writers ask here for the name (so a new kind of temporary file is added here, beside its pattern), and
:mod:`apcal.run.stale` asks :func:`is_temporary` which leftovers of a killed run it may remove. The
names are hidden or tagged so none is ever mistaken for a master:

* ``.<name>.<8 hex digits>.part[<ext>]``: :func:`atomic_temporary` (masters, calibrated flats, reports,
  previews written through :func:`apcal.io.atomic.atomic_path`);
* ``<stem>.apcal-partial<ext>``: :func:`partial_master`, a master the PixInsight script writes, then moves;
* ``.<stamp>_pixinsight_console.tmp``, ``.<stamp>_pixinsight_status.tmp``: :func:`pixinsight_capture`,
  PixInsight's console log and the script's status lines;
* ``<name>.tmp`` of a ``<stamp>_calibrate_masters.js`` script: :func:`script_temporary`;
* the folder ``<stamp>_siril_work`` in ``logs/``: :func:`siril_work_folder`, the Siril engine's sequences
  (links to the frames) and Siril's own outputs, removed by the run that made it unless it was killed
  (:func:`is_temporary_folder`).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Literal

#: The tag of a master the PixInsight script has not moved into place yet.
PARTIAL_TAG = ".apcal-partial"

_PATTERNS = (
    re.compile(r"^\..+\.[0-9a-f]{8}\.part(\.[^./]+)?$"),
    re.compile(r"^.+" + re.escape(PARTIAL_TAG) + r"(\.[^./]+)?$"),
    re.compile(r"^\.\d{8}_\d{6}_pixinsight_(console|status)\.tmp$"),
    re.compile(r"^\d{8}_\d{6}_calibrate_masters\.js\.tmp$"),
)


def atomic_temporary(final: Path) -> Path:
    """A hidden sibling of ``final`` that keeps its extension last: ``dir/.<name>.<random>.part<ext>``.

    Keeping the extension last lets a writer that picks its format from the suffix still do so.
    """
    return final.with_name(f".{final.name}.{secrets.token_hex(4)}.part{final.suffix}")


def partial_master(output: Path, extension: str) -> Path:
    """The name beside ``output`` that the PixInsight script writes the master to before the move."""
    return output.with_name(output.stem + PARTIAL_TAG + extension)


def pixinsight_capture(logs: Path, stamp: str, kind: Literal["console", "status"]) -> Path:
    """Where a PixInsight run's console log or status lines are captured before joining the run log."""
    return logs / f".{stamp}_pixinsight_{kind}.tmp"


def script_temporary(script: Path) -> Path:
    """The name a script is written to before it replaces ``script``."""
    return script.with_name(script.name + ".tmp")


_FOLDER_PATTERN = re.compile(r"^\d{8}_\d{6}_siril_work$")


def siril_work_folder(logs: Path, stamp: str) -> Path:
    """The Siril engine's work folder for the run ``stamp``."""
    return logs / f"{stamp}_siril_work"


def is_temporary_folder(name: str) -> bool:
    """True for the name of a work folder apcal makes and removes (see the module docstring)."""
    return bool(_FOLDER_PATTERN.match(name))


def is_temporary(name: str) -> bool:
    """True for the name of a temporary file apcal writes (see the module docstring)."""
    return any(p.match(name) for p in _PATTERNS)
