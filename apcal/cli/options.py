"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

_Command = TypeVar("_Command", bound=Callable[..., Any])

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
recipe_argument = click.argument("recipe", type=click.Path(dir_okay=False))
#: ``apcal library``'s ROOT argument and its ``--recipe`` (headers, time zone and library policy).
library_root_argument = click.argument("root", type=click.Path(file_okay=False, path_type=Path))
library_recipe_option = click.option(
    "--recipe",
    "recipe_path",
    type=click.Path(dir_okay=False),
    help="Read headers with this recipe's aliases and time zone, and use its library policy.",
)


def verbosity_options(func: _Command) -> _Command:
    """-q (warnings only) and -v (debug), folded into one ``verbosity`` argument: -1, 0 or 1."""
    func = click.option("-v", "--verbose", "verbosity", flag_value=1, help="Show debug messages.")(func)
    return click.option(
        "-q", "--quiet", "verbosity", flag_value=-1, default=0, help="Show warnings and errors only."
    )(func)
