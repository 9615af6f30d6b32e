"""``apcal library coverage`` and ``apcal library history``: what tonight's lights lack, and the
library's QC figures over time (subcommands of :mod:`apcal.cli.library_cmd`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from apcal.cli.options import json_option, library_recipe_option, library_root_argument

_ROOT = library_root_argument
_RECIPE = library_recipe_option


@click.command("coverage")
@_ROOT
@click.argument("lights", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--flat-max-age",
    type=click.FloatRange(min=0),
    default=None,
    help="Days a master flat may lie from the lights' night (default: any).",
)
@_RECIPE
@json_option
def coverage_cmd(
    root: Path, lights: tuple[Path, ...], flat_max_age: float | None, recipe_path: str | None, as_json: bool
) -> None:
    """For each configuration of the light frames under LIGHTS, the bias, dark and flat of ROOT that
    would calibrate them, or what is missing."""
    from apcal.cli.library_cmd import recipe_for
    from apcal.errors import RecipeError
    from apcal.frames.discovery import scan
    from apcal.library import Policy
    from apcal.library.catalog import Catalog
    from apcal.library.coverage import coverage
    from apcal.recipe.model import InputSet
    from apcal.vocabulary import FrameType

    missing = [f"{f}: folder not found" for f in lights if not f.is_dir()]
    if missing:
        raise RecipeError(missing)
    recipe = recipe_for(recipe_path)
    frames, _ = scan([InputSet(path=f.absolute()) for f in lights], recipe.headers)
    light_frames = [f for f in frames if f.type is FrameType.LIGHT and not f.is_master]
    with Catalog(root, recipe.headers) as catalog:
        catalog.refresh()
        policy = Policy(recipe.library.max_age_days, recipe.library.set_temp_tolerance, catalog.bad())
        flats = catalog.records(FrameType.FLAT)
        found = coverage(
            light_frames,
            catalog.frames(),
            flats,
            catalog.root,
            policy,
            recipe.grouping.tolerances,
            flat_max_age,
        )
    if as_json:
        click.echo(json.dumps({"configurations": [c.to_dict() for c in found]}, indent=2))
    else:
        for config in found:
            keys = " ".join(f"{k}={v}" for k, v in config.keys.items() if v is not None)
            click.echo(f"{keys}: {config.frames} lights")
            for kind, path in config.masters.items():
                click.echo(f"  {kind}: {path}" if path else f"  {kind}: MISSING ({config.reasons[kind]})")
        if not found:
            click.echo("no light frames found")
    if not light_frames:
        raise click.exceptions.Exit(1)


@click.command("history")
@_ROOT
@click.option("--camera", help="Only this camera (its INSTRUME).")
@click.option(
    "--html", "html", type=click.Path(dir_okay=False, path_type=Path), help="Also write plots here."
)
@_RECIPE
@json_option
def history_cmd(
    root: Path, camera: str | None, html: Path | None, recipe_path: str | None, as_json: bool
) -> None:
    """QC figures of ROOT's masters per configuration over time, with the change points named."""
    from apcal.cli.library_cmd import recipe_for
    from apcal.library.catalog import Catalog
    from apcal.library.history import history

    recipe = recipe_for(recipe_path)
    with Catalog(root, recipe.headers) as catalog:
        catalog.refresh()
        lines = history(catalog.records(), camera)
    if html is not None:
        from apcal.library.history_html import write_history_html

        write_history_html(lines, html, title=f"apcal library history: {root}")
    if as_json:
        click.echo(
            json.dumps({"root": str(root.absolute()), "lines": [line.to_dict() for line in lines]}, indent=2)
        )
        return
    for line in lines:
        click.echo(f"{line.camera} {line.type}: {len(line.records)} masters ({line.config})")
        for change in line.changes:
            click.echo(f"  {change.text}")
    if html is not None:
        click.echo(f"plots: {html}")
