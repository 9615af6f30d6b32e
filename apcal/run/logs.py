"""Where a run's messages go: the terminal (or cron's mail) and the run log, through loguru.

On a terminal, messages are short and coloured and rich draws progress bars (:mod:`apcal.cli.progress`);
elsewhere every message is one plain line, warnings and errors marked, so a cron mail stays readable at
80 columns (the mail has its date). The run log ``<logs>/<stamp>.log`` gets everything at DEBUG level
with timestamps, whatever ``-q``/``-v`` say.

Messages quote file names and header values, which may hold a newline or an ESC: written as they are,
a file named ``x\n2026-01-01 00:00:00 INFO    done`` would forge a log line, and escape sequences would
drive the terminal reading a cron mail. Control characters in a message are therefore written as
escapes (``\n``, ``\x1b``), on the console and in the run log alike.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from loguru import logger

from apcal.errors import ApcalError

if TYPE_CHECKING:
    from loguru import Record

_FILE = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {message}"
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (one message stays one line)."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group()) or m.group().encode("unicode_escape").decode(), text)


def _escape_record(record: Record) -> None:
    record["message"] = escape_controls(record["message"])


def console_level(verbosity: int) -> str:
    """-1 warnings only (-q), 0 info, 1 debug (-v)."""
    return {-1: "WARNING", 0: "INFO"}.get(verbosity, "DEBUG")


def plain_format(record: Record) -> str:
    """One plain line: an information as it is, anything else prefixed with its level."""
    level = record["level"].name
    prefix = "" if level in ("INFO", "SUCCESS") else f"{level.lower()}: "
    return prefix + "{message}\n"


def escape_messages() -> None:
    """Escape control characters in every message from now on, whatever sinks are added later."""
    logger.configure(patcher=_escape_record)


def configure_console(verbosity: int = 0) -> None:
    """Messages to stderr as plain lines (commands that build use :func:`apcal.cli.progress.run_display`)."""
    escape_messages()
    logger.remove()
    logger.add(sys.stderr, level=console_level(verbosity), format=plain_format, colorize=False)


@contextmanager
def run_log(path: Path) -> Iterator[None]:
    """Also write every message of the block to ``path`` (appending, line-buffered).

    A log that cannot be written (disk full, file-size limit) never stops the run: the first failure is
    reported on stderr, once, and the run goes on without its log file.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sink = _FileSink(path)
    except OSError as exc:  # a full disk, a read-only folder, a planted link: one line, exit 2
        raise ApcalError(f"cannot write the run log {path}: {exc.strerror or exc}") from None
    handler = logger.add(sink.write, level="DEBUG", format=_FILE, colorize=False)
    try:
        yield
    finally:
        logger.remove(handler)
        sink.close()


class _FileSink:
    """The run log file; odd bytes in file names are written as ``\\xff`` rather than refused."""

    def __init__(self, path: Path) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)  # never through a planted link
        self._file: IO[str] | None = open(  # noqa: SIM115 - open for the whole run
            fd, "a", encoding="utf-8", errors="backslashreplace", buffering=1
        )

    def write(self, message: str) -> None:
        if self._file is None:
            return
        body = message[:-1] if message.endswith("\n") else message
        try:
            self._file.write(escape_controls(body) + "\n")
        except OSError as exc:
            self.close()
            print(
                f"apcal: cannot write the run log {self.path} ({exc.strerror or exc}); going on without it",
                file=sys.stderr,
            )

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):
                file.close()
