"""Helpers for the cluster tests: rigs' synthetic nights, a Dask scheduler and workers started as
separate processes (as an observatory starts them by hand), and a pixel comparison of masters."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from apcal.io.image import open_image

RECIPE = """\
apcal: 1
name: {name}
inputs: [{{path: frames}}]
output: {{dir: out}}
headers: {{timezone: Europe/Berlin}}
"""


def make_rigs(folder: Path, names: tuple[str, ...], camera: CameraModel, night: NightPlan) -> list[Path]:
    """One folder per rig with its night's frames and recipe; the recipes' paths. The rigs' frames are
    the same night (generation is the slow part), each read and built on its own."""
    recipes = []
    first = folder / names[0]
    generate_night(first / "frames", camera, night)
    for name in names:
        rig = folder / name
        if rig != first:
            shutil.copytree(first / "frames", rig / "frames")
        (rig / "recipe.yaml").write_text(RECIPE.format(name=name))
        recipes.append(rig / "recipe.yaml")
    return recipes


def copy_rigs(source: Path, target: Path) -> None:
    """The rigs' frames and recipes, without any output, for another run of the same nights."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("out"), dirs_exist_ok=True)


def masters(rig: Path) -> dict[str, np.ndarray]:
    found = {}
    for path in sorted((rig / "out" / "master").glob("master*")):
        with open_image(path) as reader:
            found[path.name] = reader.read()
    return found


def assert_same_masters(a: Path, b: Path) -> int:
    """Every master of rig folder ``a`` is pixel-equal to ``b``'s of the same name; how many there are."""
    left, right = masters(a), masters(b)
    assert sorted(left) == sorted(right) and left
    for name, pixels in left.items():
        assert np.array_equal(pixels, right[name], equal_nan=True), name
    return len(left)


def last_report(rig: Path) -> dict:
    (path,) = sorted((rig / "out" / "logs").glob("*_report.json"))[-1:]
    return json.loads(path.read_text())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scheduler_and_workers(
    names: tuple[str, ...], cwd: Path, hidden: Path | None = None
) -> Iterator[tuple[str, dict[str, subprocess.Popen]]]:
    """A ``dask scheduler`` and one single-threaded ``dask worker`` per name, each its own process (no
    nanny: a killed worker stays dead); the scheduler's address and the workers by name. Every process
    is ended on leaving. ``hidden``: the workers run in their own mount namespace with an empty tmpfs
    over that folder, as a worker on a machine where the shared file system is not mounted."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    python = [sys.executable, "-m"]
    logs = open(cwd / "dask.log", "w")  # noqa: SIM115 - closed in finally
    processes = [
        subprocess.Popen(
            [
                *python,
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                address.rsplit(":")[-1],
                "--no-dashboard",
            ],
            cwd=cwd,
            stdout=logs,
            stderr=logs,
        )
    ]
    workers = {}
    try:
        for name in names:
            command = [
                *python,
                "distributed.cli.dask_worker",
                address,
                "--name",
                name,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--memory-limit",
                "0",
            ]
            if hidden is not None:
                mount = 'mount -t tmpfs none "$0" && exec "$@"'
                command = ["unshare", "-rm", "sh", "-c", mount, str(hidden), *command]
            workers[name] = subprocess.Popen(command, cwd=cwd, stdout=logs, stderr=logs)
            processes.append(workers[name])
        with Client(address, timeout=60) as client:
            client.wait_for_workers(len(names), timeout=120)
        yield address, workers
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        logs.close()


def open_by(pid: int, folder: Path) -> list[str]:
    """Names of files under ``folder`` that process ``pid`` has open (Linux /proc)."""
    names = []
    fds = Path(f"/proc/{pid}/fd")
    try:
        entries = list(fds.iterdir())
    except OSError:
        return names
    for fd in entries:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(folder)):
            names.append(Path(target).name)
    return names


def wait_for(condition: Callable[[], object], timeout: float, step: float = 0.005) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step)
    return False
