"""The ``apcal`` command group and its single error handler.

Commands live one per module and import heavy libraries (numpy, numba, astropy) only inside their
functions, so ``apcal --help`` stays instant. Every expected failure is an ApcalError, printed as one
line with its exit code; anything else is a bug, printed as one line with the path of a crash log that
holds the traceback and versions.
"""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
from pathlib import Path

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


class ApcalGroup(click.Group):
    """Lists commands in the order they were added (a workflow order), not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=ApcalGroup, epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="apcal")
def cli() -> None:
    """Build master bias, dark and flat frames from declarative YAML recipes.

    A recipe says where the night's calibration frames are, how they group, which master library
    calibrates the flats and which engine builds the masters: apcal's own (the default, nothing else to
    install) or PixInsight, headless.
    """


def _register() -> None:
    from apcal.cli import init_cmd, schema_cmd, validate_cmd

    for module in (validate_cmd, schema_cmd, init_cmd):
        cli.add_command(module.command)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``apcal`` console script: run the CLI and map exceptions to exit codes."""
    return handle_errors(lambda: cli.main(args=argv, prog_name="apcal", standalone_mode=False))


def handle_errors(call) -> int:  # type: ignore[no-untyped-def]
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

