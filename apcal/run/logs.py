"""Where a run's messages go: the terminal (or cron's mail) and the run log, through loguru.

On a terminal, messages are short and coloured and rich draws progress bars; elsewhere every line is
timestamped plain text, so a cron mail stays readable. The run log ``<logs>/<stamp>.log`` gets
everything at DEBUG level with timestamps, whatever ``-q``/``-v`` say.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loguru import logger

_PLAIN = "{time:YYYY-MM-DD HH:mm:ss} {level: <7} {message}"
_TERMINAL = "<level>{level: <7}</level> {message}"
_FILE = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {message}"


def configure_console(verbosity: int = 0) -> None:
    """Send messages to stderr: -1 warnings only (-q), 0 info, 1 debug (-v)."""
    level = {-1: "WARNING", 0: "INFO"}.get(verbosity, "DEBUG")
    logger.remove()
    tty = sys.stderr.isatty()
    logger.add(sys.stderr, level=level, format=_TERMINAL if tty else _PLAIN, colorize=tty)


@contextmanager
def run_log(path: Path) -> Iterator[None]:
    """Also write every message of the block to ``path`` (appending, line-buffered)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = logger.add(path, level="DEBUG", format=_FILE, buffering=1, encoding="utf-8", enqueue=False)
    try:
        yield
    finally:
        logger.remove(sink)
