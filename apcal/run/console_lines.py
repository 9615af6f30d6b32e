"""The lines a run prints: a compact plan, one line per finished job, the files left out, a closing
summary. Written for a cron mail read at 80 columns: plain text, one line per thing, groups by their
short label (:mod:`apcal.plan.labels`), paths relative to the working folder where they can be.

The runner logs these lines (so the run log holds them too); where they appear and how is the console
sink's business (:mod:`apcal.cli.progress`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from apcal.engines.base import JobResult
from apcal.frames.model import SkippedFile, shown_path
from apcal.plan.labels import short_label
from apcal.plan.model import Job, Plan
from apcal.recipe.source import display_path

#: Reasons that describe an expected file, not a problem: named in the run log and ``plan --files``.
_EXPECTED_SKIPS = (
    "light frame",
    "duplicate of",
    "inside the output folder",
    "not a frame file",
)
_EXPECTED_SUFFIXES = ("(masters are not stacked)", "is not used for calibration")
#: How many warnings the closing summary repeats; the rest are counted.
SUMMARY_LIMIT = 10


def shown(path: Path) -> str:
    """A path as a line shows it: relative to the working folder when below it, odd bytes escaped."""
    return display_path(Path(shown_path(path)))


def job_title(job: Job) -> str:
    """``flat L -10C g100 ...``: the job's type and its group's short label."""
    return f"{job.type.value} {short_label(job.group)}"


def is_problem(skipped: SkippedFile) -> bool:
    """Whether a skipped file is worth a warning (unreadable, broken), not an expected leftover."""
    reason = skipped.reason
    return not (reason.startswith(_EXPECTED_SKIPS) or reason.endswith(_EXPECTED_SUFFIXES))


def _masters(job: Job) -> str:
    """``  with bias+dark (run)``: the masters that calibrate a flat job, by where they come from."""
    cal = job.calibration
    if job.type.value != "flat":
        return ""
    if cal is None or not cal.masters:
        return "  uncalibrated"
    by_source: dict[str, list[str]] = {}
    for master in cal.masters:
        by_source.setdefault("run" if master.source == "run" else "library", []).append(master.type.value)
    return "  with " + ", ".join(f"{'+'.join(types)} ({source})" for source, types in by_source.items())


#: The width the lines are written for (a cron mail's), and the room a plan line gives its label.
LINE_WIDTH = 80
_LABEL_WIDTH = 30
_LABEL_AT_LEAST = 16


def heading_lines(name: str, masters: int, todo: int, engine: str, output: str) -> list[str]:
    """``apcal run of 'NAME': N masters (M to build), ENGINE engine, into OUTPUT``: its three parts
    filled into lines of ``LINE_WIDTH`` (the later ones indented), so a long recipe name (a rig's
    recipes are named at length) or output folder moves to a line of its own. A part is never cut: one
    longer than the line is shown whole."""
    noun = "master" if masters == 1 else "masters"
    lines = [f"apcal run of '{name}':"]
    for part in (f"{masters} {noun} ({todo} to build), {engine} engine,", f"into {output}"):
        if len(lines[-1]) + 1 + len(part) <= LINE_WIDTH:
            lines[-1] += " " + part
        else:
            lines.append("  " + part)
    return lines


def report_lines(report: Path | None) -> list[str]:
    """``report: PATH`` (or ``not written``); a path too long for the line goes whole onto the next,
    indented where the indent fits, so a terminal does not wrap it mid-name (and a double-click still
    selects all of it)."""
    if report is None:
        return ["report: not written"]
    path = shown(report)
    if len(f"report: {path}") <= LINE_WIDTH:
        return [f"report: {path}"]
    return ["report:", f"  {path}" if len(path) + 2 <= LINE_WIDTH else path]


def plan_lines(plan: Plan, jobs: Sequence[Job], current: set[str]) -> list[str]:
    """One line per job: status, type, short label, frames, the masters that calibrate it. A flat's
    masters take their room from its label, so the line stays within ``LINE_WIDTH``."""
    lines = []
    for job in jobs:
        status = "up to date" if job.id in current else "build"
        masters = _masters(job)
        fixed = len(f"  {status:<10} {job.type.value:<5}  {len(job.inputs):>3} frames{masters}")
        width = max(_LABEL_AT_LEAST, min(_LABEL_WIDTH, LINE_WIDTH - fixed))
        lines.append(
            f"  {status:<10} {job.type.value:<5} {short_label(job.group, width):<{width}} "
            f"{len(job.inputs):>3} frames{masters}"
        )
    for group in plan.skipped_groups:
        lines.append(f"  {'held':<10} {group.type.value:<5} {group.frame_count} frames: {group.reason}")
    return lines


def frames_used(job: Job, result: JobResult) -> int:
    """The frames really integrated: the plan's, less those the engine screened out (NCOMBINE)."""
    return len(job.inputs) - len(result.excluded)


def result_line(job: Job, result: JobResult) -> str:
    """The one line that says how a job ended."""
    title = job_title(job)
    if result.status == "failed":
        return f"failed {title}: {result.message}"
    if result.status == "script_only":
        return f"in the script: {title}"
    used = frames_used(job, result)
    of = f"{used} of {len(job.inputs)}" if used != len(job.inputs) else f"{used}"
    return f"{result.status.replace('_', ' ')} {title}: {of} frames in {result.seconds:.1f} s"


def skipped_line(skipped: SkippedFile) -> str:
    """``skipped <path>: <reason>``, the path once (a reader's message often starts with it too)."""
    reason = skipped.reason
    for prefix in (f"{skipped.path}: ", f"{skipped.shown}: "):
        reason = reason.removeprefix(prefix)
    return f"skipped {shown(skipped.path)}: {reason}"


def expected_skips_line(skipped: Iterable[SkippedFile], output_dir: Path) -> str | None:
    """One line counting the files left out for an expected reason (lights, duplicates, not frames);
    apcal's own files, when the output folder lies inside an input folder, are not counted."""
    out = output_dir.resolve()
    items = [s for s in skipped if not is_problem(s) and not s.path.resolve().is_relative_to(out)]
    if not items:
        return None
    counts: dict[str, int] = {}
    for item in items:
        kind = "not frames" if item.reason.startswith("not a frame file") else item.reason.split(" (")[0]
        kind = "duplicates" if kind.startswith("duplicate of") else kind
        counts[kind] = counts.get(kind, 0) + 1
    what = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    return f"{len(items)} other files not used ({what}; `apcal plan --files` lists them)"


def summary_lines(warnings: Sequence[str], skipped_problems: int) -> list[str]:
    """The closing summary: the run's warnings again, briefly, so a mail's last lines tell the story."""
    total = len(warnings) + skipped_problems
    if not total:
        return []
    lines = [f"{total} warning{'s' if total != 1 else ''}:"]
    if skipped_problems:
        plural = "s" if skipped_problems != 1 else ""
        lines.append(f"  {skipped_problems} input file{plural} skipped (named above)")
    lines += [f"  {w}" for w in warnings[:SUMMARY_LIMIT]]
    if len(warnings) > SUMMARY_LIMIT:
        lines.append(f"  ... and {len(warnings) - SUMMARY_LIMIT} more in the run log")
    return lines
