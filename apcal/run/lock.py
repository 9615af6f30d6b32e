"""One run per output folder at a time.

The lock is an OS file lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on
``<output>/.apcal.lock``, held for the whole run. The kernel releases it when the process dies, however
it dies (SIGKILL included), so a stale lock can never block a later run: the next run simply takes
it over, and says whose it was. The file's text names the holder (pid, host, start time) for the
message the second run prints.

The lock file is opened without following a symbolic link (``O_NOFOLLOW``) and without blocking
(``O_NONBLOCK``, against a FIFO planted under its name), and must be a regular file: a planted link to
``/etc/passwd`` would otherwise be truncated, as root, by the run that writes its pid into it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from loguru import logger

from apcal.errors import ApcalError, LockedError

LOCK_NAME = ".apcal.lock"


def _try_lock(handle: IO[str]) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _holder(text: str) -> str:
    try:
        info = json.loads(text)
        return f"pid {info['pid']} on {info['host']}, started {info['started']}"
    except (ValueError, KeyError, TypeError):
        return "another apcal run"


def _open_lock_file(path: Path) -> IO[str]:
    """The lock file opened for reading and writing, created if absent; never through a link."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    if path.is_symlink():  # also where O_NOFOLLOW does not exist (Windows)
        raise ApcalError(f"lock file {path} is a symbolic link (refused: remove it)")
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) or path.is_symlink():
            raise ApcalError(f"lock file {path} is a symbolic link (refused: remove it)") from None
        raise ApcalError(f"cannot open the lock file {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ApcalError(f"lock file {path} is not a regular file (refused: remove it)")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return open(fd, "r+", encoding="utf-8")


@contextmanager
def output_lock(output_dir: Path) -> Iterator[None]:
    """Hold the output folder's lock for the block; LockedError (exit 3) naming the holder otherwise."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # read-only file system, /proc, a full disk: the environment, not a bug
        raise ApcalError(f"cannot create the output folder {output_dir}: {exc.strerror or exc}") from None
    path = output_dir / LOCK_NAME
    handle = _open_lock_file(path)
    try:
        handle.seek(0)
        previous = handle.read()
        if not _try_lock(handle):
            raise LockedError(f"{output_dir} is in use by {_holder(previous)} (lock file {path})")
        if previous.strip():
            logger.info("took over the lock left by {} (that run has ended)", _holder(previous))
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S%z"),
        }
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(info))
            handle.flush()
        except OSError as exc:  # a full disk at start
            raise ApcalError(f"cannot write the lock file {path}: {exc.strerror or exc}") from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                handle.seek(0)
                handle.truncate()
                handle.flush()
    finally:
        with contextlib.suppress(OSError):
            handle.close()
