"""Where a command's messages go while masters are built: plain lines, or rich's live display.

Off a terminal (cron's mail, ``> log 2>&1``) every message is one plain line, without colour or
control characters. On a terminal, rich draws one bar per job being built, counted in frames, and every
log message is printed *through* the same console, above the bars: a message written straight to
stderr would be glued onto a bar, and the bar block reprinted after it. Bars disappear when their job
ends (its one-line result stays), so the closing lines of a run are never hidden behind them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO, cast

from loguru import logger
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from apcal.run.logs import configure_console, console_level, escape_messages, plain_format

if TYPE_CHECKING:
    from loguru import Message

_STYLES = {"WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red", "DEBUG": "dim"}


class JobBars:
    """One bar per running job: ``update`` adds or moves it, ``finish`` removes it."""

    def __init__(self, bars: Progress) -> None:
        self._bars = bars
        self._tasks: dict[str, TaskID] = {}

    def update(self, key: str, description: str, done: int, total: int) -> None:
        if key not in self._tasks:
            self._tasks[key] = self._bars.add_task(description, total=total)
        self._bars.update(self._tasks[key], description=description, completed=done, total=total)

    def finish(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            self._bars.remove_task(task)


def _terminal_sink(console: Console) -> Callable[[Message], None]:
    def write(message: Message) -> None:
        level = message.record["level"].name
        line = Text()
        if level in _STYLES and level != "DEBUG":
            line.append(f"{level.lower()}: ", style=_STYLES[level])
        line.append(message.record["message"], style=_STYLES.get(level, "") if level == "DEBUG" else "")
        console.print(line, soft_wrap=True, highlight=False)

    return write


@contextmanager
def run_display(verbosity: int = 0, console: Console | None = None) -> Iterator[JobBars | None]:
    """Route loguru's console messages for the block; on a terminal, also yield bars to update.

    ``console`` is for tests (a fixed-width console writing to a buffer); by default stderr.
    """
    console = console or Console(stderr=True, highlight=False)
    level = console_level(verbosity)
    escape_messages()
    logger.remove()
    if not console.is_terminal:
        # rich types its file as IO[str], loguru wants a TextIO: the same text stream either way.
        sink = cast("TextIO", console.file)
        handler = logger.add(sink, level=level, format=plain_format, colorize=False)
        try:
            yield None
        finally:
            logger.remove(handler)
            configure_console(verbosity)
        return
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} frames"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    handler = logger.add(_terminal_sink(console), level=level, format="{message}", colorize=False)
    try:
        with bars:
            yield JobBars(bars) if verbosity >= 0 else None
    finally:
        logger.remove(handler)
        configure_console(verbosity)
