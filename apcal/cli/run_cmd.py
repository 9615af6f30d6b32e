"""``apcal run RECIPE``: build every master that is new or out of date, unattended."""

from __future__ import annotations

import click

from apcal.cli.errors import EXIT_CODES_HELP
from apcal.cli.options import recipe_argument, verbosity_options
from apcal.engines import ENGINES


@click.command("run", epilog=EXIT_CODES_HELP)
@recipe_argument
@click.option("--dry-run", is_flag=True, help="Show the plan and what is up to date; build nothing.")
@click.option("--force", is_flag=True, help="Rebuild every master, even those up to date.")
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(["bias", "dark", "flat"]),
    help="Build only these types (repeatable); flat includes flat-darks.",
)
@click.option("--engine", type=click.Choice(list(ENGINES)), help="Override the recipe's engine.")
@verbosity_options
def command(
    recipe: str, dry_run: bool, force: bool, only: tuple[str, ...], engine: str | None, verbosity: int
) -> int:
    """Plan RECIPE, then build its masters with the recipe's engine.

    Masters whose input files and parameters are unchanged since they were built are skipped; a second
    run on the same output folder while one is running exits with code 3.
    """
    from apcal.cli.progress import run_display
    from apcal.frames.model import FrameType
    from apcal.recipe import load_recipe
    from apcal.run.runner import RunOptions, run_recipe

    options = RunOptions(
        dry_run=dry_run, force=force, only={FrameType(o) for o in only} or None, engine=engine
    )
    with run_display(verbosity) as progress:
        outcome = run_recipe(load_recipe(recipe), options, progress=progress)
    return outcome.exit_code
