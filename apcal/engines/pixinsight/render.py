"""Render a :class:`~apcal.plan.Plan` into one PixInsight JavaScript (PJSR) script.

Every value reaches the script through one of three doors, never by pasting text into quotes:

* :func:`js_literal` (the ``js`` filter): strings and paths become JSON string literals
  (``json.dumps(..., ensure_ascii=True)`` with ``<``, ``>`` and ``&`` escaped too), so Windows
  backslashes, quotes, newlines, ``</script>`` and non-ASCII text are all inert and the script is pure ASCII;
* :func:`js_number` (the ``num`` filter): finite numbers only, NaN and infinities raise;
* :func:`enum_constant` (the ``enum`` filter): ``<Process>.prototype.<ElementId>`` looked up in the
  tables below, the one place where apcal's vocabulary meets PixInsight's.

Parameter ids and enumeration element ids are those of /work/shared/pixinsight/process-parameters.json
(ImageIntegration 1.6.0, ImageCalibration 2.2.8); the contract tests run the script under Node.js against a
stand-in that rejects anything else.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import jinja2

from apcal.io.temporary_names import partial_master
from apcal.plan.darkscaling import dark_scaling_notes, is_cfa, scaled_dark
from apcal.plan.model import FlatCalibration, Job, Plan, colliding_stems
from apcal.vocabulary import HeaderValue

# apcal value -> PixInsight enumeration element id, per (process, parameter). The only mapping table.
ENUMS: Mapping[tuple[str, str], Mapping[str, str]] = {
    ("ImageIntegration", "combination"): {
        "average": "Average",
        "median": "Median",
        "minimum": "Minimum",
        "maximum": "Maximum",
    },
    ("ImageIntegration", "rejection"): {
        "none": "NoRejection",
        "minmax": "MinMax",
        "percentile": "PercentileClip",
        "sigma": "SigmaClip",
        "winsorized": "WinsorizedSigmaClip",
        "averaged_sigma": "AveragedSigmaClip",
        "linear_fit": "LinearFit",
        "esd": "Rejection_ESD",
    },
    ("ImageIntegration", "normalization"): {
        "none": "NoNormalization",
        "additive": "Additive",
        "multiplicative": "Multiplicative",
        "additive_scaling": "AdditiveWithScaling",
        "multiplicative_scaling": "MultiplicativeWithScaling",
    },
    ("ImageIntegration", "rejectionNormalization"): {
        "none": "NoRejectionNormalization",
        "scale": "Scale",
        "equalize_fluxes": "EqualizeFluxes",
    },
    # Fixed choices (see the templates for why): identity tables so they go through the same door.
    ("ImageIntegration", "weightMode"): {"DontCare": "DontCare"},
    ("ImageCalibration", "outputSampleFormat"): {"f32": "f32"},
    ("ImageCalibration", "outputPedestalMode"): {"OutputPedestal_Literal": "OutputPedestal_Literal"},
    ("ImageCalibration", "onError"): {"Abort": "Abort"},
}

# What ImageIntegration and ImageCalibration are told about the input files: WBPP's input hints.
INPUT_HINTS = "fits-keywords normalize only-first-image raw cfa use-roworder-keywords signed-is-physical"
# Added to a job's input hints when its FITS frames are floats in ADU (apcal.io.adu): PixInsight's FITS
# reader then divides them by 65535, as apcal's native engine does, instead of rescaling each frame
# from its own minimum and maximum (its default for float data outside [0, 1], FITSInstance.cpp
# ApplyOutOfRangePolicy). The FITS reader also turns NaN and infinities into 0 (fixNonFinite, on for
# hinted reads), where the native engine treats them as missing samples.
ADU_INPUT_HINTS = "lower-range 0 upper-range 65535"
# Hints for the master file itself (FileFormatInstance.create); ImageCalibration's default output hints,
# plus "checksums sha1" so a PixInsight-built master carries the checksum apcal.io.integrity verifies.
OUTPUT_HINTS = {
    "xisf": "properties fits-keywords no-compress-data no-embedded-data no-resolution checksums sha1",
    "fits": "",
}
EXTENSIONS = {"xisf": ".xisf", "fits": ".fits"}
CALIBRATED_EXTENSION = ".xisf"  # ImageCalibration writes XISF whatever the master format

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("apcal.engines.pixinsight", "templates"),
    autoescape=False,  # JavaScript, not HTML: every value is encoded by the filters below instead
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def js_literal(value: object) -> str:
    """A JavaScript literal for ``value``: string, path, bool, int, float, None or a sequence of these."""
    if isinstance(value, str | PurePath):
        text = json.dumps(str(value), ensure_ascii=True)
        # Not needed for JavaScript itself; keeps the script inert if pasted into HTML and keeps
        # PixInsight's console from reading tags in echoed text.
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number(value)
    if isinstance(value, Sequence):
        return "[" + ", ".join(js_literal(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} into a PixInsight script")


def js_number(value: object) -> str:
    """A JavaScript number literal; raises ValueError for NaN and infinities, TypeError for non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot write the non-finite number {value!r} into a PixInsight script")
    return repr(float(value))  # shortest round-trip form: 0.1, 1e-05, 3.0 - all valid JavaScript


def enum_constant(value: str, process: str, parameter: str) -> str:
    """``<process>.prototype.<ElementId>`` for apcal's ``value`` of ``parameter``."""
    table = ENUMS[(process, parameter)]
    try:
        element = table[value]
    except KeyError:
        raise ValueError(
            f"{process}.{parameter} has no equivalent for {value!r} (known: {', '.join(table)})"
        ) from None
    return f"{process}.prototype.{element}"


def fits_value_text(value: HeaderValue) -> str:
    """The FITS value field PJSR's FITSKeyword takes: 'quoted' strings (quotes doubled), T/F, numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, int | float):
        return js_number(value).upper()  # FITS spells the exponent with a capital E
    return "'" + value.replace("'", "''") + "'"


def js_comment(text: str) -> str:
    """``text`` safe on one ``//`` comment line: every JavaScript line terminator becomes a space."""
    return " ".join(str(text).replace("\u2028", " ").replace("\u2029", " ").splitlines())


_TEMPLATES.filters["js"] = js_literal
_TEMPLATES.filters["comment"] = js_comment
_TEMPLATES.filters["num"] = js_number
_TEMPLATES.filters["enum"] = enum_constant
_TEMPLATES.filters["fits"] = fits_value_text


def calibrated_path(calibration: FlatCalibration, frame: Path) -> Path:
    """Where ImageCalibration writes ``frame`` (always XISF: ``outputExtension`` is fixed)."""
    return calibration.calibrated_path(frame, CALIBRATED_EXTENSION)


def partial_path(output: Path, output_format: str) -> Path:
    """The temporary name beside ``output`` that the master is written to before the move."""
    return partial_master(output, EXTENSIONS[output_format])


@dataclass(frozen=True)
class _CalibrationView:
    """What calibration_flat.j2 needs, decided here so the template only lays it out."""

    params: Any
    targets: tuple[Path, ...]
    outputs: tuple[Path, ...]
    output_dir: Path
    bias: Path | None
    dark: Path | None
    calibrate_dark: bool
    optimize_darks: bool
    scaling_note: str  # a JavaScript comment line's text: how dark_scaling maps onto ImageCalibration
    enable_cfa: bool
    masters: tuple[tuple[str, Path, str | None], ...]  # label, path, id of the job that builds it


@dataclass(frozen=True)
class _JobView:
    job: Job
    number: int
    inputs: tuple[Path, ...]
    calibration: _CalibrationView | None
    partial: Path
    problem: str  # non-empty: the job cannot run; the script reports it failed without trying
    input_hints: str = INPUT_HINTS


def _calibration_view(job: Job) -> _CalibrationView:
    cal = job.calibration
    assert cal is not None
    targets = job.inputs
    bias: Path | None
    dark: Path | None
    masters: tuple[tuple[str, Path, str | None], ...]
    if cal.flatdark is not None:
        # A flat-dark holds bias and dark signal for the flats' exposure: subtracted as is, in the
        # dark slot, with no bias, no bias subtraction from it and no scaling.
        bias, dark, calibrate_dark, optimize = None, cal.flatdark.path, False, False
        masters = (("flat-dark", cal.flatdark.path, cal.flatdark.job_id),)
    else:
        bias = cal.bias.path if cal.bias is not None else None
        dark = cal.dark.path if cal.dark is not None else None
        # apcal's master darks are plain integrations of raw darks, so they contain the bias: with a
        # bias at hand ImageCalibration must subtract it from the dark first (calibrateDark), which dark
        # scaling needs too - WBPP 3 sets `IC.calibrateDark = overscan || masterBiasEnabled`.
        calibrate_dark = bias is not None and dark is not None
        # Scaling a dark that still contains the bias would scale the bias too: optimise only with both.
        # ImageCalibration has one way to scale: its own optimization (dark_scaling: pixinsight); apcal's
        # `optimize` and `exposure` come closest to it, `none` is optimizeDarks off.
        optimize = cal.params.dark_scaling != "none" and calibrate_dark
        masters = tuple(
            (label, ref.path, ref.job_id) for label, ref in (("bias", cal.bias), ("dark", cal.dark)) if ref
        )
    # ImageCalibration's CFA mode matters only for OSC cameras; a Bayer pattern keyword marks them.
    enable_cfa = is_cfa(job.group)
    scaling = cal.params.dark_scaling
    if not optimize:
        note = f"dark_scaling: {scaling}" if scaled_dark(job) else "no dark is scaled"
    elif scaling == "pixinsight":
        note = "dark_scaling: pixinsight (ImageCalibration's dark optimization)"
    else:
        note = " ".join(dark_scaling_notes(scaling, "pixinsight"))
    return _CalibrationView(
        params=cal.params,
        targets=targets,
        outputs=tuple(calibrated_path(cal, path) for path in targets),
        output_dir=cal.output_dir,
        bias=bias,
        dark=dark,
        calibrate_dark=calibrate_dark,
        optimize_darks=optimize,
        scaling_note=note,
        enable_cfa=enable_cfa,
        masters=masters,
    )


def _job_view(plan: Plan, job: Job, number: int) -> _JobView:
    calibration = _calibration_view(job) if job.calibration is not None else None
    inputs = calibration.outputs if calibration is not None else job.inputs
    problem = ""
    if not job.inputs:
        problem = "the group has no frames"
    elif calibration is not None and colliding_stems(job.inputs):
        # ImageCalibration names its outputs itself (stem + postfix): it cannot give them apcal's suffix
        problem = (
            "two frames of the group have the same file name, so their calibrated files would overwrite "
            f"each other in {calibration.output_dir}"
        )
    elif job.integration.rejection == "esd" and job.integration.esd_rule != "pixinsight":
        # ImageIntegration has no parameter for the way ESD counts its outliers: it always stops at the
        # first candidate that fails (the 'pixinsight' rule), so another rule would build another master.
        problem = (
            f"esd_rule {job.integration.esd_rule!r} has no PixInsight equivalent (ImageIntegration "
            "always uses esd_rule 'pixinsight'): set it, or run this group with the native engine"
        )
    hints, mixed = _input_hints(job.inputs)
    if mixed and not problem:
        problem = mixed
    return _JobView(
        job=job,
        number=number,
        inputs=inputs,
        calibration=calibration,
        partial=partial_path(job.output, plan.output_format),
        problem=problem,
        input_hints=hints,
    )


def _input_hints(frames: Sequence[Path]) -> tuple[str, str]:
    """The job's input hints, and why PixInsight cannot read its frames on one scale ("" when it can).

    Float FITS frames are probed as the native engine reads them (:mod:`apcal.io.adu`); a file that
    cannot be read is left to the run to report. One ImageIntegration or ImageCalibration instance has
    one set of hints, so float frames in ADU beside float frames in [0, 1] cannot be read right by it.
    """
    from apcal.errors import FrameError
    from apcal.io.base import image_format
    from apcal.io.image import open_image, read_header

    adu: list[Path] = []
    unit: list[Path] = []
    for path in frames:
        try:
            if image_format(path) != "fits" or not read_header(path).sample_format.startswith("float"):
                continue
            with open_image(path) as reader:
                (adu if reader.scaled_from_adu else unit).append(path)
        except FrameError:
            continue
    if not adu:
        return INPUT_HINTS, ""
    if unit:
        return INPUT_HINTS, (
            f"float frames in ADU ({adu[0].name}) and in [0, 1] ({unit[0].name}) need different input "
            "ranges in PixInsight; build this group with the native engine"
        )
    return f"{INPUT_HINTS} {ADU_INPUT_HINTS}", ""


def render_script(
    plan: Plan,
    jobs: Sequence[Job],
    *,
    log_path: Path,
    status_prefix: str = "APCAL-STATUS",
    status_path: Path | None = None,
) -> str:
    """The PJSR script that builds ``jobs`` (a subset of ``plan.jobs``, in plan order).

    Each job runs in its own try/catch and prints one status line, ``<status_prefix> {json}`` with
    ``job``, ``status`` ("ok"/"failed"), ``output``, ``message``, ``seconds`` and ``dark_scales``. The
    console log is captured from the start and written to ``log_path`` at the end; when ``status_path``
    is given the status lines so far are also rewritten there after every job, so a crash or hang does
    not lose the jobs that finished.
    """
    if plan.output_format not in EXTENSIONS:
        raise ValueError(f"unknown output format {plan.output_format!r}")
    views = [_job_view(plan, job, number) for number, job in enumerate(jobs, start=1)]
    template = _TEMPLATES.get_template("script.j2")
    return template.render(
        plan=plan,
        views=views,
        total=len(views),
        log_path=log_path,
        status_path=status_path,
        status_prefix=status_prefix,
        default_hints=INPUT_HINTS,
        file_extension=EXTENSIONS[plan.output_format],
        output_hints=OUTPUT_HINTS[plan.output_format],
    )
