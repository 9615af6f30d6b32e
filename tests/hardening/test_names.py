"""Names that collide: flats sharing a file name in two folders of one group (or '.fit' beside '.fits'),
and groups whose names sanitize alike, built by two runs into one folder. Nothing overwrites anything:
one calibrated file per frame, one master per group and configuration."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
from astropy.io import fits

from apcal.io.image import open_image
from tests.hardening.corpus import RECIPE, copy_night, last_report, read_fits, run_apcal
from tests.hardening.safety import card, history


def flats(night: Path) -> list[Path]:
    return sorted((night / "frames").rglob("*_FLAT_*.fits"))


def brighter_copy(source: Path, dest: Path, factor: float) -> None:
    """``source`` with its pixels scaled by ``factor`` (same header, so the same group)."""
    header, pixels = read_fits(source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    scaled = np.clip(pixels.astype(np.float64) * factor, 0, 65535).astype(np.uint16)
    fits.PrimaryHDU(data=scaled.astype(np.int32) - 32768, header=header).writeto(dest)
    with fits.open(dest, mode="update") as hdul:
        hdul[0].header["BZERO"] = 32768
        hdul[0].data = scaled


def flat_master(night: Path) -> Path:
    return Path(next(g for g in last_report(night)["groups"] if g["id"].startswith("flat/"))["output"])


def pixels(path: Path) -> np.ndarray:
    with open_image(path) as reader:
        return reader.read()


def test_flats_split_across_two_folders_with_the_same_names(night: Path, tmp_path: Path) -> None:
    dusk = flats(night)
    for path in dusk:  # dawn/ holds other flats of the same night under the very same names
        brighter_copy(path, night / "frames" / "dawn" / path.name, 1.02)
    result = run_apcal("run", "recipe.yaml", "-q", cwd=night)
    assert result.returncode == 0, result.stderr
    master = flat_master(night)
    assert card(master, "NCOMBINE") == 8
    calibrated = sorted((night / "out" / "calibrated").rglob("*_c.xisf"))
    assert len(calibrated) == 8
    assert len({hashlib.sha256(p.read_bytes()).hexdigest() for p in calibrated}) == 8
    renamed = [line for line in history(master) if line.startswith("apcal.calibration.renamed: ")]
    assert len(renamed) == 8
    for path in [*dusk, *(night / "frames" / "dawn" / p.name for p in dusk)]:
        suffix = hashlib.sha256(str(path).encode()).hexdigest()[:8]
        assert f"apcal.calibration.renamed: {path.stem}-{suffix}_c.xisf <- {path}" in renamed

    # The same eight frames under distinct names integrate to the very same master
    control = copy_night(night, tmp_path / "control")
    shutil.rmtree(control / "out")
    dawn = control / "frames" / "dawn"
    for path in list(dawn.iterdir()):
        path.rename(dawn / f"dawn_{path.name}")
    assert run_apcal("run", "recipe.yaml", "-q", cwd=control).returncode == 0
    np.testing.assert_array_equal(pixels(flat_master(control)), pixels(master))


def test_a_fit_beside_a_fits_of_the_same_stem_keeps_both(night: Path) -> None:
    first = flats(night)[0]
    brighter_copy(first, first.with_suffix(".fit"), 0.98)
    result = run_apcal("run", "recipe.yaml", "-q", cwd=night)
    assert result.returncode == 0, result.stderr
    assert card(flat_master(night), "NCOMBINE") == 5
    assert len(list((night / "out" / "calibrated").rglob("*_c.xisf"))) == 5


def camera_night(night: Path, folder: str, instrument: str, offset: int) -> Path:
    """The night's bias frames as taken by ``instrument`` (pixels shifted by ``offset``) in ``folder``."""
    target = night / folder
    target.mkdir()
    for i, path in enumerate(sorted((night / "frames").rglob("*_BIAS_*.fits"))):
        header, data = read_fits(path)
        header["INSTRUME"] = instrument
        hdu = fits.PrimaryHDU(data=(data.astype(np.int32) + offset).astype(np.uint16), header=header)
        hdu.writeto(target / f"bias_{i}.fits")
    recipe = RECIPE.replace("path: frames", f"path: {folder}").replace("name: hardening", f"name: {folder}")
    (night / f"{folder}.yaml").write_text(recipe, encoding="utf-8")
    return night / f"{folder}.yaml"


def masters_by_instrument(night: Path) -> dict[str, Path]:
    return {str(card(p, "INSTRUME")): p for p in (night / "out" / "master").glob("masterBias_*.xisf")}


def test_two_cameras_whose_names_sanitize_alike_keep_two_masters(night: Path) -> None:
    one = camera_night(night, "cam_space", "ZWO ASI294MM", 0)
    two = camera_night(night, "cam_dash", "ZWO-ASI294MM", 500)
    assert run_apcal("run", one, "-q", cwd=night).returncode == 0
    second = run_apcal("run", two, cwd=night)
    assert second.returncode == 0, second.stderr
    assert "holds the master of another group (its grouping keys differ): this one is written as" in (
        second.stderr
    )
    found = masters_by_instrument(night)
    assert sorted(found) == ["ZWO ASI294MM", "ZWO-ASI294MM"]
    assert pixels(found["ZWO-ASI294MM"]).mean() > pixels(found["ZWO ASI294MM"]).mean() + 400 / 65535
    before = {name: path.read_bytes() for name, path in found.items()}
    for recipe in (one, two, one):  # nightly reruns: each finds its own master up to date
        again = run_apcal("run", recipe, "-q", cwd=night)
        assert again.returncode == 0, again.stderr
        assert {g["status"] for g in last_report(night)["groups"]} == {"up_to_date"}
    assert {name: path.read_bytes() for name, path in masters_by_instrument(night).items()} == before


def test_two_recipes_with_other_parameters_never_rebuild_each_others_masters(night: Path) -> None:
    (night / "median.yaml").write_text(
        RECIPE.replace("name: hardening", "name: median")
        + "integration: {bias: {combination: median}, dark: {combination: median}}\n",
        encoding="utf-8",
    )
    assert run_apcal("run", "recipe.yaml", "-q", cwd=night).returncode == 0
    other = run_apcal("run", "median.yaml", cwd=night)
    assert other.returncode == 0, other.stderr
    assert "holds the master of another configuration (its parameters differ)" in other.stderr
    bias = sorted((night / "out" / "master").glob("masterBias_*.xisf"))
    assert len(bias) == 2
    before = {p.name: p.read_bytes() for p in (night / "out" / "master").glob("master*.xisf")}
    for recipe in ("recipe.yaml", "median.yaml"):
        assert run_apcal("run", recipe, "-q", cwd=night).returncode == 0
        assert {g["status"] for g in last_report(night)["groups"]} == {"up_to_date"}
    after = {p.name: p.read_bytes() for p in (night / "out" / "master").glob("master*.xisf")}
    assert after == before
