"""``apcal run``: plan, skip what is up to date, lock the output folder, build, report.

The order of a run, each step a function elsewhere: plan the recipe (:mod:`apcal.plan.prepare`), take
the output folder's lock (:mod:`apcal.run.lock`), decide which jobs are up to date from the masters'
own headers (:mod:`apcal.run.state`), let the engine build the rest in plan order (bias, dark,
flat-dark, flat), and write the report (:mod:`apcal.report.json_report`) and the log, sharing one timestamp.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from loguru import logger

from apcal.engines import make_engine, start_warming
from apcal.engines.base import Engine, JobResult, ProgressCallback, RunContext
from apcal.errors import EXIT_GROUP_FAILED, EXIT_OK, ApcalError, Terminated
from apcal.library.publish import Published
from apcal.plan.darkscaling import scale_warnings
from apcal.plan.model import Job, Plan
from apcal.plan.output_dir import refuse_linked_folders
from apcal.plan.prepare import prepare_plan
from apcal.plan.usable import NothingToBuild, nothing_to_do
from apcal.recipe.model import Recipe
from apcal.report.json_report import build_report, write_report
from apcal.run.console_lines import (
    expected_skips_line,
    heading_lines,
    is_problem,
    job_title,
    plan_lines,
    report_lines,
    result_line,
    shown,
    skipped_line,
    summary_lines,
)
from apcal.run.executor import Batch, Executor, LocalExecutor
from apcal.run.lock import output_lock
from apcal.run.logs import run_log
from apcal.run.measure import measured
from apcal.run.notify import build_digest, send_digest
from apcal.run.prune import prune_reports
from apcal.run.publishing import held_line, library_section, publish_results, publishing_failed
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
    results: tuple[JobResult, ...] = ()
    stamp: str | None = None
    report_path: Path | None = None
    log_path: Path | None = None
    #: The report a person opens: the HTML page, or the JSON one when the page could not be drawn.
    shown_report: Path | None = None


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
    (outcome,), _ = _run([recipe], options, LocalExecutor(), progress)
    return outcome


def run_recipes(
    recipes: Sequence[Recipe],
    options: RunOptions = RunOptions(),
    *,
    executor: Executor | None = None,
    progress: JobProgress | None = None,
) -> int:
    """Run several recipes as one run, their jobs on ``executor`` (this process by default); the worst
    of their exit codes.

    Each recipe keeps its own output folder, lock, log and report. With one recipe, an error that stops
    it before it starts is raised, as :func:`run_recipe` does; with several, it is logged as one line and
    counts with its exit code while the other recipes run.
    """
    outcomes, refused = _run(recipes, options, executor or LocalExecutor(), progress)
    return max([o.exit_code for o in outcomes] + refused)


@dataclass(frozen=True)
class _Prepared:
    recipe: Recipe
    plan: Plan
    jobs: list[Job]
    engine: Engine


@dataclass(frozen=True)
class _Started:
    """A recipe whose output folder is locked, with its jobs handed to the executor as ``batch``."""

    prepared: _Prepared
    current: set[str]
    log_path: Path
    started: str
    t0: float
    removed: list[Path]
    batch: Batch
    progress_key: str  # prefixes the job ids of the progress bars when several recipes share them


def _run(
    recipes: Sequence[Recipe], options: RunOptions, executor: Executor, progress: JobProgress | None
) -> tuple[list[RunOutcome], list[int]]:
    """The outcomes of the recipes that ran, and the exit codes of those refused before they started."""
    many = len(recipes) > 1
    refused: list[int] = []
    prepared: list[_Prepared] = []
    for recipe in recipes:
        with _refusal(recipe, many, refused):
            prepared.append(_prepare(recipe, options))
    if options.dry_run:
        for p in prepared:
            current = set() if options.force else {j.id for j in p.jobs if is_up_to_date(j)}
            _log_plan(p.recipe, p.plan, p.jobs, current, p.engine.name)
        return [RunOutcome(EXIT_OK, p.plan) for p in prepared], refused
    _refuse_shared_outputs(prepared)
    with ExitStack() as stack:
        started: list[_Started] = []
        for p in prepared:
            with _refusal(p.recipe, many, refused):
                started.append(_start(p, options, stack, progress, f"{p.recipe.name}:" if many else ""))
        stack.enter_context(executor)  # left before the locks are released: cancels what still runs
        executor.submit([s.batch for s in started])
        return [_finish(s, executor, progress) for s in started], refused


@contextmanager
def _refusal(recipe: Recipe, many: bool, refused: list[int]) -> Iterator[None]:
    """With several recipes, one that cannot start is logged as one line and its exit code kept."""
    try:
        yield
    except ApcalError as exc:
        if not many:
            raise
        logger.error("{}: {}", recipe.name, exc)
        refused.append(exc.exit_code)


def _refuse_shared_outputs(prepared: list[_Prepared]) -> None:
    folders: dict[Path, str] = {}
    for p in prepared:
        folder = p.plan.output_dir.resolve()
        if folder in folders:
            raise ApcalError(f"recipes {folders[folder]} and {p.recipe.name} both write to {folder}")
        folders[folder] = p.recipe.name


def _prepare(recipe: Recipe, options: RunOptions) -> _Prepared:
    recipe = with_engine(recipe, options.engine)
    if not options.dry_run:
        start_warming(recipe.engine.name)  # a first run compiles the native engine while this plans
    plan = prepare_plan(recipe)
    jobs = selected(plan, options.only)
    reason = nothing_to_do(recipe, plan, jobs, sorted(t.value for t in options.only or ()))
    if reason:
        raise NothingToBuild(f"nothing to build: {reason}")
    return _Prepared(recipe, plan, jobs, make_engine(recipe.engine))


def _start(
    p: _Prepared, options: RunOptions, stack: ExitStack, progress: JobProgress | None, key: str
) -> _Started:
    """Check the engine, take the lock, decide what is up to date and remove a killed run's leftovers."""
    plan = p.plan
    p.engine.check(plan)
    stack.enter_context(output_lock(plan.output_dir))
    refuse_linked_folders(plan.output_dir, [plan.master_dir, plan.calibrated_dir, plan.logs_dir])
    current = set() if options.force else {j.id for j in p.jobs if is_up_to_date(j)}
    stamp = time.strftime("%Y%m%d_%H%M%S")
    log_path = plan.logs_dir / f"{stamp}.log"
    started, t0 = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.monotonic()
    removed = remove(_stale(plan))
    todo = tuple(j for j in p.jobs if j.id not in current)
    context = RunContext(stamp=stamp, log_path=log_path, progress=_job_progress(plan, progress, key))
    batch = Batch(p.recipe.name, p.recipe.engine, p.engine, plan, todo, context)
    return _Started(p, current, log_path, started, t0, removed, batch, key)


def _stale(plan: Plan) -> list[Path]:
    logs = plan.logs_dir
    return sorted({*stale_temporaries(plan.master_dir, logs), *stale_temporaries(plan.calibrated_dir, logs)})


def _finish(s: _Started, executor: Executor, progress: JobProgress | None) -> RunOutcome:
    """Log the plan, collect the recipe's results from ``executor``, write its report and log."""
    recipe, plan, jobs, engine = s.prepared.recipe, s.prepared.plan, s.prepared.jobs, s.prepared.engine
    current, logs = s.current, plan.logs_dir
    stamp = s.batch.context.stamp
    with run_log(s.log_path), _collected_warnings() as warnings:
        source = recipe.source if recipe.source and recipe.source.is_file() else None
        logger.debug("recipe {}", source or "built from command-line arguments")
        _log_plan(recipe, plan, jobs, current, engine.name)
        for path in s.removed:
            logger.info("removed {}, a temporary file left by a run that was killed", path)
        results = [
            JobResult(j.id, "up_to_date", j.output, "up to date (inputs and parameters unchanged)")
            for j in jobs
            if j.id in current
        ]
        results += _collect(s, executor, progress)
        if any(r.worker is not None for r in results):  # a worker killed mid-write leaves one behind
            for path in remove(_stale(plan)):
                logger.info("removed {}, a temporary file left by a worker that died while writing it", path)
        order = {j.id: i for i, j in enumerate(plan.jobs)}
        results.sort(key=lambda r: order[r.job_id])
        failed = [r for r in results if r.status == "failed"]
        published = publish_results(recipe, plan, results)
        exit_code = EXIT_GROUP_FAILED if failed or publishing_failed(published, results) else EXIT_OK
        report_path: Path | None = logs / f"{stamp}_report.json"
        report = build_report(
            plan=plan,
            results=results,
            recipe_name=recipe.name,
            recipe_path=recipe.source,
            engine=engine.name,
            started=s.started,
            finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            seconds=time.monotonic() - s.t0,
            exit_code=exit_code,
            log_path=s.log_path,
        )
        if published:
            report["library"] = library_section(published, recipe.library.root)
        shown_report = report_path
        try:
            write_report(logs / f"{stamp}_report.json", report)
        except OSError as exc:  # disk full, file-size limit: the masters are safe, say so and fail
            logger.error("could not write the report {}: {}", report_path, exc.strerror or exc)
            report_path = shown_report = None
            exit_code = max(exit_code, EXIT_GROUP_FAILED)
        else:
            shown_report = _write_html(report, logs / f"{stamp}_report.html") or report_path
        _log_closing(recipe, plan, results, published, len(current), s.t0, shown_report, warnings)
    return RunOutcome(exit_code, plan, tuple(results), stamp, report_path, s.log_path, shown_report)


def _collect(s: _Started, executor: Executor, progress: JobProgress | None) -> list[JobResult]:
    """The batch's results as its jobs finish, each logged; Ctrl-C or SIGTERM said in the log."""
    plan, results = s.prepared.plan, []
    try:
        for result in executor.results(s.batch):
            job = plan.job(result.job_id)
            result = measured(job, result)
            _log_result(job, result)
            for line in scale_warnings(job, result.dark_scales):
                logger.warning("{}: {}", job_title(job), line)
            if progress is not None:
                progress.finish(s.progress_key + result.job_id)
            results.append(result)
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: say so in the log, then unwind
        how = "terminated (SIGTERM)" if isinstance(stop, Terminated) else "interrupted"
        logger.error(
            "run {} after {} of {} jobs; masters built so far are complete, the rest are not "
            "written; a rerun completes the work",
            how,
            len(results),
            len(s.batch.jobs),
        )
        raise
    return results


def _log_closing(
    recipe: Recipe,
    plan: Plan,
    results: list[JobResult],
    published: list[Published],
    up_to_date: int,
    t0: float,
    shown_report: Path | None,
    warnings: list[str],
) -> None:
    """The closing line, the report's clean-up, the summary of warnings and the notification."""
    failed = sum(r.status == "failed" for r in results)
    built = sum(r.status == "built" for r in results)
    scripted = [r for r in results if r.status == "script_only"]
    logger.info(
        "done in {:.1f} s: {} built, {} up to date, {} failed{}{}",
        time.monotonic() - t0,
        built,
        up_to_date,
        failed,
        f", {len(scripted)} in a PixInsight script" if scripted else "",
        held_line(published),
    )
    if scripted:  # the command that runs the script, once for all its jobs
        logger.info("build them with: {}", scripted[0].message)
    # Lines of their own: the path is as long as the output folder's, and 80 columns are a mail's.
    for line in report_lines(shown_report):
        logger.info("{}", line)
    pruned = prune_reports(plan.logs_dir, recipe.output.keep_reports)
    if pruned:
        kept = recipe.output.keep_reports
        logger.debug("removed {} files of runs older than the last {}", len(pruned), kept)
    problems = sum(is_problem(s) for s in plan.skipped_files)
    for line in summary_lines(warnings, problems):
        logger.info(line)
    if recipe.notify.urls:
        digest = build_digest(recipe.name, plan, results, warnings, problems, shown_report)
        send_digest(recipe.notify, digest)


def _log_plan(recipe: Recipe, plan: Plan, jobs: list[Job], current: set[str], engine: str) -> None:
    """The compact plan, then every file left out: problems named one per line, the rest counted."""
    todo = sum(j.id not in current for j in jobs)
    for line in heading_lines(recipe.name, len(jobs), todo, engine, shown(plan.output_dir)):
        logger.info("{}", line)
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


def _job_progress(plan: Plan, progress: JobProgress | None, key: str = "") -> ProgressCallback | None:
    """The engine's progress calls (job id, frames done, frames total, phase) as bars with a short title;
    ``key`` prefixes the bars' keys (several recipes may have jobs of the same id)."""
    if progress is None:
        return None

    def update(job_id: str, done: int, total: int, phase: str = "") -> None:
        title = job_title(plan.job(job_id))
        progress.update(key + job_id, f"{title} {phase}".rstrip(), done, total)

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
