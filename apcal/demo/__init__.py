"""Demo material: synthetic nights of calibration frames with known truth (:mod:`apcal.demo.synthetic`)."""

from apcal.demo.synthetic import (
    CameraModel,
    NightPlan,
    NightTruth,
    dark_truth,
    flat_truth_normalized,
    generate_night,
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
