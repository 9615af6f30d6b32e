"""Where numba caches apcal's compiled kernels: the user's cache folder, keyed on the kernels' sources.

numba compiles the native engine's kernels on first use (~30 s on two cores) and, with ``cache=True``,
keeps them beside the sources by default. That fails a read-only or system-wide install (numba then
falls back to other places or refuses), and it keeps stale code: numba keys each cache file on its own
module only, so a kernel that inlines a function from another module keeps the old copy after that
module is edited. :func:`configure_numba_cache` therefore points numba at
``<user cache>/apcal/numba-<hash>``, the hash taken over every kernel module (the ``_*.py`` modules
of ``apcal/stats`` and ``apcal/engines/native``: every kernel lives in one) and numba's and Python's
versions: any edit, upgrade or other checkout gets a folder of its own. It must run before numba is
imported (numba reads ``NUMBA_CACHE_DIR`` at import; when numba is already imported,
``numba.config.CACHE_DIR`` is set, which is read when each kernel is decorated). An explicit
``NUMBA_CACHE_DIR`` in the environment wins. When the folder cannot be written, a warning names it and
the kernels are cached in a folder of the temporary directory instead (for this machine's later runs).
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
KERNEL_PACKAGES = ("stats", "engines/native")
#: Written in the cache folder once every kernel a run needs has been compiled there.
WARM_MARKER = "compiled"

_configured: Path | None = None


def kernel_sources_digest() -> str:
    """A short hash of every kernel package's sources, of numba's installed copy and Python's version."""
    digest = hashlib.sha256()
    for package in KERNEL_PACKAGES:
        for path in sorted((_PACKAGE / package).glob("_*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    # numba's installed copy (an upgrade replaces the file), without importing numba or importlib.metadata.
    spec = find_spec("numba")
    if spec is not None and spec.origin:
        digest.update(f"{spec.origin}:{os.stat(spec.origin).st_mtime_ns}".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:16]


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
