"""Flat nights a demanding user meets, run with ``apcal run`` as cron would: whatever darks the library
holds, the master flat equals the truth and each dark scale k sits where the exposure ratio says.

Each night is synthetic (:mod:`apcal.demo.synthetic`), so the flat response is known. Hot pixels are
plentiful (0.3 %) so their mean error is measured to ~0.05 %: a dark scaled wrong shows there first
(k = 1 subtracts 300 s of hot-pixel current from a 2 s flat: 1-3 % of the flat level).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from apcal.demo.truth import NightTruth, flat_truth_normalized
from apcal.io.image import open_image
from tests.cli.helpers import apcal

CAMERA = CameraModel(rows=200, cols=300, hot_pixel_fraction=3e-3)
N = 8


def night_plan(**overrides) -> NightPlan:
    settings = dict(n_bias=N, dark_exposures=(300.0,), n_darks=N, filters=("L",), flat_exposures=(2.0,))
    settings["n_flats"] = N
    settings.update(overrides)
    return NightPlan(**settings)


def run_night(tmp: Path, night: NightPlan, calibration: str = "{}", camera: CameraModel = CAMERA):
    """Generate ``night``, ``apcal run`` it; return (truth, the report's flat groups, the run log)."""
    truth = generate_night(tmp / "frames", camera, night)
    (tmp / "r.yaml").write_text(
        f"apcal: 1\nname: s\ninputs: [{{path: frames}}]\noutput: {{dir: out}}\ncalibration: {calibration}\n"
    )
    done = apcal("run", "r.yaml", cwd=tmp)
    assert done.returncode == 0, done.stderr
    (report,) = sorted((tmp / "out" / "logs").glob("*_report.json"))
    (log,) = sorted((tmp / "out" / "logs").glob("*[0-9].log"))
    flats = [g for g in json.loads(report.read_text())["groups"] if g["type"] == "flat"]
    return truth, flats, log.read_text()


def flat_errors(truth: NightTruth, flat: dict, filter: str = "L") -> tuple[float, float]:
    """(rms relative error over the centre 80 %, mean relative error over the hot pixels there)."""
    with open_image(Path(flat["output"])) as reader:
        master = reader.read().astype(np.float64)
    reference = flat_truth_normalized(truth, filter).astype(np.float64)
    rows, cols = master.shape
    centre = (slice(rows // 10, rows - rows // 10), slice(cols // 10, cols - cols // 10))
    error = np.zeros_like(master)
    m, r = master[centre], reference[centre]
    error[centre] = (m / m.mean()) / (r / r.mean()) - 1
    inside = np.zeros(master.shape, dtype=bool)
    inside[centre] = True
    hot = np.zeros_like(inside)
    hot[tuple(truth.hot_pixels.T)] = True
    return float(np.sqrt(np.mean(error[inside] ** 2))), float(np.mean(error[hot & inside]))


def ks_over_ratio(flat: dict) -> np.ndarray:
    ratio = flat["calibration"]["dark_scaling"]["exposure_ratio"]
    return np.array(list(flat["dark_scales"].values())) / ratio


@pytest.mark.parametrize("exposure", [1.0, 2.0, 5.0])
def test_short_flats_with_only_a_long_dark(tmp_path: Path, exposure: float) -> None:
    truth, (flat,), log = run_night(tmp_path, night_plan(flat_exposures=(exposure,)))
    assert flat["calibration"]["dark"]["exposure"] == 300.0
    assert flat["calibration"]["dark_scaling"] == {"method": "optimize", "exposure_ratio": exposure / 300}
    ks = ks_over_ratio(flat)
    assert ks.size == N and np.all((ks > 1 / 1.25) & (ks < 1.25)), ks
    rms, hot = flat_errors(truth, flat)
    assert rms < 0.006 and abs(hot) < 0.001, (rms, hot)
    assert flat["dark_scale_warnings"] == [] and "more than 2x away" not in log


@pytest.mark.parametrize("scaling", ["optimize", "pixinsight", "exposure", "none"])
def test_every_dark_scaling_on_2s_flats_against_a_300s_dark(tmp_path: Path, scaling: str) -> None:
    """exposure and optimize correct the hot pixels; none subtracts 150x their flat signal and says so
    in the log and the report; pixinsight is whatever ImageCalibration's objective finds (k >= 0)."""
    truth, (flat,), log = run_night(tmp_path, night_plan(), f"{{dark_scaling: {scaling}}}")
    ks = ks_over_ratio(flat)
    rms, hot = flat_errors(truth, flat)
    flagged = {line.split(":")[0] for line in flat["dark_scale_warnings"]}
    if scaling in ("optimize", "exposure"):
        assert np.all((ks > 1 / 1.25) & (ks < 1.25)), ks
        assert abs(hot) < 0.001 and not flagged
    elif scaling == "none":
        assert np.all(ks == 150.0)
        assert hot < -0.005, hot  # every hot pixel dug into the flat
        assert flagged == set(flat["dark_scales"])
        assert log.count("WARNING") >= N and "more than 2x away from the exposure ratio 0.0067" in log
    else:
        assert np.all(ks >= 0)
        implausible = {name for name, k in flat["dark_scales"].items() if not 0.5 <= k * 150 <= 2}
        assert flagged == implausible
    html = next((tmp_path / "out" / "logs").glob("*_report.html")).read_text()
    assert f"dark_scaling: {scaling}" in html and "exposure ratio 0.0067" in html
    assert ("dark-scale" in html) == bool(flagged)
    assert rms < 0.03


def test_flats_with_matching_darks(tmp_path: Path) -> None:
    truth, (flat,), _ = run_night(tmp_path, night_plan(dark_exposures=(2.0, 300.0)))
    assert flat["calibration"]["dark"]["exposure"] == 2.0
    ks = ks_over_ratio(flat)
    assert np.all((ks > 1 / 1.25) & (ks < 1.25)), ks
    rms, hot = flat_errors(truth, flat)
    assert rms < 0.006 and abs(hot) < 0.001, (rms, hot)


def test_flat_darks_are_subtracted_as_they_are(tmp_path: Path) -> None:
    truth, (flat,), _ = run_night(tmp_path, night_plan(n_flat_darks=N))
    assert flat["calibration"]["flatdark"] is not None and flat["calibration"]["dark_scaling"] is None
    assert flat["dark_scales"] == {}
    rms, hot = flat_errors(truth, flat)
    assert rms < 0.006 and abs(hot) < 0.001, (rms, hot)


def test_bias_only(tmp_path: Path) -> None:
    truth, (flat,), _ = run_night(tmp_path, night_plan(dark_exposures=(), n_darks=0))
    assert flat["calibration"]["dark"] is None and flat["calibration"]["dark_scaling"] is None
    rms, hot = flat_errors(truth, flat)
    # The flat's own 2 s of hot-pixel current stays in: ~0.01-0.03 % of the level, below the noise.
    assert rms < 0.006 and abs(hot) < 0.001, (rms, hot)


@pytest.mark.parametrize("scaling", ["optimize", "pixinsight"])
def test_a_cfa_camera(tmp_path: Path, scaling: str) -> None:
    camera = CameraModel(rows=200, cols=300, hot_pixel_fraction=3e-3, bayer="RGGB")
    night = night_plan(flat_exposures=(4.0,))
    truth, (flat,), _ = run_night(tmp_path, night, f"{{dark_scaling: {scaling}}}", camera)
    ks = ks_over_ratio(flat)
    if scaling == "optimize":
        assert np.all((ks > 1 / 1.25) & (ks < 1.25)), ks
        rms, hot = flat_errors(truth, flat)
        assert rms < 0.008 and abs(hot) < 0.001, (rms, hot)
    else:
        assert ks.size == N and np.all(ks >= 0)


def test_exposure_scaling_without_exposure_times_fails_the_group_naming_the_file(tmp_path: Path) -> None:
    from astropy.io import fits

    truth = generate_night(tmp_path / "frames", CAMERA, night_plan(n_flats=3))
    for path in truth.files["flat_L"]:
        with fits.open(path, mode="update") as hdul:
            for keyword in ("EXPTIME", "EXPOSURE"):
                hdul[0].header.remove(keyword, ignore_missing=True)
    (tmp_path / "r.yaml").write_text(
        "apcal: 1\nname: s\ninputs: [{path: frames}]\noutput: {dir: out}\n"
        "calibration: {dark_scaling: exposure}\n"
    )
    done = apcal("run", "r.yaml", cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    (report,) = sorted((tmp_path / "out" / "logs").glob("*_report.json"))
    (flat,) = [g for g in json.loads(report.read_text())["groups"] if g["type"] == "flat"]
    assert flat["status"] == "failed"
    first = truth.files["flat_L"][0].resolve()
    assert flat["message"].startswith(f"{first}: dark_scaling: exposure needs"), flat["message"]
    assert not Path(flat["output"]).exists()
