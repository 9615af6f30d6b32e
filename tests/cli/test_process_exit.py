"""The console scripts leave the process without the shutdown garbage collection; ``main`` does not."""

from __future__ import annotations

import gc
import subprocess
import sys
from importlib.metadata import entry_points

from apcal import __version__
from apcal.cli.main import main

FREEZES_AFTER = """
import gc, sys
from apcal.cli.{module} import {function}
sys.argv = ["prog", "{option}"]
code = {function}()
print(code, gc.get_freeze_count() > 0)
"""


def _run(module: str, function: str, option: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", FREEZES_AFTER.format(module=module, function=function, option=option)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.splitlines()


def test_console_scripts_are_the_freezing_entry_points() -> None:
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts["apcal"] == "apcal.cli.main:console_main"
    assert scripts["ap-wbpp-calibration"] == "apcal.cli.calibrate_cmd:seed_console_main"


def test_apcal_console_main_runs_the_command_then_freezes() -> None:
    lines = _run("main", "console_main", "--version")
    assert __version__ in lines[0]
    assert lines[-1] == "0 True"


def test_seed_console_main_runs_the_command_then_freezes() -> None:
    lines = _run("calibrate_cmd", "seed_console_main", "--help")
    assert "INPUT_DIR OUTPUT_DIR" in lines[0]
    assert lines[-1] == "0 True"


def test_main_alone_leaves_the_collector_as_it_was() -> None:
    # Tests and embedding code call main() in a process that lives on: nothing may be frozen there.
    before = gc.get_freeze_count()
    assert main(["--version"]) == 0
    assert gc.get_freeze_count() == before
