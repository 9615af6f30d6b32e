"""Run a night's jobs as tasks on a Dask cluster (``apcal run --cluster``).

Dask distributed executes task graphs with dependencies, which is what a plan is: each job is one
task, and a flat job's task depends on the tasks that build its same-run masters (bias, dark,
flat-dark), whose results it receives. Tasks carry the job's part of the plan (paths, parameters,
:func:`apcal.run.cluster_task.job_plan`), never pixel arrays: the workers read the frames and write the
masters on a shared file system, checked before anything is submitted (:meth:`DaskExecutor.submit`).

Faults are Dask's to handle: a worker that dies mid-job has its task rerun on another worker (up to the
scheduler's ``allowed-failures``); the master is written atomically, so the dead worker leaves at most a
hidden temporary file, which the runner removes once the recipe's jobs are done. A job that fails for
its own reasons returns a ``failed`` result, as in one process. Leaving the executor's context before
the graph is done (Ctrl-C) cancels every task still queued or running.

``local:N`` starts a LocalCluster of N single-threaded worker processes on this machine for the run and
stops it afterwards; ``tcp://HOST:PORT`` connects to a running scheduler.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

from distributed import Client, Future, LocalCluster, as_completed
from loguru import logger

from apcal.engines.base import JobResult
from apcal.errors import ApcalError, EngineError
from apcal.run.cluster_task import job_plan, run_job, unseen_folders
from apcal.run.executor import Batch

#: Seconds to wait for a scheduler to answer, and for at least one worker to join it.
CONNECT_TIMEOUT = 30.0


class DaskExecutor:
    """Jobs as tasks of one Dask graph (see the module docstring)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None
        self._futures: dict[tuple[int, str], Future[Any]] = {}
        self._batches: dict[int, Batch] = {}
        self._run_id = uuid.uuid4().hex[:12]

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None and self._futures:
            pending = [f for f in self._futures.values() if not f.done()]
            if pending:
                logger.info("cancelling {} task(s) still queued or running on the cluster", len(pending))
                with contextlib.suppress(Exception):
                    self._client.cancel(pending, force=True)
        self._futures.clear()
        for closeable in (self._client, self._cluster):
            if closeable is not None:
                with contextlib.suppress(Exception):
                    closeable.close()
        self._client = self._cluster = None

    def submit(self, batches: Sequence[Batch]) -> None:
        """Connect, check that every worker sees the folders, then submit every batch's jobs."""
        batches = [b for b in batches if b.jobs]
        if not batches:
            return
        for batch in batches:
            if batch.engine.name != "native":
                raise EngineError(
                    f"{batch.name}: --cluster runs the native engine only "
                    f"(the recipe uses {batch.engine.name})"
                )
        client = self._connect()
        workers = _workers(client)
        _check_folders(client, workers, batches)
        hosts: dict[str, int] = {}
        for address in workers:
            host = address.rsplit(":", 1)[0]
            hosts[host] = hosts.get(host, 0) + 1
        for batch in batches:
            self._submit_batch(client, batch, hosts)

    def _submit_batch(self, client: Client, batch: Batch, hosts: dict[str, int]) -> None:
        index = len(self._batches)
        self._batches[index] = batch
        mine = {job.id for job in batch.jobs}
        for job in batch.jobs:  # plan order: a master's task exists before the flats that need it
            needs = [ref.job_id for ref in (job.calibration.masters if job.calibration else ())]
            dependencies = [self._futures[(index, j)] for j in needs if j is not None and j in mine]
            self._futures[(index, job.id)] = client.submit(
                run_job,
                batch.settings,
                job_plan(batch.plan, job),
                replace(batch.context, progress=None),  # the terminal's bars stay here
                hosts,
                *dependencies,
                key=f"apcal-{self._run_id}-{index}-{job.id}",  # unique on a scheduler others share
                pure=False,
            )
        logger.debug("{}: {} job(s) submitted to {}", batch.name, len(batch.jobs), self.address)

    def results(self, batch: Batch) -> Iterator[JobResult]:
        """The batch's results as its tasks finish, each with the lines its worker logged for it."""
        index = next(i for i, b in self._batches.items() if b is batch) if batch.jobs else None
        if index is None:
            return
        futures = {self._futures[(index, job.id)]: job for job in batch.jobs}
        for future in as_completed(list(futures)):
            job = futures[future]
            try:
                result, lines = future.result()
            except Exception as exc:  # the task itself was lost (workers killed it too often)
                message = f"the cluster could not run it: {type(exc).__name__}: {exc}"
                yield JobResult(job.id, "failed", message=message)
                continue
            for level, line in lines:
                logger.log(level, "[{}] {}", result.worker, line)
            yield result

    def _connect(self) -> Client:
        if self._client is not None:
            return self._client
        try:
            expected = 1  # a running scheduler: at least one worker; more may join while the graph runs
            if self.address.startswith("local:"):
                self._cluster = _local_cluster(self.address)
                self._client = Client(self._cluster)
                expected = len(self._cluster.workers)
            else:
                self._client = Client(self.address, timeout=CONNECT_TIMEOUT)
            self._client.wait_for_workers(expected, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            self.__exit__(None, None, None)
            raise ApcalError(
                f"cannot use the Dask cluster {self.address}: {str(exc) or type(exc).__name__}"
            ) from None
        logger.info("running on the Dask cluster {} ({} workers)", self.address, len(_workers(self._client)))
        return self._client


def _local_cluster(address: str) -> LocalCluster:
    """``local:N``: N single-threaded worker processes (each job's numba threads share the cores)."""
    return LocalCluster(
        n_workers=int(address.removeprefix("local:")),  # checked by make_executor
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit=0,  # apcal keeps within engine.memory_limit per job itself
    )


def _workers(client: Client) -> dict[str, Any]:
    workers: dict[str, Any] = client.scheduler_info(n_workers=-1)["workers"]
    return workers


def _check_folders(client: Client, workers: dict[str, Any], batches: Sequence[Batch]) -> None:
    """ApcalError naming the worker and the folder when a worker cannot read an input folder or write
    an output folder (not the same shared file system, not mounted, other permissions)."""
    readable: set[str] = set()
    writable: set[str] = set()
    for batch in batches:
        writable.add(str(batch.plan.output_dir))
        for job in batch.jobs:
            readable.update(str(path.parent) for path in job.inputs)
            masters = job.calibration.masters if job.calibration else ()
            readable.update(str(ref.path.parent) for ref in masters if ref.job_id is None)
    answers: dict[str, list[str]] = client.run(unseen_folders, sorted(readable), sorted(writable))
    for address, problems in sorted(answers.items()):
        if problems:
            name = workers.get(address, {}).get("name", address)
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ApcalError(f"Dask worker {name} ({address}) {problems[0]}{more}")
