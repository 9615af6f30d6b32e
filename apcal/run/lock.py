"""One run per output folder at a time.

The lock is an OS file lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on
``<output>/.apcal.lock``, held for the whole run. The kernel releases it when the process dies, however
it dies (SIGKILL included), so a stale lock can never block a later run: the next run simply takes
it over, and says whose it was. The file's text names the holder (pid, host, start time) for the
message the second run prints.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from loguru import logger

from apcal.errors import LockedError

LOCK_NAME = ".apcal.lock"


def _try_lock(handle: IO[str]) -> bool:
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
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


@contextmanager
def output_lock(output_dir: Path) -> Iterator[None]:
    """Hold the output folder's lock for the block; LockedError (exit 3) naming the holder otherwise."""
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / LOCK_NAME
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the whole run
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
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(info))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
    finally:
        handle.close()
