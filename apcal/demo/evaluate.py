"""How close masters built from a synthetic night are to its known truth.

The two figures the demo prints and the tests assert:

- master bias: the rms of (master − true bias) against the theoretical floor σ/√N (read noise and
  rounding of one frame, averaged over N frames), as a ratio;
- master flat: the rms of (master / mean − true flat / mean), in percent, over pixels away from the
  edges.

Master darks are reported as the rms of (master − (bias + dark current·t)) in ADU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from apcal.demo.camera import FULL_SCALE
from apcal.demo.truth import NightTruth, dark_truth, flat_truth_normalized, theoretical_bias_noise
from apcal.io.image import open_image, read_header

EDGE = 8  # pixels left out at each border: a flat's outermost pixels see the least light


@dataclass(frozen=True)
class MasterQuality:
    """One master measured against the truth: ``figure`` in ``unit``, compared with ``target``."""

    kind: str
    path: Path
    frames: int
    figure: float
    unit: str
    target: str
    ok: bool


def _header_value(path: Path, name: str) -> float | str | None:
    for card in read_header(path).keywords:
        if card.name == name:
            return card.value
    return None


def _read(path: Path) -> np.ndarray:
    with open_image(path) as reader:
        return reader.read().astype(np.float64)


def bias_quality(path: Path, truth: NightTruth) -> MasterQuality:
    frames = int(_header_value(path, "NCOMBINE") or 0)
    residual = _read(path) - truth.bias
    inner = residual[EDGE:-EDGE, EDGE:-EDGE]
    floor = theoretical_bias_noise(truth.camera, frames)
    ratio = float(inner.std()) / floor
    return MasterQuality("bias", path, frames, ratio, "x floor", "<= 1.02", ratio <= 1.02)


def dark_quality(path: Path, truth: NightTruth) -> MasterQuality:
    frames = int(_header_value(path, "NCOMBINE") or 0)
    exposure = float(_header_value(path, "EXPTIME") or 0.0)
    residual = (_read(path) - dark_truth(truth, exposure)) * FULL_SCALE
    rms = float(residual[EDGE:-EDGE, EDGE:-EDGE].std())
    # Expected: read noise and dark shot noise of one frame, averaged over N (hot pixels add more).
    expected = math.sqrt(truth.camera.read_noise_adu**2 + 1 / 12) / math.sqrt(max(frames, 1))
    return MasterQuality("dark", path, frames, rms, "ADU rms", f"~{expected:.2f}", rms <= 3 * expected)


def flat_quality(path: Path, truth: NightTruth, filter_name: str) -> MasterQuality:
    frames = int(_header_value(path, "NCOMBINE") or 0)
    master = _read(path)
    expected = flat_truth_normalized(truth, filter_name).astype(np.float64)
    inner = (slice(EDGE, -EDGE), slice(EDGE, -EDGE))
    ratio = (master[inner] / master[inner].mean()) / (expected[inner] / expected[inner].mean())
    rms = float(np.sqrt(np.mean((ratio - 1.0) ** 2))) * 100
    return MasterQuality("flat", path, frames, rms, "% rms", "<= 0.5", rms <= 0.5)
