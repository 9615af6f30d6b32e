"""The runner measures a master from the file written when its engine gave no statistics (the PixInsight
engine's case is in tests/engines/pixinsight/test_pixinsight_statistics.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from loguru import logger

from apcal.engines.base import JobResult
from apcal.run.measure import measured
from tests.engines.pixinsight.pixinsight_helpers import build_plan


def test_statistics_an_engine_gave_are_kept_and_failures_are_left_alone(tmp_path: Path) -> None:
    master = tmp_path / "masterBias.fits"
    fits.writeto(master, np.full((16, 16), 1000, np.uint16))
    plan = build_plan(tmp_path)
    job = dataclasses.replace(plan.jobs[0], output=master)
    given = JobResult(job.id, "built", master, stats={"median": 0.5})
    assert measured(job, given) is given
    failed = JobResult(job.id, "failed", master, "PixInsight crashed")
    assert measured(job, failed) is failed
    fresh = measured(job, JobResult(job.id, "built", master))
    assert fresh.stats["median"] == pytest.approx(1000 / 65535, rel=1e-6)
    assert fresh.stats["noise"] == 0 and fresh.stats["hot_pixels"] == 0


def test_an_unreadable_master_keeps_its_result_and_warns(tmp_path: Path) -> None:
    master = tmp_path / "masterBias.fits"
    master.write_bytes(b"not a FITS file at all" * 200)
    job = dataclasses.replace(build_plan(tmp_path).jobs[0], output=master)
    result = JobResult(job.id, "built", master)
    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{message}")
    try:
        assert measured(job, result) is result
    finally:
        logger.remove(sink)
    assert len(lines) == 1 and lines[0].startswith(f"could not measure {master} for the report: ")
