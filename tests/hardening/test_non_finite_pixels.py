"""Non-finite pixels (issue 15, item 8): NaN and ±inf are missing samples, never part of a master, and a
frame made of them is left out by name while its group still builds.

Real files and a real ``apcal run`` (subprocess): frames of the corpus night rewritten by astropy as
float32 holding the same ADU, with infinities or NaN planted.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from astropy.io import fits

from apcal.io.image import open_image, read_header
from tests.hardening import corpus
from tests.hardening.corpus import run_apcal

RNG = np.random.default_rng(815)


def rewrite_as_float_adu(path: Path, plant=None) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``path`` rewritten as float32 ADU; ``plant(data)`` changes the pixels first. Returns the mask of
    pixels made non-finite."""
    header, pixels = corpus.read_fits(path)
    data = pixels.astype(np.float32)
    if plant is not None:
        plant(data)
    path.unlink()
    fits.PrimaryHDU(data, header=header).writeto(path)
    return ~np.isfinite(data)


def two_percent_infinite(data: np.ndarray) -> None:
    """2 % of the pixels set to +inf or -inf, at random."""
    flat = data.reshape(-1)
    chosen = RNG.choice(flat.size, size=max(2, round(0.02 * flat.size)), replace=False)
    flat[chosen] = np.where(RNG.random(chosen.size) < 0.5, np.inf, -np.inf)


def test_infinite_pixels_never_reach_a_master(night: Path, clean) -> None:  # type: ignore[no-untyped-def]
    """Two bias frames and two flats with ±inf in 2 % of their pixels: every master is finite and equals
    the clean run's wherever no sample was lost, and stays close where one was."""
    frames = night / "frames"
    lost = np.zeros((corpus.CAMERA.rows, corpus.CAMERA.cols), dtype=bool)
    for pattern in ("*_BIAS_*.fits", "*_FLAT_*.fits"):
        for path in sorted(frames.rglob(pattern))[:2]:
            lost |= rewrite_as_float_adu(path, two_percent_infinite)
    assert lost.sum() >= 4
    result = run_apcal("run", "recipe.yaml", "-q", cwd=night)
    assert result.returncode == 0, result.stderr
    built = corpus.masters(night)
    assert sorted(built) == sorted(clean)
    for name, image in built.items():
        assert np.isfinite(image).all(), name
        assert np.abs(image).max() <= 1.5, name
        # Where a sample was lost, the master averages one frame fewer: within the frames' noise. Flats
        # are held to what any rejection and average must give: a value within the range of the pixel's
        # finite samples (scaled to the first frame as multiplicative normalization does; 0.1 % for the
        # scale estimates). With 4 flats which samples survive can change with the lost one, so the
        # master may move there; typically it does not.
        if name.startswith("masterFlat"):
            low, high = _normalized_range(night)
            assert (image[lost] >= low[lost] * 0.999).all() and (image[lost] <= high[lost] * 1.001).all()
            assert np.median(np.abs(image[lost] - clean[name][lost])) < 1e-3, name
        else:
            np.testing.assert_allclose(image[lost], clean[name][lost], atol=5e-3, err_msg=name)
        if name.startswith("masterBias"):  # bias: no normalization, identical elsewhere
            np.testing.assert_allclose(image[~lost], clean[name][~lost], atol=1e-6, err_msg=name)


def _normalized_range(night: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, min and max of the calibrated flats' finite samples scaled to the first one's median."""
    stack = []
    for path in sorted((night / "out").rglob("*FLAT*_c.*")):
        with open_image(path) as reader:
            stack.append(reader.read().astype(np.float64))
    assert len(stack) == corpus.NIGHT.n_flats
    medians = [np.nanmedian(frame) for frame in stack]
    scaled = np.array([frame * medians[0] / m for frame, m in zip(stack, medians, strict=True)])
    return np.nanmin(scaled, axis=0), np.nanmax(scaled, axis=0)


def _all_nan_flat(night: Path, *, screening: bool) -> tuple[Path, dict]:
    """A group of 3 flats, one all NaN (float32); returns the NaN flat and the run's JSON report."""
    flats = sorted((night / "frames").rglob("*_FLAT_*.fits"))
    flats[-1].unlink()  # 3 flats left: leaving one out goes below the screening floor of 3
    bad = flats[1]
    rewrite_as_float_adu(bad, lambda data: data.fill(np.nan))
    if not screening:
        recipe = night / "recipe.yaml"
        recipe.write_text(recipe.read_text(encoding="utf-8") + "screening: false\n", encoding="utf-8")
    result = run_apcal("run", "recipe.yaml", "-q", cwd=night)
    assert result.returncode == 0, result.stderr + result.stdout
    report = json.loads(next((night / "out" / "logs").glob("*_report.json")).read_text(encoding="utf-8"))
    return bad, report


def _check_left_out(night: Path, bad: Path, report: dict) -> None:
    flat = next(g for g in report["groups"] if g["type"] == "flat")
    assert flat["status"] == "built", flat["message"]
    reasons = [e["reason"] for e in flat["excluded"] if e["path"] == str(bad)]
    assert reasons == [f"{bad.name}: no finite pixel (every pixel is NaN or infinite)"], flat["excluded"]
    others = [e for e in flat["excluded"] if e["path"] != str(bad)]
    assert others == []  # no other frame is blamed
    master = Path(flat["output"])
    built = corpus.masters(night)
    image = next(v for k, v in built.items() if k.startswith("masterFlat"))
    assert np.isfinite(image).all()
    assert {k.name: k.value for k in read_header(master).keywords}["NCOMBINE"] == 2


def test_all_nan_flat_is_left_out_by_name_and_the_group_builds(night: Path) -> None:
    bad, report = _all_nan_flat(night, screening=True)
    _check_left_out(night, bad, report)


def test_all_nan_flat_is_left_out_even_with_screening_off(night: Path) -> None:
    bad, report = _all_nan_flat(night, screening=False)
    _check_left_out(night, bad, report)
