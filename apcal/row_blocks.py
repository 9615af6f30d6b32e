"""Run a ``nogil`` numba kernel over blocks of rows on several threads: the integration kernel, flat
calibration and the statistics kernels (every kernel apcal runs on more than one core).

numba's own ``parallel=True`` loops cost first use dearly: lowering the integration kernel's parallel
loop took ~10 s of the ~33 s it took to compile (one core, measured with numba's compile events), and
the five statistics and flat kernels compiled in 15.9-16.3 s with their ``prange`` loops against
5.9-7.0 s as plain loops (cold, cache off, two alternating pairs), for work that a thread pool over
blocks of rows does as well. The kernels take the half-open range of blocks (first, stop) to do;
:func:`submit_blocks` splits a call's blocks into a few tasks per thread (dynamic balance: a task of
hot rows does not hold the others back), and :func:`wait_blocks` waits for all of them
(:func:`run_blocks` does both). The thread count is numba's (:func:`numba.get_num_threads`), which the
engine's ``threads`` setting sets (:func:`apcal.engines.native.stack.set_threads`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numba

#: Tasks per thread in one call: enough for a balance, few enough that each task is worth a handoff.
TASKS_PER_THREAD = 4

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def most_threads() -> int:
    """The most threads numba may use in this process (what it started with; ``set_num_threads`` can
    only lower the count from there)."""
    # numba.config sets its settings at import time from the environment: no declaration for mypy.
    started: int = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
    return started


def _executor() -> ThreadPoolExecutor:
    """The process's kernel threads, started on first use, as many as numba may use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=most_threads(), thread_name_prefix="apcal-kernel")
        return _pool


def submit_blocks(kernel: Callable[[tuple[int, int]], object], nblocks: int) -> list[Future[object]]:
    """Queue ``kernel((first, stop))`` over ranges that cover blocks 0..nblocks-1 once each on the kernel
    threads (numba's thread count); returns their futures, for :func:`wait_blocks`. Tasks queued while
    earlier ones still run start as soon as a thread is free, so a caller that queues its next call
    before waiting for this one keeps every thread busy from call to call. With one thread (or block)
    the kernel runs here, before this returns."""
    threads = numba.get_num_threads()
    if threads == 1 or nblocks <= 1:
        if nblocks > 0:
            kernel((0, nblocks))
        return []
    tasks = min(nblocks, threads * TASKS_PER_THREAD)
    bounds = [nblocks * t // tasks for t in range(tasks + 1)]
    pool = _executor()
    return [pool.submit(kernel, (a, b)) for a, b in itertools.pairwise(bounds)]


def wait_blocks(futures: list[Future[object]]) -> None:
    """Wait for every task of :func:`submit_blocks`, raising the first error any of them raised."""
    for future in futures:
        future.result()


def run_blocks(kernel: Callable[[tuple[int, int]], object], nblocks: int) -> None:
    """``kernel((first, stop))`` over blocks 0..nblocks-1 on the kernel threads, returning when all are
    done (:func:`submit_blocks`, then :func:`wait_blocks`)."""
    wait_blocks(submit_blocks(kernel, nblocks))


def block_count(rows: int, block_rows: int) -> int:
    """How many blocks of ``block_rows`` rows cover ``rows`` rows (the last may be shorter)."""
    return -(-rows // block_rows)
