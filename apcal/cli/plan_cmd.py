"""``apcal plan RECIPE``: every job ``apcal run`` would do, without building anything."""

from __future__ import annotations

import json

import click

from apcal.cli.options import json_option, recipe_argument


@click.command("plan")
@recipe_argument
@json_option
@click.option("--files", is_flag=True, help="Also list every file that is not used, with the reason.")
@click.option(
    "--explain",
    is_flag=True,
    help="Per flat group, every library master considered: the rule it failed or its score; the choice.",
)
def command(recipe: str, as_json: bool, files: bool, explain: bool) -> None:
    """Show the jobs RECIPE would run: groups, frame counts, matched masters and output paths."""
    from apcal.cli.explain import explain_to_dict, print_explanation
    from apcal.cli.show import console, print_plan, print_skipped_files
    from apcal.engines.capabilities import assess
    from apcal.errors import EngineError, RecipeError
    from apcal.plan.prepare import prepare_plan
    from apcal.plan.serialize import plan_to_dict
    from apcal.recipe.checks import check_recipe
    from apcal.recipe.loader import load_recipe_located

    loaded, located = load_recipe_located(recipe)
    problems = check_recipe(loaded, located, engine=False)  # at file:line:col, before any header is read
    if problems:
        raise RecipeError(problems)
    plan = prepare_plan(loaded)
    verdict = assess(plan, loaded.engine.name)
    if as_json:
        data = plan_to_dict(plan)
        data["engine"] = {"name": verdict.engine, "warnings": verdict.warnings, "refusals": verdict.refusals}
        if explain:
            data["explain"] = explain_to_dict(plan)
        click.echo(json.dumps(data, indent=2))
    else:
        out = console()
        print_plan(out, plan)
        if files:
            print_skipped_files(out, plan.skipped_files)
        elif plan.skipped_files:
            out.print(f"{len(plan.skipped_files)} files not used (--files lists them)")
        for warning in verdict.warnings:
            out.print(f"[yellow]warning:[/yellow] {warning}")
        if explain:
            print_explanation(plan)
    if verdict.refusals:  # the run would refuse too (Engine.check): say so with its exit code
        raise EngineError("; ".join(verdict.refusals))
