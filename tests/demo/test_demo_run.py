"""``apcal demo``: real masters from the generated night, measured against its truth."""

from __future__ import annotations

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
    done = apcal("demo", "night", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Masters against the night's truth" in done.stdout
    assert done.stdout.count(" ok ") + done.stdout.count("│ ok") >= 5
    assert sorted(p.name.split("_")[0] for p in (tmp_path / "night" / "out" / "master").glob("*.xisf")) == [
        "masterBias",
        "masterDark",
        "masterDark",
        "masterFlat",
        "masterFlat",
    ]
