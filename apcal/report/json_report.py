"""The run report ``<logs>/<stamp>_report.json``: what a person or a script needs to know of a run.

Per group: type, keys, input files, masters used, parameters, status, timings and master statistics.
It follows ``schemas/report.schema.json``; the tests validate every report they produce against it.

Statistics that are pixel values (median, mean, min, max, noise) are given in ADU of the 16-bit scale,
and in electrons (``stats_electrons``) when the master's header has EGAIN (:mod:`apcal.report.units`);
the engines measure them on the masters' [0, 1] scale.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from apcal import __version__
from apcal.engines.base import JOB_STATUSES, JobResult
from apcal.io.atomic import atomic_path
from apcal.plan.darkscaling import scale_warnings
from apcal.plan.model import Plan
from apcal.plan.serialize import job_to_dict, skipped_to_dict
from apcal.report.units import egain, in_adu, in_electrons

REPORT_FORMAT = 1
#: A group's status in the report: an engine's job status, or ``not_run`` for a job --only left out.
NOT_RUN = "not_run"
REPORT_STATUSES: tuple[str, ...] = (*JOB_STATUSES, NOT_RUN)


def build_report(
    *,
    plan: Plan,
    results: Sequence[JobResult],
    recipe_name: str,
    recipe_path: Path | None,
    engine: str,
    started: str,
    finished: str,
    seconds: float,
    exit_code: int,
    log_path: Path,
) -> dict[str, Any]:
    by_id = {r.job_id: r for r in results}
    groups = []
    for job in plan.jobs:
        result = by_id.get(job.id)
        entry = job_to_dict(job)
        stats = result.stats if result else {}
        gain = egain(job.keywords)
        entry.update(
            status=result.status if result else NOT_RUN,
            message=result.message if result else "not selected for this run (--only)",
            seconds=round(result.seconds, 3) if result else 0.0,
            stats={k: _finite(v) for k, v in in_adu(stats).items()},
            egain=gain,
            stats_electrons={k: _finite(v) for k, v in in_electrons(stats, gain).items()},
            calibrated=[str(p) for p in result.calibrated] if result else [],
            dark_scales={k: _finite(v) for k, v in result.dark_scales.items()} if result else {},
            dark_scale_warnings=scale_warnings(job, result.dark_scales) if result else [],
            screening_warnings=list(result.screening_warnings) if result else [],
        )
        if result and result.worker is not None:
            entry["worker"] = result.worker
        if result:
            entry["excluded"] += [{"path": str(e.path), "reason": e.reason} for e in result.excluded]
        groups.append(entry)
    counts: dict[str, int] = {}
    for entry in groups:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    return {
        "report_format": REPORT_FORMAT,
        "apcal_version": __version__,
        # a recipe built from command-line arguments has no file: no path rather than a made-up one
        "recipe": {
            "name": recipe_name,
            "path": str(recipe_path) if recipe_path and recipe_path.is_file() else None,
        },
        "engine": engine,
        "started": started,
        "finished": finished,
        "seconds": round(seconds, 3),
        "exit_code": exit_code,
        "output_dir": str(plan.output_dir),
        "log": str(log_path),
        "summary": counts,
        "groups": groups,
        **skipped_to_dict(plan.skipped_groups, plan.skipped_files),
        "notes": list(plan.notes),
    }


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: such a statistic is reported as null."""
    return float(value) if math.isfinite(value) else None


def write_report(path: Path, report: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
