"""Scenarios a demanding user meets, on synthetic nights with known truth: stacks of 3, 5, 9, 12, 20 and
50 bias frames that each carry dozens of cosmic rays, and darks with hot pixels and cosmic rays, built
with ``rejection: auto`` (WBPP 3.0.1's choice: percentile below 6 frames, winsorized for bias and darks).

Every master is checked against the truth (within 6 sigma of it, sigma = the frame noise / sqrt(N), at
>= 99 % of the pixels a cosmic ray hit in any frame; hot pixels kept) and against the numpy reference of
PixInsight's formulas (``integrate(..., fast=False)`` on the same frames).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from apcal.demo.camera import FULL_SCALE, CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from apcal.demo.truth import dark_truth
from apcal.engines.native.integration import integrate
from apcal.engines.native.stack import integrate_files
from apcal.io.image import open_image
from apcal.params import IntegrationParams
from tests.cli.helpers import apcal

# Frames big enough that a pixel struck in two of three frames (which no rejection can fix) stays rare.
CAMERA = CameraModel(rows=256, cols=384, cosmic_ray_rate=0.0, cosmic_ray_floor=0.0, hot_pixel_fraction=5e-4)
MEMORY = 2 * 1024**3
HITS_PER_FRAME = 40


def add_cosmic_rays(path: Path, rng: np.random.Generator) -> np.ndarray:
    """Add ``HITS_PER_FRAME`` cosmic rays (tracks of 1-3 pixels, 300-30000 ADU) to a 16-bit FITS frame in
    place; returns the boolean map of the pixels hit."""
    with fits.open(path) as hdul:
        data = hdul[0].data.astype(np.float64)
        header = hdul[0].header.copy()
    hit = np.zeros(data.shape, dtype=bool)
    rows, cols = data.shape
    for _ in range(HITS_PER_FRAME):
        r, c = int(rng.integers(rows)), int(rng.integers(cols))
        peak = float(np.exp(rng.uniform(np.log(300.0), np.log(30000.0))))
        dr, dc = (0, 1) if rng.random() < 0.5 else (1, 0)
        for k in range(int(rng.integers(1, 4))):
            rr, cc = r + k * dr, c + k * dc
            if rr < rows and cc < cols:
                data[rr, cc] += peak * rng.uniform(0.5, 1.0)
                hit[rr, cc] = True
    data = np.clip(np.round(data), 0, 65535).astype(np.uint16)
    for key in ("BZERO", "BSCALE"):
        header.remove(key, ignore_missing=True)
    fits.PrimaryHDU(data, header=header).writeto(path, overwrite=True)
    return hit


def night_with_cosmic_rays(folder: Path, n_bias: int, n_darks: int = 0, seed: int = 11):
    night = NightPlan(
        n_bias=n_bias,
        dark_exposures=(300.0,) if n_darks else (),
        n_darks=n_darks,
        filters=(),
        flat_exposures=(),
        n_flats=0,
        seed=seed,
    )
    truth = generate_night(folder, CAMERA, night)
    rng = np.random.default_rng(seed)
    hits = {path: add_cosmic_rays(path, rng) for paths in truth.files.values() for path in paths}
    return truth, hits


def read(path: Path) -> np.ndarray:
    """An image as apcal reads it: float32 in [0, 1] for 16-bit data."""
    with open_image(path) as reader:
        return reader.read()


def load_stack(paths: list[Path]) -> np.ndarray:
    return np.stack([read(p) for p in paths])


def build(paths: list[Path], frame_type: str) -> tuple[np.ndarray, IntegrationParams]:
    params = IntegrationParams(rejection="auto").resolved(len(paths), frame_type)
    return integrate_files(paths, params, memory_limit=MEMORY).image, params


@pytest.mark.parametrize("n", [3, 5, 9, 12, 20, 50])
def test_bias_stacks_with_cosmic_rays_come_out_clean(tmp_path: Path, n: int) -> None:
    truth, hits = night_with_cosmic_rays(tmp_path, n_bias=n)
    paths = truth.files["bias"]
    hit_any = np.any([hits[p] for p in paths], axis=0)
    assert hit_any.sum() > 2 * HITS_PER_FRAME  # dozens per frame, in every frame

    master, params = build(paths, "bias")
    assert params.rejection == ("percentile" if n < 6 else "winsorized")
    sigma = truth.read_noise / np.sqrt(n)
    error = np.abs(master.astype(np.float64) - truth.bias)
    clean_hit = (error[hit_any] < 6 * sigma).mean()
    assert clean_hit >= 0.99, f"N={n}: only {clean_hit:.2%} of the hit pixels within 6 sigma"
    # Elsewhere the master is as good as a plain mean (percentile and winsorized clip almost nothing).
    rms = np.sqrt(np.mean(error[~hit_any] ** 2))
    assert rms < 1.15 * sigma, f"N={n}: rms {rms / sigma:.3f} sigma"
    # And it is what PixInsight's formulas give on these very frames (numpy reference).
    reference = integrate(load_stack(paths), params, fast=False).image
    np.testing.assert_allclose(master, reference, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("n", [9, 20])
def test_darks_keep_hot_pixels_and_lose_cosmic_rays(tmp_path: Path, n: int) -> None:
    truth, hits = night_with_cosmic_rays(tmp_path, n_bias=0, n_darks=n, seed=23)
    (group,) = truth.files
    paths = truth.files[group]
    master, params = build(paths, "dark")
    assert params.rejection == "winsorized"  # WBPP: any dark, whatever N
    expected = dark_truth(truth, 300.0).astype(np.float64)
    # Per-pixel noise of one frame: read noise and the dark current's shot noise (ADU -> [0, 1]).
    signal_adu = truth.dark_current.astype(np.float64) * 300.0 * FULL_SCALE
    frame_sigma = np.sqrt((truth.read_noise * FULL_SCALE) ** 2 + signal_adu / CAMERA.gain_e_per_adu)
    sigma = frame_sigma / FULL_SCALE / np.sqrt(n)
    within = np.abs(master - expected) < 6 * sigma
    hot = tuple(truth.hot_pixels.T)
    assert len(truth.hot_pixels) > 20
    assert within[hot].mean() >= 0.97, "hot pixels are signal: rejection must keep them"
    hit_any = np.any([hits[p] for p in paths], axis=0)
    assert within[hit_any].mean() >= 0.99
    reference = integrate(load_stack(paths), params, fast=False).image
    np.testing.assert_allclose(master, reference, rtol=1e-6, atol=1e-9)


def test_apcal_run_with_auto_rejection_on_a_three_frame_bias(tmp_path: Path) -> None:
    """End to end: a recipe with ``rejection: auto`` turns 3 cosmic-ray-struck bias frames into a clean
    master, and the report names the method auto resolved to."""
    truth, hits = night_with_cosmic_rays(tmp_path / "frames", n_bias=3)
    (tmp_path / "recipe.yaml").write_text(
        "apcal: 1\nname: three\ninputs: [{path: frames}]\noutput: {dir: out}\n"
        "headers: {timezone: Europe/Berlin}\ngrouping: {min_frames: 3}\nscreening: off\n"
        "integration: {bias: {rejection: auto}}\n"
    )
    done = apcal("run", "recipe.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (report_path,) = sorted((tmp_path / "out" / "logs").glob("*_report.json"))
    (group,) = json.loads(report_path.read_text())["groups"]
    assert "percentile" in json.dumps(group)
    master = read(Path(group["output"]))
    hit_any = np.any(list(hits.values()), axis=0)
    error = np.abs(master.astype(np.float64) - truth.bias)
    assert (error[hit_any] < 6 * truth.read_noise / np.sqrt(3)).mean() >= 0.99
