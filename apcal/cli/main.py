"""The ``apcal`` command group.

Commands live one per module and import heavy libraries (numpy, numba, astropy) only inside their
functions, so ``apcal --help`` stays instant. Errors are turned into exit codes in one place,
:mod:`apcal.cli.errors`.
"""

from __future__ import annotations

import click

from apcal import __version__
from apcal.cli.errors import EXIT_CODES_HELP, handle_errors, sigterm_as_interrupt
from apcal.cli.process_exit import before_exit


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
    from apcal.cli import (
        calibrate_cmd,
        demo_cmd,
        init_cmd,
        library_cmd,
        plan_cmd,
        recipe_cmd,
        run_cmd,
        scan_cmd,
        schema_cmd,
        validate_cmd,
        verify_cmd,
    )

    commands = (
        demo_cmd,
        init_cmd,
        validate_cmd,
        recipe_cmd,
        scan_cmd,
        plan_cmd,
        run_cmd,
        library_cmd,
        calibrate_cmd,
        verify_cmd,
        schema_cmd,
    )
    for module in commands:
        cli.add_command(module.command)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``apcal`` console script: run the CLI and map exceptions to exit codes."""
    with sigterm_as_interrupt():
        return handle_errors(lambda: cli.main(args=argv, prog_name="apcal", standalone_mode=False))


def console_main() -> int:
    """The ``apcal`` console script: :func:`main`, then a quick interpreter exit
    (:func:`apcal.cli.process_exit.before_exit`)."""
    return before_exit(main())
