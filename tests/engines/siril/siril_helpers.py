"""The real siril-cli for the Siril engine's tests, and a small synthetic night with its recipe."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night

# Small, but with enough frames that both engines' rejections settle: 12 frames of 160 x 120 per group.
SMALL_NIGHT = NightPlan(
    n_bias=12, dark_exposures=(300.0,), n_darks=12, filters=("L",), flat_exposures=(2.0,), n_flats=12
)
RECIPE = """\
apcal: 1
name: siril-test
inputs: [{path: frames}]
output: {dir: out, format: xisf}
library: {use_new_masters: true}
engine: {name: siril}
"""


def siril_cli() -> str:
    """siril-cli's path; a skip where it is missing, but a failure in CI (.ci/run installs it)."""
    found = shutil.which("siril-cli")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("siril-cli is missing in CI: .ci/run installs the Debian package 'siril'")
        pytest.skip("siril-cli is not installed (apt-get install siril)")
    return found


def small_night(folder: Path) -> Path:
    """The night's frames under ``folder/frames`` and its recipe ``folder/r.yaml``; returns the recipe."""
    generate_night(folder / "frames", CameraModel(rows=120, cols=160), SMALL_NIGHT)
    recipe = folder / "r.yaml"
    recipe.write_text(RECIPE)
    return recipe
