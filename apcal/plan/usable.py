"""Refuse to succeed at nothing: a run whose plan has no job says why, in one line, and exits 2.

A nightly run over a folder that holds no usable frame (every file unreadable, JPEGs only, an empty
folder, every frame inside the output folder) used to print "0 jobs ... done" and exit 0, so cron never
noticed. The reason names what was found, so the fix is obvious from the mail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from apcal.errors import ApcalError
from apcal.frames.discovery import NOT_A_FRAME
from apcal.plan.model import Job, Plan
from apcal.recipe.model import Recipe


class NothingToBuild(ApcalError):
    """A run whose plan has no job (exit 2); ``apcal run --watch`` waits for frames instead."""


#: The reason build_plan gives a frame found inside the output folder.
_INSIDE_OUTPUT = "inside the output folder"


def nothing_to_do(recipe: Recipe, plan: Plan, jobs: Sequence[Job], only: Sequence[str] = ()) -> str | None:
    """Why a run of ``plan`` (its ``jobs`` selected) would build nothing at all; None when it has jobs."""
    if jobs:
        return None
    folders = ", ".join(str(s.path) for s in recipe.inputs)
    if plan.jobs:
        return f"no {'/'.join(only) or 'selected'} group to build in {folders} (--only)"
    if plan.skipped_groups:
        reasons = "; ".join(f"{g.type.value} {g.name}: {g.reason}" for g in plan.skipped_groups[:3])
        return f"no group can be built from {folders}: {reasons}"
    files = plan.skipped_files
    if any(s.reason.startswith(_INSIDE_OUTPUT) for s in files):
        return (
            f"the frames in {folders} lie inside the output folder {plan.output_dir}: "
            "choose an output.dir outside the input folders"
        )
    if not files:
        return f"no files in {folders}"
    kinds = Counter(_kind(s.reason) for s in files)
    found = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common(4))
    return f"no usable calibration frame in {folders} ({len(files)} files: {found})"


def _not_a_frame(reason: str) -> bool:
    return reason.startswith(NOT_A_FRAME)


def _kind(reason: str) -> str:
    """A skip reason reduced to its kind, for a count ('not a frame file', 'light frame', 'unreadable')."""
    if _not_a_frame(reason):
        return "not frames"
    for prefix in ("light frame", "duplicate of", _INSIDE_OUTPUT):
        if reason.startswith(prefix):
            return prefix + "s" if prefix != _INSIDE_OUTPUT else prefix
    if reason.endswith("(masters are not stacked)"):
        return "masters"
    return "unreadable"
