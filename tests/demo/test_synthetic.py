"""The synthetic night: files as N.I.N.A. writes them, and pixel statistics that match the stated truth."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from apcal.demo import (
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
from apcal.errors import ApcalError

FULL = 65535.0
SMALL = CameraModel(rows=48, cols=64)
SMALL_PLAN = NightPlan(n_bias=3, dark_exposures=(30.0,), n_darks=3, n_flats=3, dust_donuts=2)


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, NightTruth]:
    """The default night (400x600, 20 bias, 15 darks of 60 s and 300 s, 20 flats in L and R)."""
    folder = tmp_path_factory.mktemp("night")
    return folder, generate_night(folder)


def read(path: Path) -> np.ndarray:
    return fits.getdata(path)


def stack(paths: list[Path]) -> np.ndarray:
    """Small test stacks only (400x600 x 20 frames = 38 MB as float64)."""
    return np.stack([read(p).astype(np.float64) for p in paths])


def cosmic_mask(truth: NightTruth, paths: list[Path]) -> np.ndarray:
    """Pixels hit by a cosmic ray in any of ``paths``."""
    mask = np.zeros(truth.bias.shape, bool)
    for path in paths:
        hits = truth.cosmic_rays.get(path, np.empty((0, 3)))
        mask[hits[:, 0].astype(int), hits[:, 1].astype(int)] = True
    return mask


# --- files and headers ------------------------------------------------------------------------------------


def test_files_are_named_and_filed_like_nina(night: tuple[Path, NightTruth]) -> None:
    folder, truth = night
    assert {g: len(p) for g, p in truth.files.items()} == {
        "bias": 20,
        "dark_60s": 15,
        "dark_300s": 15,
        "flat_L": 20,
        "flat_R": 20,
    }
    patterns = {
        "bias": r"2026-11-23/BIAS/2026-11-23_\d\d-\d\d-\d\d_BIAS_0\.00s_(\d{4})\.fits",
        "dark_60s": r"2026-11-23/DARK/2026-11-23_\d\d-\d\d-\d\d_DARK_60\.00s_(\d{4})\.fits",
        "dark_300s": r"2026-11-23/DARK/2026-11-23_\d\d-\d\d-\d\d_DARK_300\.00s_(\d{4})\.fits",
        "flat_L": r"2026-11-23/FLAT/2026-11-23_\d\d-\d\d-\d\d_FLAT_L_1\.50s_(\d{4})\.fits",
        "flat_R": r"2026-11-23/FLAT/2026-11-23_\d\d-\d\d-\d\d_FLAT_R_2\.00s_(\d{4})\.fits",
    }
    for group, paths in truth.files.items():
        for number, path in enumerate(paths, start=1):
            match = re.fullmatch(patterns[group], path.relative_to(folder).as_posix())
            assert match, path
            assert int(match.group(1)) == number
    assert truth.files["bias"][0].name == "2026-11-23_21-04-11_BIAS_0.00s_0001.fits"


def test_headers_carry_nina_keywords_and_data_are_uint16(night: tuple[Path, NightTruth]) -> None:
    _, truth = night
    expected_type = {"bias": "BIAS", "dark": "DARK", "flat": "FLAT"}
    previous_end = None
    # Groups were shot in this order; DATE-OBS must advance by at least each exposure.
    for group in ("bias", "dark_60s", "dark_300s", "flat_L", "flat_R"):
        for path in truth.files[group]:
            with fits.open(path) as hdul:
                header, data = hdul[0].header, hdul[0].data
                assert data.dtype == np.uint16
                assert data.shape == (400, 600)
                assert header["BITPIX"] == 16 and header["BZERO"] == 32768
                assert header["IMAGETYP"] == expected_type[group.split("_")[0]]
                assert header["EXPOSURE"] == header["EXPTIME"]
                assert header["XBINNING"] == header["YBINNING"] == 1
                assert (header["GAIN"], header["OFFSET"], header["EGAIN"]) == (100, 50, 0.25)
                assert header["INSTRUME"] == "ZWO ASI2600MM Pro"
                assert header["SET-TEMP"] == -10.0
                assert abs(header["CCD-TEMP"] - header["SET-TEMP"]) <= 0.2 + 1e-9
                assert header["XPIXSZ"] == 3.76
                assert header["SWCREATE"].startswith("N.I.N.A. 3.")
                assert "BAYERPAT" not in header and "READOUTM" not in header
                if group.startswith("flat"):
                    assert header["FILTER"] == group.removeprefix("flat_")
                else:
                    assert "FILTER" not in header
                utc = datetime.fromisoformat(header["DATE-OBS"])
                local = datetime.fromisoformat(header["DATE-LOC"])
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", header["DATE-OBS"])
                assert local - utc == timedelta(hours=1)
                assert path.name.startswith(f"{local:%Y-%m-%d_%H-%M-%S}_")
                if previous_end is not None:
                    assert utc >= previous_end
                previous_end = utc + timedelta(seconds=header["EXPOSURE"])


def test_colour_camera_flat_darks_and_filter_on_darks(tmp_path: Path) -> None:
    camera = CameraModel(instrument="ZWO ASI2600MC Pro", rows=64, cols=96, bayer="RGGB")
    plan = NightPlan(
        n_bias=2,
        dark_exposures=(10.0,),
        n_darks=2,
        filters=("L", "R"),
        flat_exposures=(1.5, 1.5),
        n_flats=3,
        n_flat_darks=2,
        dark_filter="Dark",
    )
    truth = generate_night(tmp_path, camera, plan)
    # Both filters share one flat exposure, so one flat-dark group.
    assert sorted(g for g in truth.files if g.startswith("flatdark")) == ["flatdark_1.5s"]
    first = truth.files["flatdark_1.5s"][0]
    assert first.relative_to(tmp_path).parts[:2] == ("2026-11-23", "DARKFLAT")
    assert first.name.endswith("_DARKFLAT_1.50s_0001.fits")
    flatdark = fits.getheader(first)
    assert (flatdark["IMAGETYP"], flatdark["EXPOSURE"], flatdark["FILTER"]) == ("DARKFLAT", 1.5, "Dark")
    assert fits.getheader(truth.files["bias"][0])["FILTER"] == "Dark"
    flat = fits.getheader(truth.files["flat_R"][0])
    assert (flat["BAYERPAT"], flat["XBAYROFF"], flat["YBAYROFF"], flat["FILTER"]) == ("RGGB", 0, 0, "R")

    # The CFA channel sensitivities (R 0.6, G 1.0, B 0.8) are in the flat response; per-channel
    # normalization removes them.
    response = truth.flat["L"]
    r, g, b = response[0::2, 0::2].mean(), response[0::2, 1::2].mean(), response[1::2, 1::2].mean()
    assert r / g == pytest.approx(0.6, rel=0.02) and b / g == pytest.approx(0.8, rel=0.02)
    per_channel = flat_truth_normalized(truth, "L", per_channel=True)
    for channel in (per_channel[0::2, 0::2], per_channel[1::2, 0::2], per_channel[1::2, 1::2]):
        assert channel.mean() == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="Bayer"):
        flat_truth_normalized(generate_night(tmp_path / "mono", SMALL, SMALL_PLAN), "L", per_channel=True)


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    first = generate_night(tmp_path / "a", SMALL, SMALL_PLAN)
    again = generate_night(tmp_path / "b", SMALL, SMALL_PLAN)
    other = generate_night(tmp_path / "c", SMALL, replace(SMALL_PLAN, seed=7))
    for group, paths in first.files.items():
        for a, b, c in zip(paths, again.files[group], other.files[group], strict=True):
            assert a.relative_to(tmp_path / "a") == b.relative_to(tmp_path / "b")
            assert a.read_bytes() == b.read_bytes()
            assert not np.array_equal(read(a), read(c))
    np.testing.assert_array_equal(first.bias, again.bias)
    np.testing.assert_array_equal(first.flat["R"], again.flat["R"])


def test_existing_files_are_not_overwritten_unless_asked(tmp_path: Path) -> None:
    generate_night(tmp_path, SMALL, SMALL_PLAN)
    with pytest.raises(ApcalError, match="already exists"):
        generate_night(tmp_path, SMALL, SMALL_PLAN)
    generate_night(tmp_path, SMALL, SMALL_PLAN, overwrite=True)


def test_a_sequence_past_midnight_stays_in_the_nights_folder(tmp_path: Path) -> None:
    truth = generate_night(tmp_path, SMALL, replace(SMALL_PLAN, start_local="23:59:58"))
    last = truth.files["flat_R"][-1]
    assert last.relative_to(tmp_path).parts[:2] == ("2026-11-23", "FLAT")
    assert last.name.startswith("2026-11-24_00-")
    assert fits.getheader(last)["DATE-OBS"].startswith("2026-11-23T23:")  # UTC is an hour behind


def test_invalid_plans_and_cameras_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        NightPlan(filters=("L", "R", "G"))
    with pytest.raises(ValueError, match="bayer"):
        CameraModel(bayer="RGBG")


# --- statistics against the truth ------------------------------------------------------------------------


def test_bias_frames_average_to_the_truth_bias(night: tuple[Path, NightTruth]) -> None:
    _, truth = night
    frames = stack(truth.files["bias"])
    sigma = theoretical_bias_noise(truth.camera, len(frames)) * FULL
    residual = frames.mean(axis=0) - truth.bias * FULL
    # Per pixel, the mean is within 3 sigma/sqrt(N) of the truth as often as a Gaussian says (99.73%).
    assert np.mean(np.abs(residual) > 3 * sigma) < 0.004
    assert abs(residual.mean()) < 5 * sigma / math.sqrt(residual.size)
    assert residual.std() == pytest.approx(sigma, rel=0.01)


def test_one_bias_frame_has_the_read_noise(night: tuple[Path, NightTruth]) -> None:
    _, truth = night
    read_noise_adu = truth.read_noise * FULL
    assert read_noise_adu == pytest.approx(1.5 / 0.25)
    for path in truth.files["bias"][:3]:
        residual = read(path) - truth.bias.astype(np.float64) * FULL
        assert residual.std() == pytest.approx(read_noise_adu, rel=0.02)


def test_theoretical_bias_noise_is_read_and_rounding_noise_over_sqrt_n() -> None:
    camera = CameraModel(read_noise=3.5, gain_e_per_adu=0.78)
    expected = math.sqrt((3.5 / 0.78) ** 2 + 1 / 12) / math.sqrt(16) / 65535
    assert theoretical_bias_noise(camera, 16) == pytest.approx(expected)


@pytest.mark.parametrize("exposure", [60.0, 300.0])
def test_darks_add_dark_current_times_exposure(night: tuple[Path, NightTruth], exposure: float) -> None:
    _, truth = night
    paths = truth.files[f"dark_{exposure:g}s"]
    frames = stack(paths)
    normal = ~cosmic_mask(truth, paths)
    normal[truth.hot_pixels[:, 0], truth.hot_pixels[:, 1]] = False
    signal = (frames.mean(axis=0) - truth.bias * FULL)[normal]
    expected = float(np.median(truth.dark_current)) * exposure * FULL  # 0.002 e-/s / 0.25 e-/ADU x t
    assert expected == pytest.approx(0.008 * exposure)
    noise = math.sqrt(truth.camera.read_noise_adu**2 + expected / 0.25) / math.sqrt(frames.size)
    assert signal.mean() == pytest.approx(expected, abs=5 * noise + 1e-3)
    np.testing.assert_allclose(dark_truth(truth, exposure), truth.bias + truth.dark_current * exposure)


def test_hot_pixels_are_where_the_truth_says(night: tuple[Path, NightTruth]) -> None:
    _, truth = night
    assert len(truth.hot_pixels) == round(5e-4 * 400 * 600)
    median = np.median(stack(truth.files["dark_300s"]), axis=0) - truth.bias * FULL
    found = set(zip(*np.nonzero(median > 60), strict=True))  # hot: >= 0.1 e-/s x 300 s = 120 ADU
    assert found == {tuple(p) for p in truth.hot_pixels.tolist()}
    hot = truth.hot_pixels
    expected = truth.dark_current[hot[:, 0], hot[:, 1]] * 300 * FULL
    mean = stack(truth.files["dark_300s"]).mean(axis=0) - truth.bias * FULL
    mean = mean[hot[:, 0], hot[:, 1]]
    poisson = np.sqrt(expected * 4 + 36) / math.sqrt(15)  # ADU: 4 ADU per e- of shot noise
    clean = ~cosmic_mask(truth, truth.files["dark_300s"])[hot[:, 0], hot[:, 1]]
    assert np.all(np.abs(mean - expected)[clean] < 5 * poisson[clean])


def test_darks_carry_cosmic_rays_far_above_the_truth(night: tuple[Path, NightTruth]) -> None:
    _, truth = night
    darks = truth.files["dark_60s"] + truth.files["dark_300s"]
    hit = [p for p in darks if p in truth.cosmic_rays]
    assert len(hit) >= 5
    hot = np.zeros(truth.bias.shape, bool)
    hot[truth.hot_pixels[:, 0], truth.hot_pixels[:, 1]] = True
    for path in darks:
        exposure = fits.getheader(path)["EXPOSURE"]
        residual = read(path) - dark_truth(truth, exposure).astype(np.float64) * FULL
        hits = truth.cosmic_rays.get(path, np.empty((0, 3)))
        rows, cols, adu = hits[:, 0].astype(int), hits[:, 1].astype(int), hits[:, 2]
        strong = adu >= 2000
        assert np.all(residual[rows[strong], cols[strong]] > 1500)
        # Nothing else in a dark stands far above the truth but hot pixels.
        outliers = set(zip(*np.nonzero((residual > 300) & ~hot), strict=True))
        assert outliers <= set(zip(rows.tolist(), cols.tolist(), strict=True))
    assert all(2000 <= hits[:, 2].max() <= 30000 * 2 for hits in truth.cosmic_rays.values())


def test_flats_average_to_the_truth_flat(night: tuple[Path, NightTruth]) -> None:
    _, truth = night
    for filter in ("L", "R"):
        paths = truth.files[f"flat_{filter}"]
        signal = stack(paths) - truth.bias * FULL
        # Each flat's mean level is the stated one: the lamp drifts by +/-3% across the sequence.
        levels = truth.flat_levels[filter]
        np.testing.assert_allclose(signal.mean(axis=(1, 2)) / FULL, levels, rtol=1e-3)
        assert levels[-1] / levels[0] == pytest.approx(1.03 / 0.97, rel=0.01)

        measured = signal.mean(axis=0)
        good = ~cosmic_mask(truth, paths)
        measured /= measured[good].mean()
        truth_flat = flat_truth_normalized(truth, filter).astype(np.float64)
        residual = (measured - truth_flat)[good]
        # Shot and read noise of the average, relative to the signal, pixel by pixel.
        electrons = levels.mean() * FULL * 0.25 * truth_flat[good]
        expected = np.sqrt((electrons + 1.5**2) / electrons**2 / len(paths))
        assert abs(residual.mean()) < 1e-4
        assert residual.std() == pytest.approx(np.sqrt(np.mean(expected**2)), rel=0.05)
        assert np.max(np.abs(residual) / expected) < 6


def test_flat_truth_has_vignetting_and_dust_per_filter(night: tuple[Path, NightTruth]) -> None:
    _, truth = night
    flat_l, flat_r = truth.flat["L"], truth.flat["R"]
    assert flat_l.dtype == np.float32 and flat_l.mean() == pytest.approx(1.0, abs=1e-5)
    centre, corner = flat_l[150:250, 250:350].mean(), flat_l[:40, :40].mean()
    assert 0.6 < corner / centre < 0.85  # 1 - 0.3 r^2, r = 1 at the corners
    # Window dust is shared; filter dust differs: a few % deep over a small part of the image.
    ratio = flat_l / flat_r
    differs = np.abs(ratio / np.median(ratio) - 1) > 0.01
    assert 0.001 < differs.mean() < 0.2
    assert ratio.min() / np.median(ratio) > 0.9 and ratio.max() / np.median(ratio) < 1.1


def test_truth_survives_save_and_load(night: tuple[Path, NightTruth]) -> None:
    folder, truth = night
    save_truth(truth, folder)
    loaded = load_truth(folder)
    assert loaded.camera == truth.camera and loaded.night == truth.night
    assert loaded.read_noise == truth.read_noise
    assert loaded.files == truth.files
    for a, b in ((loaded.bias, truth.bias), (loaded.dark_current, truth.dark_current)):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.float32
    np.testing.assert_array_equal(loaded.hot_pixels, truth.hot_pixels)
    assert loaded.flat.keys() == truth.flat.keys()
    for f in truth.flat:
        np.testing.assert_array_equal(loaded.flat[f], truth.flat[f])
        np.testing.assert_array_equal(loaded.flat_levels[f], truth.flat_levels[f])
    assert loaded.cosmic_rays.keys() == truth.cosmic_rays.keys()
    for path, hits in truth.cosmic_rays.items():
        np.testing.assert_array_equal(loaded.cosmic_rays[path], hits)
