"""``apcal run RECIPE [RECIPE...]``: build every master that is new or out of date, unattended."""

from __future__ import annotations

import click

from apcal.cli.errors import EXIT_CODES_HELP
from apcal.cli.options import verbosity_options
from apcal.engines import ENGINES
from apcal.vocabulary import ONLY_TYPES


@click.command("run", epilog=EXIT_CODES_HELP)
@click.argument("recipes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Show the plan and what is up to date; build nothing.")
@click.option("--force", is_flag=True, help="Rebuild every master, even those up to date.")
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice([t.value for t in ONLY_TYPES]),
    help="Build only these types (repeatable); flat includes flat-darks.",
)
@click.option("--engine", type=click.Choice(list(ENGINES)), help="Override the recipe's engine.")
@click.option(
    "--watch",
    is_flag=True,
    help="Keep running: build at start, then each time new frames have stopped arriving (Ctrl-C ends).",
)
@click.option(
    "--settle",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="With --watch: minutes without a new frame before a run starts.",
)
@click.option("--until", "until", metavar="HH:MM", help="With --watch: stop at this local time.")
@click.option(
    "--cluster",
    metavar="ADDRESS",
    envvar="APCAL_CLUSTER",
    help="Run the jobs on Dask: tcp://HOST:PORT of a scheduler, or local:N worker processes "
    "(default: this process; env APCAL_CLUSTER). Needs pip install 'apcal[cluster]'.",
)
@verbosity_options
def command(
    recipes: tuple[str, ...],
    dry_run: bool,
    force: bool,
    only: tuple[str, ...],
    engine: str | None,
    watch: bool,
    settle: float,
    until: str | None,
    cluster: str | None,
    verbosity: int,
) -> int:
    """Plan each RECIPE, then build its masters with the recipe's engine.

    Masters whose input files and parameters are unchanged since they were built are skipped; a second
    run on the same output folder while one is running exits with code 3. Several recipes run as one
    run, each with its own output folder, lock, log and report; the exit code is the worst of theirs.
    """
    from apcal.cli.progress import run_display
    from apcal.errors import RecipeError
    from apcal.recipe.checks import check_recipe
    from apcal.recipe.loader import load_recipe_located
    from apcal.run.executor import make_executor
    from apcal.run.runner import RunOptions, run_recipes
    from apcal.vocabulary import FrameType

    options = RunOptions(
        dry_run=dry_run, force=force, only={FrameType(o) for o in only} or None, engine=engine
    )
    if until is not None and not _is_clock_time(until):
        raise click.BadParameter(f"{until!r} is not a time HH:MM", param_hint="--until")
    if (until is not None or settle != 10.0) and not watch:
        raise click.UsageError("--settle and --until go with --watch")
    if watch and dry_run:
        raise click.UsageError("--watch builds; it does not go with --dry-run")
    if watch and len(recipes) > 1:
        raise click.UsageError("--watch watches one recipe's folders: give one RECIPE")
    every = [load_recipe_located(recipe) for recipe in recipes]
    problems = [p for loaded, located in every for p in check_recipe(loaded, located, engine=False)]
    if problems:  # at file:line:col, before anything runs
        raise RecipeError(problems)

    def run_once() -> int:
        executor = make_executor(cluster)  # a one-line error, before anything runs, without Dask
        with run_display(verbosity) as progress:
            return run_recipes([loaded for loaded, _ in every], options, executor=executor, progress=progress)

    if not watch:
        return run_once()
    from apcal.run.logs import configure_console
    from apcal.run.watch import until_time, watch_folders

    configure_console(verbosity)  # the watch's own lines, between runs
    ((loaded, _),) = every
    return watch_folders(
        [s.path for s in loaded.inputs],
        loaded.output.dir,
        run_once,
        settle=settle * 60,
        stop_at=until_time(until) if until else None,
    )


def _is_clock_time(text: str) -> bool:
    import re

    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    return match is not None and int(match.group(1)) < 24 and int(match.group(2)) < 60
