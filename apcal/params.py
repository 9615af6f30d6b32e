"""Engine-neutral parameter sets for integration and flat calibration.

The recipe fills these (its schema holds the defaults, per frame type), the plan carries them, and each
engine reads them: the native engine runs them, the PixInsight engine maps them onto ImageIntegration and
ImageCalibration parameter ids. Field names are PixInsight's ids in snake_case (``sigma_low`` is
``sigmaLow``), so a PixInsight user recognises every one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, get_args

# One table per vocabulary: the Literal is the table (type checkers read it), the tuples derive from it
# (schema enums, CLI choices, engine capabilities and PixInsight's render tables are tested against them).
Combination = Literal["average", "median", "minimum", "maximum"]
Rejection = Literal[
    "none", "minmax", "percentile", "sigma", "winsorized", "averaged_sigma", "linear_fit", "esd", "auto"
]
Normalization = Literal["none", "additive", "multiplicative", "additive_scaling", "multiplicative_scaling"]
RejectionNormalization = Literal["none", "scale", "equalize_fluxes"]
EsdRule = Literal["pixinsight", "rosner"]

COMBINATIONS: tuple[Combination, ...] = get_args(Combination)
REJECTIONS: tuple[Rejection, ...] = get_args(Rejection)
#: The methods an engine runs: every rejection but ``auto``, which the plan resolves per group. Their
#: order is the native kernels' algorithm codes (``apcal.engines.native._kernel_params``).
RESOLVED_REJECTIONS: tuple[Rejection, ...] = tuple(r for r in REJECTIONS if r != "auto")
NORMALIZATIONS: tuple[Normalization, ...] = get_args(Normalization)
REJECTION_NORMALIZATIONS: tuple[RejectionNormalization, ...] = get_args(RejectionNormalization)
ESD_RULES: tuple[EsdRule, ...] = get_args(EsdRule)


@dataclass(frozen=True)
class IntegrationParams:
    """How one group's frames are combined into a master (ImageIntegration's settings).

    ``normalization`` scales/offsets frames for the output; ``rejection_normalization`` only for the
    rejection statistics, as in PixInsight. ``clip_low``/``clip_high`` switch each side of the rejection
    on; ``range_low``/``range_high`` reject samples outside a fixed range before statistical rejection
    (``range_clip_low``/``range_clip_high``). Values are in PixInsight's normalised [0, 1] range.

    Defaults are WBPP 3.0.1's for calibration frames: ``range_clip_low`` off (WBPP turns it on for lights
    only, which apcal does not integrate), and ``truncate_on_out_of_range`` on: the master is clamped to
    [0, 1] (ImageIntegrationInstance.cpp, ``truncateOnOutOfRange``); off, PixInsight's process default,
    rescales a master that leaves [0, 1] instead (divides by its maximum, or maps [min, max] to [0, 1]
    when it goes negative).

    ``esd_rule`` says how the generalized ESD test counts its outliers. ``pixinsight`` (the default) is
    PCL's ``ESDRejectionThread``: the outliers are the candidates before the first one whose statistic
    falls below its critical value. ``rosner`` is Rosner's (1983) rule: the largest i whose statistic
    reaches its critical value, and every candidate before it. Choose Rosner on clustered outliers: when
    several similar outliers hit one pixel (a satellite trail crossing the same spot twice, cosmic rays
    of like energy in a long stack), they inflate the spread the first statistic is measured against,
    that statistic falls short ("masking") and PixInsight's rule keeps all of them; Rosner's rule still
    finds the later statistics that pass and rejects the whole cluster.
    """

    combination: Combination = "average"
    rejection: Rejection = "winsorized"
    normalization: Normalization = "none"
    rejection_normalization: RejectionNormalization = "none"
    min_max_low: int = 1
    min_max_high: int = 1
    pc_clip_low: float = 0.2
    pc_clip_high: float = 0.1
    sigma_low: float = 4.0
    sigma_high: float = 3.0
    winsorization_cutoff: float = 5.0
    linear_fit_low: float = 5.0
    linear_fit_high: float = 4.0
    esd_outliers_fraction: float = 0.3
    esd_alpha: float = 0.05
    esd_low_relaxation: float = 1.0
    esd_rule: EsdRule = "pixinsight"
    clip_low: bool = True
    clip_high: bool = True
    range_clip_low: bool = False
    range_low: float = 0.0
    range_clip_high: bool = False
    range_high: float = 0.98
    truncate_on_out_of_range: bool = True

    def resolved(self, frame_count: int, frame_type: str) -> IntegrationParams:
        """Return a copy with ``rejection: auto`` replaced by the method WBPP picks for the group
        (:func:`auto_rejection`)."""
        if self.rejection != "auto":
            return self
        return replace(self, rejection=auto_rejection(frame_count, frame_type))


#: Frame types WBPP integrates as bias or dark (flat-darks are darks to WBPP).
_BIAS_OR_DARK = ("bias", "dark", "flatdark")


def auto_rejection(frame_count: int, frame_type: str) -> Rejection:
    """WBPP 3.0.1's automatic rejection algorithm (``bestRejectionMethod`` in BPP-FrameGroup.js).

    Fewer than 6 frames: percentile clipping; up to 15 frames, or any bias or dark (``frame_type``
    ``bias``, ``dark`` or ``flatdark``): winsorized sigma clipping; otherwise linear fit clipping.
    """
    if frame_count < 6:
        return "percentile"
    if frame_count <= 15 or frame_type in _BIAS_OR_DARK:
        return "winsorized"
    return "linear_fit"


DarkScaling = Literal["optimize", "pixinsight", "exposure", "none"]
DARK_SCALINGS: tuple[DarkScaling, ...] = get_args(DarkScaling)


@dataclass(frozen=True)
class CalibrationParams:
    """How flats are calibrated before integration (ImageCalibration's settings).

    ``dark_scaling`` is how the factor k of ``raw - bias - k·(dark - bias)`` is found per flat:
    ``optimize`` (default; the seed's ``optimizeDarks: true``) apcal's unclipped least-squares fit on
    the first wavelet layer, weighted against the exposure ratio
    (:class:`apcal.engines.native.calibration.DarkOptimizer`, which says why it beats PixInsight's);
    ``pixinsight`` ImageCalibration's own objective since PCL 1.7.1
    (:mod:`apcal.engines.native.darkscale_pcl`); ``exposure`` k = t_flat / t_dark; ``none`` k = 1 (the
    seed's ``optimizeDarks: false``). It applies only with both a master bias and a master dark.
    ``dark_optimization_low`` is the threshold, in sigma units above the dark's median, that selects the
    dark pixels used to measure the noise while the dark scaling factor k is optimised.
    ``dark_optimization_window`` (pixels, 0 = the whole frame) limits that measurement to a central
    square, as ImageCalibration does. ``pedestal`` is added to the output in DN (0 by default).
    """

    dark_scaling: DarkScaling = "optimize"
    dark_optimization_low: float = 3.0
    dark_optimization_window: int = 0
    pedestal: int = 0
    output_postfix: str = "_c"
