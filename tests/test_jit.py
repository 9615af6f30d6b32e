"""apcal.jit: numba's cache in the user's cache folder, keyed on the kernels' sources and the CPU
features they compile for; a folder that cannot be written degrades to a warning naming it; 512-bit
vectors on AVX-512 hosts unless the user says otherwise. Each case runs in a fresh interpreter, because
the settings must be made before numba compiles anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = (
    "import warnings, os, sys\n"
    "warnings.simplefilter('always')\n"
    "import apcal.jit as jit\n"
    "folder = jit.configure_numba()\n"
    "import numba\n"
    "print(folder)\n"
    "print(numba.config.CACHE_DIR)\n"
)


#: A loop compiled after apcal configured numba: the CPU features numba compiles for, and whether the
#: loop's machine code uses 512-bit registers.
VECTORS = (
    "import re\n"
    "import apcal.stats\n"
    "import numba\n"
    "import numpy as np\n"
    "@numba.njit\n"
    "def twice(a, b):\n"
    "    for i in range(a.shape[0]):\n"
    "        a[i] = max(a[i], b[i]) * 2.0\n"
    "a = np.ones(1000)\n"
    "twice(a, a)\n"
    "print(numba.config.CPU_FEATURES)\n"
    "print('zmm' if re.search('zmm', twice.inspect_asm(twice.signatures[0])) else 'narrower')\n"
)
#: The same loop compiled by numba alone (apcal not imported): numba's and LLVM's own choice.
PLAIN_VECTORS = VECTORS.replace("import apcal.stats\n", "")
#: What a user's shell may set that these probes must not inherit from the test process.
_SETTINGS = ("NUMBA_CACHE_DIR", "NUMBA_CPU_FEATURES", "NUMBA_CPU_NAME", "APCAL_WIDE_VECTORS")


def _probe(env_changes: dict[str, str], code: str = PROBE) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _SETTINGS} | env_changes
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)


def _host_has_avx512() -> bool:
    from llvmlite import binding

    return bool(binding.get_host_cpu_features().get("avx512f"))


def test_the_cache_lives_in_the_user_cache_folder_keyed_on_the_sources(tmp_path: Path) -> None:
    done = _probe({"XDG_CACHE_HOME": str(tmp_path)})
    folder, numba_dir = done.stdout.split()
    assert Path(folder).parent == tmp_path / "apcal" and Path(folder).name.startswith("numba-")
    assert numba_dir == folder and Path(folder).is_dir()
    assert done.stderr == ""
    # The same sources compiled for other CPU features get a folder of their own.
    other = _probe({"XDG_CACHE_HOME": str(tmp_path), "NUMBA_CPU_FEATURES": "+sse2"}).stdout.split()[0]
    assert Path(other).parent == Path(folder).parent and other != folder


def test_avx512_hosts_compile_512_bit_vectors(tmp_path: Path) -> None:
    if not _host_has_avx512():
        pytest.skip("this CPU has no AVX-512: numba's default vectors apply")
    features, code = _probe({"NUMBA_CACHE_DIR": str(tmp_path)}, VECTORS).stdout.split()
    assert features.endswith(",-prefer-256-bit") and "+avx512f" in features
    assert code == "zmm"


def test_apcal_wide_vectors_0_and_a_users_cpu_choice_keep_numba_in_charge(tmp_path: Path) -> None:
    """With APCAL_WIDE_VECTORS=0, or a CPU the user chose, apcal sets nothing: numba compiles the same
    code as it does where apcal is not imported (its own reading of the settings; on Intel's AVX-512
    cores LLVM's own preference is 256-bit, on AMD's 512-bit)."""
    settings = ({"APCAL_WIDE_VECTORS": "0"}, {"NUMBA_CPU_NAME": "x86-64"}, {"NUMBA_CPU_FEATURES": "+sse2"})
    for setting in settings:
        env = {"NUMBA_CACHE_DIR": str(tmp_path / "apcal"), **setting}
        with_apcal = _probe(env, VECTORS).stdout.split()
        alone = _probe({**env, "NUMBA_CACHE_DIR": str(tmp_path / "alone")}, PLAIN_VECTORS).stdout.split()
        assert with_apcal == alone, setting
        assert with_apcal[0] == setting.get("NUMBA_CPU_FEATURES", "None")


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
    for name in jit.KERNEL_IMPORTS:
        (tmp_path / name).write_bytes((jit._PACKAGE / name).read_bytes())
    monkeypatch.setattr(jit, "_PACKAGE", tmp_path)
    assert jit.kernel_sources_digest() == before
    for name in ("engines/native/_winsorized_lanes.py", "engines/native/rejection.py"):
        edited = tmp_path / name
        edited.write_text(edited.read_text() + "\n# an edit\n")
        assert jit.kernel_sources_digest() != before
        before = jit.kernel_sources_digest()


def test_the_digest_covers_every_module_a_kernel_module_imports() -> None:
    """numba freezes imported constants into the compiled kernels: a module they come from that the
    digest missed would leave stale kernels in the cache after an edit or upgrade (the winsorization's
    iteration limit lives in rejection.py)."""
    import ast

    import apcal.jit as jit

    covered = {path.resolve() for path in jit.kernel_sources()}
    for path in jit.kernel_sources():
        if path.name == "__init__.py" or not path.name.startswith("_"):  # kernel modules' own imports
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("apcal"):
                module = jit._PACKAGE.parent / (node.module.replace(".", "/") + ".py")
                if module.exists():  # (a package's __init__ holds no kernel constants)
                    assert module.resolve() in covered, f"{path.name} imports {node.module}"
