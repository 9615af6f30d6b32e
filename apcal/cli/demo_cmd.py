"""``apcal demo [DIR]``: build real masters from a generated night and check them against its truth."""

from __future__ import annotations

from pathlib import Path

import click

from apcal.cli.options import verbosity_options


@click.command("demo")
@click.argument("folder", default="apcal-demo", type=click.Path(file_okay=False, path_type=Path))
@verbosity_options
def command(folder: Path, verbosity: int) -> int:
    """Generate a small synthetic night in FOLDER (default: apcal-demo), build its masters with the
    native engine, and compare them with the known truth."""
    from rich.table import Table

    from apcal.cli.progress import run_display
    from apcal.cli.show import console
    from apcal.demo.night import run_demo

    out = console()
    out.print(f"generating a synthetic night in {folder}/frames ...")
    with run_display(verbosity) as progress:
        result = run_demo(folder, progress=progress)
    table = Table(title="Masters against the night's truth", title_justify="left")
    for column in ("master", "frames", "measured", "target", "", "file"):
        table.add_column(column, overflow="fold")
    for q in result.qualities:
        table.add_row(
            q.kind,
            str(q.frames),
            f"{q.figure:.3f} {q.unit}",
            q.target,
            "[green]ok[/green]" if q.ok else "[red]off[/red]",
            str(q.path),
        )
    out.print(table)
    out.print(
        "bias: rms of (master − true bias) over the noise floor σ/√N; dark: rms of (master − truth); "
        "flat: rms of (master/mean ÷ true flat/mean − 1)."
    )
    out.print(f"recipe: {result.recipe}   report: {result.outcome.report_path}")
    return result.outcome.exit_code
