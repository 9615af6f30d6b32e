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
    assert said[0] == (
        f"compiling the native engine, once per install: ~{warmup.EXPECTED_SECONDS} s "
        f"(numba; cached in {cache_folder})"
    )
    assert said[1].startswith("native engine compiled in ") and len(said) == 2
    assert jit.is_warm()


def test_a_warm_cache_starts_nothing(cache_folder: Path) -> None:
    jit.mark_warm()
    assert (cache_folder / jit.WARM_MARKER).is_file()
    assert _console(warmup.start) == []
    assert _console(warmup.ensure_compiled) == []
    assert warmup._child is None


_SIGNATURES = """
from apcal.engines.native import _integrate_kernel as kernel, warmup
names = ("_window_values", "_average_chunk", "_combine_chunk")
warmup.compile_combination()
warmup.compile_integration()
print(*(len(getattr(kernel, name).signatures) for name in names))
"""


def test_the_combining_callees_compiled_apart_are_those_the_kernel_calls(tmp_path: Path) -> None:
    """compile_combination compiles with the argument types integrate_rows passes: compiling
    integrate_rows afterwards, from a cold cache (a cached one would not type its calls), adds no
    signature to them. A drifted type would add one, and the warm-up's child would compile its own."""
    environment = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    environment["NUMBA_CACHE_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _SIGNATURES], capture_output=True, text=True, env=environment, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "1", "1"]
