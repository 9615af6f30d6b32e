"""What the benchmark's child processes run: apcal's native engine and ccdproc on one night (not a test).

Each tool runs in its own process so that its wall time includes its start-up and its peak RSS is its
own (:mod:`measure`). The apcal child takes the same path ``apcal run`` takes (``prepare_plan`` +
``NativeEngine``) and ends as the console script does (:func:`apcal.cli.process_exit.before_exit`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

STARTED = time.perf_counter()
EXPOSURES = {"dark": 300.0, "flat": 2.0}


def child_apcal(night: Path, out: Path, settings: dict[str, Any]) -> None:
    """Build every master of ``night`` with the native engine; print per-job seconds as JSON.

    ``settings``: ``memory_limit``, ``threads``, ``profile`` (cProfile, printed to stderr) and
    ``integration`` (the recipe's integration mapping, e.g. winsorized 3/3 for the IMX294 night)."""
    from loguru import logger

    from apcal.engines.base import RunContext
    from apcal.engines.native.engine import NativeEngine
    from apcal.plan.prepare import prepare_plan
    from apcal.recipe import recipe_from_mapping
    from apcal.recipe.model import EngineSettings

    logger.remove()
    logger.add(sys.stderr, level="INFO")
    imported = time.perf_counter()
    memory_limit, threads = int(settings["memory_limit"]), int(settings.get("threads", 0))
    recipe = recipe_from_mapping(recipe_mapping(night, out, settings), base_dir=out.parent)
    plan = prepare_plan(recipe)
    planned = time.perf_counter()
    engine = NativeEngine(EngineSettings(memory_limit=memory_limit, threads=threads))
    context = RunContext("bench", out / "bench.log")
    peaks: dict[str, int] = {}

    def build() -> list:
        # The peak RSS so far after each job (Linux): shows which job sets the process's peak.
        results = []
        for result in engine.execute(plan, plan.jobs, context):
            peaks[result.job_id] = peak_rss_so_far()
            results.append(result)
        return results

    results = profiled(build) if settings.get("profile") else build()
    report = {
        r.job_id.split("/")[0] + ("_" + r.job_id.split("FILTER_")[1][:1] if "FILTER_" in r.job_id else ""): {
            "status": r.status,
            "seconds": r.seconds,
            "peak_rss": peaks.get(r.job_id, 0),
            "output": str(r.output) if r.output else None,
            "message": r.message,
        }
        for r in results
    }
    phases = {"imports": imported - STARTED, "plan": planned - imported}
    report["startup"] = {
        "status": "built",
        "seconds": planned - STARTED,
        "output": None,
        "message": str(phases),
    }
    print(json.dumps(report))


def recipe_mapping(night: Path, out: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The recipe both apcal children build: the night, ``out``, memory_limit/threads, integration."""
    mapping: dict[str, Any] = {
        "apcal": 1,
        "name": "bench",
        "inputs": [{"path": str(night)}],
        "output": {"dir": str(out)},
        "engine": {"memory_limit": int(settings["memory_limit"]), "threads": int(settings.get("threads", 0))},
    }
    if settings.get("integration"):
        mapping["integration"] = settings["integration"]
    return mapping


def cli_command(night: Path, out: Path, settings: dict[str, Any]) -> list[str]:
    """``apcal run recipe.yaml`` as a user types it (the console script beside this Python), for
    ``--cli``: all of a run, lock, state, catalogue, JSON and HTML report (previews, histograms)
    included. The recipe is written beside ``out``."""
    import yaml

    recipe = out.parent / "bench-recipe.yaml"
    recipe.write_text(yaml.safe_dump(recipe_mapping(night, out, settings), sort_keys=False))
    script = Path(sys.executable).with_name("apcal")
    launcher = [str(script)] if script.is_file() else [sys.executable, "-m", "apcal"]
    return [*launcher, "run", str(recipe)]


def cli_masters(out: Path) -> dict[str, dict[str, Any]]:
    """What an ``apcal run`` into ``out`` built, from its JSON report: per frame type, the output and
    the seconds (the child's report format)."""
    report = json.loads(sorted((out / "logs").glob("*_report.json"))[-1].read_text())
    return {
        group["type"]: {"output": group["output"], "seconds": group.get("seconds", 0.0)}
        for group in report["groups"]
        if group.get("status") == "built"
    }


def profiled(build: Any) -> Any:
    """``build()`` under cProfile; the 25 heaviest functions by cumulative and by own time to stderr,
    and the whole profile to ``$APCAL_BENCH_PSTATS`` when set (for snakeviz or pstats)."""
    import cProfile
    import os
    import pstats

    profiler = cProfile.Profile()
    results = profiler.runcall(build)
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(25)
    if os.environ.get("APCAL_BENCH_PSTATS"):
        stats.dump_stats(os.environ["APCAL_BENCH_PSTATS"])
    return results


def peak_rss_so_far() -> int:
    """This process's peak RSS so far in bytes (VmHWM; not reset, so the child's ru_maxrss stays whole);
    0 where /proc does not offer it."""
    try:
        return int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) * 1024
    except (OSError, IndexError, ValueError):
        return 0


def child_ccdproc(night: Path, out: Path, memory_limit: int, sigmas: tuple[float, float]) -> None:
    """Master bias, dark and flat (those the night has) with ccdproc, in ADU, float32 FITS."""
    import warnings

    import astropy.units as u
    import ccdproc
    from astropy.nddata import CCDData

    from apcal.demo.truth import load_truth

    warnings.simplefilter("ignore")
    truth = load_truth(night)
    out.mkdir(parents=True, exist_ok=True)
    clip = dict(
        method="average",
        sigma_clip=True,
        sigma_clip_low_thresh=sigmas[0],
        sigma_clip_high_thresh=sigmas[1],
        mem_limit=memory_limit,
        unit="adu",
        dtype=np.float32,
    )
    group = {name.split("_")[0]: files for name, files in truth.files.items()}
    bias = ccdproc.combine([str(p) for p in group["bias"]], **clip)
    bias.write(out / "bias.fits", overwrite=True)
    if "dark" not in group:
        return
    dark = ccdproc.combine([str(p) for p in group["dark"]], **clip)
    dark.meta["EXPTIME"] = EXPOSURES["dark"]
    dark.write(out / "dark.fits", overwrite=True)
    if "flat" not in group:
        return
    dark_only = ccdproc.subtract_bias(dark, bias)
    calibrated = []
    for index, path in enumerate(group["flat"]):
        flat = CCDData.read(path, unit="adu")
        flat = ccdproc.subtract_bias(flat, bias)
        flat = ccdproc.subtract_dark(flat, dark_only, exposure_time="EXPTIME", exposure_unit=u.s, scale=True)
        target = out / f"flat_c_{index:04d}.fits"
        flat.data = flat.data.astype(np.float32)
        flat.write(target, overwrite=True)
        calibrated.append(str(target))
    master = ccdproc.combine(calibrated, scale=lambda a: 1 / np.ma.median(a), **clip)
    master.write(out / "flat.fits", overwrite=True)
