"""``apcal validate RECIPE...``: check recipes without touching any frame."""

from __future__ import annotations

import click

from apcal.errors import EXIT_USAGE, RecipeError


@click.command("validate")
@click.argument("recipes", nargs=-1, required=True, type=click.Path(dir_okay=False))
def command(recipes: tuple[str, ...]) -> int:
    """Check RECIPES: YAML, extends, variables and schema; every problem is listed with its line."""
    from rich.console import Console

    from apcal.recipe import load_recipe

    out = Console(highlight=False, soft_wrap=True)
    failed = 0
    for path in recipes:
        try:
            recipe = load_recipe(path)
        except RecipeError as exc:
            failed += 1
            for line in exc.problems:
                click.echo(line, err=True)
            continue
        inputs = len(recipe.inputs)
        out.print(
            f"[green]ok[/green] {path}: '{recipe.name}', {inputs} input set{'s' if inputs != 1 else ''}, "
            f"engine {recipe.engine.name}, output {recipe.output.dir}"
        )
    return EXIT_USAGE if failed else 0
