"""``apcal init [PATH]``: write a commented starter recipe that validates as written."""

from __future__ import annotations

from pathlib import Path

import click

from apcal.errors import ApcalError


def schema_reference(recipe: Path) -> str:
    """Where an editor finds the recipe schema from ``recipe``: the installed package's own file. A
    recipe inside the checkout that holds the schema (``recipes/``) gets a relative path, which survives
    moving the checkout; any other a ``file://`` URI. (A made-up URL, as before, loaded nothing.)"""
    import os
    from importlib.resources import files

    schema = Path(str(files("apcal.schemas").joinpath("recipe.schema.json"))).resolve()
    folder = recipe.absolute().parent.resolve()
    if folder.is_relative_to(schema.parent.parent):
        return Path(os.path.relpath(schema, folder)).as_posix()
    return schema.as_uri()


@click.command("init")
@click.argument("path", default="recipe.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace PATH if it exists.")
def command(path: Path, overwrite: bool) -> None:
    """Write a commented starter recipe to PATH (default: recipe.yaml)."""
    from apcal.io.atomic import atomic_path
    from apcal.recipe.starter import STARTER_RECIPE

    if path.exists() and not overwrite:
        raise ApcalError(f"{path}: already exists (use --overwrite to replace it)")
    if not path.parent.exists():
        raise ApcalError(f"{path.parent}: folder does not exist")
    with atomic_path(path) as tmp:
        tmp.write_text(STARTER_RECIPE.format(name=path.name, schema=schema_reference(path)), encoding="utf-8")
    click.echo(f"wrote {path}: edit inputs and output, then `apcal validate {path}`")
