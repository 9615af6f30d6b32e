"""``apcal verify RECIPE --engines native,siril``: build every master with each engine and compare."""

from __future__ import annotations

import json
from typing import Any

import click

from apcal.cli.errors import EXIT_CODES_HELP
from apcal.cli.options import json_option, recipe_argument, verbosity_options
from apcal.engines import ENGINES


def _engines(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise click.BadParameter(f"unknown engine {unknown[0]!r} (engines: {', '.join(ENGINES)})")
    if len(names) < 2 or len(set(names)) != len(names):
        raise click.BadParameter("name two or more different engines, e.g. native,siril")
    return names


@click.command("verify", epilog=EXIT_CODES_HELP)
@recipe_argument
@click.option(
    "--engines",
    default="native,siril",
    show_default=True,
    callback=_engines,
    help="Engines to compare, comma-separated; the first is the reference.",
)
@json_option
@verbosity_options
def command(recipe: str, engines: list[str], as_json: bool, verbosity: int) -> int:
    """Build RECIPE's masters with each engine into <output>/verify/<engine>/ and compare them.

    Per master: the difference in units of the reference master's noise (rms and 99.9th percentile;
    flats also relative, after dividing each by its median), the rejected fractions, and a verdict:
    bias, dark and flat-dark agree within 0.3 sigma rms, flats within 0.1 %. Exits 0 only when every
    master agrees; the HTML page with a difference image per master is in the verify folder.
    """
    import time

    from apcal.cli.progress import run_display
    from apcal.errors import RecipeError
    from apcal.recipe.checks import check_recipe
    from apcal.recipe.loader import load_recipe_located
    from apcal.report.verify_html import write_verify_html
    from apcal.run.verify import verify_recipe

    loaded, located = load_recipe_located(recipe)
    problems = check_recipe(loaded, located, engine=False)
    if problems:
        raise RecipeError(problems)
    with run_display(-1 if as_json else verbosity):
        outcome = verify_recipe(loaded, engines)
    data = {
        "recipe": loaded.name,
        "engines": list(outcome.engines),
        "folder": str(outcome.folder),
        "exit_code": outcome.exit_code,
        "comparisons": [c.to_dict() for c in outcome.comparisons],
    }
    page = write_verify_html(data, outcome.folder / f"{time.strftime('%Y%m%d_%H%M%S')}_verify.html")
    data["html"] = str(page)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        _print(data)
    return outcome.exit_code


def _print(data: dict[str, object]) -> None:
    comparisons = data["comparisons"]
    assert isinstance(comparisons, list)
    for c in comparisons:
        for line in comparison_lines(c):
            click.echo(line)
    click.echo(f"difference images: {data['html']}")


def comparison_lines(c: dict[str, Any]) -> list[str]:
    """One master's comparison as a block that reads at 80 columns: verdict, type and engines; the
    difference against the tolerance; the rejected fractions; the master's job (a name, never cut)."""
    d = c["difference"]
    lines = [f"{c['verdict']} {c['type']}: {c['other']['engine']} against {c['reference']['engine']}"]
    if d:
        figures = f"  rms {_num(d.get('rms_sigma'))} sigma, 99.9% {_num(d.get('p999_sigma'))} sigma"
        if d.get("relative_rms") is not None:
            figures += f", relative rms {100 * d['relative_rms']:.4f} %"
        lines.append(figures)
    else:
        lines.append(f"  {c['message']}")
    lines.append(f"  tolerance {c['tolerance']}")
    rejected = [f"{engine} {100 * r[0]:.3f} %/{100 * r[1]:.3f} %" for engine, r in c["rejected"].items() if r]
    if rejected:
        lines.append("  rejected low/high: " + ", ".join(rejected))
    lines.append(f"  {c['job']}")
    return lines


def _num(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"
