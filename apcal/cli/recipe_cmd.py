"""``apcal recipe show RECIPE [--resolved]`` and ``apcal recipe presets``: recipes to read and share."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from apcal.recipe.model import Recipe


@click.group("recipe")
def command() -> None:
    """Show a recipe as apcal reads it, and the presets that ship with apcal."""


@command.command("show")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--resolved",
    is_flag=True,
    help="Merge everything it extends, expand ${...} and fill every default: the recipe a run uses.",
)
def show(recipe: Path, resolved: bool) -> None:
    """Print RECIPE: as written, or (--resolved) fully merged and expanded, as YAML.

    With --resolved, Apprise URLs in notify.urls show their scheme only: they hold tokens.
    """
    import yaml

    from apcal.errors import RecipeError
    from apcal.recipe.build import build_recipe
    from apcal.recipe.extends import load_with_bases
    from apcal.recipe.schema import fill_defaults, validate
    from apcal.recipe.variables import expand_variables

    if not resolved:
        click.echo(load_with_bases(recipe).file.read_text(encoding="utf-8"), nl=False)
        return
    located = load_with_bases(recipe)
    problems = expand_variables(located)
    problems += validate(located)
    if problems:
        raise RecipeError(problems)
    data = fill_defaults(located.data)
    data = _absolute_paths(data, build_recipe(located, data))
    click.echo(yaml.safe_dump(_masked(data), sort_keys=False, allow_unicode=True, width=100), nl=False)


@command.command("presets")
def list_presets() -> None:
    """List the presets a recipe can extend by name (extends: [apcal:NAME])."""
    from apcal.recipe.extends import PRESET_PREFIX, presets

    for name, path in presets().items():
        click.echo(f"{PRESET_PREFIX}{name}  {path}")


def _absolute_paths(data: dict[str, Any], recipe: Recipe) -> dict[str, Any]:
    """Folders as the run uses them: each relative path was relative to the file that wrote it (a base
    recipe's folder, maybe), which a merged listing no longer shows."""
    data = {**data, "inputs": [dict(item) for item in data["inputs"]], "output": dict(data["output"])}
    for item, input_set in zip(data["inputs"], recipe.inputs, strict=True):
        item["path"] = str(input_set.path)
    data["output"]["dir"] = str(recipe.output.dir)
    if recipe.output.script_dir is not None:
        data["output"]["script_dir"] = str(recipe.output.script_dir)
    library = dict(data["library"])
    for name in ("bias", "dark", "flatdark"):
        if getattr(recipe.library, name) is not None:
            library[name] = str(getattr(recipe.library, name))
    return {**data, "library": library}


def _masked(data: dict[str, Any]) -> dict[str, Any]:
    notify = data.get("notify") or {}
    if notify.get("urls"):
        urls = [url.split("://", 1)[0] + "://***" for url in notify["urls"]]
        data = {**data, "notify": {**notify, "urls": urls}}
    return data
