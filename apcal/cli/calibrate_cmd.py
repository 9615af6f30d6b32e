"""``apcal calibrate`` and the ``ap-wbpp-calibration`` console script: the seed tool's exact arguments.

For people and scripts moving from the PixInsight-only tool this project grew from: the same
positional arguments and options, turned into an in-memory recipe and run like any other. As in the
seed, masters built in a run do not calibrate that run's flats (use a recipe with
``library.use_new_masters`` for that). With neither ``--pixinsight-binary`` nor ``--script-only``, the
native engine builds the masters, so the command works where PixInsight is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from apcal.cli.errors import EXIT_CODES_HELP, handle_errors, sigterm_as_interrupt
from apcal.cli.options import verbosity_options
from apcal.cli.process_exit import before_exit

_DIR = click.Path(file_okay=False, path_type=Path)


@click.command("calibrate", epilog=EXIT_CODES_HELP)
@click.argument("input_dir", type=_DIR)
@click.argument("output_dir", type=_DIR)
@click.option(
    "--bias-master-dir", type=_DIR, help="Directory containing bias master library (for flat calibration)"
)
@click.option(
    "--dark-master-dir", type=_DIR, help="Directory containing dark master library (for flat calibration)"
)
@click.option("--script-dir", type=_DIR, help="Directory for scripts and logs (default: output_dir/logs)")
@click.option(
    "--pixinsight-binary",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Path to PixInsight binary (without it and without --script-only: the native engine)",
)
@click.option(
    "--instance-id",
    type=click.IntRange(1, 256),
    default=123,
    show_default=True,
    help="PixInsight instance ID",
)
@click.option("--no-force-exit", is_flag=True, help="Keep PixInsight open after execution completes")
@click.option("--script-only", is_flag=True, help="Generate scripts only, do not execute PixInsight")
@verbosity_options
def command(
    input_dir: Path,
    output_dir: Path,
    bias_master_dir: Path | None,
    dark_master_dir: Path | None,
    script_dir: Path | None,
    pixinsight_binary: Path | None,
    instance_id: int,
    no_force_exit: bool,
    script_only: bool,
    verbosity: int,
) -> int:
    """Build masters from the frames in INPUT_DIR into OUTPUT_DIR (the seed tool's interface)."""
    from apcal.cli.progress import run_display
    from apcal.recipe import recipe_from_mapping
    from apcal.run.runner import run_recipe

    data: dict[str, Any] = {
        "apcal": 1,
        "name": "ap-wbpp-calibration",
        "inputs": [{"path": str(input_dir)}],
        "output": {"dir": str(output_dir)},
        "library": {"use_new_masters": False},
        "engine": {
            "name": "pixinsight" if (pixinsight_binary or script_only) else "native",
            "pixinsight": {
                "instance_id": instance_id,
                "force_exit": not no_force_exit,
                "script_only": script_only,
            },
        },
    }
    if script_dir:
        data["output"]["script_dir"] = str(script_dir)
    if bias_master_dir:
        data["library"]["bias"] = str(bias_master_dir)
    if dark_master_dir:
        data["library"]["dark"] = str(dark_master_dir)
    if pixinsight_binary:
        data["engine"]["pixinsight"]["binary"] = str(pixinsight_binary)
    recipe = recipe_from_mapping(data, base_dir=Path.cwd())
    with run_display(verbosity) as progress:
        outcome = run_recipe(recipe, progress=progress)
    return outcome.exit_code


def seed_main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ap-wbpp-calibration`` console script."""
    with sigterm_as_interrupt():
        return handle_errors(
            lambda: command.main(args=argv, prog_name="ap-wbpp-calibration", standalone_mode=False)
        )


def seed_console_main() -> int:
    """The ``ap-wbpp-calibration`` console script: :func:`seed_main`, then a quick interpreter exit
    (:func:`apcal.cli.process_exit.before_exit`)."""
    return before_exit(seed_main())
