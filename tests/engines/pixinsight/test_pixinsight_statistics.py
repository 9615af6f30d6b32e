"""PixInsight's script reports no statistics: the runner measures its masters from the files written
(:mod:`apcal.run.measure`), so its report compares with the native engine's."""

from __future__ import annotations

from pathlib import Path

from apcal.engines.base import RunContext
from apcal.engines.pixinsight import PixInsightEngine
from apcal.io.image import open_image
from apcal.recipe.model import PixInsightSettings
from apcal.run.measure import measured
from apcal.stats.master import master_statistics
from tests.engines.pixinsight.pixinsight_helpers import build_plan


def test_pixinsight_masters_get_the_statistics_of_the_files_written(
    tmp_path: Path, fake_pixinsight: Path
) -> None:
    plan = build_plan(tmp_path)
    context = RunContext(stamp="20260127_143052", log_path=plan.logs_dir / "20260127_143052.log")
    engine = PixInsightEngine(PixInsightSettings(binary=fake_pixinsight))
    results = list(engine.execute(plan, plan.jobs, context))
    assert results and all(r.status == "built" and not r.stats for r in results)
    for job, result in zip(plan.jobs, results, strict=True):
        stats = measured(job, result).stats
        with open_image(job.output) as reader:
            expected = master_statistics(reader.read(), job.type)
        assert stats == expected
        assert "noise" in stats and "median" in stats and "rejected_low_fraction" not in stats
        if job.type == "flat":
            assert "vignetting_ratio" in stats
