"""``apcal run``: plan, skip what is up to date, lock the output folder, build, report.

The order of a run, each step a function elsewhere: plan the recipe (:mod:`apcal.plan.prepare`), take
the output folder's lock (:mod:`apcal.run.lock`), decide which jobs are up to date from the masters'
own headers (:mod:`apcal.run.state`), let the engine build the rest in plan order (bias, dark,
flat-dark, flat), and write the report (:mod:`apcal.report.json_report`) and the log, sharing one timestamp.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from loguru import logger

from apcal.engines import make_engine, start_warming
from apcal.engines.base import JobResult, ProgressCallback, RunContext
from apcal.errors import EXIT_GROUP_FAILED, EXIT_OK, Terminated
from apcal.plan.darkscaling import scale_warnings
from apcal.plan.model import Job, Plan
from apcal.plan.output_dir import refuse_linked_folders
from apcal.plan.prepare import prepare_plan
from apcal.plan.usable import NothingToBuild, nothing_to_do
from apcal.recipe.model import Recipe
from apcal.report.json_report import build_report, write_report
from apcal.run.console_lines import (
    expected_skips_line,
    is_problem,
    job_title,
    plan_lines,
    result_line,
    shown,
    skipped_line,
    summary_lines,
)
from apcal.run.lock import output_lock
from apcal.run.logs import run_log
from apcal.run.notify import build_digest, send_digest
from apcal.run.prune import prune_reports
from apcal.run.stale import remove, stale_temporaries
from apcal.run.state import is_up_to_date
from apcal.vocabulary import FrameType

if TYPE_CHECKING:
    from loguru import Message


@dataclass(frozen=True)
class RunOptions:
    """What the command line may change about a recipe's run."""

    dry_run: bool = False
    force: bool = False
    only: Collection[FrameType] | None = None  # None: every type
    engine: str | None = None  # None: the recipe's


class JobProgress(Protocol):
    """Where a run shows its jobs' progress (a terminal's bars): ``update`` per step, ``finish`` at end."""

    def update(self, key: str, description: str, done: int, total: int) -> None: ...

    def finish(self, key: str) -> None: ...


@dataclass(frozen=True)
class RunOutcome:
    exit_code: int
    plan: Plan
    results: tuple[JobResult, ...]
    stamp: str | None = None
    report_path: Path | None = None
    log_path: Path | None = None


def with_engine(recipe: Recipe, engine: str | None) -> Recipe:
    if engine is None or engine == recipe.engine.name:
        return recipe
    # The command line offers ENGINES' names only (click.Choice), which EngineSettings.name's Literal lists.
    return replace(recipe, engine=replace(recipe.engine, name=engine))  # type: ignore[arg-type]


def selected(plan: Plan, only: Collection[FrameType] | None) -> list[Job]:
    """The jobs ``--only`` selects; flat-darks go with flats (they exist only to calibrate them)."""
    if only is None:
        return list(plan.jobs)
    wanted = set(only) | ({FrameType.FLATDARK} if FrameType.FLAT in only else set())
    return [j for j in plan.jobs if j.type in wanted]


def run_recipe(
    recipe: Recipe,
    options: RunOptions = RunOptions(),
    *,
    progress: JobProgress | None = None,
) -> RunOutcome:
    """Run ``recipe``; the outcome's exit code is 0 when every selected job is built or up to date.

    Errors that stop a run before it starts (the engine cannot run, another run holds the lock) come
    before anything else is printed; then the compact plan, one line per finished job, a closing line
    and the run's warnings again.
    """
    recipe = with_engine(recipe, options.engine)
    if not options.dry_run:
        start_warming(recipe.engine.name)  # a first run compiles the native engine while this plans
    plan = prepare_plan(recipe)
    jobs = selected(plan, options.only)
    reason = nothing_to_do(recipe, plan, jobs, sorted(t.value for t in options.only or ()))
    if reason:
        raise NothingToBuild(f"nothing to build: {reason}")
    engine = make_engine(recipe.engine)
    if options.dry_run:
        current = set() if options.force else {j.id for j in jobs if is_up_to_date(j)}
        _log_plan(recipe, plan, jobs, current, engine.name)
        return RunOutcome(EXIT_OK, plan, ())
    engine.check(plan)

    with output_lock(plan.output_dir):
        refuse_linked_folders(plan.output_dir, [plan.master_dir, plan.calibrated_dir, plan.logs_dir])
        current = set() if options.force else {j.id for j in jobs if is_up_to_date(j)}
        stamp = time.strftime("%Y%m%d_%H%M%S")
        logs = plan.logs_dir
        log_path = logs / f"{stamp}.log"
        started, t0 = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.monotonic()
        with run_log(log_path), _collected_warnings() as warnings:
            source = recipe.source if recipe.source and recipe.source.is_file() else None
            logger.debug("recipe {}", source or "built from command-line arguments")
            _log_plan(recipe, plan, jobs, current, engine.name)
            stale = {*stale_temporaries(plan.master_dir, logs), *stale_temporaries(plan.calibrated_dir, logs)}
            for path in remove(sorted(stale)):
                logger.info("removed {}, a temporary file left by a run that was killed", path)
            results = [
                JobResult(j.id, "up_to_date", j.output, "up to date (inputs and parameters unchanged)")
                for j in jobs
                if j.id in current
            ]
            todo = [j for j in jobs if j.id not in current]
            context = RunContext(stamp=stamp, log_path=log_path, progress=_job_progress(plan, progress))
            try:
                for result in engine.execute(plan, todo, context) if todo else ():
                    job = plan.job(result.job_id)
                    _log_result(job, result)
                    for line in scale_warnings(job, result.dark_scales):
                        logger.warning("{}: {}", job_title(job), line)
                    if progress is not None:
                        progress.finish(result.job_id)
                    results.append(result)
            except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: say so in the log, then unwind
                how = "terminated (SIGTERM)" if isinstance(stop, Terminated) else "interrupted"
                logger.error(
                    "run {} after {} of {} jobs; masters built so far are complete, the rest are not "
                    "written; a rerun completes the work",
                    how,
                    len(results) - len(current),
                    len(todo),
                )
                raise
            order = {j.id: i for i, j in enumerate(plan.jobs)}
            results.sort(key=lambda r: order[r.job_id])
            failed = [r for r in results if r.status == "failed"]
            exit_code = EXIT_GROUP_FAILED if failed else EXIT_OK
            report_path: Path | None = logs / f"{stamp}_report.json"
            report = build_report(
                plan=plan,
                results=results,
                recipe_name=recipe.name,
                recipe_path=recipe.source,
                engine=engine.name,
                started=started,
                finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                seconds=time.monotonic() - t0,
                exit_code=exit_code,
                log_path=log_path,
            )
            shown_report = report_path
            try:
                write_report(logs / f"{stamp}_report.json", report)
            except OSError as exc:  # disk full, file-size limit: the masters are safe, say so and fail
                logger.error("could not write the report {}: {}", report_path, exc.strerror or exc)
                report_path = shown_report = None
                exit_code = max(exit_code, EXIT_GROUP_FAILED)
            else:
                shown_report = _write_html(report, logs / f"{stamp}_report.html") or report_path
            built = sum(r.status == "built" for r in results)
            scripted = [r for r in results if r.status == "script_only"]
            logger.info(
                "done in {:.1f} s: {} built, {} up to date, {} failed{}; report {}",
                time.monotonic() - t0,
                built,
                len(current),
                len(failed),
                f", {len(scripted)} in a PixInsight script" if scripted else "",
                shown(shown_report) if shown_report else "not written",
            )
            if scripted:  # the command that runs the script, once for all its jobs
                logger.info("build them with: {}", scripted[0].message)
            pruned = prune_reports(logs, recipe.output.keep_reports)
            if pruned:
                logger.debug(
                    "removed {} files of runs older than the last {}", len(pruned), recipe.output.keep_reports
                )
            problems = sum(is_problem(s) for s in plan.skipped_files)
            for line in summary_lines(warnings, problems):
                logger.info(line)
            if recipe.notify.urls:
                digest = build_digest(recipe.name, plan, results, warnings, problems, shown_report)
                send_digest(recipe.notify, digest)
    return RunOutcome(exit_code, plan, tuple(results), stamp, report_path, log_path)


def _log_plan(recipe: Recipe, plan: Plan, jobs: list[Job], current: set[str], engine: str) -> None:
    """The compact plan, then every file left out: problems named one per line, the rest counted."""
    todo = sum(j.id not in current for j in jobs)
    logger.info(
        "apcal run of '{}': {} masters ({} to build) into {}, {} engine",
        recipe.name,
        len(jobs),
        todo,
        shown(plan.output_dir),
        engine,
    )
    for line in plan_lines(plan, jobs, current):
        logger.info(line)
    for job in jobs:
        for excluded in job.excluded:
            logger.bind(named=True).warning(
                "{}: excluded {}: {}", job_title(job), shown(excluded.path), excluded.reason
            )
    for skipped in plan.skipped_files:
        if is_problem(skipped):
            logger.bind(named=True).warning(skipped_line(skipped))
        else:
            logger.debug(skipped_line(skipped))
    skips = expected_skips_line(plan.skipped_files, plan.output_dir)
    if skips:
        logger.info(skips)
    for note in plan.notes:
        logger.warning(note)
    for job in jobs:
        if job.type is FrameType.FLAT and (job.calibration is None or not job.calibration.masters):
            logger.warning(
                "{}: no master bias, dark or flat-dark matched: integrated uncalibrated", job_title(job)
            )


@contextmanager
def _collected_warnings() -> Iterator[list[str]]:
    """The block's warnings and errors as text, for the closing summary; those that name a file each
    (``named``) are left out, as the summary counts them instead of naming them twice."""
    collected: list[str] = []

    def keep(message: Message) -> None:
        if not message.record["extra"].get("named"):
            collected.append(message.record["message"])

    handler = logger.add(keep, level="WARNING", format="{message}")
    try:
        yield collected
    finally:
        logger.remove(handler)


def _job_progress(plan: Plan, progress: JobProgress | None) -> ProgressCallback | None:
    """The engine's progress calls (job id, frames done, frames total, phase) as bars with a short title."""
    if progress is None:
        return None

    def update(job_id: str, done: int, total: int, phase: str = "") -> None:
        title = job_title(plan.job(job_id))
        progress.update(job_id, f"{title} {phase}".rstrip(), done, total)

    return update


def _write_html(report: dict[str, Any], path: Path) -> Path | None:
    """The visual report; a failure here never fails the run. Returns its path when written."""
    from apcal.report.html_report import write_html_report

    try:
        write_html_report(report, path, previews_dir=path.parent / "previews")
    except Exception as exc:  # any failure: the masters and the JSON report are already safe
        logger.warning("could not write the HTML report {}: {}: {}", path, type(exc).__name__, exc)
        return None
    logger.debug("visual report {}", path)
    return path


def _log_result(job: Job, result: JobResult) -> None:
    line = result_line(job, result)
    if result.status == "failed":
        logger.error(line)
    else:
        logger.info(line)
    logger.debug("{} {}: {}", job.id, result.status, result.output or result.message)
