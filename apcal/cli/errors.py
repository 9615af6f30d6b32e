"""The CLI's single error handler: every outcome becomes an exit code and at most a few lines.

Every expected failure is an ApcalError, printed as one line (a recipe's problems, one line each) with
its documented exit code; anything else is a bug, printed as one line with the path of a crash log that
holds the traceback and versions.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from apcal import __version__
from apcal.errors import (
    EXIT_CODES,
    EXIT_GROUP_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    ApcalError,
    RecipeError,
    Terminated,
)

EXIT_CODES_HELP = "\b\nExit codes:\n" + "\n".join(
    f"  {', '.join(map(str, codes)):<2} {meaning}" for codes, meaning in EXIT_CODES
)


def handle_errors(call: Callable[[], Any]) -> int:
    """Run ``call`` (a click entry) and turn every outcome into an exit code and at most a few lines."""
    try:
        result = call()
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, Terminated):  # click turns KeyboardInterrupt into Abort
            return _terminated()
        click.echo("apcal: aborted", err=True)
        return EXIT_INTERRUPTED
    except RecipeError as exc:
        for line in exc.problems:
            click.echo(line, err=True)
        return exc.exit_code
    except ApcalError as exc:
        click.echo(f"apcal: {exc}", err=True)
        return exc.exit_code
    except Terminated:
        return _terminated()
    except KeyboardInterrupt:
        click.echo("apcal: interrupted", err=True)
        return EXIT_INTERRUPTED
    except OSError as exc:  # the environment (a full disk, a read-only or vanished folder), not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"apcal: {where}{exc.strerror or type(exc).__name__}", err=True)
        return EXIT_GROUP_FAILED
    except Exception as exc:  # the one place a bug is caught: report it, keep the traceback
        crash = _write_crash_log(exc)
        where = f"details in {crash}" if crash else "the crash log could not be written"
        click.echo(f"apcal: internal error: {type(exc).__name__}: {exc} ({where})", err=True)
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0


def _terminated() -> int:
    click.echo("apcal: terminated (SIGTERM); nothing half-written is left, a rerun completes", err=True)
    return Terminated.exit_code


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` instead of killing the process outright.

    Python's default for SIGTERM ends the process without unwinding: a master being written would leave
    its temporary file behind and PixInsight would keep running. Raising instead lets every context
    manager clean up. (Only the main thread can set a handler; elsewhere the block runs unchanged.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _write_crash_log(exc: BaseException) -> Path | None:
    import platform

    path = Path(tempfile.gettempdir()) / f"apcal-crash-{time.strftime('%Y%m%d_%H%M%S')}.log"
    text = (
        f"apcal {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
        f"argv: {sys.argv}\n\n" + "".join(traceback.format_exception(exc))
    )
    try:  # a full disk or a file-size limit must not turn one line into a traceback
        path.write_text(text, encoding="utf-8", errors="backslashreplace")
    except OSError:
        return None
    return path
