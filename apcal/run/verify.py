"""``apcal verify``: build every master of a recipe with several engines and say how far apart they are.

Each engine runs the whole recipe as ``apcal run --force`` would, into a folder of its own,
``<output.dir>/verify/<engine>/`` (with the seed's ``master/`` and ``logs/`` below it), so each build
is a complete, reproducible run with its own script, log and report. Then every master the first engine
(the reference) built is compared with the same job's master from each other engine
(:func:`apcal.stats.difference.difference_statistics`) and judged against a tolerance: bias, dark and
flat-dark within :data:`NOISE_TOLERANCE` of the reference master's noise (RMS of the difference), flats
within :data:`FLAT_TOLERANCE` (RMS of the difference of the median-normalized masters). A master one
engine could not build is a ``missing`` verdict. The outcome exits 0 only when every master agrees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from apcal.engines.base import JobResult
from apcal.errors import EXIT_GROUP_FAILED, EXIT_OK
from apcal.recipe.model import Recipe
from apcal.run.runner import RunOptions, RunOutcome, run_recipe
from apcal.vocabulary import FrameType

NOISE_TOLERANCE = 0.3  # bias, dark, flat-dark: RMS difference / the reference master's noise
FLAT_TOLERANCE = 0.001  # flats: RMS of the relative difference (0.1 %)


@dataclass(frozen=True)
class Comparison:
    """One master of ``other`` against the reference engine's."""

    job_id: str
    frame_type: str
    reference: str
    other: str
    reference_path: Path | None
    other_path: Path | None
    stats: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, tuple[float, float] | None] = field(default_factory=dict)  # engine -> low, high
    verdict: str = "missing"  # agree | differ | missing
    message: str = ""

    @property
    def tolerance(self) -> str:
        if self.frame_type == FrameType.FLAT.value:
            return f"relative rms <= {FLAT_TOLERANCE:.1%}"
        return f"rms <= {NOISE_TOLERANCE:g} sigma"

    def to_dict(self) -> dict[str, object]:
        return {
            "job": self.job_id,
            "type": self.frame_type,
            "reference": {"engine": self.reference, "master": _text(self.reference_path)},
            "other": {"engine": self.other, "master": _text(self.other_path)},
            "difference": {k: (None if math.isnan(v) else v) for k, v in self.stats.items()},
            "rejected": {e: (list(v) if v else None) for e, v in self.rejected.items()},
            "tolerance": self.tolerance,
            "verdict": self.verdict,
            "message": self.message,
        }


@dataclass(frozen=True)
class VerifyOutcome:
    folder: Path
    engines: tuple[str, ...]
    runs: dict[str, RunOutcome]
    comparisons: tuple[Comparison, ...]

    @property
    def exit_code(self) -> int:
        good = self.comparisons and all(c.verdict == "agree" for c in self.comparisons)
        return EXIT_OK if good else EXIT_GROUP_FAILED


def verify_folder(recipe: Recipe) -> Path:
    return recipe.output.dir / "verify"


def verify_recipe(recipe: Recipe, engines: Sequence[str]) -> VerifyOutcome:
    """Build ``recipe`` with each of ``engines`` (the first is the reference) and compare the masters."""
    folder = verify_folder(recipe)
    runs: dict[str, RunOutcome] = {}
    for name in engines:
        one = replace(
            recipe,
            output=replace(recipe.output, dir=folder / name, script_dir=None),
            engine=replace(recipe.engine, name=name),  # type: ignore[arg-type]  # the CLI offers ENGINES
        )
        runs[name] = run_recipe(one, RunOptions(force=True))
    reference, others = engines[0], engines[1:]
    jobs = _jobs(runs)
    comparisons = tuple(_compare(runs, reference, other, job_id) for other in others for job_id in jobs)
    return VerifyOutcome(folder, tuple(engines), runs, comparisons)


def _jobs(runs: dict[str, RunOutcome]) -> list[str]:
    first = next(iter(runs.values()))
    return [job.id for job in first.plan.jobs]


def _built(run: RunOutcome, job_id: str) -> JobResult | None:
    for result in run.results:
        if result.job_id == job_id and result.status == "built" and result.output is not None:
            return result
    return None


def _rejected(result: JobResult | None) -> tuple[float, float] | None:
    if result is None or "rejected_low_fraction" not in result.stats:
        return None
    return result.stats["rejected_low_fraction"], result.stats.get("rejected_high_fraction", math.nan)


def _compare(runs: dict[str, RunOutcome], reference: str, other: str, job_id: str) -> Comparison:
    from apcal.io.image import open_image
    from apcal.stats.difference import difference_statistics

    frame_type = runs[reference].plan.job(job_id).type.value
    ref, oth = _built(runs[reference], job_id), _built(runs[other], job_id)
    base = Comparison(
        job_id,
        frame_type,
        reference,
        other,
        ref.output if ref else None,
        oth.output if oth else None,
        rejected={reference: _rejected(ref), other: _rejected(oth)},
    )
    if ref is None or oth is None or ref.output is None or oth.output is None:
        missing = [name for name, r in ((reference, ref), (other, oth)) if r is None]
        return replace(base, message=f"not built by {' and '.join(missing)}")
    with open_image(ref.output) as a, open_image(oth.output) as b:
        stats = difference_statistics(a.read(), b.read(), relative=frame_type == FrameType.FLAT.value)
    measured = stats.get("relative_rms", stats["rms_sigma"])
    limit = FLAT_TOLERANCE if frame_type == FrameType.FLAT.value else NOISE_TOLERANCE
    return replace(base, stats=stats, verdict="agree" if measured <= limit else "differ")


def _text(path: Path | None) -> str | None:
    return str(path) if path is not None else None
