"""The CLI's single error handler: every outcome becomes an exit code and at most a few lines.

Every expected failure is an ApcalError, printed as one line (a recipe's problems, one line each) with
its documented exit code; anything else is a bug, printed as one line with the path of a crash log that
holds the traceback and versions.
"""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from apcal import __version__
from apcal.errors import ApcalError, RecipeError

EXIT_INTERNAL = 70

EXIT_CODES_HELP = """\b
Exit codes:
  0  everything built or already up to date
  1  at least one group failed (the others were still built)
  2  recipe or usage error (nothing was built)
  3  another run holds the output folder's lock
  70 internal error (a bug: a crash log is written)"""


def handle_errors(call: Callable[[], Any]) -> int:
    """Run ``call`` (a click entry) and turn every outcome into an exit code and at most a few lines."""
    try:
        result = call()
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("apcal: aborted", err=True)
        return 130
    except RecipeError as exc:
        for line in exc.problems:
            click.echo(line, err=True)
        return exc.exit_code
    except ApcalError as exc:
        click.echo(f"apcal: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("apcal: interrupted", err=True)
        return 130
    except Exception as exc:  # the one place a bug is caught: report it, keep the traceback
        crash = _write_crash_log(exc)
        click.echo(f"apcal: internal error: {type(exc).__name__}: {exc} (details in {crash})", err=True)
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0


def _write_crash_log(exc: BaseException) -> Path:
    import platform

    path = Path(tempfile.gettempdir()) / f"apcal-crash-{time.strftime('%Y%m%d_%H%M%S')}.log"
    text = (
        f"apcal {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
        f"argv: {sys.argv}\n\n" + "".join(traceback.format_exception(exc))
    )
    path.write_text(text, encoding="utf-8")
    return path
