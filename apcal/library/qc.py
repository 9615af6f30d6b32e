"""QC figures of a master, and the gate that compares a new master with the previous good one.

Figures (in ADU of a 16-bit image: apcal reads pixels normalized to [0, 1]): the median, the noise
(the k-sigma wavelet noise of :func:`apcal.stats.master.master_statistics`, which smooth structure does
not raise), for a bias the read noise of one frame (the master's noise times the square root of
NCOMBINE; in electrons when EGAIN, e-/ADU, is in the header), and the hot-pixel count.

The gate (:func:`compare`) follows LCO BANZAI's comparison of a new master with the previous one
(``banzai/calibrations.py``, CalibrationComparer): more than 5 % of the
difference image's pixels beyond 6 σ fails it (both settable: ``library.qc_gate``,
:class:`apcal.recipe.model.QcGate`). Deliberate changes: BANZAI
propagates per-pixel uncertainties; apcal's masters carry none, so σ is the difference's own noise,
measured by the wavelet estimator (which a smooth light leak does not raise, and in which the fixed
pattern both masters share has cancelled). The difference's median is subtracted first and a level
change is judged on its own (``level_jump``, relative), so a bias pedestal that drifts by an ADU
does not fail every pixel; flats are divided by their medians first (their level follows the light,
not the sensor). The noise per frame (noise times √NCOMBINE) must not change by more
than ``noise_jump`` (relative): a new driver or readout mode shows there first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from apcal.frames.model import Frame
from apcal.io.image import open_image
from apcal.recipe.model import QcGate
from apcal.stats.master import master_statistics
from apcal.stats.noise import estimate_noise
from apcal.stats.robust import nan_median_mad
from apcal.vocabulary import FrameType

ADU = 65535.0
#: The gate a recipe gets when it sets no ``library.qc_gate``.
DEFAULT_GATE = QcGate()
_NOISE_WINDOW = 1024


def _number(frame: Frame, keyword: str) -> float | None:
    value = frame.keywords.get(keyword)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def read_pixels(path: Path) -> np.ndarray:
    """The whole image as float32 in [0, 1] units."""
    with open_image(path) as reader:
        return np.asarray(reader.read(), dtype=np.float32)


def qc_figures(frame: Frame, image: np.ndarray | None = None) -> dict[str, float | None]:
    """The QC figures of the master ``frame`` (see the module docstring); None where not defined."""
    pixels = read_pixels(frame.path) if image is None else image
    stats = master_statistics(pixels, frame.type)
    median, noise = stats["median"] * ADU, stats["noise"] * ADU
    ncombine = _number(frame, "NCOMBINE")
    gain = _number(frame, "EGAIN")
    figures: dict[str, float | None] = {
        "median_adu": _finite(median),
        "noise_adu": _finite(noise),
        "hot_pixels": _finite(stats["hot_pixels"]),
        "read_noise_adu": None,
        "read_noise_e": None,
    }
    if frame.type is FrameType.BIAS and ncombine and math.isfinite(noise):
        read_noise = noise * math.sqrt(ncombine)
        figures["read_noise_adu"] = read_noise
        figures["read_noise_e"] = read_noise * gain if gain else None
    return figures


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class Comparison:
    """A new master against its predecessor: the gate's measures and every rule it failed."""

    outlier_fraction: float
    level_change: float | None  # relative
    noise_change: float | None  # relative, per frame
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


def _central(image: np.ndarray) -> np.ndarray:
    plane = image if image.ndim == 2 else image[0]
    rows, cols = plane.shape
    r0, c0 = max(0, (rows - _NOISE_WINDOW) // 2), max(0, (cols - _NOISE_WINDOW) // 2)
    return plane[r0 : r0 + _NOISE_WINDOW, c0 : c0 + _NOISE_WINDOW]


def _per_frame_noise(noise: float, frame: Frame) -> float:
    return noise * math.sqrt(_number(frame, "NCOMBINE") or 1.0)


def _relative(new: float, old: float) -> float | None:
    return (new - old) / abs(old) if old and math.isfinite(old) and math.isfinite(new) else None


def compare(new: Frame, old: Frame, gate: QcGate = DEFAULT_GATE) -> Comparison:
    """Compare the master ``new`` with its predecessor ``old`` (same configuration, so same shape)
    against the thresholds of ``gate``."""
    a, b = read_pixels(new.path), read_pixels(old.path)
    if a.shape != b.shape:
        return Comparison(
            1.0, None, None, (f"image shape {a.shape} differs from the predecessor's {b.shape}",)
        )
    level_a, level_b = nan_median_mad(a)[0], nan_median_mad(b)[0]
    if new.type is FrameType.FLAT and level_a and level_b:
        a, b = a / np.float32(level_a), b / np.float32(level_b)
    noise_a, noise_b = estimate_noise(_central(a)), estimate_noise(_central(b))
    diff = a - b
    centre = nan_median_mad(diff)[0]
    sigma = estimate_noise(_central(diff))
    with np.errstate(invalid="ignore"):
        beyond = np.abs(diff - np.float32(centre)) > gate.outlier_sigma * sigma
    fraction = float(np.count_nonzero(beyond)) / max(1, diff.size)
    problems = []
    if fraction > gate.outlier_fraction:
        problems.append(
            f"{fraction:.1%} of the difference's pixels beyond {gate.outlier_sigma:g} sigma "
            f"(at most {gate.outlier_fraction:.0%})"
        )
    level = None if new.type is FrameType.FLAT else _relative(level_a, level_b)
    if level is not None and abs(level) > gate.level_jump:
        problems.append(f"level {level:+.1%} (at most ±{gate.level_jump:.0%})")
    noise = _relative(_per_frame_noise(noise_a, new), _per_frame_noise(noise_b, old))
    if noise is not None and abs(noise) > gate.noise_jump:
        problems.append(f"noise per frame {noise:+.1%} (at most ±{gate.noise_jump:.0%})")
    return Comparison(fraction, level, noise, tuple(problems))
