"""Fixtures of the hardening suite: one small generated night, and the masters a clean run builds from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.hardening.corpus import copy_night, make_night, masters, run_apcal


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clean night (frames/ and recipe.yaml); copy it before changing anything."""
    return make_night(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def clean(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """The masters of a clean ``apcal run`` of the night, by file name: what every rerun must equal."""
    night = copy_night(template, tmp_path_factory.mktemp("clean") / "n")
    result = run_apcal("run", "recipe.yaml", "-q", cwd=night)
    assert result.returncode == 0, result.stderr
    built = masters(night)
    assert sorted(name.split("_")[0] for name in built) == ["masterBias", "masterDark", "masterFlat"]
    return built


@pytest.fixture
def night(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the clean night."""
    return copy_night(template, tmp_path / "n")
