"""The PixInsight engine reads float ADU frames on the native engine's scale: its input hints say so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from apcal.engines.pixinsight.render import ADU_INPUT_HINTS, INPUT_HINTS, js_literal, render_script
from apcal.plan.prepare import prepare_plan
from apcal.recipe import recipe_from_mapping

NIGHT = NightPlan(n_bias=3, dark_exposures=(), n_darks=0, filters=(), flat_exposures=(), n_flats=0)


def night(tmp_path: Path, scales: list[float]) -> Path:
    """3 bias frames rewritten as float32, frame i divided by ``scales[i]`` (1: ADU, 65535: [0, 1])."""
    truth = generate_night(tmp_path / "frames", CameraModel(rows=16, cols=24), NIGHT)
    for path, scale in zip(truth.files["bias"], scales, strict=True):
        with fits.open(path) as hdul:
            header, data = hdul[0].header.copy(), hdul[0].data.astype(np.float32)
        header.remove("BZERO", ignore_missing=True)
        header.remove("BSCALE", ignore_missing=True)
        path.unlink()
        fits.PrimaryHDU(data / np.float32(scale), header=header).writeto(path)
    return tmp_path


def script(folder: Path) -> str:
    recipe = recipe_from_mapping(
        {
            "apcal": 1,
            "name": "t",
            "inputs": [{"path": str(folder / "frames")}],
            "output": {"dir": str(folder / "out")},
            "engine": {"name": "pixinsight"},
        },
        base_dir=folder,
    )
    plan = prepare_plan(recipe)
    return render_script(plan, plan.jobs, log_path=folder / "log.txt")


def test_float_adu_frames_get_the_16_bit_input_range(tmp_path: Path) -> None:
    text = script(night(tmp_path, [1.0, 1.0, 1.0]))
    assert f"II.inputHints = {js_literal(INPUT_HINTS + ' ' + ADU_INPUT_HINTS)};" in text
    assert "// float FITS frames in ADU: read as 16-bit data" in text


def test_float_frames_in_0_1_keep_the_default_hints(tmp_path: Path) -> None:
    text = script(night(tmp_path, [65535.0] * 3))
    assert f"II.inputHints = {js_literal(INPUT_HINTS)};" in text and ADU_INPUT_HINTS not in text
    assert "in ADU" not in text


def test_mixed_float_scales_are_refused_with_a_reason(tmp_path: Path) -> None:
    text = script(night(tmp_path, [1.0, 65535.0, 1.0]))
    assert "need different input ranges in PixInsight" in text
    assert "II.inputHints" not in text  # the job is reported failed without running
