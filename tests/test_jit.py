"""apcal.jit: numba's cache in the user's cache folder, keyed on the kernels' sources; a folder that
cannot be written degrades to a warning naming it. Each case runs in a fresh interpreter, because the
setting must be made before numba is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = (
    "import warnings, os, sys\n"
    "warnings.simplefilter('always')\n"
    "import apcal.jit as jit\n"
    "folder = jit.configure_numba_cache()\n"
    "import numba\n"
    "print(folder)\n"
    "print(numba.config.CACHE_DIR)\n"
)


def _probe(env_changes: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | env_changes
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)


def test_the_cache_lives_in_the_user_cache_folder_keyed_on_the_sources(tmp_path: Path) -> None:
    from apcal.jit import kernel_sources_digest

    done = _probe({"XDG_CACHE_HOME": str(tmp_path)})
    folder, numba_dir = done.stdout.split()
    assert Path(folder) == tmp_path / "apcal" / f"numba-{kernel_sources_digest()}"
    assert numba_dir == folder and Path(folder).is_dir()
    assert done.stderr == ""


def test_an_unwritable_cache_folder_is_a_warning_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should go")
    done = _probe({"XDG_CACHE_HOME": str(blocker), "TMPDIR": str(tmp_path)})
    folder = Path(done.stdout.split()[0])
    assert f"cannot write the compiled-kernel cache in {blocker / 'apcal'}" in done.stderr
    assert folder.is_dir() and folder.parent.parent == tmp_path  # still cached, in the temporary folder
    assert "Traceback" not in done.stderr


def test_an_explicit_numba_cache_dir_wins(tmp_path: Path) -> None:
    done = _probe({"NUMBA_CACHE_DIR": str(tmp_path / "mine")})
    assert done.stdout.split() == [str(tmp_path / "mine")] * 2


def test_the_digest_changes_with_any_kernel_source(tmp_path: Path, monkeypatch) -> None:
    import apcal.jit as jit

    before = jit.kernel_sources_digest()
    for package in jit.KERNEL_PACKAGES:
        copy = tmp_path / package
        copy.mkdir(parents=True)
        for path in (jit._PACKAGE / package).glob("*.py"):
            (copy / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(jit, "_PACKAGE", tmp_path)
    assert jit.kernel_sources_digest() == before
    edited = tmp_path / "engines/native/_winsorized_lanes.py"
    edited.write_text(edited.read_text() + "\n# an edit\n")
    assert jit.kernel_sources_digest() != before
