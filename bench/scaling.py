"""apcal's wall time and peak RSS against the frame count: 25, 50, 100 IMX571 bias frames (not a test).

Issue 19's second "must show": 6248x4176 frames with ``memory_limit: 1GiB`` stay under 1.2 GiB peak RSS
at every frame count, and the wall time grows linearly. Each point is a folder of links to the first N
frames of one cached 100-frame night (:mod:`nights`), so the points share their files; each run is
apcal's own child process (:func:`measure.run_measured`: the child's ru_maxrss). Points run in rounds
(25, 50, 100, then again) so each round's three runs share the machine's moment.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
from measure import Measured, run_measured
from nights import IMX571, ensure_night, read_into_page_cache, subset

COUNTS = (25, 50, 100)
GIB = 1 << 30


def run_scaling(folder: Path, cache: Path, memory_limit: int, repeat: int, script: Path, threads: int) -> int:
    """Every point ``repeat`` times in rounds; prints each run, then the table and the linearity."""
    night = ensure_night(cache, IMX571)
    read_into_page_cache(night)
    runs: dict[int, list[Measured]] = {n: [] for n in COUNTS}
    for index in range(max(1, repeat)):
        for n in COUNTS:
            frames = subset(night, "bias", n, folder / "scaling" / f"{n}-frames")  # links to the first n
            out = folder / "scaling" / f"out-{n}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            settings = {"memory_limit": memory_limit, "threads": threads}
            command = [
                sys.executable,
                str(script),
                "_apcal",
                str(frames),
                str(out),
                json.dumps(settings),
            ]
            measured = run_measured("apcal", command, log=folder / "scaling" / f"apcal-{n}.log")
            runs[n].append(measured)
            state = (
                f"{measured.seconds:.2f} s ({measured.cpu:.1f} s CPU), {measured.peak_rss >> 20} MiB"
                if measured.ok
                else "FAILED"
            )
            print(f"round {index + 1}: {n:3d} frames: apcal {state}", flush=True)
    return _print_table(runs, memory_limit)


def _print_table(runs: dict[int, list[Measured]], memory_limit: int) -> int:
    print()
    print(f"IMX571 bias frames (6248x4176 uint16), apcal memory_limit {memory_limit / GIB:.2f} GiB:")
    print(
        f"{'frames':>6s} {'wall s (median)':>16s} {'s per frame':>12s} {'peak RSS MiB':>13s}"
        f" {'RSS / 1.2 GiB':>14s}  rounds"
    )
    ok = all(m.ok for ms in runs.values() for m in ms)
    if not ok:
        for ms in runs.values():
            for m in ms:
                if not m.ok:
                    print(f"FAILED: {m.detail}")
        return 1
    medians = {n: float(np.median([m.seconds for m in ms])) for n, ms in runs.items()}
    for n, ms in runs.items():
        peak = max(m.peak_rss for m in ms)
        each = ", ".join(f"{m.seconds:.2f} s/{m.peak_rss / (1 << 20):.0f} MiB" for m in ms)
        print(
            f"{n:6d} {medians[n]:16.2f} {medians[n] / n:12.3f} {peak / (1 << 20):13.0f}"
            f" {peak / (1.2 * GIB):14.2f}  {each}"
        )
    first = COUNTS[0]
    growth = ", ".join(f"{n}: {medians[n] / medians[first]:.2f} (linear {n / first:.0f})" for n in COUNTS[1:])
    print(f"wall time / {first}-frame wall time: {growth}")
    # Each round's own ratios: its runs share the machine's moment, which the medians mix.
    for n in COUNTS[1:]:
        each = ", ".join(f"{b.seconds / a.seconds:.2f}" for a, b in zip(runs[first], runs[n], strict=True))
        print(f"  {n} / {first} frames, per round: {each} (linear {n / first:.0f})")
    # CPU time grows the same way on a quiet machine; on a busy one it is the steadier of the two.
    cpus = {n: float(np.median([m.cpu for m in ms])) for n, ms in runs.items()}
    growth = ", ".join(f"{n}: {cpus[n] / cpus[first]:.2f}" for n in COUNTS[1:])
    print(f"CPU time / {first}-frame CPU time: {growth}")
    peak = max(m.peak_rss for ms in runs.values() for m in ms)
    print(f"largest peak RSS {peak / GIB:.2f} GiB (target < 1.2 GiB)")
    return 0
