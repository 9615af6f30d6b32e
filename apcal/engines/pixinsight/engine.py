"""The PixInsight engine: one script per run, one headless PixInsight, one verified result per job.

The script goes to ``<logs>/<stamp>_calibrate_masters.js`` (the seed's name) and stays there for
reproducibility. PixInsight's console log and the script's status lines go to temporary files beside it,
which are appended to the run log (``context.log_path``) and removed; PixInsight's stdout and stderr go
to the run log directly. A job is ``built`` only when the script reported it ok *and* the master is on
disk with a readable header; every other case is ``failed`` with a message saying why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from loguru import logger

from apcal.engines.base import JobResult, RunContext
from apcal.engines.capabilities import assess
from apcal.engines.pixinsight.render import calibrated_path, render_script
from apcal.engines.pixinsight.runner import (
    STATUS_PREFIX,
    RunOutcome,
    parse_status_lines,
    pixinsight_command,
    run_pixinsight,
)
from apcal.engines.scripted import append_log, collect, command_line, master_problem, write_script
from apcal.errors import EngineError
from apcal.io.temporary_names import pixinsight_capture
from apcal.plan.darkscaling import dark_scaling_notes, scaled_dark
from apcal.plan.model import Job, Plan
from apcal.recipe.model import PixInsightSettings

SCRIPT_SUFFIX = "_calibrate_masters.js"


class PixInsightEngine:
    """Builds masters by rendering the plan to PJSR and running PixInsight headless (or only the script)."""

    name = "pixinsight"

    def __init__(self, settings: PixInsightSettings) -> None:
        self.settings = settings

    def check(self, plan: Plan) -> None:
        """Raise EngineError, before anything is written, when PixInsight cannot be run on this plan or
        would build another master than the plan asks for (:func:`apcal.engines.capabilities.assess`)."""
        script = script_path(plan, "<stamp>")
        if "," in str(script.absolute()):
            # -r=<script>,<arg>... : PixInsight would cut the path at the comma.
            raise EngineError(
                f"the script folder {plan.logs_dir} contains a comma, which PixInsight's -r= option "
                "reads as an argument separator: choose output.script_dir without one"
            )
        refusals = assess(plan, self.name).refusals
        if refusals:
            raise EngineError("; ".join(refusals))
        if self.settings.script_only:
            return
        binary = self.settings.binary
        if binary is None:
            raise EngineError(
                "PixInsight not found: set engine.pixinsight.binary to the PixInsight executable, "
                "or engine.pixinsight.script_only: true to only write the script"
            )
        if not binary.is_file() or not os.access(binary, os.X_OK):
            raise EngineError(
                f"PixInsight not found at {binary}: set engine.pixinsight.binary to the PixInsight "
                "executable (e.g. C:\\Program Files\\PixInsight\\bin\\PixInsight.exe, "
                "/opt/PixInsight/bin/PixInsight)"
            )

    def execute(self, plan: Plan, jobs: Sequence[Job], context: RunContext) -> Iterator[JobResult]:
        """Write the script, run PixInsight on it (unless script_only) and yield one result per job."""
        self.check(plan)
        jobs = tuple(jobs)
        if not jobs:
            return
        for warning in assess(plan, self.name).warnings:  # what the plan asks and this engine omits
            logger.warning(warning)
        for job in jobs:  # what ImageCalibration cannot do as asked, in the run log too
            if job.calibration is not None and scaled_dark(job):
                for note in dark_scaling_notes(job.calibration.params.dark_scaling, self.name):
                    logger.warning("{}: {}", job.id, note)
        logs = plan.logs_dir.absolute()
        script = script_path(plan, context.stamp).absolute()
        if self.settings.script_only:
            # No run to collect from: the console log is for whoever runs the script.
            console_log, status_file = logs / f"{context.stamp}_pixinsight.log", None
        else:
            console_log = pixinsight_capture(logs, context.stamp, "console")
            status_file = pixinsight_capture(logs, context.stamp, "status")
        text = render_script(plan, jobs, log_path=console_log, status_path=status_file)
        logs.mkdir(parents=True, exist_ok=True)
        write_script(script, text)
        command = pixinsight_command(self.settings, script)

        if self.settings.script_only:
            printed = command_line(command)
            for job in jobs:
                yield JobResult(job_id=job.id, status="script_only", output=job.output, message=printed)
            return

        assert status_file is not None
        for job in jobs:
            job.output.parent.mkdir(parents=True, exist_ok=True)
            if job.calibration is not None:
                job.calibration.output_dir.mkdir(parents=True, exist_ok=True)
        for stale in (console_log, status_file):
            stale.unlink(missing_ok=True)

        append_log(
            context.log_path,
            f"pixinsight: script {script}\npixinsight: running {command_line(command)} "
            f"(time limit {self.settings.timeout:g} s)\n",
        )
        outcome = run_pixinsight(command, timeout=self.settings.timeout, log_path=context.log_path)
        console_text = collect(console_log, "PixInsight")
        status_text = collect(status_file, "PixInsight")
        append_log(context.log_path, _console_section(console_text, outcome))

        statuses = parse_status_lines(status_text, STATUS_PREFIX)
        statuses.update(parse_status_lines(console_text, STATUS_PREFIX))
        for job in jobs:
            result = self._result(job, statuses.get(job.id), outcome)
            if result.status == "built" and context.progress is not None:
                context.progress(job.id, len(job.inputs), len(job.inputs))
            yield result

    def _result(self, job: Job, record: Mapping[str, Any] | None, outcome: RunOutcome) -> JobResult:
        status = record.get("status") if record is not None else None
        seconds = _number(record.get("seconds")) if record is not None else 0.0
        if status == "ok":
            assert record is not None
            problem = master_problem(job.output)
            if problem is not None:
                message = f"PixInsight reported ok but {problem}"
                return JobResult(job.id, "failed", job.output, message, seconds)
            calibrated: tuple[Path, ...] = ()
            if job.calibration is not None:
                calibrated = tuple(calibrated_path(job.calibration, path) for path in job.inputs)
            scales = record.get("dark_scales")
            return JobResult(
                job_id=job.id,
                status="built",
                output=job.output,
                seconds=seconds,
                calibrated=calibrated,
                dark_scales={
                    str(k): float(v)
                    for k, v in (scales if isinstance(scales, dict) else {}).items()
                    if isinstance(v, int | float)
                },
            )
        if status == "failed":
            assert record is not None
            return JobResult(job.id, "failed", job.output, str(record.get("message") or "failed"), seconds)
        if outcome.timed_out:
            message = f"PixInsight timed out after {self.settings.timeout:g} s"
        elif outcome.returncode != 0:
            message = f"PixInsight exited with code {outcome.returncode}"
        else:
            message = "PixInsight exited without reporting on this job (see the run log)"
        return JobResult(job.id, "failed", job.output, message, outcome.seconds)


ENGINE = PixInsightEngine


def script_path(plan: Plan, stamp: str) -> Path:
    """``<logs>/<stamp>_calibrate_masters.js``, the seed's script name."""
    return plan.logs_dir / f"{stamp}{SCRIPT_SUFFIX}"


def _console_section(console_text: str, outcome: RunOutcome) -> str:
    how = "timed out" if outcome.timed_out else f"exit code {outcome.returncode}"
    if not console_text:
        return f"pixinsight: {how} after {outcome.seconds:.1f} s; it wrote no console log\n"
    body = console_text if console_text.endswith("\n") else console_text + "\n"
    return (
        f"pixinsight: {how} after {outcome.seconds:.1f} s; its console log follows\n"
        "----- PixInsight console -----\n" + body + "----- end of PixInsight console -----\n"
    )


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
