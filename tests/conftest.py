"""Shared fixtures: where the real-data corpus is, and a skip with a reason where it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The shared corpus of real frames and header dumps (../shared/realdata from the project root)."""
    if not (REALDATA / "README.md").is_file():
        pytest.skip(f"real-data corpus not found at {REALDATA}")
    return REALDATA
