"""Bad-frame screening: which frames of a group are left out before integration, and why.

One bad frame — a flat taken as the sky brightened, a bias with a light leak, a dark taken with a warm
sensor — spoils a master silently. :func:`screen_group` finds such frames; it is pure (no I/O): the
engine measures each frame once with :meth:`FrameQuality.of` in the statistics pass it makes anyway,
and the plan can run the header-only checks (``qualities=None``) before any pixel is read.

Checks, in the order their reasons are listed:

* **Non-finite pixels** (pixels, always, even with screening disabled): a frame more than
  :data:`MAX_NON_FINITE` (half) of whose measured pixels are NaN or infinite (a failed download, a
  corrupt conversion) is left out, naming it, and is not counted in the group's statistics below. The
  rule "never too few frames" does not keep it: integration treats non-finite samples as missing
  (PixInsight's readers turn them into zeros, ``FITSInstance.cpp`` ``ApplyOutOfRangePolicy``, which
  its range clipping then rejects), so such a frame adds almost nothing but can leave normalization
  without a median. A frame with a few non-finite pixels is kept; they are missing samples.
* **Sensor temperature** (header): ``|CCD-TEMP - SET-TEMP| > tolerance``, the tolerance being the
  recipe's ``grouping.tolerances.sensor_temp`` (one home for "how far the sensor may be from its set
  point", 2 °C by default). Frames lacking either keyword are not checked (uncooled cameras).
* **Flat level** (pixels, flats only): the median outside ``[flat_min_level, flat_max_level]`` of full
  scale. Full scale is PixInsight's 1.0, i.e. the largest value the file's sample type holds; a
  camera's real full well is usually below its ADC's range, so 0.80 of full scale errs on the safe
  side for 16-bit (and 12/14-bit data scaled to 16 bits, as capture programs write it).
* **Outliers in the group** (pixels, groups of 3 or more): for each of median level, noise and
  large-scale gradient, the robust z-score ``z = (x - median(x)) / s`` with
  ``s = max(1.4826 · MAD(x), floor)``; ``|z| > z_threshold`` (5 by default) for the level, and
  ``z > z_threshold`` for noise and gradient (a quieter or flatter frame cannot spoil a master),
  excludes the frame. A
  Gaussian value passes 5 sigma about once in 3.5 million, so clean groups lose nothing, while the
  floors below keep a group of identical values from turning a one-ADU difference into z = inf.
  For flats the gradient is taken relative to the level (the illumination's shape, not its
  brightness). Lamp drift of a few percent across a flat sequence stays far inside the limit: the
  group's own spread sets ``s``.

Floors (the smallest ``s`` used), all relative to the group's median frame noise ``σ`` because a
quantity that moves by less than a fraction of the pixel noise cannot spoil a master:

* level: ``0.1 σ`` — an integer 16-bit bias median moves in whole ADU (≈ 0.17 σ at 6 ADU read noise);
* noise: ``0.03 σ`` — a 3 % change in noise; with z = 5 a frame must be 15 % noisier or quieter;
* gradient: ``0.1 σ`` (flats: ``0.1 σ / level``) — a light leak must add half the pixel noise or
  more across the frame at z = 5; cell means of ~10⁴ pixels are known to ~0.01 σ.

**Never too few frames.** When exclusion would leave fewer than ``min_frames`` frames (the recipe's
``grouping.min_frames``, at least 3), nothing is excluded and one warning names the frames that would
have been; a master from a few doubtful frames is better than no master, and the user is told.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from apcal.frames.model import Frame
from apcal.recipe.model import Screening
from apcal.vocabulary import FrameType

MAD_TO_SIGMA = 1.482602218505602
GRID = 4  # the gradient is measured on a GRID x GRID grid of cells
CLIP = 5.0  # pixels beyond median ± CLIP·σ_MAD (hot pixels, cosmic rays) are left out of noise and cells

#: A frame with more than this fraction of non-finite measured pixels is left out.
MAX_NON_FINITE = 0.5
#: Full scale of 16-bit data: levels in the reasons are also given in ADU (value x 65535).
ADU = 65535.0

LEVEL_FLOOR = 0.1
NOISE_FLOOR = 0.03
GRADIENT_FLOOR = 0.1


@dataclass(frozen=True)
class FrameQuality:
    """What screening needs of one frame's pixels, all in the image's [0, 1] units.

    ``median``: the median of the finite pixels. ``noise``: the standard deviation of the pixels within
    median ± 5·σ_MAD — robust to hot pixels and cosmic rays like MAD·1.4826, but continuous: MAD of
    integer data moves in whole ADU (4 or 5 ADU for a 6 ADU read noise), which would make identical
    frames look 25 % apart. ``gradient``: the range (max - min) of the clipped means of a 4 × 4 grid of
    cells (of the channels' mean, for a colour image), the large-scale structure a light leak or a
    brightening sky adds. ``finite_fraction``: the fraction of the pixels that are finite (not NaN,
    not infinite); the other statistics are of those.
    """

    median: float
    noise: float
    gradient: float
    finite_fraction: float = 1.0

    @classmethod
    def of(cls, image: np.ndarray, *, median: float | None = None, mad: float | None = None) -> FrameQuality:
        """Measure ``image``: (rows, cols) or (channels, rows, cols), any float or integer dtype.

        ``median`` and ``mad`` (raw MAD) of the finite pixels may be passed when already measured on
        these very pixels (the stack's statistics pass measures them for normalization): they are then
        not computed twice.

        ``image`` may be a subset of the frame's rows (the statistics pass reads up to 16 evenly spaced
        bands of rows) as long as the rows keep their order, and all frames of a group are measured on
        the same rows: cells are then bands of the sampled rows, which still see a gradient top to bottom.
        """
        data = np.asarray(image, dtype=np.float32)
        if data.ndim not in (2, 3):
            raise ValueError(f"FrameQuality.of needs a 2-D or 3-D image, not shape {data.shape}")
        is_finite = np.isfinite(data)
        count = int(np.count_nonzero(is_finite))
        fraction = count / data.size if data.size else 0.0
        if count == 0:
            return cls(math.nan, math.nan, math.nan, 0.0)
        if median is None or mad is None:
            finite = data[is_finite]
            median = float(np.median(finite))
            mad = float(np.median(np.abs(finite - median)))
        del is_finite
        sigma = MAD_TO_SIGMA * mad
        low, high = median - CLIP * sigma, median + CLIP * sigma
        # One mask for the noise and the cells: NaN and ±inf fail one of the comparisons, so the masked
        # pixels are the finite ones within the bounds, in the same order as before.
        inside = (data >= low) & (data <= high)
        keep = data[inside]
        noise = float(np.std(keep, dtype=np.float64)) if keep.size > 1 else 0.0
        if data.ndim == 3:  # cells of the channels' mean: colour balance is not a gradient
            data = np.where(inside, data, np.nan)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all channels clipped: NaN
                data = np.nanmean(data, axis=0)
            inside = (data >= low) & (data <= high)
        means = []
        row_parts = np.array_split(np.arange(data.shape[0]), min(GRID, data.shape[0]))
        col_parts = np.array_split(np.arange(data.shape[1]), min(GRID, data.shape[1]))
        for rows in row_parts:
            for cols in col_parts:
                r, c = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
                values = data[r, c][inside[r, c]]
                if values.size:
                    means.append(float(values.mean(dtype=np.float64)))
        gradient = max(means) - min(means) if means else math.nan
        return cls(median=median, noise=noise, gradient=gradient, finite_fraction=fraction)


@dataclass(frozen=True)
class Exclusion:
    """A frame left out of its group, with a one-line reason that names the file."""

    path: str
    reason: str


@dataclass(frozen=True)
class ScreeningResult:
    """The frames to leave out, and warnings (e.g. exclusions withheld to keep ``min_frames``)."""

    excluded: tuple[Exclusion, ...] = ()
    warnings: tuple[str, ...] = ()

    def kept(self, frames: Sequence[Frame]) -> list[Frame]:
        """``frames`` without the excluded ones, in their order."""
        out = {e.path for e in self.excluded}
        return [f for f in frames if str(f.path) not in out]

    def kept_indices(self, paths: Sequence[object]) -> list[int]:
        """Indices of the ``paths`` (``Path`` or ``str``) that are not excluded."""
        out = {e.path for e in self.excluded}
        return [i for i, p in enumerate(paths) if str(p) not in out]


def screen_group(
    frames: Sequence[Frame],
    qualities: Sequence[FrameQuality] | None,
    settings: Screening,
    *,
    frame_type: FrameType,
    sensor_temp_tolerance: float = 2.0,
    min_frames: int = 3,
) -> ScreeningResult:
    """Decide which of one group's ``frames`` to leave out (see the module docstring for the rules).

    ``qualities[i]`` measures ``frames[i]``; None runs the header checks only (plan time).
    ``sensor_temp_tolerance`` is ``recipe.grouping.tolerances.sensor_temp`` and ``min_frames``
    ``recipe.grouping.min_frames``. Disabled ``settings`` exclude nothing.
    """
    if qualities is not None and len(qualities) != len(frames):
        raise ValueError(f"{len(qualities)} frame qualities for {len(frames)} frames")
    unusable = _non_finite(frames, qualities)
    if unusable:
        usable = [i for i in range(len(frames)) if i not in {i for i, _ in unusable}]
        rest = screen_group(
            [frames[i] for i in usable],
            None if qualities is None else [qualities[i] for i in usable],
            settings,
            frame_type=frame_type,
            sensor_temp_tolerance=sensor_temp_tolerance,
            min_frames=min_frames,
        )
        excluded = tuple(Exclusion(str(frames[i].path), line) for i, line in unusable)
        return ScreeningResult(excluded=excluded + rest.excluded, warnings=rest.warnings)
    if not settings.enabled or not frames:
        return ScreeningResult()
    reasons: list[list[str]] = [[] for _ in frames]
    if settings.check_sensor_temp:
        for i, frame in enumerate(frames):
            reason = _temperature(frame, sensor_temp_tolerance)
            if reason:
                reasons[i].append(reason)
    if qualities is not None:
        if frame_type is FrameType.FLAT:
            for i, q in enumerate(qualities):
                reason = _flat_level(q.median, settings)
                if reason:
                    reasons[i].append(reason)
        for i, reason in _outliers(qualities, settings.z_threshold, flat=frame_type is FrameType.FLAT):
            reasons[i].append(reason)

    flagged = [i for i, r in enumerate(reasons) if r]
    if not flagged:
        return ScreeningResult()
    lines = [f"{frames[i].path.name}: {'; '.join(reasons[i])}" for i in flagged]
    floor = max(3, min_frames)
    if len(frames) - len(flagged) < floor:
        warning = (
            f"screening kept all {len(frames)} frames of the group: leaving out the {len(flagged)} "
            f"doubtful one(s) would leave fewer than {floor} ({' | '.join(lines)})"
        )
        return ScreeningResult(warnings=(warning,))
    excluded = tuple(Exclusion(str(frames[i].path), line) for i, line in zip(flagged, lines, strict=True))
    return ScreeningResult(excluded=excluded)


def _non_finite(frames: Sequence[Frame], qualities: Sequence[FrameQuality] | None) -> list[tuple[int, str]]:
    """(index, reason naming the file) of the frames mostly made of NaN or infinite pixels."""
    if qualities is None:
        return []
    found = []
    for i, q in enumerate(qualities):
        bad = 1.0 - q.finite_fraction
        if bad > MAX_NON_FINITE:
            what = (
                "no finite pixel (every pixel is NaN or infinite)"
                if q.finite_fraction == 0
                else f"{100 * bad:.1f} % of its pixels are NaN or infinite (limit {100 * MAX_NON_FINITE:g} %)"
            )
            found.append((i, f"{frames[i].path.name}: {what}"))
    return found


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _temperature(frame: Frame, tolerance: float) -> str | None:
    sensor = _number(frame.keywords.get("CCD-TEMP"))
    target = _number(frame.keywords.get("SET-TEMP"))
    if sensor is None or target is None or abs(sensor - target) <= tolerance:
        return None
    return (
        f"sensor temperature {sensor:.1f} °C is {abs(sensor - target):.1f} °C from the set point "
        f"{target:.1f} °C (tolerance {tolerance:g} °C)"
    )


def _flat_level(median: float, settings: Screening) -> str | None:
    if not math.isfinite(median):
        return "no finite pixels"
    if median < settings.flat_min_level:
        return (
            f"median level {median:.3f} below the usable {settings.flat_min_level:.2f} of full scale "
            f"({median * ADU:.0f} ADU)"
        )
    if median > settings.flat_max_level:
        return (
            f"median level {median:.3f} above the usable {settings.flat_max_level:.2f} of full scale "
            f"({median * ADU:.0f} ADU)"
        )
    return None


def robust_z(values: np.ndarray, floor: float) -> np.ndarray:
    """``(x - median(x)) / max(1.4826·MAD(x), floor)``; NaN where a value is NaN."""
    x = np.asarray(values, dtype=np.float64)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return np.full_like(x, np.nan)
    centre = float(np.median(finite))
    scale = max(MAD_TO_SIGMA * float(np.median(np.abs(finite - centre))), floor)
    if not scale > 0:
        return np.where(x == centre, 0.0, np.copysign(np.inf, x - centre))
    return (x - centre) / scale


def _outliers(qualities: Sequence[FrameQuality], threshold: float, *, flat: bool) -> list[tuple[int, str]]:
    """(index, reason) of every level, noise and gradient outlier of a group of 3 or more frames."""
    if len(qualities) < 3:
        return []
    median = np.array([q.median for q in qualities])
    noise = np.array([q.noise for q in qualities])
    gradient = np.array([q.gradient for q in qualities])
    sigma = float(np.nanmedian(noise)) if np.isfinite(noise).any() else math.nan
    if not math.isfinite(sigma):
        return []
    gradient_floor = GRADIENT_FLOOR * sigma
    name, gradient_unit, gradient_format = "gradient", ADU, "{:.3g} ADU"
    if flat:
        # The illumination's shape, not its brightness: a flat's vignetting scales with its level.
        centre = float(np.nanmedian(median))
        with np.errstate(divide="ignore", invalid="ignore"):
            gradient = gradient / median
        gradient_floor = gradient_floor / centre if centre > 0 else 0.0
        name, gradient_unit, gradient_format = "relative gradient", 1.0, "{:.3g}"
    # Level is checked on both sides (too bright and too dark both spoil a master); noise and gradient
    # only above: a frame quieter or flatter than its group cannot spoil the master, and leaving it
    # out would only cost signal (seen on real ST-7 darks, whose first frame of a series is quieter).
    # Levels, noise and (not relative) gradients are shown in ADU (x 65535), as the report gives them.
    checks = [
        ("level", median, LEVEL_FLOOR * sigma, "{:.6g} ADU", ADU, True),
        ("noise", noise, NOISE_FLOOR * sigma, "{:.3g} ADU", ADU, False),
        (name, gradient, gradient_floor, gradient_format, gradient_unit, False),
    ]
    found: list[tuple[int, str]] = []
    for label, values, floor, fmt, unit, both_sides in checks:
        z = np.nan_to_num(robust_z(values, floor), nan=0.0)
        typical = float(np.nanmedian(values))
        for i in np.flatnonzero((np.abs(z) if both_sides else z) > threshold):
            side = "above" if z[i] > 0 else "below"
            found.append(
                (
                    int(i),
                    f"{label} {fmt.format(values[i] * unit)} is {abs(z[i]):.1f} robust sigma {side} the "
                    f"group's {fmt.format(typical * unit)} (limit {threshold:g})",
                )
            )
    return found
