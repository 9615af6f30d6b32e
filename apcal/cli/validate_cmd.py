"""``apcal validate RECIPE...``: check recipes without touching any frame."""

from __future__ import annotations

import click

from apcal.errors import EXIT_USAGE, RecipeError


@click.command("validate")
@click.argument("recipes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--schema-only",
    is_flag=True,
    help="Check YAML, extends, variables and schema only (a recipe written for another machine).",
)
def command(recipes: tuple[str, ...], schema_only: bool) -> int:
    """Check RECIPES: YAML, extends, variables and schema, then every check that needs no frame (time
    zone, input and library folders, output folder, engine binary); every problem with its line."""
    from rich.console import Console

    from apcal.recipe.checks import check_recipe
    from apcal.recipe.loader import load_recipe_located

    out = Console(highlight=False, soft_wrap=True)
    failed = 0
    for path in recipes:
        try:
            recipe, located = load_recipe_located(path)
            problems = [] if schema_only else check_recipe(recipe, located)
        except RecipeError as exc:
            problems = exc.problems
        if problems:
            failed += 1
            for line in problems:
                click.echo(line, err=True)
            continue
        inputs = len(recipe.inputs)
        out.print(
            f"[green]ok[/green] {path}: '{recipe.name}', {inputs} input set{'s' if inputs != 1 else ''}, "
            f"engine {recipe.engine.name}, output {recipe.output.dir}"
        )
    return EXIT_USAGE if failed else 0
