"""What a Dask worker runs for apcal, called here directly: the core share and the folder check."""

from __future__ import annotations

from pathlib import Path

from apcal.run.cluster_task import numba_threads, unseen_folders


def test_workers_on_one_host_share_its_cores_instead_of_each_taking_all() -> None:
    assert numba_threads(cores=2, workers_here=2, worker_threads=1) == 1  # local:2 on this machine
    assert numba_threads(cores=16, workers_here=2, worker_threads=2) == 4
    assert numba_threads(cores=64, workers_here=1, worker_threads=1) == 64  # one worker per node
    assert numba_threads(cores=2, workers_here=8, worker_threads=1) == 1  # never zero


def test_a_worker_names_each_folder_it_does_not_see(tmp_path: Path) -> None:
    frames, out = tmp_path / "frames", tmp_path / "out"
    frames.mkdir()
    out.mkdir()
    assert unseen_folders([str(frames)], [str(out)]) == []
    missing = tmp_path / "not-mounted"
    assert unseen_folders([str(missing)], [str(missing / "out")]) == [
        f"does not see the input folder {missing}",
        f"does not see the output folder {missing / 'out'}",
    ]
