"""Where a run's jobs execute: in this process (the default), or as tasks on a Dask cluster.

The runner keeps everything that needs the output folders' locks (planning, the incremental state,
stale-file clean-up, logs, reports) and hands each recipe's jobs to an executor as one :class:`Batch`.
An executor first receives every recipe's batch (:meth:`Executor.submit`: one graph for the whole run),
then yields each batch's results as its jobs finish (:meth:`Executor.results`); leaving its context
cancels whatever is still running (Ctrl-C, a crash in the submitting process).

:class:`LocalExecutor` runs a batch through its engine in this process when its results are asked for,
exactly as a run did before executors existed. The Dask executor (:mod:`apcal.run.cluster`) is made
by :func:`make_executor` from a ``--cluster`` address; Dask itself is imported only there, so the base
install does not need it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from apcal.engines.base import Engine, JobResult, RunContext
from apcal.errors import ApcalError
from apcal.plan.model import Job, Plan
from apcal.recipe.model import EngineSettings

#: The environment variable that gives ``--cluster`` its default.
CLUSTER_VARIABLE = "APCAL_CLUSTER"


@dataclass(frozen=True)
class Batch:
    """One recipe's jobs to build (the up-to-date ones already dropped), with its engine and context."""

    name: str  # the recipe's name, for messages
    settings: EngineSettings
    engine: Engine
    plan: Plan
    jobs: tuple[Job, ...]
    context: RunContext


class Executor(Protocol):
    """Runs batches of jobs; a context manager whose exit cancels what is still running."""

    def __enter__(self) -> Executor: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def submit(self, batches: Sequence[Batch]) -> None:
        """Start (or queue) every batch's jobs; raise ApcalError before anything runs if they cannot."""

    def results(self, batch: Batch) -> Iterator[JobResult]:
        """One result per job of ``batch`` (submitted before), as each finishes."""


class LocalExecutor:
    """Each batch's jobs in this process, in plan order, when its results are asked for."""

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def submit(self, batches: Sequence[Batch]) -> None:
        return None

    def results(self, batch: Batch) -> Iterator[JobResult]:
        return batch.engine.execute(batch.plan, batch.jobs, batch.context) if batch.jobs else iter(())


def make_executor(address: str | None) -> Executor:
    """The executor for a ``--cluster`` address: none for this process, ``local:N`` or ``tcp://...``.

    ApcalError (one line) for an address of another form, or when Dask is not installed.
    """
    if not address:
        return LocalExecutor()
    if not (address.startswith("local:") or "://" in address):
        raise ApcalError(
            f"--cluster {address!r}: expected tcp://HOST:PORT of a Dask scheduler, or local:N for N workers"
        )
    count = address.removeprefix("local:")
    if address.startswith("local:") and not (count.isdigit() and int(count) >= 1):
        raise ApcalError(f"--cluster {address!r}: local:N needs a number of workers N ≥ 1")
    try:
        from apcal.run.cluster import DaskExecutor
    except ImportError as exc:
        missing = exc.name or "dask"
        raise ApcalError(
            f"--cluster needs Dask ({missing} is not installed): pip install 'apcal[cluster]'"
        ) from None
    return DaskExecutor(address)
