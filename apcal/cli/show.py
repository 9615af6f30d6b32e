"""Human output of plans and scans as rich tables (the data side lives in apcal.plan.serialize)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from apcal.frames.model import SkippedFile
from apcal.grouping import Group, SkippedGroup
from apcal.naming import format_value
from apcal.plan.darkscaling import dark_scaling_summary
from apcal.plan.model import Job, MasterRef, Plan


def console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def titled_table(out: Console, title: str) -> Table:
    """A table with ``title``: boxed on a terminal; off one (cron mail, a pipe, a file) plain columns,
    so no box-drawing characters reach a mail reader."""
    if out.is_terminal:
        return Table(title=title, title_justify="left")
    return Table(title=title, title_justify="left", box=None)


def keys_text(group: Group) -> str:
    return " ".join(f"{k}={format_value(v)}" for k, v in group.keys if v is not None)


def _master(ref: MasterRef | None) -> str:
    if ref is None:
        return ""
    where = "this run" if ref.source == "run" else "library"
    return f"{ref.type.value}: {ref.path.name} ({where})"


def _scaling(job: Job) -> str:
    """The flat group's dark scaling, with the exposure ratio k should be near."""
    summary = dark_scaling_summary(job)
    if summary is None:
        return ""
    ratio = summary["exposure_ratio"]
    beside = f" (exposure ratio {ratio:.4g})" if ratio is not None else " (exposure ratio unknown)"
    return f"dark scaling: {summary['method']}{beside}"


def print_groups(out: Console, groups: tuple[Group, ...], skipped: tuple[SkippedGroup, ...]) -> None:
    table = titled_table(out, "Groups")
    for column in ("type", "group", "frames", "keys"):
        table.add_column(column, overflow="fold")
    for group in groups:
        table.add_row(group.type.value, group.name, str(len(group.frames)), keys_text(group))
    for skip in skipped:
        table.add_row(skip.type.value, skip.name, str(skip.frame_count), f"[yellow]skipped: {skip.reason}")
    out.print(table)


def print_skipped_files(out: Console, skipped: tuple[SkippedFile, ...]) -> None:
    if not skipped:
        return
    table = titled_table(out, "Files not used")
    table.add_column("file", overflow="fold")
    table.add_column("reason", overflow="fold")
    for item in skipped:
        table.add_row(item.shown, item.reason)
    out.print(table)


def print_plan(out: Console, plan: Plan, up_to_date: set[str] | None = None) -> None:
    """The plan as a table; with ``up_to_date`` (job ids), a status column says what a run would do.

    Off a terminal (a pipe, a file, cron's mail) the table's long names would wrap into columns of
    fragments at 80 characters, so each job is a short block of plain lines instead.
    """
    if not out.is_terminal:
        _print_plan_lines(out, plan, up_to_date)
        return
    table = titled_table(out, f"Plan: {len(plan.jobs)} masters into {plan.output_dir}")
    columns = ["type", "group", "frames", "rejection", "calibration", "output"]
    if up_to_date is not None:
        columns.append("status")
    for column in columns:
        table.add_column(column, overflow="fold")
    for job in plan.jobs:
        cal = job.calibration
        masters = "\n".join(x for x in (*map(_master, cal.masters), _scaling(job)) if x) if cal else ""
        notes = "\n".join(
            [f"[yellow]{n}" for n in job.notes]
            + [f"[yellow]excluded {e.path.name}: {e.reason}" for e in job.excluded]
        )
        row = [
            job.type.value,
            job.group.name,
            str(len(job.inputs)),
            job.integration.rejection,
            "\n".join(x for x in (masters, notes) if x),
            str(job.output.relative_to(plan.output_dir)),
        ]
        if up_to_date is not None:
            row.append("up to date" if job.id in up_to_date else "build")
        table.add_row(*row)
    out.print(table)
    for group in plan.skipped_groups:
        out.print(f"[yellow]skipped group[/yellow] {group.type.value} {group.name}: {group.reason}")
    for note in plan.notes:
        out.print(f"[yellow]note:[/yellow] {note}")


def _print_plan_lines(out: Console, plan: Plan, up_to_date: set[str] | None) -> None:
    """One block per job: type and group name, then indented frames, rejection, output, the masters
    that calibrate it, notes and exclusions — every name whole, on a line of its own."""

    def say(text: str) -> None:
        out.print(text, markup=False, highlight=False, soft_wrap=True)

    say(f"Plan: {len(plan.jobs)} masters into {plan.output_dir}")
    for job in plan.jobs:
        status = "" if up_to_date is None else ("up to date: " if job.id in up_to_date else "build: ")
        say(f"{status}{job.type.value} {job.group.name}")
        say(f"    {len(job.inputs)} frames, rejection {job.integration.rejection}")
        say(f"    output: {job.output.relative_to(plan.output_dir)}")
        cal = job.calibration
        for line in (*map(_master, cal.masters), _scaling(job)) if cal else ():
            if line:
                say(f"    {line}")
        for note in job.notes:
            say(f"    note: {note}")
        for excluded in job.excluded:
            say(f"    excluded {excluded.path.name}: {excluded.reason}")
    for group in plan.skipped_groups:
        say(f"skipped group {group.type.value} {group.name}: {group.reason}")
    for note in plan.notes:
        say(f"note: {note}")
