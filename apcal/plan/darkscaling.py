"""Engine-neutral facts about a flat group's dark scaling: the exposure ratio, what each engine can do,
and which dark scales are implausible.

The exposure ratio ``t_flat / t_dark`` is what k physically is when dark current grows with time; a k
more than :data:`WARN_FACTOR` times away from it (either way) over- or under-corrects every warm pixel of
the master flat by the difference, which no other tool checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apcal.grouping import Group
from apcal.plan.model import Job

#: A k further than this factor from the exposure ratio (either way) is warned about.
WARN_FACTOR = 2.0


def is_cfa(group: Group) -> bool:
    """Are the group's frames CFA mosaics (a Bayer pattern keyword marks them)?"""
    return any("BAYERPAT" in frame.raw_keywords for frame in group.frames)


def scaled_dark(job: Job) -> bool:
    """Is a master dark scaled for this job's flats (a bias and a dark, no flat-dark)?"""
    cal = job.calibration
    return cal is not None and cal.flatdark is None and cal.bias is not None and cal.dark is not None


def exposure_ratio(flat_exposure: float | None, dark_exposure: float | None) -> float | None:
    """``t_flat / t_dark``, or None when either is unknown or the dark's is not positive."""
    if flat_exposure is None or dark_exposure is None or dark_exposure <= 0 or flat_exposure < 0:
        return None
    return flat_exposure / dark_exposure


def job_exposure_ratio(job: Job) -> float | None:
    """The group's exposure ratio: its flats' exposure (when they all share one) over the dark's."""
    cal = job.calibration
    if cal is None or cal.dark is None or cal.flatdark is not None:
        return None
    exposures = {f.exposure for f in job.group.frames}
    if len(exposures) != 1:
        return None
    return exposure_ratio(exposures.pop(), cal.dark.exposure)


def dark_scaling_summary(job: Job) -> dict[str, Any] | None:
    """``{"method", "exposure_ratio"}`` for a job whose dark is scaled, else None (plan and report)."""
    if not scaled_dark(job):
        return None
    assert job.calibration is not None
    return {"method": job.calibration.params.dark_scaling, "exposure_ratio": job_exposure_ratio(job)}


def implausible(k: float | None, ratio: float | None) -> bool:
    """Is ``k`` more than :data:`WARN_FACTOR` times away from ``ratio`` (0 counts as infinitely far)?"""
    if k is None or ratio is None or ratio <= 0:
        return False
    return k <= 0 or not (ratio / WARN_FACTOR <= k <= ratio * WARN_FACTOR)


def scale_warnings(job: Job, dark_scales: Mapping[str, float | None]) -> list[str]:
    """One line per frame whose k is implausible against the group's exposure ratio."""
    ratio = job_exposure_ratio(job)
    if job.calibration is None or not scaled_dark(job) or ratio is None:
        return []
    method = job.calibration.params.dark_scaling
    return [
        f"{name}: dark scale k = {k:.4f} is more than {WARN_FACTOR:g}x away from the exposure ratio "
        f"{ratio:.4f} (dark_scaling: {method}): warm pixels of the master flat are mis-corrected"
        for name, k in dark_scales.items()
        if implausible(k, ratio)
    ]


def dark_scaling_notes(scaling: str, engine: str) -> list[str]:
    """Plan notes for a scaling the chosen engine cannot do as asked."""
    if engine == "siril" and scaling in ("optimize", "pixinsight"):
        return [
            f"dark_scaling: {scaling} has no Siril equivalent (Siril 1.0's dark optimization crashes "
            "siril-cli; 1.2's -opt is Siril's own fit): the Siril script uses -opt on Siril 1.2 and "
            "scales the dark by the exposure ratio on 1.0 (dark_scaling: exposure)"
        ]
    if engine != "pixinsight" or scaling not in ("optimize", "exposure"):
        return []
    return [
        f"dark_scaling: {scaling} is apcal's own and PixInsight's ImageCalibration cannot do it: the "
        "PixInsight script uses ImageCalibration's dark optimization (dark_scaling: pixinsight) instead"
    ]
