"""``apcal run A B --cluster``: several rigs' recipes as one Dask graph, against runs in one process.

Every run here is the real command in a subprocess; the clusters are real: a LocalCluster of two worker
processes started by apcal, and a ``dask scheduler`` with ``dask worker`` processes started as an
observatory starts them, one of them SIGKILLed mid-run.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from apcal.demo.camera import CameraModel, NightPlan
from apcal.io.temporary_names import is_temporary
from tests.cli.helpers import apcal
from tests.run.cluster_nights import (
    assert_same_masters,
    copy_rigs,
    last_report,
    make_rigs,
    open_by,
    scheduler_and_workers,
    wait_for,
)

pytest.importorskip(
    "distributed", reason="apcal[cluster] is not installed (pip install -e '.[test,cluster]')"
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "report.schema.json").read_text())
RIGS = ("rigA", "rigB")
SMALL = (
    CameraModel(rows=48, cols=64),
    NightPlan(
        n_bias=5, dark_exposures=(10.0,), n_darks=5, filters=("L", "R"), flat_exposures=(1.0, 2.0), n_flats=5
    ),
)


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two rigs' nights built by one ``apcal run A B`` in this machine's one process: the reference."""
    folder = tmp_path_factory.mktemp("serial")
    recipes = make_rigs(folder, RIGS, *SMALL)
    done = apcal("run", *recipes, cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


def _run_again(serial: Path, target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    copy_rigs(serial, target)
    return apcal("run", *(f"{rig}/recipe.yaml" for rig in RIGS), *args, cwd=target)


def _workers(folder: Path) -> set[str]:
    named = set()
    for rig in RIGS:
        report = last_report(folder / rig)
        jsonschema.Draft202012Validator(SCHEMA).validate(report)
        built = [g for g in report["groups"] if g["status"] == "built"]
        assert built and all("worker" in g for g in built)
        named |= {g["worker"] for g in built}
    return named


def test_two_rigs_serially_each_with_its_own_lock_log_and_report(serial: Path) -> None:
    for rig in RIGS:
        report = last_report(serial / rig)
        assert report["recipe"]["name"] == rig and report["exit_code"] == 0
        assert report["summary"] == {"built": 4}
        assert not any("worker" in g for g in report["groups"])  # built in this process
        assert (serial / rig / "out" / ".apcal.lock").is_file()
        assert Path(report["log"]).is_file()


def test_a_local_cluster_of_two_processes_builds_the_same_masters(serial: Path, tmp_path: Path) -> None:
    done = _run_again(serial, tmp_path, "--cluster", "local:2")
    assert done.returncode == 0, done.stderr
    assert "running on the Dask cluster local:2 (2 workers)" in done.stderr
    for rig in RIGS:
        assert assert_same_masters(serial / rig, tmp_path / rig) == 4
    assert _workers(tmp_path) == {"0", "1"}
    again = apcal(
        "run", *(f"{rig}/recipe.yaml" for rig in RIGS), cwd=tmp_path, env={"APCAL_CLUSTER": "local:2"}
    )
    assert again.returncode == 0, again.stderr
    assert all(last_report(tmp_path / rig)["summary"] == {"up_to_date": 4} for rig in RIGS)


def test_a_scheduler_and_two_workers_started_by_hand(serial: Path, tmp_path: Path) -> None:
    with scheduler_and_workers(("w1", "w2"), tmp_path) as (address, _):
        done = _run_again(serial, tmp_path / "run", "--cluster", address)
    assert done.returncode == 0, done.stderr
    for rig in RIGS:
        assert assert_same_masters(serial / rig, tmp_path / "run" / rig) == 4
    assert _workers(tmp_path / "run") == {"w1", "w2"}


def test_the_exit_code_is_the_worst_of_the_recipes(serial: Path, tmp_path: Path) -> None:
    copy_rigs(serial, tmp_path)
    (tmp_path / "empty" / "frames").mkdir(parents=True)
    (tmp_path / "empty" / "recipe.yaml").write_text((tmp_path / "rigA" / "recipe.yaml").read_text())
    done = apcal("run", "rigA/recipe.yaml", "empty/recipe.yaml", "--cluster", "local:2", cwd=tmp_path)
    assert done.returncode == 2, done.stderr  # the empty rig: nothing to build; rigA still runs
    assert "nothing to build" in done.stderr
    assert assert_same_masters(serial / "rigA", tmp_path / "rigA") == 4


def test_a_worker_that_does_not_see_the_frames_is_named_before_anything_runs(
    serial: Path, tmp_path: Path
) -> None:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], check=False).returncode:
        pytest.skip(
            "no unshare -rm here (user and mount namespaces) to give a worker its own file system view"
        )
    copy_rigs(serial, tmp_path / "run")
    with scheduler_and_workers(("blind",), tmp_path, hidden=tmp_path / "run") as (address, _):
        done = apcal("run", "rigA/recipe.yaml", "--cluster", address, cwd=tmp_path / "run")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert line.startswith("apcal: Dask worker blind (tcp://") and f"{tmp_path / 'run' / 'rigA'}" in line
    assert not (tmp_path / "run" / "rigA" / "out" / "master").exists()


def test_cluster_without_dask_says_how_to_install(serial: Path, tmp_path: Path) -> None:
    copy_rigs(serial, tmp_path)
    blocked = (
        "import sys; sys.modules['distributed'] = None; sys.argv = ['apcal', *sys.argv[1:]]; "
        "from apcal.cli.main import console_main; sys.exit(console_main())"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocked, "run", "rigA/recipe.yaml", "--cluster", "local:2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "apcal: --cluster needs Dask (distributed is not installed): pip install 'apcal[cluster]'"
    )
    bad = apcal("run", "rigA/recipe.yaml", "--cluster", "127.0.0.1:8786", cwd=tmp_path)
    assert bad.returncode == 2 and "expected tcp://HOST:PORT" in bad.stderr
    none = apcal("run", "rigA/recipe.yaml", "--cluster", "local:0", cwd=tmp_path)
    assert none.returncode == 2 and "local:N needs a number of workers N ≥ 1" in none.stderr
    assert not (tmp_path / "rigA" / "out").exists()  # refused before the output folder is touched


BIG = (
    CameraModel(rows=768, cols=1024),
    NightPlan(
        n_bias=8, dark_exposures=(10.0,), n_darks=8, filters=("L", "R"), flat_exposures=(1.0, 2.0), n_flats=8
    ),
)


@pytest.fixture(scope="module")
def big_serial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two rigs' larger nights (a run of several seconds), built in one process: the reference."""
    folder = tmp_path_factory.mktemp("big")
    recipes = make_rigs(folder, RIGS, *BIG)
    assert apcal("run", *recipes, cwd=folder).returncode == 0
    return folder


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing(big_serial: Path, tmp_path: Path) -> None:
    """SIGKILL the worker that has a master's temporary file open (else the first still working once a
    master exists): Dask reruns its task on the other worker; same masters, no temporary file left."""
    reference, run = big_serial, tmp_path / "run"
    copy_rigs(reference, run)
    with scheduler_and_workers(("w1", "w2"), tmp_path) as (address, workers):
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "apcal",
                "run",
                *(f"{rig}/recipe.yaml" for rig in RIGS),
                "--cluster",
                address,
            ],
            cwd=run,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

        def writing() -> str | None:
            for name, worker in workers.items():
                if any(is_temporary(f) for f in open_by(worker.pid, run)):
                    return name
            return None

        caught = wait_for(lambda: writing() is not None, timeout=120, step=0.002)
        victim = writing() or "w2"
        if not caught:
            wait_for(lambda: any(run.glob("*/out/master/master*")), timeout=120)
        workers[victim].send_signal(signal.SIGKILL)
        workers[victim].wait()
        half_written = [p for p in run.rglob("*") if is_temporary(p.name)]
        _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    for rig in RIGS:
        assert assert_same_masters(reference / rig, run / rig) == 4
    left = [p for p in run.rglob("*") if is_temporary(p.name)]
    assert left == []
    logs = "".join(p.read_text() for p in run.glob("*/out/logs/*.log"))
    for path in half_written:  # the dead worker's, removed by the run once its jobs were done
        assert f"removed {path}, a temporary file left by a worker that died while writing it" in logs
    survivor = ({"w1", "w2"} - {victim}).pop()
    assert survivor in _workers(run)
    when = "while it wrote a master" if caught else "after the first master"
    print(f"killed {victim} {when}; {len(half_written)} half-written file(s) left, then removed by the run")


@pytest.mark.slow
def test_ctrl_c_cancels_the_graph_and_releases_the_locks(big_serial: Path, tmp_path: Path) -> None:
    from distributed import Client

    run = tmp_path / "run"
    copy_rigs(big_serial, run)
    recipes = [f"{rig}/recipe.yaml" for rig in RIGS]
    with scheduler_and_workers(("w1", "w2"), tmp_path) as (address, _):
        process = subprocess.Popen(
            [sys.executable, "-m", "apcal", "run", *recipes, "--cluster", address],
            cwd=run,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert wait_for(lambda: any(run.glob("*/out/master/master*")), timeout=120)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 130, err
        assert "cancelling" in err and "interrupted" in err
        with Client(address, timeout=30) as client:
            assert wait_for(lambda: client.run_on_scheduler(_task_count) == 0, timeout=60, step=0.2)
        again = apcal("run", *recipes, "--cluster", address, cwd=run)  # the locks are free
    assert again.returncode == 0, again.stderr
    for rig in RIGS:
        assert assert_same_masters(big_serial / rig, run / rig) == 4
    assert [p for p in run.rglob("*") if is_temporary(p.name)] == []


def _task_count(dask_scheduler: object) -> int:
    return len(dask_scheduler.tasks)  # type: ignore[attr-defined]
