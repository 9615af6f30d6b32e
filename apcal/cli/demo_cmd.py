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
    from apcal.engines import start_warming
    from apcal.run.console_lines import shown

    # On first use the native engine compiles for ~25 s: start while the night is generated.
    start_warming("native")
    out = console()
    out.print(f"generating a synthetic night in {folder}/frames ...")
    with run_display(verbosity) as progress:
        result = run_demo(folder, progress=progress)
    # Plain columns, no box: the same lines read well on a terminal and in a log; the file names are
    # long and alike, so the folder is named once instead of a wrapped column of paths.
    table = Table(title="Masters against the night's truth", title_justify="left", box=None)
    for column in ("", "master", "frames", "measured", "target"):
        table.add_column(column, no_wrap=True)
    for q in result.qualities:
        table.add_row(
            "[green]ok[/green]" if q.ok else "[red]off[/red]",
            q.kind,
            str(q.frames),
            f"{q.figure:.3f} {q.unit}",
            q.target,
        )
    out.print(table)
    out.print("  bias: rms of (master − true bias) over the noise floor σ/√N")
    out.print("  dark: rms of (master − truth)")
    out.print("  flat: rms of (master/mean ÷ true flat/mean − 1)")
    # Paths from the working folder, as the run's own lines give them (shorter than absolute ones).
    if result.qualities:
        out.print(f"masters: {shown(result.qualities[0].path.parent)}")
    out.print(f"recipe:  {shown(result.recipe)}")
    report = result.outcome.shown_report
    out.print(f"report:  {shown(report) if report else 'not written'}")
    return result.outcome.exit_code
