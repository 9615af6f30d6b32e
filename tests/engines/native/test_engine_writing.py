"""The master's statistics are measured while it is written (engine._measured_while_written)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from apcal.engines.native.engine import _measured_while_written
from apcal.errors import FrameError
from apcal.io.image import open_image, write_image
from apcal.stats.master import master_statistics
from apcal.vocabulary import FrameType, Keyword

IMAGE = (0.01 + 1e-3 * np.random.default_rng(5).standard_normal((300, 400))).astype(np.float32)
CARDS = (Keyword("IMAGETYP", "Master Bias", "type"),)


def test_the_statistics_and_the_written_master_are_those_of_the_image(tmp_path: Path) -> None:
    path = tmp_path / "masterBias.xisf"
    threads: list[str] = []

    def measure() -> dict[str, float]:
        threads.append(threading.current_thread().name)
        return master_statistics(IMAGE, FrameType.BIAS)

    def write() -> None:
        threads.append(threading.current_thread().name)
        write_image(path, IMAGE, CARDS)

    stats = _measured_while_written(measure, write, [path])
    assert stats == master_statistics(IMAGE, FrameType.BIAS)
    # The statistics in a thread of their own; the write in the caller's (a signal unwinds it there).
    assert sorted(threads) == sorted([threading.current_thread().name, "apcal-stats_0"])
    with open_image(path) as reader:
        assert np.array_equal(reader.read_rows(0, 300), IMAGE)


def test_a_failed_measurement_leaves_no_master(tmp_path: Path) -> None:
    path = tmp_path / "masterBias.xisf"
    other = tmp_path / "masterBias_rejection_low.xisf"

    def measure() -> dict[str, float]:
        raise ValueError("no statistics")

    def write() -> None:
        write_image(path, IMAGE, CARDS)
        write_image(other, IMAGE, CARDS)

    with pytest.raises(ValueError, match="no statistics"):
        _measured_while_written(measure, write, [path, other])
    assert sorted(tmp_path.iterdir()) == []


def test_a_failed_write_is_the_error_raised(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the master's folder should be")
    path = blocked / "masterBias.xisf"
    with pytest.raises(FrameError, match="cannot write"):
        _measured_while_written(
            lambda: master_statistics(IMAGE, FrameType.BIAS),
            lambda: write_image(path, IMAGE, CARDS),
            [path],
        )
    assert sorted(tmp_path.iterdir()) == [blocked]
