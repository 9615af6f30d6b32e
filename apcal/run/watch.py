"""``apcal run --watch``: wait for frames to arrive, and build once they have stopped arriving.

A capture program writes a group's frames one by one over minutes (flats at dawn, a dark library over a
cloudy night). The watcher (watchdog: inotify, FSEvents or ReadDirectoryChangesW) notes every frame file
created, changed or moved into an input folder; once none has arrived for ``settle`` seconds (default 10
minutes) it runs the recipe. Runs are incremental, so only the groups whose frames changed are built:
flats taken at dawn are mastered before breakfast, and the bias library from last week is left alone.

One run at start builds what is already there. Files under the output folder (which may lie inside an
input folder), hidden files and files that are not frames never count as arrivals, so a run's own
writes never trigger the next. A run with nothing to build, or an output folder locked by another run,
is reported and the watch goes on; a recipe error ends it. It ends at ``stop_at`` (``--until``) or on
Ctrl-C: between runs that is its normal end (exit code: the worst of its runs); during a run the run is
interrupted as any run is (130).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from loguru import logger

from apcal.errors import EXIT_OK, ApcalError, LockedError
from apcal.frames.discovery import FRAME_EXTENSIONS
from apcal.plan.usable import NothingToBuild


class _Arrivals:
    """When a frame file last arrived under the watched folders (monotonic seconds), thread-safe."""

    def __init__(self, ignored: Sequence[Path]) -> None:
        self.ignored = [p.resolve() for p in ignored]
        self.last: float | None = None
        self.lock = threading.Lock()

    def note(self, path: str) -> None:
        file = Path(path)
        if file.name.startswith(".") or not file.name.casefold().endswith(FRAME_EXTENSIONS):
            return
        resolved = file.resolve()
        if any(resolved.is_relative_to(folder) for folder in self.ignored):
            return
        with self.lock:
            self.last = time.monotonic()

    def quiet_for(self) -> float | None:
        """Seconds since the last arrival not yet built; None when nothing is waiting."""
        with self.lock:
            return None if self.last is None else time.monotonic() - self.last

    def taken(self) -> None:
        with self.lock:
            self.last = None


def until_time(text: str, now: datetime | None = None) -> datetime:
    """The next local time ``HH:MM`` (today, or tomorrow when it has passed)."""
    now = now or datetime.now()
    hours, minutes = (int(part) for part in text.split(":"))
    moment = now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    return moment if moment > now else moment + timedelta(days=1)


def watch_folders(
    folders: Sequence[Path],
    output_dir: Path,
    run: Callable[[], int],
    *,
    settle: float,
    stop_at: datetime | None = None,
    poll: float = 1.0,
) -> int:
    """Run ``run`` at start and after each quiet spell of ``settle`` seconds; the worst exit code."""
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    arrivals = _Arrivals([output_dir])

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.is_directory or event.event_type not in ("created", "modified", "moved", "closed"):
                return
            arrivals.note(str(getattr(event, "dest_path", "") or event.src_path))

    observer = Observer()
    for folder in folders:
        observer.schedule(Handler(), str(folder), recursive=True)
    observer.start()
    worst = EXIT_OK
    try:
        worst = max(worst, _one_run(run))
        until = f" until {stop_at:%H:%M}" if stop_at else ""
        logger.info(
            "watching {} for frames{}; a run starts {:g} min after the last arrives",
            _names(folders),
            until,
            settle / 60,
        )
        while stop_at is None or datetime.now() < stop_at:
            try:
                time.sleep(poll)
            except KeyboardInterrupt:  # Ctrl-C (or SIGTERM) between runs: the watch's normal end
                logger.info("watch ended at {:%H:%M} (interrupted while waiting)", datetime.now())
                return worst
            quiet = arrivals.quiet_for()
            if quiet is not None and quiet >= settle:
                arrivals.taken()
                worst = max(worst, _one_run(run))  # an interrupt during a run ends it as usual (130)
        logger.info("watch ended at {:%H:%M}", datetime.now())
    finally:
        observer.stop()
        observer.join(timeout=10)
    return worst


def _one_run(run: Callable[[], int]) -> int:
    """One run of the recipe; nothing to build or a held lock is a note, not the end of the watch."""
    try:
        return run()
    except NothingToBuild as exc:
        logger.info("{}; waiting for frames", exc)
    except LockedError as exc:
        logger.warning("{}; trying again when more frames arrive", exc)
    except ApcalError:
        raise
    return EXIT_OK


def _names(folders: Sequence[Path]) -> str:
    return ", ".join(str(f) for f in folders)
