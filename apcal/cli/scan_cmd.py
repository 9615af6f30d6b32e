"""``apcal scan DIR...``: what is in these folders and how it would group, without a recipe."""

from __future__ import annotations

import json
from pathlib import Path

import click

from apcal.cli.options import json_option


@click.command("scan")
@click.argument("folders", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--recipe",
    "recipe_path",
    type=click.Path(dir_okay=False),
    help="Use this recipe's grouping and header settings instead of the defaults.",
)
@json_option
def command(folders: tuple[Path, ...], recipe_path: str | None, as_json: bool) -> None:
    """Read the headers of every frame under FOLDERS and show the groups and the files skipped."""
    from dataclasses import replace

    from apcal.cli.show import console, print_groups, print_skipped_files
    from apcal.errors import RecipeError
    from apcal.frames.discovery import discover
    from apcal.grouping import group_frames
    from apcal.plan.serialize import group_to_dict, skipped_to_dict
    from apcal.recipe import load_recipe, recipe_from_mapping
    from apcal.recipe.model import InputSet

    missing = [f"{f}: folder not found" for f in folders if not f.is_dir()]
    if missing:
        raise RecipeError(missing)
    if recipe_path:
        recipe = load_recipe(recipe_path)
    else:
        recipe = recipe_from_mapping(
            {"apcal": 1, "name": "scan", "inputs": [{"path": "."}], "output": {"dir": "."}},
            base_dir=Path.cwd(),
        )
    inputs = tuple(replace(InputSet(path=f.resolve()), include=recipe.inputs[0].include) for f in folders)
    found = discover(inputs, recipe.headers)
    grouped = group_frames(found.frames, recipe.grouping)
    if as_json:
        data = {
            "groups": [group_to_dict(g) for g in grouped.groups],
            **skipped_to_dict(grouped.skipped, found.skipped),
        }
        click.echo(json.dumps(data, indent=2))
        return
    out = console()
    print_groups(out, grouped.groups, grouped.skipped)
    print_skipped_files(out, found.skipped)
