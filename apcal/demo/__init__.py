"""Demo material: synthetic nights of calibration frames with known truth (:mod:`apcal.demo.synthetic`)."""

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from apcal.demo.truth import (
    NightTruth,
    dark_truth,
    flat_truth_normalized,
    load_truth,
    save_truth,
    theoretical_bias_noise,
)

__all__ = [
    "CameraModel",
    "NightPlan",
    "NightTruth",
    "dark_truth",
    "flat_truth_normalized",
    "generate_night",
    "load_truth",
    "save_truth",
    "theoretical_bias_noise",
]
