"""The integration kernels' parameters as one typed object numba compiles: :class:`KernelParams`, a
NamedTuple of floats, ints and bools, passed by value to every njit function that needs a setting.

numba types a NamedTuple as a plain struct (one field per setting, fixed types), so the fields are read
like local variables — no index arrays, no index constants — and the compiled signature stays cacheable
(``cache=True``; a jitclass would not be). Built from :class:`apcal.params.IntegrationParams` by
:func:`kernel_params`; the fields are PixInsight's ImageIntegration parameters
(``sigmaLow``, ``winsorizationCutoff``, ``linearFitLow``, ``esdOutliersFraction``, ``rangeLow``, ...,
``ImageIntegrationInstance.cpp``) under apcal's names.
"""

from __future__ import annotations

from typing import NamedTuple

from apcal.params import COMBINATIONS, RESOLVED_REJECTIONS, IntegrationParams

# Algorithm and combination codes: a name's position in its vocabulary table (apcal.params).
ALGORITHM_CODES: dict[str, int] = {name: code for code, name in enumerate(RESOLVED_REJECTIONS)}
COMBINATION_CODES: dict[str, int] = {name: code for code, name in enumerate(COMBINATIONS)}
# The codes the kernels branch on, as compile-time integer constants.
NONE, MINMAX, PERCENTILE, SIGMA, WINSORIZED, AVERAGED, LINEAR_FIT, ESD = (
    ALGORITHM_CODES[name]
    for name in ("none", "minmax", "percentile", "sigma", "winsorized", "averaged_sigma", "linear_fit", "esd")
)
AVERAGE, MEDIAN, MINIMUM, MAXIMUM = (
    COMBINATION_CODES[name] for name in ("average", "median", "minimum", "maximum")
)


class KernelParams(NamedTuple):
    """Every setting the integration kernels read; fields keep fixed Python types (float, int, bool) so
    numba compiles one signature."""

    algorithm: int  # one of NONE .. ESD
    combination: int  # one of AVERAGE .. MAXIMUM
    clip_low: bool
    clip_high: bool
    sigma_low: float
    sigma_high: float
    pc_low: float
    pc_high: float
    cutoff: float  # winsorization cutoff (first rejection iteration only)
    lf_low: float
    lf_high: float
    esd_fraction: float
    esd_relax: float
    esd_rosner: bool
    mm_low: int
    mm_high: int
    range_clip_low: bool
    range_clip_high: bool
    range_low: float
    range_high: float


def kernel_params(params: IntegrationParams, algorithm: str, combination: str) -> KernelParams:
    """The kernels' settings from resolved integration parameters (``algorithm``/``combination`` checked)."""
    return KernelParams(
        algorithm=ALGORITHM_CODES[algorithm],
        combination=COMBINATION_CODES[combination],
        clip_low=bool(params.clip_low),
        clip_high=bool(params.clip_high),
        sigma_low=float(params.sigma_low),
        sigma_high=float(params.sigma_high),
        pc_low=float(params.pc_clip_low),
        pc_high=float(params.pc_clip_high),
        cutoff=float(params.winsorization_cutoff),
        lf_low=float(params.linear_fit_low),
        lf_high=float(params.linear_fit_high),
        esd_fraction=float(params.esd_outliers_fraction),
        esd_relax=float(params.esd_low_relaxation),
        esd_rosner=params.esd_rule == "rosner",
        mm_low=int(params.min_max_low),
        mm_high=int(params.min_max_high),
        range_clip_low=bool(params.range_clip_low),
        range_clip_high=bool(params.range_clip_high),
        range_low=float(params.range_low),
        range_high=float(params.range_high),
    )
