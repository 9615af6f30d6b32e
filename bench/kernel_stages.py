"""Where the winsorized integration kernel spends its time, stage by stage, by frame count (not a test).

    python bench/kernel_stages.py [N ...] [--rows R] [--cols C] [--rounds K] [--outliers F] [--threads T]

For each frame count N (default 25, 50, 100) it builds a block of R x C quantized Gaussian samples
(500 +- 6 DN, as a bias; ``--outliers`` adds that fraction of 50-2000 DN hits, as cosmic rays), then
calls the kernel's own numba functions one stage at a time, as ``integrate_rows`` does for one row:
gather a chunk's samples as stored (``_gather_raw``: a bias is not normalized), sort its columns
(``_sort_chunk`` with the lanes' network, in float32), widen them into the chunk and the row's sorted
samples (``_keep_sorted``; counted with the sort), the start (median and Sn, ``_start_lanes``, in
float32 where ``_sn_exact`` allows, as for every 16-bit frame), then the winsorized lanes over the row
(``_winsorized_lanes``); and, separately, ``integrate_rows`` itself on the same block. Prints the
minimum over the rounds, in ns per pixel. Each stage's figure includes the Python call per chunk (~20
ns per pixel); the whole kernel's does not. One thread by default: the figures are the kernel's work,
not how the machine shares its cores.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from apcal.engines.native import _chunk_samples as samples
from apcal.engines.native import _integrate_kernel as kernel
from apcal.engines.native import _winsorized_lanes as lanes
from apcal.engines.native._kernel_params import kernel_params
from apcal.params import IntegrationParams

STAGES = ("gather", "sort", "start", "lanes", "kernel")


def block(n: int, rows: int, cols: int, outliers: float, seed: int = 1) -> np.ndarray:
    """n frames of rows x cols float32 samples, quantized like 16-bit data."""
    rng = np.random.default_rng(seed)
    stack = np.round(rng.normal(500.0, 6.0, (n, rows, cols))).astype(np.float32)
    if outliers:
        hit = rng.random(stack.shape) < outliers
        stack[hit] += rng.uniform(50.0, 2000.0, int(hit.sum())).astype(np.float32)
    return stack


def stage_times(stack: np.ndarray) -> dict[str, float]:
    """Seconds per stage over the whole block."""
    n, rows, cols = stack.shape
    settings = kernel_params(IntegrationParams(rejection="winsorized"), "winsorized", "average")
    frames = (np.ones(n), np.zeros(n), np.ones(n), np.zeros(n))
    sort, select = lanes.lanes_networks(n)
    chunk = kernel.CHUNK
    vals, h = np.empty((n, chunk)), np.empty((n, chunk))
    h_raw = np.empty((n, chunk), dtype=stack.dtype)
    networks = (sort, select)
    raw = np.empty((n, chunk), dtype=stack.dtype)  # unnormalized: sorted as float32, as the kernel does
    counts, low_n, high_n = (np.empty(chunk, dtype=np.int64) for _ in range(3))
    srt, eligible = np.empty((n, cols)), np.ones(cols, dtype=np.bool_)
    mean0, sig0 = np.empty(cols), np.empty(cols)
    lo, hi = np.zeros(cols, dtype=np.int64), np.zeros(cols, dtype=np.int64)
    scratch, v, w = np.empty((n, lanes.LANES)), np.empty(n), np.empty(n)
    spent = dict.fromkeys(STAGES, 0.0)
    for y in range(rows):
        for x0 in range(0, cols, chunk):
            width = min(chunk, cols - x0)
            t0 = time.perf_counter()
            samples._gather_raw(stack, y, x0, width, settings, raw, counts, low_n, high_n)
            t1 = time.perf_counter()
            lanes._sort_chunk(raw, n, width, sort)
            samples._keep_sorted(raw, vals, srt, x0, n, width)
            t2 = time.perf_counter()
            kernel._start_lanes(raw, n, width, x0, eligible, networks, h_raw, mean0, sig0)
            if not kernel._sn_exact(raw, h_raw, n, width):  # as the kernel: float64 where float32 is not
                kernel._start_lanes(vals, n, width, x0, eligible, networks, h, mean0, sig0)
            t4 = time.perf_counter()
            spent["gather"] += t1 - t0
            spent["sort"] += t2 - t1
            spent["start"] += t4 - t2
        t0 = time.perf_counter()
        lanes._winsorized_lanes(srt, cols, n, eligible, mean0, sig0, settings, lo, hi, scratch, v, w)
        spent["lanes"] += time.perf_counter() - t0
    out = np.empty((rows, cols), dtype=np.float32)
    rejected_low = np.empty((rows, cols), dtype=np.uint16)
    rejected_high = np.empty((rows, cols), dtype=np.uint16)
    blocks = (0, (rows + kernel.ROW_BLOCK - 1) // kernel.ROW_BLOCK)
    t0 = time.perf_counter()
    kernel.integrate_rows(stack, settings, frames, None, networks, out, rejected_low, rejected_high, blocks)
    spent["kernel"] = time.perf_counter() - t0
    return spent


def kernel_arguments(
    doc: str, frames: list[int], rows: int, cols: int, outliers: float
) -> argparse.Namespace:
    """The command line of a kernel bench (this one, ``flat_kernel.py``): frame counts, block shape,
    rounds, outliers and threads (numba's count set here), with the bench's own defaults."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("frames", type=int, nargs="*", default=frames)
    parser.add_argument("--rows", type=int, default=rows)
    parser.add_argument("--cols", type=int, default=cols)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--outliers", type=float, default=outliers, help="fraction of samples hit (0.01: 1 %%)"
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    return args


def main() -> None:
    args = kernel_arguments(__doc__, [25, 50, 100], rows=16, cols=6248, outliers=0.0)
    stacks = {n: block(n, args.rows, args.cols, args.outliers) for n in args.frames}
    for n in args.frames:  # load (or compile) every kernel for this n before timing
        stage_times(block(n, 1, 256, args.outliers))
    best = {n: dict.fromkeys(STAGES, np.inf) for n in args.frames}
    for _ in range(args.rounds):
        for n in args.frames:
            for stage, seconds in stage_times(stacks[n]).items():
                best[n][stage] = min(best[n][stage], seconds)
    pixels = args.rows * args.cols
    print(f"ns per pixel, min of {args.rounds} rounds, {args.rows} x {args.cols}, outliers {args.outliers:g}")
    print(f"{'frames':>6s}" + "".join(f"{stage:>9s}" for stage in STAGES) + f"{'per sample':>12s}")
    for n in args.frames:
        row = "".join(f"{1e9 * best[n][stage] / pixels:9.0f}" for stage in STAGES)
        print(f"{n:6d}{row}{1e9 * best[n]['kernel'] / pixels / n:12.1f}")


if __name__ == "__main__":
    main()
