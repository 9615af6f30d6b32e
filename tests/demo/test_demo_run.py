"""``apcal demo``: real masters from the generated night, measured against its truth."""

from __future__ import annotations

import re
from pathlib import Path

from apcal.demo.night import run_demo
from tests.cli.helpers import apcal


def test_demo_masters_meet_their_targets(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo")
    assert result.outcome.exit_code == 0
    kinds = [q.kind for q in result.qualities]
    assert kinds == ["bias", "dark", "dark", "flat", "flat"]
    bias = result.qualities[0]
    assert bias.frames == 40
    assert bias.figure <= 1.02  # master bias noise within 2 % of the floor sigma/sqrt(N)
    assert bias.figure >= 0.98  # and not below it: a figure under the floor would mean a broken truth
    for flat in result.qualities[3:]:
        assert flat.figure <= 0.5  # % rms against the true flat
    assert all(q.ok for q in result.qualities)


def test_demo_command_prints_the_summary(tmp_path: Path) -> None:
    folder = "night-of-2026-12-07"  # long enough that the run's heading gives its folder a line
    done = apcal("demo", folder, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Masters against the night's truth" in done.stdout
    assert done.stdout.count(" ok ") + done.stdout.count("│ ok") >= 5
    assert sorted(p.name.split("_")[0] for p in (tmp_path / folder / "out" / "master").glob("*.xisf")) == [
        "masterBias",
        "masterDark",
        "masterDark",
        "masterFlat",
        "masterFlat",
    ]
    # Read off a terminal at 80 columns: the heading breaks before its folder rather than inside it,
    # the plan's lines fit (the flats' say "with bias+dark (run)"), and the closing lines name the
    # report page from the working folder.
    lines = (done.stdout + done.stderr).splitlines()
    heading = lines.index("apcal run of 'apcal-demo': 5 masters (5 to build), native engine,")
    assert lines[heading + 1] == f"  into {folder}/out"
    planned = [line for line in lines if line.startswith("  build ")]
    assert len(planned) == 5 and all(len(line) <= 80 for line in planned), planned
    assert sum(line.endswith("with bias+dark (run)") for line in planned) == 2, planned
    assert f"masters: {folder}/out/master" in lines and f"recipe:  {folder}/demo.yaml" in lines
    reports = [line for line in lines if line.startswith("report:")]
    assert len(reports) == 2  # the run's closing line, then the demo's summary
    pattern = rf"report: +{folder}/out/logs/\d{{8}}_\d{{6}}_report\.html"
    assert all(re.fullmatch(pattern, line) for line in reports), reports
