"""Where numba caches apcal's compiled kernels: the user's cache folder, keyed on the kernels' sources.

numba compiles the native engine's kernels on first use (~25 s on two cores) and, with ``cache=True``,
keeps them beside the sources by default. That fails a read-only or system-wide install (numba then
falls back to other places or refuses), and it keeps stale code: numba keys each cache file on its own
module only, so a kernel that inlines a function from another module keeps the old copy after that
module is edited. :func:`configure_numba_cache` therefore points numba at
``<user cache>/apcal/numba-<hash>``, the hash taken over every kernel module (the ``_*.py`` modules
of ``apcal/io``, ``apcal/stats`` and ``apcal/engines/native``: every kernel lives in one), the modules
they import constants from, and numba's and Python's versions: any edit, upgrade or other checkout
gets a folder of its own. It must run before numba is imported (numba reads ``NUMBA_CACHE_DIR`` at
import; when numba is already imported, ``numba.config.CACHE_DIR`` is set, which is read when each
kernel is decorated). An explicit
``NUMBA_CACHE_DIR`` in the environment wins. When the folder cannot be written, a warning names it and
the kernels are cached in a folder of the temporary directory instead (for this machine's later runs).

:func:`configure_numba` also sets the vector width numba compiles for (:func:`wide_vector_features`),
and both settings key the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import warnings
from importlib.util import find_spec
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
#: The packages whose modules hold numba kernels (and what they inline).
KERNEL_PACKAGES = ("io", "stats", "engines/native")
#: The other modules the kernel modules import from: numba freezes their constants (the rejection's
#: iteration limit, Sn's table, the parameters' codes) into the compiled code, so they key it too (a
#: test holds this list to the kernel modules' imports).
KERNEL_IMPORTS = (
    "engines/native/rejection.py",
    "engines/native/rejection_window.py",
    "params.py",
    "row_blocks.py",
    "jit.py",
)
#: Written in the cache folder once every kernel a run needs has been compiled there.
WARM_MARKER = "compiled"
#: The CPU feature that turns off LLVM's preference for 256-bit vectors (see wide_vector_features).
WIDE_VECTORS = "-prefer-256-bit"
#: Set to 0 to keep LLVM's preference (say, on a core whose clock drops under 512-bit instructions).
WIDE_VECTORS_SWITCH = "APCAL_WIDE_VECTORS"

_configured: Path | None = None


def kernel_sources() -> list[Path]:
    """Every file whose contents numba's compiled kernels depend on: the kernel modules (the ``_*.py``
    of :data:`KERNEL_PACKAGES`) and :data:`KERNEL_IMPORTS`."""
    modules = [path for package in KERNEL_PACKAGES for path in sorted((_PACKAGE / package).glob("_*.py"))]
    return modules + [_PACKAGE / name for name in KERNEL_IMPORTS]


def kernel_sources_digest() -> str:
    """A short hash of the kernels' sources (:func:`kernel_sources`), numba's installed copy and Python's
    version."""
    digest = hashlib.sha256()
    for path in kernel_sources():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    # numba's installed copy (an upgrade replaces the file), without importing numba or importlib.metadata.
    spec = find_spec("numba")
    if spec is not None and spec.origin:
        digest.update(f"{spec.origin}:{os.stat(spec.origin).st_mtime_ns}".encode())
    digest.update(sys.version.encode())
    digest.update(os.environ.get("NUMBA_CPU_FEATURES", "").encode())  # what the kernels compile for
    return digest.hexdigest()[:16]


def wide_vector_features() -> str | None:
    """The CPU features numba should compile for when the host has AVX-512: the host's own, with
    LLVM's preference for 256-bit vectors turned off; None (numba's default) otherwise, when
    ``APCAL_WIDE_VECTORS=0``, or when the user chose a CPU (``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES``).

    Why: LLVM tunes Intel's AVX-512 cores to prefer 256-bit vectors, so the kernels' loops across
    columns and lanes took 4 float64 per instruction where the core takes 8. On this project's
    machines (Emerald Rapids) 512-bit vectors make the winsorized kernel 11-15 % faster at 20 frames
    (the IMX294 night's own rows, min of 4 interleaved rounds: bias 223 vs 254 ns/px, dark 233 vs 261)
    and leave the masters bit-identical: the loops vectorize across independent pixels, and no sum is
    reordered (no fastmath).
    """
    if os.environ.get(WIDE_VECTORS_SWITCH, "1") == "0":
        return None
    if "NUMBA_CPU_FEATURES" in os.environ or "NUMBA_CPU_NAME" in os.environ:
        return None
    from llvmlite import binding

    try:
        features = binding.get_host_cpu_features()
    except RuntimeError:  # llvmlite cannot tell on this platform: numba's default
        return None
    if not features.get("avx512f"):
        return None
    return f"{features.flatten()},{WIDE_VECTORS}"


def configure_numba() -> Path:
    """What numba must know before it compiles or loads a kernel: the vector width
    (:func:`wide_vector_features`, through ``NUMBA_CPU_FEATURES``, which child processes inherit) and
    the cache folder (:func:`configure_numba_cache`); the folder. Idempotent."""
    if _configured is None:
        features = wide_vector_features()
        if features is not None:
            os.environ["NUMBA_CPU_FEATURES"] = features
            if "numba" in sys.modules:  # read when numba first builds its target machine
                sys.modules["numba"].config.CPU_FEATURES = features
    return configure_numba_cache()


def default_cache_dir() -> Path:
    import platformdirs

    return platformdirs.user_cache_path("apcal") / f"numba-{kernel_sources_digest()}"


def _writable(folder: Path) -> OSError | None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        return error
    return None


def configure_numba_cache() -> Path:
    """Point numba's cache at apcal's folder (see the module docstring); the folder. Idempotent."""
    global _configured
    if _configured is not None:
        return _configured
    explicit = os.environ.get("NUMBA_CACHE_DIR")
    if explicit:
        _configured = Path(explicit)
        return _configured
    folder = default_cache_dir()
    problem = _writable(folder)
    if problem is not None:
        fallback = Path(tempfile.gettempdir()) / f"apcal-{os.getuid() if hasattr(os, 'getuid') else 0}"
        fallback = fallback / folder.name
        warnings.warn(
            f"cannot write the compiled-kernel cache in {folder} ({problem.strerror or problem}); "
            f"caching in {fallback} instead",
            RuntimeWarning,
            stacklevel=2,
        )
        folder = fallback
        _writable(folder)
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    if "numba" in sys.modules:
        sys.modules["numba"].config.CACHE_DIR = str(folder)
    _configured = folder
    return folder


def is_warm() -> bool:
    """True when a run has compiled its kernels into this cache folder before."""
    return (configure_numba_cache() / WARM_MARKER).is_file()


def mark_warm() -> None:
    """Record that the kernels are compiled here (a failure to write only means the next run says so
    again)."""
    with contextlib.suppress(OSError):
        (configure_numba_cache() / WARM_MARKER).touch()
