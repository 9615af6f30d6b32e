"""Shared fixtures: where the real-data corpus is, and a skip with a reason where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# APCAL_REALDATA points elsewhere; README.md, "Real data for tests", says where the files come from.
REALDATA = Path(os.environ.get("APCAL_REALDATA") or ROOT.parent / "shared" / "realdata")

# Subprocesses (`python -m apcal ...`) import the same apcal as this test process: the checkout, which
# pytest puts first on sys.path, whatever else is installed in the environment.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The shared corpus of real frames and header dumps (../shared/realdata from the project root)."""
    if not (REALDATA / "README.md").is_file():
        pytest.skip(
            f"real-data corpus not found at {REALDATA} (README.md, 'Real data for tests', says how to "
            "assemble it; set APCAL_REALDATA to its folder)"
        )
    return REALDATA
