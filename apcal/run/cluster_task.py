"""What a Dask worker runs for apcal: one job, or a check that it sees the run's folders.

These functions travel to the workers by reference (module and name), so they import nothing from
Dask at module level and take only plain, picklable values: the job's part of the plan (paths and
parameters, never pixel arrays) and the engine settings. The worker reads the frames and writes the
master on the shared file system itself, through the same native engine and atomic writes as a run
in one process.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from apcal.engines.base import JobResult, RunContext
from apcal.plan.model import Job, Plan
from apcal.recipe.model import EngineSettings

if TYPE_CHECKING:
    from loguru import Message

#: A worker's log lines for one job, sent back with its result: (level name, message).
LogLines = list[tuple[str, str]]


def job_plan(plan: Plan, job: Job) -> Plan:
    """The part of ``plan`` a task carries for ``job``: its output settings and that one job."""
    return replace(plan, jobs=(job,), skipped_files=(), skipped_groups=(), notes=())


def numba_threads(cores: int, workers_here: int, worker_threads: int) -> int:
    """How many numba threads one task may use so that a host's workers share its cores, not
    oversubscribe them: ``cores`` split between the ``workers_here`` workers on the host, each running
    ``worker_threads`` tasks at once; at least one."""
    return max(1, cores // max(1, workers_here * worker_threads))


def run_job(
    settings: EngineSettings,
    plan: Plan,
    context: RunContext,
    host_workers: Mapping[str, int],
    *dependencies: tuple[JobResult, LogLines],
) -> tuple[JobResult, LogLines]:
    """Build ``plan``'s one job on this worker; its result (naming the worker) and its log lines.

    ``dependencies`` are the results of the same-run jobs that build this job's masters: a failed one
    makes this job fail without touching that master, as in one process. ``host_workers`` counts the
    workers per host when the graph was submitted, to share the host's cores between them (unless the
    recipe sets ``engine.threads``).
    """
    from distributed import get_worker

    from apcal.engines.native.engine import NativeEngine
    from apcal.engines.native.stack import set_threads

    worker = get_worker()
    with contextlib.suppress(ValueError):  # loguru's default stderr handler: the lines come back instead
        logger.remove(0)
    if settings.threads <= 0:
        host = worker.address.rsplit(":", 1)[0]
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        here = host_workers.get(host, 1)
        settings = replace(settings, threads=numba_threads(cores, here, worker.state.nthreads))
    set_threads(settings.threads)  # for the whole task (flat calibration too), in this worker thread
    failed = {result.job_id for result, _ in dependencies if result.status == "failed"}
    with _captured_log() as lines:
        engine = NativeEngine(settings)
        (result,) = engine.execute(plan, plan.jobs, replace(context, progress=None), failed=failed)
    return replace(result, worker=str(worker.name)), lines


@contextmanager
def _captured_log() -> Iterator[LogLines]:
    """This thread's loguru messages (DEBUG and up) while the block runs, for the submitter's run log."""
    lines: LogLines = []
    thread = threading.get_ident()

    def keep(message: Message) -> None:
        lines.append((message.record["level"].name, message.record["message"]))

    handler = logger.add(keep, level="DEBUG", format="{message}", filter=lambda r: r["thread"].id == thread)
    try:
        yield lines
    finally:
        logger.remove(handler)


def unseen_folders(readable: Collection[str], writable: Collection[str]) -> list[str]:
    """What this worker cannot do with the run's folders, one phrase each (empty: it sees them all)."""
    problems = []
    for folder in sorted(readable):
        if not Path(folder).is_dir():
            problems.append(f"does not see the input folder {folder}")
        elif not os.access(folder, os.R_OK | os.X_OK):
            problems.append(f"cannot read the input folder {folder}")
    for folder in sorted(writable):
        if not Path(folder).is_dir():
            problems.append(f"does not see the output folder {folder}")
        elif not os.access(folder, os.W_OK | os.X_OK):
            problems.append(f"cannot write to the output folder {folder}")
    return problems
