"""Threads over blocks of rows (:mod:`apcal.row_blocks`)."""

from __future__ import annotations

import threading

import numba
import numpy as np
import pytest

from apcal.engines.native.integration import integrate
from apcal.params import IntegrationParams
from apcal.row_blocks import block_count, run_blocks, submit_blocks, wait_blocks


@pytest.mark.parametrize("nblocks", [0, 1, 2, 7, 100])
def test_every_block_is_done_once(nblocks: int):
    done: list[int] = []
    lock = threading.Lock()

    def kernel(blocks: tuple[int, int]) -> None:
        with lock:
            done.extend(range(*blocks))

    wait_blocks(submit_blocks(kernel, nblocks))
    assert sorted(done) == list(range(nblocks))


def test_a_failing_block_raises_in_the_caller():
    def kernel(blocks: tuple[int, int]) -> None:
        if blocks[0] <= 3 < blocks[1]:
            raise ValueError("block 3 failed")

    with pytest.raises(ValueError, match="block 3 failed"):
        wait_blocks(submit_blocks(kernel, 8))


def test_run_blocks_returns_once_every_block_is_done_and_raises_what_one_raised():
    done: list[int] = []
    lock = threading.Lock()

    def kernel(blocks: tuple[int, int]) -> None:
        with lock:
            done.extend(range(*blocks))
        if blocks[0] <= 5 < blocks[1]:
            raise ValueError("block 5 failed")

    run_blocks(kernel, 5)
    assert sorted(done) == list(range(5))
    with pytest.raises(ValueError, match="block 5 failed"):
        run_blocks(kernel, 9)


@pytest.mark.parametrize(("rows", "blocks"), [(0, 0), (1, 1), (16, 1), (17, 2), (4176, 261)])
def test_block_count_covers_every_row_with_the_last_block_short(rows: int, blocks: int):
    assert block_count(rows, 16) == blocks


def test_blocks_run_on_more_than_one_thread_when_numba_has_them():
    if numba.get_num_threads() < 2:
        pytest.skip("numba runs one thread on this machine")
    seen: set[int] = set()
    barrier = threading.Barrier(2, timeout=10)  # two tasks must be running at the same time

    def kernel(blocks: tuple[int, int]) -> None:
        seen.add(threading.get_ident())
        if blocks[0] < 2:
            barrier.wait()

    wait_blocks(submit_blocks(kernel, 2))
    assert len(seen) == 2


def test_a_call_queued_before_the_last_is_waited_for_runs_on_a_free_thread():
    if numba.get_num_threads() < 2:
        pytest.skip("numba runs one thread on this machine")
    second_started = threading.Event()

    def first(blocks: tuple[int, int]) -> None:
        if blocks[0] == 0:  # the first call's slowest task: it ends only once the next call runs
            assert second_started.wait(timeout=10), "the next call waited for this one's last task"

    def second(blocks: tuple[int, int]) -> None:
        second_started.set()

    earlier = submit_blocks(first, 2)
    later = submit_blocks(second, 2)
    wait_blocks(earlier)
    wait_blocks(later)


def test_integration_is_the_same_on_one_thread_and_on_all():
    rng = np.random.default_rng(11)
    stack = (0.1 + 0.01 * rng.standard_normal((9, 70, 130))).astype(np.float32)
    stack[:, ::9, ::13] += 0.3
    params = IntegrationParams(rejection="winsorized", sigma_low=3.0, sigma_high=3.0)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = integrate(stack, params)
    finally:
        numba.set_num_threads(threads)
    every = integrate(stack, params)
    for a, b in ((one.image, every.image), (one.rejected_low, every.rejected_low)):
        assert a.tobytes() == b.tobytes()
    assert one.rejected_high.tobytes() == every.rejected_high.tobytes()
