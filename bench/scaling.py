"""apcal's and Siril's wall time and peak RSS against the frame count: 25, 50, 100 IMX571 bias frames
(not a test).

Issue 19's second "must show": 6248x4176 frames with ``memory_limit: 1GiB`` stay under 1.2 GiB peak RSS
at every frame count, and the wall time grows linearly. Each point is a folder of links to the first N
frames of one cached 100-frame night (:mod:`nights`), so the points share their files; each run is
its tool's own child process (:func:`measure.run_measured`: the child's ru_maxrss). Points run in rounds
(25, 50, 100, then again), each point apcal then Siril, so each round's runs share the machine's moment.

Siril runs beside apcal (unless ``--no-siril``) with the rejection apcal's recipe default gives a bias
(winsorized, sigmas 4/3): how linear a mature tool's wall time is on the same frames is the yardstick for
apcal's, and its peak RSS shows what the memory bound is worth. Untimed warm-up runs of the 25-frame point
come first (``--warmup``): a tool's first run after others read its libraries back from disk.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
from measure import Measured, run_measured
from nights import IMX571, ensure_night, read_into_page_cache, subset
from siril_tool import siril_inputs, siril_script, siril_version

COUNTS = (25, 50, 100)
GIB = 1 << 30
#: Siril's rejection sigmas (low, high): apcal's defaults for a bias (auto picks winsorized there).
SIRIL_SIGMAS = (4.0, 3.0)

Runs = dict[tuple[str, int], list[Measured]]


def run_scaling(
    folder: Path,
    cache: Path,
    memory_limit: int,
    repeat: int,
    script: Path,
    threads: int,
    siril: str | None = None,
    warmup: int = 1,
) -> int:
    """Every point ``repeat`` times in rounds, for apcal and (when given) Siril; prints each run, then
    the tables and the linearity."""
    night = ensure_night(cache, IMX571)
    read_into_page_cache(night)
    points = {n: subset(night, "bias", n, folder / "scaling" / f"{n}-frames") for n in COUNTS}
    tools = ("apcal", "siril") if siril else ("apcal",)

    def run(tool: str, n: int) -> Measured:
        if tool == "siril" and siril:
            return _run_siril(siril, points[n], folder / "scaling" / f"siril-{n}")
        return _run_apcal(points[n], folder / "scaling", n, memory_limit, threads, script)

    for index in range(warmup):
        warm = [run(tool, COUNTS[0]) for tool in tools]
        print(f"warm-up {index + 1} (not counted): {COUNTS[0]} frames: {_runs_line(warm)}", flush=True)
    runs: Runs = {(tool, n): [] for tool in tools for n in COUNTS}
    for index in range(max(1, repeat)):
        for n in COUNTS:
            measured = [run(tool, n) for tool in tools]
            for m in measured:
                runs[m.tool, n].append(m)
            print(f"round {index + 1}: {n:3d} frames: {_runs_line(measured)}", flush=True)
    return _print_tables(runs, tools, memory_limit)


def _run_apcal(frames: Path, work: Path, n: int, memory_limit: int, threads: int, script: Path) -> Measured:
    out = work / f"out-{n}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    settings = {"memory_limit": memory_limit, "threads": threads}
    command = [sys.executable, str(script), "_apcal", str(frames), str(out), json.dumps(settings)]
    return run_measured("apcal", command, log=work / f"apcal-{n}.log")


def _run_siril(siril: str, frames: Path, work: Path) -> Measured:
    """Siril's master bias of the frames linked in ``frames`` (links to links: Siril follows them)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    siril_inputs({"bias": sorted(frames.iterdir())}, work)
    ssf = siril_script(work, siril_version(siril), ["bias"], SIRIL_SIGMAS)
    return run_measured(
        "siril", [siril, "-d", str(work), "-s", str(ssf)], log=work.parent / f"{work.name}.log"
    )


def _runs_line(runs: list[Measured]) -> str:
    return ", ".join(
        f"{m.tool} {m.seconds:.2f} s ({m.cpu:.1f} s CPU), {m.peak_rss >> 20} MiB"
        if m.ok
        else f"{m.tool} FAILED"
        for m in runs
    )


def _print_tables(runs: Runs, tools: tuple[str, ...], memory_limit: int) -> int:
    failed = [m for ms in runs.values() for m in ms if not m.ok]
    for m in failed:
        print(f"FAILED: {m.tool}: {m.detail}")
    if failed:
        return 1
    medians = {key: float(np.median([m.seconds for m in ms])) for key, ms in runs.items()}
    for tool in tools:
        _print_tool(tool, runs, medians, memory_limit)
    if "siril" in tools:
        print()
        print("apcal / siril at each point (median wall time; largest peak RSS):")
        for n in COUNTS:
            rss = max(m.peak_rss for m in runs["apcal", n]) / max(m.peak_rss for m in runs["siril", n])
            each = ", ".join(
                f"{a.seconds / s.seconds:.2f}"
                for a, s in zip(runs["apcal", n], runs["siril", n], strict=True)
            )
            print(
                f"  {n:3d} frames: {medians['apcal', n] / medians['siril', n]:.2f} x the time"
                f" (per round {each}), {rss:.2f} x the memory"
            )
    peak = max(m.peak_rss for n in COUNTS for m in runs["apcal", n])
    print(f"apcal's largest peak RSS {peak / GIB:.2f} GiB (target < 1.2 GiB)")
    return 0


def _print_tool(tool: str, runs: Runs, medians: dict[tuple[str, int], float], memory_limit: int) -> None:
    """One tool's table, its growth against the first point (medians, each round's, CPU time)."""
    print()
    limit = f", memory_limit {memory_limit / GIB:.2f} GiB" if tool == "apcal" else ""
    print(f"{tool}: IMX571 bias frames (6248x4176 uint16){limit}:")
    print(f"{'frames':>6s} {'wall s (median)':>16s} {'s per frame':>12s} {'peak RSS MiB':>13s}  rounds")
    for n in COUNTS:
        ms = runs[tool, n]
        peak = max(m.peak_rss for m in ms)
        each = ", ".join(f"{m.seconds:.2f} s/{m.peak_rss / (1 << 20):.0f} MiB" for m in ms)
        print(
            f"{n:6d} {medians[tool, n]:16.2f} {medians[tool, n] / n:12.3f} {peak / (1 << 20):13.0f}  {each}"
        )
    first = COUNTS[0]
    growth = ", ".join(
        f"{n}: {medians[tool, n] / medians[tool, first]:.2f} (linear {n / first:.0f})" for n in COUNTS[1:]
    )
    print(f"wall time / {first}-frame wall time: {growth}")
    # Each round's own ratios: its runs share the machine's moment, which the medians mix.
    for n in COUNTS[1:]:
        each = ", ".join(
            f"{b.seconds / a.seconds:.2f}" for a, b in zip(runs[tool, first], runs[tool, n], strict=True)
        )
        print(f"  {n} / {first} frames, per round: {each} (linear {n / first:.0f})")
    # CPU time grows the same way on a quiet machine; on a busy one it is the steadier of the two.
    cpus = {n: float(np.median([m.cpu for m in runs[tool, n]])) for n in COUNTS}
    print(
        f"CPU time / {first}-frame CPU time: "
        + ", ".join(f"{n}: {cpus[n] / cpus[first]:.2f}" for n in COUNTS[1:])
    )
