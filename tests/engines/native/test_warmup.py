"""First use of the native engine: a cold kernel cache is announced on the console and compiled in a
second process; a warm one starts nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from loguru import logger

import apcal.jit as jit
from apcal.engines.native import warmup


@pytest.fixture
def cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own cache folder, cold (numba keeps the session's folder: only the marker moves)."""
    monkeypatch.setattr(jit, "_configured", tmp_path)
    monkeypatch.setattr(warmup, "_child", None)
    return tmp_path


def _console(action) -> list[str]:
    messages: list[str] = []
    handler = logger.add(messages.append, level="INFO", format="{message}")
    try:
        action()
    finally:
        logger.remove(handler)
    return [m.strip() for m in messages]


def test_a_cold_cache_compiles_in_a_second_process_and_says_so(cache_folder: Path) -> None:
    try:
        assert _console(warmup.start) == []  # started while the plan is made: nothing said yet
        child = warmup._child
        assert child is not None and child.poll() is None  # compiling beside this process
        warmup.start()
        assert warmup._child is child  # once per process
        said = _console(warmup.ensure_compiled)
    finally:
        if warmup._child is not None:
            warmup._child.kill()
            warmup._child.wait()
    assert child.returncode == 0  # it compiled (here: loaded, the session's kernels are cached) and ended
    assert said[0] == f"compiling the native engine, once per install: ~{warmup.EXPECTED_SECONDS} s (numba)"
    assert said[1].startswith("native engine compiled in ") and len(said) == 2
    assert said[1].endswith(f", cached in {warmup._home_relative(cache_folder)}")
    assert jit.is_warm()


def test_a_warm_cache_starts_nothing(cache_folder: Path) -> None:
    jit.mark_warm()
    assert (cache_folder / jit.WARM_MARKER).is_file()
    assert _console(warmup.start) == []
    assert _console(warmup.ensure_compiled) == []
    assert warmup._child is None


def test_the_cache_folder_is_named_from_home_when_below_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert warmup._home_relative(tmp_path / "home" / ".cache" / "apcal") == "~/.cache/apcal"
    assert warmup._home_relative(tmp_path / "elsewhere") == str(tmp_path / "elsewhere")


LANES_THEN_INTEGRATION = """
from apcal.engines.native import warmup
from apcal.engines.native._integrate_kernel import _start_lanes
from apcal.engines.native._lad_lanes import _fit_verdict, _lad_lanes
from apcal.engines.native._winsorized_lanes import _winsorized_lanes
warmup.compile_lanes()
warmup.compile_integration()
lanes = (_start_lanes, _winsorized_lanes, _lad_lanes, _fit_verdict)
print(*(len(kernel.signatures) for kernel in lanes))
"""


def test_the_lanes_compiled_here_are_those_the_integration_kernel_calls(tmp_path: Path) -> None:
    """The child finds the lanes in the cache only if this process compiled them for the very types
    integrate_rows calls them with; a mismatch would compile a second signature (and cost the first
    run ~6 s). Cold cache, one process: ~25 s of compiling."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", LANES_THEN_INTEGRATION], env=env, capture_output=True, text=True, check=True
    )
    # The start in float64 and float32 (16-bit frames); the winsorized and LAD lanes once each.
    assert done.stdout.split() == ["2", "1", "1", "1"]
