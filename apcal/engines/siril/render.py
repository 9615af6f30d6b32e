"""Render a :class:`~apcal.plan.Plan` into a Siril script (``.ssf``): a preamble and one section per job.

Each job works in a folder of its own, ``<work>/<NN>/``: ``frames/frame_NNNN.fits`` are links to the
group's frames and ``bias.fits``/``dark.fits``/``flatdark.fits`` the matched masters, all made by
:mod:`apcal.engines.siril.workdir`; the section ``cd``s there, links the frames into a sequence in
``seq/`` (one folder per sequence: Siril 1.0 mixes up sequences that share one), calibrates flats and
stacks into ``master.fit``. So the only text from outside apcal that reaches the script is the work
folder's path, and it goes through one door, :func:`ssf_path`: the whole argument quoted, as Siril's
command reference asks for arguments with spaces, and refused when it holds a double quote or a control
character, which Siril's parser cannot take. Job ids and output names (header values) only appear in
comments, through :func:`ssf_comment`; numbers through :func:`ssf_number`.

The mapping of apcal's parameters onto ``stack`` (Siril 1.0/1.2 command reference): ``average`` with a
rejection is ``rej <type> <low> <high>`` (types p, s, w, l), ``median``/``minimum``/``maximum`` are
``med``/``min``/``max``; normalization ``none`` is ``-nonorm``, the others ``-norm=add``, ``mul``,
``addscale``, ``mulscale``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

import jinja2

from apcal import __version__
from apcal.engines.siril.version import Dialect
from apcal.errors import EngineError
from apcal.params import IntegrationParams
from apcal.plan.darkscaling import job_exposure_ratio, scaled_dark
from apcal.plan.model import FlatCalibration, Job

REJECTION_TYPES: Mapping[str, str] = {"percentile": "p", "sigma": "s", "winsorized": "w", "linear_fit": "l"}
COMBINATIONS: Mapping[str, str] = {"median": "med", "minimum": "min", "maximum": "max"}
NORMALIZATIONS: Mapping[str, str] = {
    "none": "-nonorm",
    "additive": "-norm=add",
    "multiplicative": "-norm=mul",
    "additive_scaling": "-norm=addscale",
    "multiplicative_scaling": "-norm=mulscale",
}
FRAME_NAME = "frame_{:04d}.fits"
MASTER_NAME = "master.fit"  # what `stack -out=../master` writes (Siril's default extension)

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("apcal.engines.siril", "templates"),
    autoescape=False,  # a Siril script, not HTML: values go through the filters below instead
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def ssf_path(path: PurePath | str) -> str:
    """``path`` as one quoted Siril argument; EngineError for a character Siril's parser cannot take."""
    text = PurePath(path).as_posix()
    bad = [c for c in text if c == '"' or ord(c) < 32 or ord(c) == 127]
    if bad:
        raise EngineError(
            f"{path}: a folder with {bad[0]!r} in its path cannot be written into a Siril script; "
            "choose output.dir or output.script_dir without it"
        )
    return f'"{text}"'


def ssf_comment(text: object) -> str:
    """``text`` safe on one ``#`` comment line: line breaks and control characters become spaces."""
    return "".join(c if c.isprintable() else " " for c in str(text))


def ssf_number(value: object) -> str:
    """A finite number as Siril reads it; ValueError for NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"cannot write the non-finite number {value!r} into a Siril script")
    return format(value, ".10g")


_TEMPLATES.filters["ssf_path"] = ssf_path
_TEMPLATES.filters["comment"] = ssf_comment
_TEMPLATES.filters["num"] = ssf_number


def stack_arguments(params: IntegrationParams, dialect: Dialect) -> str:
    """The ``stack`` arguments after the sequence name, without ``-out=``."""
    if params.combination in COMBINATIONS:
        kind = COMBINATIONS[params.combination]
        return kind if kind != "med" else f"med {NORMALIZATIONS[params.normalization]}"
    if params.rejection == "none":
        rejection = dialect.no_rejection
    else:
        low, high = _thresholds(params)
        rejection = f"rej {REJECTION_TYPES[params.rejection]} {ssf_number(low)} {ssf_number(high)}"
    return f"{rejection} {NORMALIZATIONS[params.normalization]}"


def _thresholds(params: IntegrationParams) -> tuple[float, float]:
    if params.rejection == "percentile":
        return params.pc_clip_low, params.pc_clip_high
    if params.rejection == "linear_fit":
        return params.linear_fit_low, params.linear_fit_high
    return params.sigma_low, params.sigma_high


@dataclass(frozen=True)
class JobView:
    """One job's section: decided here so the template only lays it out."""

    job: Job
    number: int
    folder: Path
    stack: str
    calibrate: str | None  # the calibration options, or None for no calibration
    scale: float | None  # the exposure ratio the script scales the dark by, or None
    problem: str  # non-empty: the job cannot be built by Siril; its section says why


def calibration_options(cal: FlatCalibration, dialect: Dialect, ratio: float | None) -> tuple[str, bool]:
    """The calibration options and whether the script scales the dark first (by ``ratio``)."""
    if cal.flatdark is not None:
        return "-dark=../flatdark.fits", False  # holds bias and dark signal: subtracted as is
    if cal.bias is None or cal.dark is None:
        return ("-bias=../bias.fits" if cal.bias is not None else "-dark=../dark.fits"), False
    scaling = cal.params.dark_scaling
    if scaling == "none":
        return "-dark=../dark.fits", False  # apcal's darks contain the bias: raw - dark
    if scaling in ("optimize", "pixinsight") and dialect.dark_optimization:
        return "-bias=../bias.fits -dark=../dark.fits -opt", False
    return "-dark=../dark_scaled.fit", ratio is not None


def job_view(job: Job, number: int, folder: Path, dialect: Dialect) -> JobView:
    problem = ""
    calibrate: str | None = None
    scale: float | None = None
    not_fits = [p for p in job.inputs if p.suffix.lower() not in (".fit", ".fits", ".fts")]
    if not_fits:
        problem = f"Siril stacks FITS frames only ({not_fits[0].name} is not one)"
    if job.calibration is not None:
        ratio = job_exposure_ratio(job) if scaled_dark(job) else None
        calibrate, scaled = calibration_options(job.calibration, dialect, ratio)
        scale = ratio if scaled else None
        if calibrate.endswith("dark_scaled.fit") and not scaled and not problem:
            problem = "the flats' exposures differ or are unknown, so the dark cannot be scaled by exposure"
    return JobView(
        job=job,
        number=number,
        folder=folder,
        stack=stack_arguments(job.integration, dialect),
        calibrate=calibrate,
        scale=scale,
        problem=problem,
    )


def render_preamble(dialect: Dialect, *, total: int, stamp: str, threads: int) -> str:
    template = _TEMPLATES.get_template("preamble.ssf.j2")
    return template.render(version=__version__, dialect=dialect, total=total, stamp=stamp, threads=threads)


def render_section(view: JobView, dialect: Dialect, total: int) -> str:
    return _TEMPLATES.get_template("job.ssf.j2").render(view=view, dialect=dialect, total=total)


def render_script(preamble: str, sections: Sequence[str]) -> str:
    """The run's whole script: the preamble, then every job's section."""
    return preamble + "".join(sections)
