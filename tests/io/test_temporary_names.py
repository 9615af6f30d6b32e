"""Every temporary name apcal makes is one the next run recognises as its own, and no master name is."""

from __future__ import annotations

from pathlib import Path

import pytest

from apcal.engines.pixinsight.engine import script_path
from apcal.engines.pixinsight.render import partial_path
from apcal.io.atomic import atomic_path
from apcal.io.temporary_names import (
    atomic_temporary,
    is_temporary,
    is_temporary_folder,
    partial_master,
    pixinsight_capture,
    script_temporary,
    siril_work_folder,
)
from apcal.run.stale import remove, stale_temporaries
from tests.engines.pixinsight.pixinsight_helpers import build_plan

MASTER = Path("out/master/masterDark_GAIN_100_EXPOSURE_300.xisf")


@pytest.mark.parametrize(
    "made",
    [
        atomic_temporary(MASTER),
        atomic_temporary(Path("out/logs/20261206_223000_report.json")),
        partial_master(MASTER, ".fits"),
        pixinsight_capture(Path("out/logs"), "20261206_223000", "console"),
        pixinsight_capture(Path("out/logs"), "20261206_223000", "status"),
        script_temporary(Path("out/logs/20261206_223000_calibrate_masters.js")),
    ],
)
def test_every_made_name_is_recognised(made: Path) -> None:
    assert is_temporary(made.name), made


@pytest.mark.parametrize(
    "name",
    [MASTER.name, "masterFlat_FILTER_L.fits", "20261206_223000_calibrate_masters.js", "20261206_223000.log"],
)
def test_a_master_script_or_log_is_never_temporary(name: str) -> None:
    assert not is_temporary(name)


def test_the_writers_use_these_names(tmp_path: Path) -> None:
    """The PixInsight engine's partial master and script, and an interrupted atomic write, are found by the
    clean-up of the next run."""
    plan = build_plan(tmp_path)
    job = plan.jobs[0]
    partial = partial_path(job.output, plan.output_format)
    assert partial == partial_master(job.output, ".xisf")
    script = script_temporary(script_path(plan, "20261206_223000"))
    master = plan.master_dir / "masterBias_x.xisf"
    (plan.master_dir / "masterDark_y.xisf").parent.mkdir(parents=True, exist_ok=True)
    (plan.master_dir / "masterDark_y.xisf").write_bytes(b"a master")
    for path in (partial, script):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"left by a killed run")
    with pytest.raises(RuntimeError), atomic_path(master) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError
    assert not master.exists()
    (plan.master_dir / atomic_temporary(master).name).write_bytes(b"as if killed before the rename")
    found = {p.name for p in stale_temporaries(plan.master_dir, plan.logs_dir)}
    assert partial.name in found and script.name in found and "masterDark_y.xisf" not in found
    assert any(name.startswith(f".{master.name}.") for name in found)


def test_a_killed_siril_runs_work_folder_is_removed_whole_and_its_frames_kept(tmp_path: Path) -> None:
    """The Siril engine's work folder holds links to the night's frames: the next run removes the folder
    (the links, not the frames); a folder of that name reached through a link is left alone."""
    frames, logs, master = tmp_path / "night", tmp_path / "out" / "logs", tmp_path / "out" / "master"
    frames.mkdir()
    master.mkdir(parents=True)
    frame = frames / "bias_001.fits"
    frame.write_bytes(b"a frame")
    work = siril_work_folder(logs, "20261206_223000")
    (work / "01").mkdir(parents=True)
    (work / "01" / "bias_00001.fits").symlink_to(frame)
    (work / "01" / "bias_stacked.fits").write_bytes(b"half of Siril's output")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "keep").mkdir(parents=True)
    (logs / "20261206_230000_siril_work").symlink_to(elsewhere, target_is_directory=True)
    (logs / "20261206_223000_siril.ssf").write_text("# the run's script: not temporary")

    stale = stale_temporaries(master, logs)
    assert stale == [work]
    assert remove(stale) == [work]
    assert not work.exists() and frame.read_bytes() == b"a frame"
    assert (elsewhere / "keep").is_dir() and (logs / "20261206_223000_siril.ssf").is_file()
    assert is_temporary_folder(work.name) and not is_temporary_folder("20261206_223000_siril.ssf")
