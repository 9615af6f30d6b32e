"""The small protocol every engine implements, and what it reports per job.

An engine takes a :class:`~apcal.plan.Plan` and the jobs to run (the runner has already dropped the
up-to-date ones) and yields one :class:`JobResult` per job, in plan order, as each finishes. A failing
job yields a ``failed`` result; it never stops the others. :meth:`Engine.check` raises
:class:`~apcal.errors.EngineError` before anything runs when the engine cannot work at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, get_args

from apcal.frames.model import SkippedFile
from apcal.plan.model import Job, Plan

ProgressCallback = Callable[..., None]
JobStatus = Literal["built", "failed", "up_to_date", "script_only"]
JOB_STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)


@dataclass(frozen=True)
class JobResult:
    """The outcome of one job. ``stats`` holds master statistics (median, noise, rejected_low/high)."""

    job_id: str
    status: JobStatus
    output: Path | None = None
    message: str = ""
    seconds: float = 0.0
    stats: Mapping[str, float] = field(default_factory=dict)
    calibrated: tuple[Path, ...] = ()
    dark_scales: Mapping[str, float] = field(default_factory=dict)  # input file name -> optimised k
    excluded: tuple[SkippedFile, ...] = ()  # frames the engine screened out on their pixels
    screening_warnings: tuple[str, ...] = ()
    worker: str | None = None  # the Dask worker that built it (a cluster run); None in this process


@dataclass(frozen=True)
class RunContext:
    """What an engine needs to know about the run it is part of.

    ``stamp`` (YYYYmmdd_HHMMSS) names the script and log; ``log_path`` is the run log, which the engine
    may append to; ``progress`` is called with (job id, frames done, frames total, phase), the phase
    ("calibrating", "integrating") optional.
    """

    stamp: str
    log_path: Path
    progress: ProgressCallback | None = None


class Engine(Protocol):
    name: str

    def check(self, plan: Plan) -> None:
        """Raise EngineError when this engine cannot run the plan at all (nothing has been written)."""

    def execute(self, plan: Plan, jobs: Sequence[Job], context: RunContext) -> Iterator[JobResult]:
        """Run ``jobs`` (a subset of ``plan.jobs``, in order) and yield one result per job."""
