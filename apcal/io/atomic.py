"""Write a file so that readers see either the old file or the complete new one, never a partial one.

A master is written to a hidden temporary file in the destination folder (same file system, so the final
``os.replace`` is atomic), flushed to disk with ``fsync``, then renamed over the final name. An exception
inside the block, or a crash before the rename, leaves the final path untouched; the context manager
removes its temporary file on exceptions.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from apcal.io.temporary_names import atomic_temporary


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; on normal exit fsync it and rename it onto ``final``.

    The caller writes the whole file to the yielded path (and closes it) inside the block. On an
    exception the temporary file is removed and the exception re-raised; ``final`` is never left
    partial. An existing ``final`` is replaced.
    """
    final = Path(final)
    tmp = atomic_temporary(final)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(final.parent)


@contextmanager
def atomic_new_file(final: Path) -> Iterator[Path]:
    """Like :func:`atomic_path`, but never replaces: the complete temporary file is hard-linked to
    ``final``, which fails with :class:`FileExistsError` when ``final`` exists (a master already in a
    library stays as it is, even when two runs file under one name at the same moment)."""
    final = Path(final)
    tmp = atomic_temporary(final)
    try:
        yield tmp
        _fsync_file(tmp)
        os.link(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(final.parent)


def _fsync_file(path: Path) -> None:
    # O_RDONLY is enough for fsync on POSIX; Windows needs a writable handle for FlushFileBuffers.
    flags = os.O_RDWR if os.name == "nt" else os.O_RDONLY
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself; best effort (not possible on Windows and some file systems)."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
