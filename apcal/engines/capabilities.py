"""What each engine can do, declared once, and what it tells the user when a plan asks for more.

A :class:`~apcal.plan.Plan` is engine-neutral; the engines are not equal. Each declares a
:class:`Capabilities` in :data:`CAPABILITIES` (a table here rather than on the engine classes, so
``apcal plan`` can consult it without importing the native engine and numba), and :func:`assess` compares
a plan with it. Two outcomes:

* a **warning** when the engine builds a correct master but leaves out something the plan asked for
  (pixel screening, rejection maps, master statistics, the calibrated flats' file format);
* a **refusal** when the master itself would differ from the one asked for (a rejection method or ESD
  rule the engine lacks): :meth:`Engine.check` raises :class:`~apcal.errors.EngineError` (exit 2)
  before anything is written, and ``apcal plan`` exits 2 too.

Dark scalings are declared here as well; what the PixInsight engine does instead of ``optimize`` and
``exposure`` is a plan note (:func:`apcal.plan.darkscaling.dark_scaling_notes`, below this layer), and a
test holds that note and :attr:`Capabilities.dark_scalings` in agreement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from apcal.engines.siril import limits as siril_limits
from apcal.params import DARK_SCALINGS, ESD_RULES, REJECTIONS
from apcal.plan.model import Job, Plan
from apcal.vocabulary import IMAGE_FORMATS


@dataclass(frozen=True)
class Capabilities:
    """One engine's abilities: the vocabulary values it runs and the optional outputs it produces.

    ``rejections`` are resolved methods (``auto`` never reaches an engine); ``esd_rules`` matter only
    with ``esd``; ``pixel_screening`` is the per-frame pixel check of :mod:`apcal.plan.screening` (the
    header screening happens at plan time, for every engine); ``rejection_counts`` whether the engine
    counts the samples it rejected (every engine's masters are measured for the report: by the native
    engine in memory, for the others by the runner from the master as written, :mod:`apcal.run.measure`);
    ``calibrated_formats`` the file formats the calibrated flats can be written in (the plan asks for
    its ``output_format``); ``float_adu_input`` whether float frames in ADU are read as ADU.
    ``job_refusals``/``job_warnings`` name, per job, settings the engine has no equivalent for (Siril).
    """

    rejections: frozenset[str]
    esd_rules: frozenset[str]
    dark_scalings: frozenset[str]
    pixel_screening: bool
    rejection_maps: bool
    rejection_counts: bool
    calibrated_formats: frozenset[str]
    float_adu_input: bool
    job_refusals: Callable[[Job], list[str]] | None = None
    job_warnings: Callable[[Job], list[str]] | None = None


@dataclass(frozen=True)
class Assessment:
    """What an engine would not honour in a plan: warnings (the master is right, something is missing)
    and refusals (the master would be wrong)."""

    engine: str
    warnings: tuple[str, ...] = ()
    refusals: tuple[str, ...] = field(default=())


_RESOLVED_REJECTIONS = frozenset(REJECTIONS) - {"auto"}

CAPABILITIES: dict[str, Capabilities] = {
    "native": Capabilities(
        rejections=_RESOLVED_REJECTIONS,
        esd_rules=frozenset(ESD_RULES),
        dark_scalings=frozenset(DARK_SCALINGS),
        pixel_screening=True,
        rejection_maps=True,
        rejection_counts=True,
        calibrated_formats=frozenset(IMAGE_FORMATS),
        float_adu_input=True,
    ),
    "pixinsight": Capabilities(
        rejections=_RESOLVED_REJECTIONS,
        esd_rules=frozenset({"pixinsight"}),  # ImageIntegration has no parameter for the rule
        dark_scalings=frozenset({"pixinsight", "none"}),  # ImageCalibration's optimizeDarks on or off
        pixel_screening=False,
        rejection_maps=False,  # the script does not ask ImageIntegration for its rejection maps
        rejection_counts=False,  # the script reports ok/failed and dark scales, not rejection counts
        calibrated_formats=frozenset({"xisf"}),  # ImageCalibration writes XISF whatever the master's
        float_adu_input=True,  # through the ``lower-range 0 upper-range 65535`` input hints
    ),
    "siril": Capabilities(
        # Siril's stack has no min/max or averaged sigma clipping; its GESDT ("g") is not shown to count
        # outliers by either of apcal's ESD rules, so esd is refused rather than silently changed.
        rejections=_RESOLVED_REJECTIONS - {"minmax", "averaged_sigma", "esd"},
        esd_rules=frozenset(),
        # 1.0's -opt crashes siril-cli and 1.2's is Siril's own objective (apcal.plan.darkscaling's note)
        dark_scalings=frozenset({"exposure", "none"}),
        pixel_screening=False,
        rejection_maps=False,  # Siril 1.0 writes none; the engine does not ask 1.2 for them
        rejection_counts=True,  # parsed from Siril's log; apcal measures the master it read back
        calibrated_formats=frozenset({"fits"}),  # Siril writes FITS
        float_adu_input=False,  # Siril reads float FITS as they are: ADU floats are not rescaled
        job_refusals=siril_limits.refusals,
        job_warnings=siril_limits.warnings,
    ),
}


def assess(plan: Plan, engine: str) -> Assessment:
    """What ``engine`` (a key of :data:`CAPABILITIES`) would not honour in ``plan``."""
    caps = CAPABILITIES[engine]
    return Assessment(engine, tuple(_warnings(plan, caps, engine)), tuple(_refusals(plan, caps, engine)))


def _refusals(plan: Plan, caps: Capabilities, engine: str) -> list[str]:
    refusals = []
    for job in plan.jobs:
        rejection = job.integration.rejection
        if rejection not in caps.rejections:
            refusals.append(f"{job.id}: rejection {rejection!r} is not available in the {engine} engine")
        elif rejection == "esd" and job.integration.esd_rule not in caps.esd_rules:
            refusals.append(
                f"{job.id}: esd_rule {job.integration.esd_rule!r} is not available in the {engine} engine "
                f"(it has {', '.join(sorted(caps.esd_rules))}): the master would differ; set esd_rule or "
                "use another engine"
            )
        if caps.job_refusals is not None:
            refusals.extend(f"{job.id}: {text}" for text in caps.job_refusals(job))
    return refusals


def _warnings(plan: Plan, caps: Capabilities, engine: str) -> list[str]:
    warnings = []
    screened = [job.id for job in plan.jobs if job.screening is not None]
    if screened and not caps.pixel_screening:
        warnings.append(
            f"the {engine} engine does not screen frames on their pixels (screening.enabled): only the "
            f"header screening applies ({len(screened)} of {len(plan.jobs)} masters)"
        )
    if plan.rejection_maps and plan.jobs and not caps.rejection_maps:
        warnings.append(f"the {engine} engine does not write rejection maps (output.rejection_maps)")
    if plan.jobs and not caps.rejection_counts:
        warnings.append(
            f"the {engine} engine does not count rejected pixels: the report's master statistics have no "
            "rejected fractions"
        )
    calibrated = [job.id for job in plan.jobs if job.calibration is not None]
    if calibrated and plan.output_format not in caps.calibrated_formats:
        warnings.append(
            f"the {engine} engine writes calibrated flats as {'/'.join(sorted(caps.calibrated_formats))}, "
            f"not {plan.output_format} (output.format applies to the masters only)"
        )
    if caps.job_warnings is not None:  # one line per setting, with how many masters it concerns
        counts = Counter(text for job in plan.jobs for text in caps.job_warnings(job))
        warnings.extend(f"{text} ({n} of {len(plan.jobs)} masters)" for text, n in counts.items())
    return warnings
