"""Progress on a terminal: one rich bar per job (frames read); nothing when output is not a terminal,
where the log's timestamped lines say the same without control characters."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

ProgressCallback = Callable[[str, int, int], None]


@contextmanager
def job_progress(enabled: bool) -> Iterator[ProgressCallback | None]:
    if not (enabled and sys.stderr.isatty()):
        yield None
        return
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    )
    tasks: dict[str, int] = {}

    def update(job_id: str, done: int, total: int) -> None:
        if job_id not in tasks:
            tasks[job_id] = bars.add_task(job_id, total=total)
        bars.update(tasks[job_id], completed=done, total=total)

    with bars:
        yield update
