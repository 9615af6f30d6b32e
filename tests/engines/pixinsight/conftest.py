"""Fixtures for the PixInsight engine's contract tests (helpers in pixinsight_helpers.py)."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from tests.engines.pixinsight.pixinsight_helpers import HERE, PARAMETERS, STANDIN, node_binary


@pytest.fixture(scope="session")
def node() -> str:
    return node_binary()


@pytest.fixture(scope="session")
def parameters() -> dict:
    if not PARAMETERS.is_file():
        pytest.skip(f"PixInsight parameter table not found at {PARAMETERS}")
    return json.loads(PARAMETERS.read_text(encoding="utf-8"))


@pytest.fixture
def fake_pixinsight(tmp_path: Path, node: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An executable stand-in for PixInsight (see fake_pixinsight.py); its argv lands in ``argv.json``."""
    binary = tmp_path / "bin" / "PixInsight"
    binary.parent.mkdir()
    binary.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "import fake_pixinsight\n"
        "sys.exit(fake_pixinsight.main(sys.argv))\n",
        encoding="utf-8",
    )
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("APCAL_FAKE_PI_DIR", str(tmp_path / "fake-pi"))
    monkeypatch.setenv("APCAL_FAKE_PI_NODE", node)
    monkeypatch.setenv("APCAL_FAKE_PI_STANDIN", str(STANDIN))
    monkeypatch.delenv("APCAL_FAKE_PI_MODE", raising=False)
    monkeypatch.delenv("PJSR_STANDIN_FAIL_MATCH", raising=False)
    return binary
