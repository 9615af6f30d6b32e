"""The engine end to end with a stand-in PixInsight executable: command line, output layout, run log, and
a clear per-job failure for every way PixInsight can let us down."""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from pathlib import Path

import pytest

from apcal.engines.base import JobResult, RunContext
from apcal.engines.pixinsight import ENGINE, PixInsightEngine, parse_status_lines, run_pixinsight
from apcal.errors import EngineError
from apcal.io.image import read_header
from apcal.plan.model import Plan
from apcal.recipe.model import PixInsightSettings
from tests.engines.pixinsight.pixinsight_helpers import build_plan

STAMP = "20260127_143052"


def context_for(plan: Plan) -> RunContext:
    return RunContext(stamp=STAMP, log_path=plan.logs_dir / f"{STAMP}.log")


def execute(plan: Plan, settings: PixInsightSettings) -> list[JobResult]:
    return list(PixInsightEngine(settings).execute(plan, plan.jobs, context_for(plan)))


def argv(tmp_path: Path) -> list[str]:
    return json.loads((tmp_path / "fake-pi" / "argv.json").read_text(encoding="utf-8"))


def test_a_run_builds_the_seed_layout(tmp_path: Path, fake_pixinsight: Path) -> None:
    plan = build_plan(tmp_path)
    settings = PixInsightSettings(binary=fake_pixinsight, instance_id=7, timeout=60)
    progress: list[tuple[str, int, int]] = []
    context = RunContext(
        stamp=STAMP, log_path=plan.logs_dir / f"{STAMP}.log", progress=lambda *args: progress.append(args)
    )
    results = list(PixInsightEngine(settings).execute(plan, plan.jobs, context))

    assert [(r.job_id, r.status, r.message) for r in results] == [(j.id, "built", "") for j in plan.jobs]
    assert [r.output for r in results] == [j.output for j in plan.jobs]
    for job in plan.jobs:  # apcal's own reader finds the job's keywords, after the integration's HISTORY
        assert read_header(job.output).keywords[1:] == job.keywords
    out, logs = plan.output_dir, plan.output_dir / "logs"
    assert sorted(p.name for p in (out / "master").glob("*.xisf")) == [
        "masterBias_gain100 ñ.xisf",
        "masterDark_gain100_300s.xisf",
        "masterFlat_Ha.xisf",
        "masterFlat_L 'lum'.xisf",
    ]
    calibrated = sorted((out / "calibrated" / "L 'lum'").iterdir())
    assert [p.name for p in calibrated] == [f"L 'lum'_{i:03d} é_c.xisf" for i in range(4)]
    assert results[2].calibrated == tuple(calibrated)
    assert results[2].dark_scales == {
        p.name: pytest.approx(0.5 + i / 100) for i, p in enumerate(plan.jobs[2].inputs)
    }
    # Only the script and the run log stay in logs/: the console and status files were folded in.
    assert sorted(p.name for p in logs.iterdir()) == [f"{STAMP}.log", f"{STAMP}_calibrate_masters.js"]
    script = logs / f"{STAMP}_calibrate_masters.js"
    assert argv(tmp_path) == [
        str(fake_pixinsight),
        "--automation-mode",
        "-n=7",
        f"-r={script}",
        "--force-exit",
    ]
    run_log = (logs / f"{STAMP}.log").read_text(encoding="utf-8")
    assert f"pixinsight: running {shlex.join(argv_line(fake_pixinsight, 7, script))}" in run_log
    assert "fake PixInsight: mode ok" in run_log  # PixInsight's stdout
    assert "----- PixInsight console -----" in run_log
    assert set(parse_status_lines(run_log)) == {j.id for j in plan.jobs}
    assert [p[0] for p in progress] == [j.id for j in plan.jobs]


def argv_line(binary: Path, instance: int, script: Path, force_exit: bool = True) -> list[str]:
    return [
        str(binary),
        "--automation-mode",
        f"-n={instance}",
        f"-r={script}",
        *(["--force-exit"] if force_exit else []),
    ]


def test_instance_id_and_no_force_exit_reach_the_command_line(tmp_path: Path, fake_pixinsight: Path) -> None:
    plan = build_plan(tmp_path)
    results = execute(plan, PixInsightSettings(binary=fake_pixinsight, instance_id=456, force_exit=False))
    assert {r.status for r in results} == {"built"}
    script = plan.logs_dir / f"{STAMP}_calibrate_masters.js"
    assert argv(tmp_path) == argv_line(fake_pixinsight, 456, script, force_exit=False)


@pytest.mark.parametrize("binary", [None, "configured"])
def test_script_only_writes_the_script_and_prints_the_command(
    tmp_path: Path, fake_pixinsight: Path, binary: str | None
) -> None:
    plan = build_plan(tmp_path)
    settings = PixInsightSettings(binary=fake_pixinsight if binary else None, instance_id=9, script_only=True)
    results = execute(plan, settings)
    script = plan.logs_dir / f"{STAMP}_calibrate_masters.js"
    expected = shlex.join(argv_line(fake_pixinsight if binary else Path("PixInsight"), 9, script))
    assert [(r.job_id, r.status, r.message) for r in results] == [
        (j.id, "script_only", expected) for j in plan.jobs
    ]
    assert script.read_text(encoding="ascii").startswith("// apcal: build 4 calibration master(s)")
    assert not (tmp_path / "fake-pi").exists(), "PixInsight was not started"
    assert not any(j.output.exists() for j in plan.jobs)
    assert sorted(p.name for p in plan.logs_dir.iterdir()) == [script.name]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("crash", "PixInsight exited with code 3"),
        ("silent", "PixInsight exited without reporting on this job (see the run log)"),
        ("lost-output", "PixInsight reported ok but {output} was not written"),
        ("corrupt-output", "PixInsight reported ok but {output} cannot be read: "),
    ],
)
def test_each_failure_gives_a_clear_result_per_job(
    tmp_path: Path, fake_pixinsight: Path, monkeypatch: pytest.MonkeyPatch, mode: str, message: str
) -> None:
    monkeypatch.setenv("APCAL_FAKE_PI_MODE", mode)
    plan = build_plan(tmp_path)
    results = execute(plan, PixInsightSettings(binary=fake_pixinsight, timeout=60))
    assert [(r.job_id, r.status) for r in results] == [(j.id, "failed") for j in plan.jobs]
    for result, job in zip(results, plan.jobs, strict=True):
        expected = message.format(output=job.output)
        exact = not expected.endswith(" ")  # the reader's own words follow "cannot be read: "
        assert result.message == expected if exact else result.message.startswith(expected)
    run_log = (plan.logs_dir / f"{STAMP}.log").read_text(encoding="utf-8")
    assert f"fake PixInsight: mode {mode}" in run_log, "the log is kept"
    if mode == "crash":
        assert "segmentation fault (simulated)" in run_log  # stderr too
        assert "exit code 3" in run_log and "it wrote no console log" in run_log


def test_a_failed_group_reports_the_scripts_message(
    tmp_path: Path, fake_pixinsight: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PJSR_STANDIN_FAIL_MATCH", "gain100_300s")
    plan = build_plan(tmp_path)
    results = execute(plan, PixInsightSettings(binary=fake_pixinsight, timeout=60))
    dark = plan.jobs[1]
    assert [(r.status, r.message) for r in results] == [
        ("built", ""),
        ("failed", "ImageIntegration failed"),
        ("failed", f"master dark not found: {dark.output} (job {dark.id} did not build it)"),
        ("built", ""),
    ]


def process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(os.name == "nt" or not Path("/proc").is_dir(), reason="reads /proc for process state")
def test_a_hang_is_killed_with_its_children(
    tmp_path: Path, fake_pixinsight: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APCAL_FAKE_PI_MODE", "hang")
    plan = build_plan(tmp_path)
    started = time.monotonic()
    results = execute(plan, PixInsightSettings(binary=fake_pixinsight, timeout=1.5))
    assert time.monotonic() - started < 30
    assert [(r.status, r.message) for r in results] == [("failed", "PixInsight timed out after 1.5 s")] * 4
    child = int((tmp_path / "fake-pi" / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while process_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(child), "the whole process group was killed"
    assert "timed out" in (plan.logs_dir / f"{STAMP}.log").read_text(encoding="utf-8")


def test_run_pixinsight_reaps_and_reports(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("apcal: before\n", encoding="utf-8")
    outcome = run_pixinsight(["/bin/sh", "-c", "echo out; echo err >&2; exit 5"], timeout=10, log_path=log)
    assert (outcome.returncode, outcome.timed_out) == (5, False)
    assert log.read_text(encoding="utf-8").splitlines() == ["apcal: before", "out", "err"]


def test_missing_binary_fails_before_anything_is_written(tmp_path: Path) -> None:
    plan = build_plan(tmp_path)
    not_executable = tmp_path / "PixInsight.txt"
    not_executable.write_text("", encoding="utf-8")
    nowhere = tmp_path / "nowhere" / "PixInsight"
    for binary, expected in [
        (None, "PixInsight not found: set engine.pixinsight.binary"),
        (nowhere, f"PixInsight not found at {nowhere}: set engine.pixinsight.binary"),
        (not_executable, f"PixInsight not found at {not_executable}"),
    ]:
        engine = ENGINE(PixInsightSettings(binary=binary))
        with pytest.raises(EngineError, match=re.escape(expected)):
            engine.check(plan)
        with pytest.raises(EngineError):
            list(engine.execute(plan, plan.jobs, context_for(plan)))
    assert not plan.output_dir.exists()


def test_a_comma_in_the_script_folder_is_refused(tmp_path: Path, fake_pixinsight: Path) -> None:
    plan = build_plan(tmp_path)
    plan = Plan(
        output_dir=plan.output_dir, output_format="xisf", jobs=plan.jobs, script_dir=tmp_path / "logs, old"
    )
    with pytest.raises(EngineError, match="comma"):
        PixInsightEngine(PixInsightSettings(binary=fake_pixinsight)).check(plan)


def test_parse_status_lines() -> None:
    text = "\n".join(
        [
            "noise",
            'APCAL-STATUS {"job": "a", "status": "failed", "message": "first"}',
            "APCAL-STATUS {not json",
            'prefix text APCAL-STATUS {"job": "b", "status": "ok"}',
            'APCAL-STATUS {"job": "a", "status": "ok", "output": "\\u00e9"}',
            'APCAL-STATUS ["no", "job"]',
        ]
    )
    assert parse_status_lines(text) == {
        "a": {"job": "a", "status": "ok", "output": "é"},
        "b": {"job": "b", "status": "ok"},
    }


@pytest.mark.parametrize(
    ("scaling", "warned"), [("optimize", True), ("exposure", True), ("pixinsight", False), ("none", False)]
)
def test_a_dark_scaling_pixinsight_cannot_do_is_a_warning(
    tmp_path: Path, fake_pixinsight: Path, scaling: str, warned: bool
) -> None:
    from loguru import logger

    from apcal.params import CalibrationParams

    plan = build_plan(tmp_path, calibration=CalibrationParams(dark_scaling=scaling))
    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{level} {message}")
    try:
        execute(plan, PixInsightSettings(binary=fake_pixinsight, script_only=True))
    finally:
        logger.remove(sink)
    flat = plan.jobs[2]
    expected = f"WARNING {flat.id}: dark_scaling: {scaling} is apcal's own and PixInsight's ImageCalibration"
    assert any(line.startswith(expected) for line in lines) == warned, lines
    assert len([line for line in lines if "dark_scaling" in line]) == (1 if warned else 0)
