"""Load a recipe: read, extend, expand variables, validate, fill defaults, resolve paths.

The order matters and is the documented one: ``extends`` first (so bases can declare ``vars``), then
``${...}`` expansion (so validation sees final values), then schema validation (every problem at once),
then defaults, then the typed build.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from apcal.errors import RecipeError
from apcal.recipe.build import build_recipe
from apcal.recipe.extends import load_with_bases
from apcal.recipe.model import Recipe
from apcal.recipe.schema import fill_defaults, validate
from apcal.recipe.source import Located, Mark
from apcal.recipe.variables import expand_variables


def load_recipe(path: str | Path, environ: Mapping[str, str] | None = None) -> Recipe:
    """The :class:`Recipe` in ``path``; RecipeError listing every problem otherwise."""
    located = load_with_bases(Path(path))
    return _finish(located, environ)


def load_recipe_located(path: str | Path, environ: Mapping[str, str] | None = None) -> tuple[Recipe, Located]:
    """:func:`load_recipe`, with where each value was written (for checks that report ``file:line:col``)."""
    located = load_with_bases(Path(path))
    return _finish(located, environ), located


def recipe_from_mapping(
    data: dict[str, Any],
    *,
    base_dir: Path,
    label: str = "<command line>",
    environ: Mapping[str, str] | None = None,
) -> Recipe:
    """A Recipe from data built in memory (the seed-compatible command); paths relative to base_dir."""
    file = base_dir / label
    located = Located(data=dict(data), marks={(): Mark(file, 1, 1)}, file=file)
    return _finish(located, environ)


def _finish(located: Located, environ: Mapping[str, str] | None) -> Recipe:
    problems = expand_variables(located, environ)
    problems += validate(located)
    if problems:
        raise RecipeError(problems)
    return build_recipe(located, fill_defaults(located.data))
