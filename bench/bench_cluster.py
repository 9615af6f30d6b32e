"""N rigs' nights: serially in one process, on ``--cluster local:2``, and on a scheduler with two workers.

Not a test: prints figures. Generates one synthetic night (``apcal.demo.synthetic``) and copies it for
N rigs, each with its own recipe and output folder. Each round builds every rig's masters three ways,
from an empty output folder each time, with the real command in a child process:

* ``serial``: ``apcal run rig1/recipe.yaml ... rigN/recipe.yaml`` (the jobs one after another in one
  process);
* ``local:2``: the same with ``--cluster local:2`` (apcal starts and stops two worker processes: their
  start-up is in the figure);
* ``scheduler``: the same with ``--cluster tcp://127.0.0.1:PORT`` against a ``dask scheduler`` and two
  ``dask worker`` processes started once, before the rounds, as an observatory keeps them running.

It checks every run's masters pixel-equal to the serial run's, then prints the wall times, the sum of
the jobs' own seconds (from the reports) and the per-task overhead: the round trip of an empty Dask task
on the scheduler (median of 50), and the size of one job's pickled task (its plan: paths and
parameters, no pixels).

    python bench/bench_cluster.py [FOLDER] [--rigs 4 --frames 10 --rows 1000 --cols 1500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apcal.demo.camera import CameraModel, NightPlan  # noqa: E402
from apcal.demo.synthetic import generate_night  # noqa: E402
from apcal.io.image import open_image  # noqa: E402
from tests.run.cluster_nights import RECIPE, scheduler_and_workers  # noqa: E402


def make_night(folder: Path, rigs: int, frames: int, rows: int, cols: int) -> list[str]:
    """``folder/rig1`` ... ``rigN``, each with the night's frames and a recipe; the recipes, relative."""
    night = NightPlan(
        n_bias=frames,
        dark_exposures=(60.0,),
        n_darks=frames,
        filters=("L", "R"),
        flat_exposures=(1.0, 2.0),
        n_flats=frames,
    )
    first = folder / "rig1"
    if not (first / "frames").is_dir():
        generate_night(first / "frames", CameraModel(rows=rows, cols=cols), night)
    names = [f"rig{i + 1}" for i in range(rigs)]
    for name in names:
        if not (folder / name / "frames").is_dir():
            shutil.copytree(first / "frames", folder / name / "frames")
        (folder / name / "recipe.yaml").write_text(RECIPE.format(name=name))
    return [f"{name}/recipe.yaml" for name in names]


def run(folder: Path, recipes: list[str], *cluster: str) -> tuple[float, float]:
    """Build every rig from empty output folders; the command's wall time and its jobs' summed seconds."""
    for recipe in recipes:
        shutil.rmtree(folder / Path(recipe).parent / "out", ignore_errors=True)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "apcal", "run", *recipes, *cluster, "-q"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"apcal run {' '.join(cluster)} exited {done.returncode}: {done.stderr}")
    jobs = 0.0
    for recipe in recipes:
        (report,) = (folder / Path(recipe).parent / "out" / "logs").glob("*_report.json")
        jobs += sum(g["seconds"] for g in json.loads(report.read_text())["groups"])
    return wall, jobs


def masters(folder: Path, recipes: list[str]) -> dict[str, np.ndarray]:
    found = {}
    for recipe in recipes:
        for path in sorted((folder / Path(recipe).parent / "out" / "master").glob("master*")):
            with open_image(path) as reader:
                found[f"{recipe}:{path.name}"] = reader.read()
    return found


def same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def task_overhead(address: str) -> float:
    """Median seconds of one empty task's round trip (submit, run on a worker, result back)."""
    from distributed import Client

    with Client(address) as client:
        times = []
        for i in range(50):
            start = time.perf_counter()
            client.submit(int, i, pure=False).result()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def task_bytes(folder: Path, recipe: str) -> int:
    """Pickled size of the largest job's task arguments (its plan part and engine settings)."""
    from apcal.plan.prepare import prepare_plan
    from apcal.recipe.loader import load_recipe
    from apcal.run.cluster_task import job_plan

    loaded = load_recipe(folder / recipe)
    plan = prepare_plan(loaded)
    return max(len(pickle.dumps((loaded.engine, job_plan(plan, job)))) for job in plan.jobs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", nargs="?", type=Path)
    parser.add_argument("--rigs", type=int, default=4)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--cols", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="apcal-cluster-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    recipes = make_night(folder, args.rigs, args.frames, args.rows, args.cols)
    tasks = 4 * args.rigs
    print(f"{args.rigs} rigs x 4 jobs ({args.frames} frames of {args.cols}x{args.rows} each) in {folder}")
    walls: dict[str, list[float]] = {"serial": [], "local:2": [], "scheduler": []}
    jobs: dict[str, list[float]] = {k: [] for k in walls}
    with scheduler_and_workers(("w1", "w2"), folder) as (address, _):
        run(folder, recipes, "--cluster", address)  # warm: the workers load the numba cache once
        for round_ in range(args.repeat):
            reference = None
            for mode, extra in (
                ("serial", ()),
                ("local:2", ("--cluster", "local:2")),
                ("scheduler", ("--cluster", address)),
            ):
                wall, summed = run(folder, recipes, *extra)
                walls[mode].append(wall)
                jobs[mode].append(summed)
                built = masters(folder, recipes)
                reference = reference or built
                if not same(reference, built):
                    raise SystemExit(f"round {round_ + 1}: {mode}'s masters differ from the serial run's")
            print(f"round {round_ + 1}: " + ", ".join(f"{m} {walls[m][-1]:.2f} s" for m in walls))
        overhead = task_overhead(address)
    print(f"\nmode        wall s (median, range)      jobs' own s   ({tasks} tasks, masters pixel-equal)")
    for mode, values in walls.items():
        print(
            f"{mode:<10} {statistics.median(values):7.2f}  ({min(values):.2f}-{max(values):.2f})"
            f"      {statistics.median(jobs[mode]):7.2f}"
        )
    serial = statistics.median(walls["serial"])
    for mode in ("local:2", "scheduler"):
        print(f"serial / {mode} = {serial / statistics.median(walls[mode]):.2f}x")
    print(
        f"per-task overhead: empty task round trip {overhead * 1000:.1f} ms (median of 50); "
        f"largest task {task_bytes(folder, recipes[0]) / 1024:.1f} KiB pickled (plan only, no pixels)"
    )


if __name__ == "__main__":
    main()
