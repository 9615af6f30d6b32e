"""``apcal init [PATH]``: write a commented starter recipe that validates as written."""

from __future__ import annotations

from pathlib import Path

import click

from apcal.errors import ApcalError


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
        tmp.write_text(STARTER_RECIPE.format(name=path.name), encoding="utf-8")
    click.echo(f"wrote {path}: edit inputs and output, then `apcal validate {path}`")
