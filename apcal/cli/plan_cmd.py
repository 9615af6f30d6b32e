"""``apcal plan RECIPE``: every job ``apcal run`` would do, without building anything."""

from __future__ import annotations

import json

import click

from apcal.cli.options import json_option, recipe_argument


@click.command("plan")
@recipe_argument
@json_option
@click.option("--files", is_flag=True, help="Also list every file that is not used, with the reason.")
def command(recipe: str, as_json: bool, files: bool) -> None:
    """Show the jobs RECIPE would run: groups, frame counts, matched masters and output paths."""
    from apcal.cli.show import console, print_plan, print_skipped_files
    from apcal.errors import RecipeError
    from apcal.plan.prepare import prepare_plan
    from apcal.plan.serialize import plan_to_dict
    from apcal.recipe.checks import check_recipe
    from apcal.recipe.loader import load_recipe_located

    loaded, located = load_recipe_located(recipe)
    problems = check_recipe(loaded, located, engine=False)  # at file:line:col, before any header is read
    if problems:
        raise RecipeError(problems)
    plan = prepare_plan(loaded)
    if as_json:
        click.echo(json.dumps(plan_to_dict(plan), indent=2))
        return
    out = console()
    print_plan(out, plan)
    if files:
        print_skipped_files(out, plan.skipped_files)
    elif plan.skipped_files:
        out.print(f"{len(plan.skipped_files)} files not used (--files lists them)")
