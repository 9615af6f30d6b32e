"""Plans as plain JSON-ready data, for ``apcal plan --json`` and the run report."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from apcal.frames.model import SkippedFile
from apcal.grouping import Group, SkippedGroup
from apcal.plan.darkscaling import dark_scaling_summary
from apcal.plan.keywords import HASH_KEYWORD
from apcal.plan.model import Job, MasterRef, Plan


def group_to_dict(group: Group) -> dict[str, Any]:
    return {
        "type": group.type.value,
        "name": group.name,
        "keys": {k: v for k, v in group.keys},
        "frames": [str(f.path) for f in group.frames],
    }


def master_to_dict(ref: MasterRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {
        "path": str(ref.path),
        "source": ref.source,
        "exposure": ref.exposure,
        "job": ref.job_id,
        "warnings": list(ref.warnings),
    }


def job_to_dict(job: Job) -> dict[str, Any]:
    cal = job.calibration
    return {
        "id": job.id,
        "type": job.type.value,
        "group": group_to_dict(job.group),
        "output": str(job.output),
        "integration": dataclasses.asdict(job.integration),
        "calibration": None
        if cal is None
        else {
            "bias": master_to_dict(cal.bias),
            "dark": master_to_dict(cal.dark),
            "flatdark": master_to_dict(cal.flatdark),
            "params": dataclasses.asdict(cal.params),
            "output_dir": str(cal.output_dir),
            "dark_scaling": dark_scaling_summary(job),
        },
        "depends_on": list(job.depends_on),
        "excluded": [{"path": str(e.path), "reason": e.reason} for e in job.excluded],
        "notes": list(job.notes),
        "hash": next((k.value for k in job.keywords if k.name == HASH_KEYWORD), None),
    }


def skipped_to_dict(groups: Sequence[SkippedGroup], files: Sequence[SkippedFile]) -> dict[str, Any]:
    """``skipped_groups`` and ``skipped_files`` as ``apcal scan``, ``apcal plan`` and the run report give
    them (one serialization for all three)."""
    return {
        "skipped_groups": [
            {"type": g.type.value, "name": g.name, "frames": g.frame_count, "reason": g.reason}
            for g in groups
        ],
        "skipped_files": [{"path": s.shown, "reason": s.reason} for s in files],
    }


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "output_dir": str(plan.output_dir),
        "output_format": plan.output_format,
        "jobs": [job_to_dict(j) for j in plan.jobs],
        **skipped_to_dict(plan.skipped_groups, plan.skipped_files),
        "notes": list(plan.notes),
    }
