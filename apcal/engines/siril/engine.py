"""The Siril engine: one script per run in ``logs/<stamp>_siril.ssf``, one siril-cli process per master.

The script (a preamble, then one section per job, :mod:`.render`) stays in ``logs/`` for reproducibility.
Each job runs as its own ``siril-cli -s`` on the preamble and its section, in a work folder under
``logs/<stamp>_siril_work/`` (:mod:`.workdir`), with the PixInsight engine's plumbing
(:mod:`apcal.engines.process`: no shell, a time limit, the process group killed). Siril's output goes
into the run log between marker lines. A job is ``built`` only when siril-cli exited 0, printed no error
line (:mod:`.output`) and its master was written and reads back; a flat whose master bias or dark failed
in this run fails without running. The work folder is removed at the end (kept with ``script_only``,
where the script needs it).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from loguru import logger

from apcal.engines.base import JobResult, RunContext
from apcal.engines.capabilities import assess
from apcal.engines.process import RunOutcome, run_logged
from apcal.engines.scripted import append_log, collect, command_line, master_problem, write_script
from apcal.engines.siril import render, workdir
from apcal.engines.siril.output import failure_message, rejected_fractions
from apcal.engines.siril.version import DEFAULT_SERIES, DIALECTS, Dialect, detect_dialect
from apcal.errors import ApcalError, EngineError
from apcal.io.temporary_names import siril_work_folder
from apcal.plan.darkscaling import dark_scaling_notes, scaled_dark
from apcal.plan.model import Job, Plan
from apcal.recipe.model import SirilSettings
from apcal.vocabulary import Keyword

SCRIPT_SUFFIX = "_siril.ssf"


def script_path(plan: Plan, stamp: str) -> Path:
    return plan.logs_dir / f"{stamp}{SCRIPT_SUFFIX}"


class SirilEngine:
    """Builds masters by rendering the plan into Siril scripts and running siril-cli headless."""

    name = "siril"

    def __init__(self, settings: SirilSettings) -> None:
        self.settings = settings
        self._detected: tuple[Dialect, str] | None = None

    def check(self, plan: Plan) -> None:
        """EngineError, before anything is written, when Siril cannot run or would build other masters."""
        render.ssf_path(plan.logs_dir.absolute())  # the work folder's path must fit in a script
        refusals = assess(plan, self.name).refusals
        if refusals:
            raise EngineError("; ".join(refusals))
        if not self.settings.script_only:
            self.dialect()

    def dialect(self) -> tuple[Dialect, str]:
        """The installed Siril's dialect and version (EngineError when it is missing or unknown)."""
        if self._detected is not None:
            return self._detected
        binary = shutil.which(self.settings.binary)
        if binary is None:
            raise EngineError(
                f"Siril not found: {self.settings.binary} is not an executable (install Siril, e.g. "
                "apt-get install siril, or set engine.siril.binary)"
            )
        self._detected = detect_dialect(binary)
        return self._detected

    def execute(self, plan: Plan, jobs: Sequence[Job], context: RunContext) -> Iterator[JobResult]:
        """Write the script, then run each job's section (unless script_only); one result per job."""
        self.check(plan)
        jobs = tuple(jobs)
        if not jobs:
            return
        for warning in assess(plan, self.name).warnings:
            logger.warning(warning)
        dialect, version = self._dialect_for_run()
        for job in jobs:
            if job.calibration is not None and scaled_dark(job):
                for note in dark_scaling_notes(job.calibration.params.dark_scaling, self.name):
                    logger.warning("{}: {}", job.id, note)
        logs = plan.logs_dir.absolute()
        work = siril_work_folder(logs, context.stamp)
        views = [render.job_view(job, n, work / f"{n:02d}", dialect) for n, job in enumerate(jobs, 1)]
        preamble = render.render_preamble(
            dialect, total=len(jobs), stamp=context.stamp, threads=self.settings.threads
        )
        sections = [render.render_section(view, dialect, len(jobs)) for view in views]
        script = script_path(plan, context.stamp).absolute()
        logs.mkdir(parents=True, exist_ok=True)
        write_script(script, render.render_script(preamble, sections))
        append_log(context.log_path, f"siril: Siril {version}; script {script}\n")
        if self.settings.script_only:
            yield from self._script_only(views, script, work)
            return
        try:
            run = _Run(self.settings, plan, context, preamble)
            for view, section in zip(views, sections, strict=True):
                yield run.build(view, section)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _dialect_for_run(self) -> tuple[Dialect, str]:
        if not self.settings.script_only:
            return self.dialect()
        try:
            return self.dialect()
        except EngineError as error:  # a script for later: the current series' syntax
            dialect = DIALECTS[DEFAULT_SERIES]
            logger.info("{}; the script is written for Siril {}", error, dialect.name)
            return dialect, f"{dialect.name} (assumed)"

    def _script_only(self, views: Sequence[render.JobView], script: Path, work: Path) -> Iterator[JobResult]:
        outputs = {v.job.id: v.folder / render.MASTER_NAME for v in views}
        printed = command_line([self.settings.binary, "-s", str(script)])
        for view in views:
            problem = view.problem
            if not problem:
                try:
                    workdir.prepare(view.folder, view.job, True, outputs)
                except (ApcalError, OSError, ValueError) as error:
                    problem = _one_line(error)
            if problem:
                yield JobResult(view.job.id, "failed", view.job.output, problem)
            else:
                yield JobResult(view.job.id, "script_only", view.job.output, printed)
        logger.info("Siril's masters will be in {}/NN/{}", work, render.MASTER_NAME)


class _Run:
    """One run's jobs, in order, each in its own siril-cli."""

    def __init__(self, settings: SirilSettings, plan: Plan, context: RunContext, preamble: str) -> None:
        self.settings, self.plan, self.context, self.preamble = settings, plan, context, preamble
        self.failed: set[str] = set()
        self.outputs: dict[str, Path] = {}

    def build(self, view: render.JobView, section: str) -> JobResult:
        job, start = view.job, time.monotonic()
        problem = view.problem or self._dependency_problem(job)
        if not problem:
            try:
                return self._run(view, section, start)
            except (ApcalError, OSError, ValueError) as error:
                problem = _one_line(error)
        self.failed.add(job.id)
        return JobResult(job.id, "failed", job.output, problem, time.monotonic() - start)

    def _dependency_problem(self, job: Job) -> str:
        cal = job.calibration
        for ref in cal.masters if cal is not None else ():
            if ref.source == "run" and ref.job_id in self.failed:
                return f"its master {ref.type.value} ({ref.job_id}) failed in this run"
        return ""

    def _run(self, view: render.JobView, section: str, start: float) -> JobResult:
        job = view.job
        workdir.prepare(view.folder, job, False, self.outputs)
        job_script = view.folder / "job.ssf"
        write_script(job_script, self.preamble + section)
        command = [*_line_buffered(), self.settings.binary, "-s", str(job_script)]
        capture = view.folder / "siril-output.log"
        outcome = run_logged(
            command, timeout=self.settings.timeout, log_path=capture, label="Siril", cwd=view.folder
        )
        text = collect(capture, "Siril")
        append_log(self.context.log_path, _section(job.id, command, text, outcome))
        problem = _run_problem(text, outcome, self.settings.timeout, view.folder)
        if problem:
            self.failed.add(job.id)
            return JobResult(job.id, "failed", job.output, problem, time.monotonic() - start)
        return self._finish(view, text, start)

    def _finish(self, view: render.JobView, text: str, start: float) -> JobResult:
        from apcal.stats.master import master_statistics

        job = view.job
        history = Keyword("HISTORY", f"Integrated by Siril ({render.ssf_comment(view.stack)})", "")
        keywords = (
            *(k._replace(value=len(job.inputs)) if k.name == "NCOMBINE" else k for k in job.keywords),
            history,
        )
        image = workdir.finish_master(view.folder, job, keywords, self.plan.output_format)
        problem = master_problem(job.output)
        if problem:
            raise EngineError(f"Siril's master was converted but {problem}")
        calibrated = workdir.keep_calibrated(view.folder, job)
        stats = master_statistics(image, job.type, n_frames=len(job.inputs))
        fractions = rejected_fractions(text)
        if fractions is not None:
            stats["rejected_low_fraction"], stats["rejected_high_fraction"] = fractions
        self.outputs[job.id] = job.output
        shutil.rmtree(view.folder, ignore_errors=True)  # the calibrated flats have moved out
        if self.context.progress is not None:
            self.context.progress(job.id, len(job.inputs), len(job.inputs))
        return JobResult(
            job.id, "built", job.output, seconds=time.monotonic() - start, stats=stats, calibrated=calibrated
        )


def _line_buffered() -> list[str]:
    """``stdbuf -oL`` where coreutils has it: siril-cli writes its log to a pipe in blocks, and when it
    crashes (1.0.6 does, e.g. on some sequences of mixed precision) the block it had not written yet,
    with its last messages, would be lost."""
    found = shutil.which("stdbuf")
    return [found, "-oL"] if found else []


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _run_problem(text: str, outcome: RunOutcome, timeout: float, folder: Path) -> str:
    """Why the job's siril-cli run did not build a master ("" when it did)."""
    if outcome.timed_out:
        return f"Siril timed out after {timeout:g} s"
    message = failure_message(text)
    if outcome.returncode != 0:
        code = outcome.returncode
        how = f"siril-cli exited with code {code}"
        if code is not None and code < 0:
            how = f"siril-cli crashed (signal {-code})"
        return f"{how}: {message}" if message else f"{how} (see the run log)"
    if message:
        return message
    if not (folder / render.MASTER_NAME).is_file():
        return "Siril ended without writing the master (see the run log)"
    return ""


def _section(job_id: str, command: Sequence[str], text: str, outcome: RunOutcome) -> str:
    how = "timed out" if outcome.timed_out else f"exit code {outcome.returncode}"
    body = text if text.endswith("\n") or not text else text + "\n"
    return (
        f"siril: {job_id}: {command_line(command)}: {how} after {outcome.seconds:.1f} s\n"
        f"----- Siril output ({job_id}) -----\n{body}----- end of Siril output -----\n"
    )


ENGINE = SirilEngine
