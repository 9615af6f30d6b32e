"""What Siril's ``stack`` and ``preprocess``/``calibrate`` cannot do as a plan asks, per job.

Read by :func:`apcal.engines.capabilities.assess` (so ``apcal plan`` shows it) and by the renderer, which
never writes a stack line for a refused job. Refusals are settings that would build another master
(range clipping, one-sided clipping); warnings are settings Siril ignores while the master stays what was
asked for in substance. Siril's options are those of ``stack`` in the 1.0 and 1.2 command references.
"""

from __future__ import annotations

from apcal.params import IntegrationParams
from apcal.plan.model import Job


def refusals(job: Job) -> list[str]:
    """Settings of ``job`` that Siril cannot honour without building another master."""
    p = job.integration
    found = []
    if p.range_clip_low or p.range_clip_high:
        found.append("range clipping (range_clip_low/range_clip_high) has no Siril equivalent")
    if p.rejection != "none" and p.combination == "average" and not (p.clip_low and p.clip_high):
        found.append("Siril always clips both sides: clip_low/clip_high false has no Siril equivalent")
    return found


def warnings(job: Job) -> list[str]:
    """Settings of ``job`` that Siril ignores (the master is built, without them)."""
    found = list(_integration_warnings(job.integration))
    if job.calibration is not None and job.calibration.params.pedestal:
        found.append("Siril's calibration has no output pedestal (calibration.pedestal is ignored)")
    return found


def _integration_warnings(p: IntegrationParams) -> list[str]:
    found = []
    if p.combination != "average" and p.rejection != "none":
        found.append(f"Siril's {p.combination} stacking does not reject (rejection {p.rejection} is ignored)")
    if p.rejection_normalization != "none":
        found.append("Siril normalizes for rejection as for the output (rejection_normalization is ignored)")
    if p.combination == "average" and p.rejection == "winsorized":
        found.append("Siril's winsorized sigma clipping has no cutoff (winsorization_cutoff is ignored)")
    if not p.truncate_on_out_of_range:
        found.append("the Siril engine leaves out-of-range masters as they are (no rescaling)")
    return found
