"""The QC gate on masters written by astropy: what passes, and each rule that holds a master back."""

from __future__ import annotations

from pathlib import Path

import pytest
from astropy.io import fits

from apcal.errors import RecipeError
from apcal.frames.normalize import read_frame
from apcal.library.qc import compare, qc_figures
from apcal.recipe.loader import load_recipe
from apcal.recipe.model import QcGate
from tests.frames.helpers import headers
from tests.library.helpers import write_master, write_recipe


def _pair(tmp_path: Path, **new: object) -> tuple[Path, Path]:
    old = write_master(tmp_path / "old.fits", "Bias", "2026-11-01", seed=1)
    fresh = write_master(tmp_path / "new.fits", "Bias", "2026-12-01", seed=2, **new)  # type: ignore[arg-type]
    return fresh, old


def _compare(new: Path, old: Path):
    return compare(read_frame(new, headers()), read_frame(old, headers()))


def test_a_new_master_like_the_last_passes(tmp_path: Path) -> None:
    result = _compare(*_pair(tmp_path))
    assert result.passed and result.outlier_fraction < 0.001
    assert result.level_change == pytest.approx(0.0, abs=0.01)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"leak": 40.0}, "of the difference's pixels beyond 6 sigma"),
        ({"level": 600.0}, "level +20.0%"),
        ({"noise": 12.0}, "noise per frame +"),
    ],
)
def test_each_rule_holds_a_master_back(tmp_path: Path, change: dict, said: str) -> None:
    result = _compare(*_pair(tmp_path, **change))
    assert not result.passed
    assert any(said in p for p in result.problems), result.problems


def test_a_small_leak_under_five_percent_of_pixels_passes(tmp_path: Path) -> None:
    old = write_master(tmp_path / "old.fits", "Bias", "2026-11-01", seed=1)
    new = write_master(tmp_path / "new.fits", "Bias", "2026-12-01", seed=2)
    with fits.open(new, mode="update") as hdul:
        hdul[0].data[:2, :] += 100  # 2 of 48 rows: 4 % of the pixels
    result = _compare(new, old)
    assert result.passed and 0.035 < result.outlier_fraction < 0.045


def test_qc_figures_in_adu_and_electrons(tmp_path: Path) -> None:
    path = write_master(tmp_path / "b.fits", "Bias", "2026-12-01", seed=3, EGAIN=0.5)
    figures = qc_figures(read_frame(path, headers()))
    assert figures["median_adu"] == pytest.approx(500, abs=1)
    assert figures["read_noise_e"] == pytest.approx(figures["read_noise_adu"] * 0.5)


def test_the_recipe_sets_the_gates_thresholds(tmp_path: Path) -> None:
    night = tmp_path / "night"
    night.mkdir()
    default = load_recipe(write_recipe(tmp_path / "a.yaml", night, tmp_path / "out", tmp_path / "lib"))
    assert default.library.qc_gate == QcGate(6.0, 0.05, 0.10, 0.25)
    loose = load_recipe(
        write_recipe(
            tmp_path / "b.yaml", night, tmp_path / "out", tmp_path / "lib", qc_gate={"level_jump": 0.3}
        )
    )
    assert loose.library.qc_gate == QcGate(level_jump=0.3)
    new, old = _pair(tmp_path, level=600.0)  # +20 %: held by default, filed by a rig that allows 30 %
    frames = read_frame(new, headers()), read_frame(old, headers())
    assert not compare(*frames, default.library.qc_gate).passed
    assert compare(*frames, loose.library.qc_gate).passed
    strict = QcGate(outlier_fraction=0.01)  # the 4 % leak that passes BANZAI's 5 % fails a 1 % gate
    with fits.open(new, mode="update") as hdul:
        hdul[0].data[:] = fits.getdata(old)
        hdul[0].data[:2, :] += 100
    assert not compare(read_frame(new, headers()), frames[1], strict).passed


def test_a_bad_threshold_is_a_recipe_error(tmp_path: Path) -> None:
    night = tmp_path / "night"
    night.mkdir()
    path = write_recipe(
        tmp_path / "r.yaml", night, tmp_path / "out", tmp_path / "lib", qc_gate={"level": 0.3}
    )
    with pytest.raises(RecipeError, match="qc_gate"):
        load_recipe(path)
