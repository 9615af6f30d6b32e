"""``apcal run``: plan, skip what is up to date, lock the output folder, build, report.

The order of a run, each step a function elsewhere: plan the recipe (:mod:`apcal.plan.prepare`), take
the output folder's lock (:mod:`apcal.run.lock`), decide which jobs are up to date from the masters'
own headers (:mod:`apcal.run.state`), let the engine build the rest in plan order (bias, dark,
flat-dark, flat), and write the report (:mod:`apcal.run.report`) and the log, sharing one timestamp.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path

from loguru import logger

from apcal.engines import make_engine
from apcal.engines.base import JobResult, RunContext
from apcal.errors import EXIT_GROUP_FAILED, EXIT_OK, Terminated
from apcal.frames.model import FrameType
from apcal.plan.darkscaling import scale_warnings
from apcal.plan.model import Job, Plan
from apcal.plan.output_dir import refuse_linked_folders
from apcal.plan.prepare import prepare_plan
from apcal.recipe.model import Recipe
from apcal.run.lock import output_lock
from apcal.run.logs import run_log
from apcal.run.report import build_report, write_report
from apcal.run.stale import remove, stale_temporaries
from apcal.run.state import is_up_to_date


@dataclass(frozen=True)
class RunOptions:
    """What the command line may change about a recipe's run."""

    dry_run: bool = False
    force: bool = False
    only: Collection[FrameType] | None = None  # None: every type
    engine: str | None = None  # None: the recipe's


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
    show_plan: Callable[[Plan, set[str]], None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> RunOutcome:
    """Run ``recipe``; the outcome's exit code is 0 when every selected job is built or up to date."""
    recipe = with_engine(recipe, options.engine)
    plan = prepare_plan(recipe)
    jobs = selected(plan, options.only)
    current = set() if options.force else {j.id for j in jobs if is_up_to_date(j, quiet=True)}
    if show_plan:
        show_plan(plan, current)
    engine = make_engine(recipe.engine)
    if options.dry_run:
        return RunOutcome(EXIT_OK, plan, ())
    engine.check(plan)

    with output_lock(plan.output_dir):
        refuse_linked_folders(plan.output_dir, [plan.master_dir, plan.calibrated_dir, plan.logs_dir])
        # Decided again under the lock: a run that held it may have just built some of these.
        current = set() if options.force else {j.id for j in jobs if is_up_to_date(j)}
        stamp = time.strftime("%Y%m%d_%H%M%S")
        logs = plan.logs_dir
        log_path = logs / f"{stamp}.log"
        started, t0 = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.monotonic()
        with run_log(log_path):
            logger.info(
                "apcal run of '{}' ({}): {} jobs, {} up to date, engine {}",
                recipe.name,
                recipe.source or "in-memory recipe",
                len(jobs),
                len(current),
                engine.name,
            )
            for path in remove(stale_temporaries(plan.master_dir, logs)):
                logger.info("removed {}, a temporary file left by a run that was killed", path)
            results = [
                JobResult(j.id, "up_to_date", j.output, "up to date (inputs and parameters unchanged)")
                for j in jobs
                if j.id in current
            ]
            todo = [j for j in jobs if j.id not in current]
            context = RunContext(stamp=stamp, log_path=log_path, progress=progress)
            try:
                for result in engine.execute(plan, todo, context) if todo else ():
                    _log_result(result)
                    for line in scale_warnings(plan.job(result.job_id), result.dark_scales):
                        logger.warning("{}: {}", result.job_id, line)
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
            try:
                write_report(logs / f"{stamp}_report.json", report)
            except OSError as exc:  # disk full, file-size limit: the masters are safe, say so and fail
                logger.error("could not write the report {}: {}", report_path, exc.strerror or exc)
                report_path, exit_code = None, max(exit_code, EXIT_GROUP_FAILED)
            else:
                _write_html(report, logs / f"{stamp}_report.html")
            built = sum(r.status == "built" for r in results)
            logger.info(
                "done in {:.1f} s: {} built, {} up to date, {} failed; report {}",
                time.monotonic() - t0,
                built,
                len(current),
                len(failed),
                report_path or "not written",
            )
    return RunOutcome(exit_code, plan, tuple(results), stamp, report_path, log_path)


def _write_html(report: dict, path: Path) -> None:
    """The visual report, with previews beside the masters; a failure here never fails the run."""
    from apcal.quality.html_report import write_html_report

    try:
        write_html_report(report, path, write_previews=True)
    except Exception as exc:  # any failure: the masters and the JSON report are already safe
        logger.warning("could not write the HTML report {}: {}: {}", path, type(exc).__name__, exc)
    else:
        logger.info("visual report {}", path)


def _log_result(result: JobResult) -> None:
    if result.status == "failed":
        logger.error("{} failed: {}", result.job_id, result.message)
    elif result.status == "script_only":
        logger.info("{}: script written; {}", result.job_id, result.message)
    else:
        logger.info("{} {} in {:.1f} s -> {}", result.job_id, result.status, result.seconds, result.output)
