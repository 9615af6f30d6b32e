"""integrate_files on real files: block processing, shapes, colour, statistics pass, bounded memory."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace
from pathlib import Path

import numba
import numpy as np
import pytest

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from apcal.demo.truth import NightTruth
from apcal.engines.native.integration import integrate
from apcal.engines.native.normalization import FrameStats
from apcal.engines.native.stack import integrate_files
from apcal.engines.native.tiling import BASELINE_BYTES, output_bytes, reader_bytes, row_bytes
from apcal.errors import FrameError
from apcal.io.image import open_image, write_image
from apcal.params import IntegrationParams
from apcal.vocabulary import Keyword

ROWS, COLS = 120, 160
WINSORIZED = IntegrationParams(rejection="winsorized")
FLAT = IntegrationParams(
    rejection="winsorized", normalization="multiplicative", rejection_normalization="equalize_fluxes"
)


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> NightTruth:
    folder = tmp_path_factory.mktemp("night")
    camera = CameraModel(rows=ROWS, cols=COLS)
    plan = NightPlan(
        n_bias=5, dark_exposures=(300.0,), n_darks=12, filters=("L",), flat_exposures=(2.0,), n_flats=12
    )
    return generate_night(folder, camera, plan)


def limit_for_rows(n: int, rows: int, channels: int = 1) -> int:
    """A memory limit that gives blocks of ``rows`` rows for n 16-bit frames of COLS columns."""
    overhead = BASELINE_BYTES + output_bytes(ROWS, COLS, channels) + reader_bytes(n)
    return overhead + rows * row_bytes(n, COLS, channels)


@pytest.mark.parametrize(("group", "params"), [("dark_300s", WINSORIZED), ("flat_L", FLAT)])
def test_blocks_give_bit_identical_output_to_one_block(night: NightTruth, group: str, params) -> None:
    paths = night.files[group]
    whole = integrate_files(paths, params, memory_limit=64 << 30)
    tiny = integrate_files(paths, params, memory_limit=0)  # one row per block
    # Room for 14 rows: two buffers of 7 while reading ahead, one of 14 when reading in turn.
    some = integrate_files(paths, params, memory_limit=limit_for_rows(len(paths), 14))
    in_turn = integrate_files(paths, params, memory_limit=limit_for_rows(len(paths), 14), read_ahead=False)
    # A generous memory_limit is a ceiling, not a target: block_rows caps the block all the same.
    capped = integrate_files(paths, params, memory_limit=64 << 30, block_rows=50)
    assert (whole.blocks, tiny.blocks, some.blocks, capped.blocks) == (1, ROWS, -(-ROWS // 7), 3)
    assert in_turn.blocks == -(-ROWS // 14)
    for result in (tiny, some, in_turn, capped):
        assert np.array_equal(result.image, whole.image)
        assert np.array_equal(result.rejected_low, whole.rejected_low)
        assert np.array_equal(result.rejected_high, whole.rejected_high)
    assert whole.image.dtype == np.float32 and whole.rejected_low.dtype == np.uint16
    assert whole.image.shape == (ROWS, COLS)


def test_result_equals_the_kernel_on_the_whole_stack(night: NightTruth) -> None:
    """The driver adds nothing of its own: same as integrate() on the stack read whole."""
    paths = night.files["flat_L"]
    result = integrate_files(paths, FLAT, memory_limit=limit_for_rows(len(paths), 10), stats_pixels=None)
    frames = []
    for p in paths:
        with open_image(p) as reader:
            frames.append(reader.read())
    stack = np.stack(frames)
    stats = [FrameStats.of(f) for f in frames]
    assert result.frame_stats == stats
    from apcal.engines.native.normalization import output_coefficients, rejection_coefficients

    expected = integrate(
        stack,
        FLAT,
        output=output_coefficients(stats, FLAT.normalization),
        rejection=rejection_coefficients(stats, FLAT.rejection_normalization),
    )
    assert np.array_equal(result.image, expected.image)
    assert np.array_equal(result.rejected_high, expected.rejected_high)


def test_sampled_statistics_match_full_statistics(night: NightTruth) -> None:
    """Statistics on a sample of rows: medians agree with the full frame's to a fraction of the MAD."""
    paths = night.files["flat_L"]
    sampled = integrate_files(paths, FLAT, memory_limit=64 << 30, stats_pixels=4000)
    # Sampled in the one-block buffer or read from the files: the same rows, the same numbers.
    # Room for 100 rows: two buffers of 50 (read ahead), 3 blocks.
    from_files = integrate_files(paths, FLAT, memory_limit=limit_for_rows(len(paths), 100), stats_pixels=4000)
    assert from_files.blocks == 3 and from_files.frame_stats == sampled.frame_stats
    assert np.array_equal(from_files.image, sampled.image)
    full = integrate_files(paths, FLAT, memory_limit=64 << 30, stats_pixels=None)
    for s, f in zip(sampled.frame_stats, full.frame_stats, strict=True):
        assert abs(s.median - f.median) < 0.1 * f.mad
    # Normalization uses ratios between frames measured on the same pixels: the scale factors agree
    # far better than the medians themselves.
    ratio_s = np.array([s.median for s in sampled.frame_stats]) / sampled.frame_stats[0].median
    ratio_f = np.array([f.median for f in full.frame_stats]) / full.frame_stats[0].median
    assert np.max(np.abs(ratio_s / ratio_f - 1)) < 2e-3


def test_every_file_opened_once_and_read_row_by_row(night: NightTruth, monkeypatch) -> None:
    """Each file is opened once; every block reads only its rows of each frame."""
    from apcal.engines.native import stack as stack_module

    opened: list[Path] = []
    reads: list[tuple[int, int]] = []
    real_open = stack_module.open_image

    def counting_open(path):
        opened.append(Path(path))
        reader = real_open(path)
        real_read = reader.read_rows

        def read_rows(start, stop, out=None):
            reads.append((start, stop))
            return real_read(start, stop, out=out)

        reader.read_rows = read_rows
        return reader

    monkeypatch.setattr(stack_module, "open_image", counting_open)
    paths = night.files["dark_300s"]
    result = integrate_files(
        paths, WINSORIZED, memory_limit=limit_for_rows(len(paths), 60), stats_pixels=None
    )  # room for 60 rows: two buffers of 30 (read ahead)
    assert sorted(opened) == sorted(paths)
    assert result.blocks == 4
    # Statistics pass (whole frame, stats_pixels=None) + one read per block per frame.
    assert len(reads) == len(paths) * (1 + result.blocks)
    assert sum(stop - start for start, stop in reads) == 2 * ROWS * len(paths)

    # When the stack fits in one block, the statistics are measured in the block buffer: one read
    # of each file, whatever the sampling, and the same result.
    opened.clear()
    reads.clear()
    single = integrate_files(paths, WINSORIZED, memory_limit=1 << 30, stats_pixels=None)
    assert single.blocks == 1 and sorted(opened) == sorted(paths)
    assert reads == [(0, ROWS)] * len(paths)
    assert single.frame_stats == result.frame_stats
    assert np.array_equal(single.image, result.image)


def test_memory_does_not_grow_with_the_number_of_blocks(night: NightTruth) -> None:
    """The block buffer is allocated once: traced peak for 40 blocks is about that for 4 blocks."""
    paths = night.files["dark_300s"]
    n = len(paths)
    peaks = {}
    integrate_files(paths, WINSORIZED, memory_limit=0)  # compile the kernel outside the measurement
    for rows in (3, 30):
        tracemalloc.start()
        integrate_files(paths, WINSORIZED, memory_limit=limit_for_rows(n, rows))
        peaks[rows] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        budget = output_bytes(ROWS, COLS) + rows * row_bytes(n, COLS, stored_bytes_per_sample=2)
        # + about 1.2 MB that does not depend on the blocks: 12 parsed headers, the statistics pass.
        assert peaks[rows] < budget + 2_000_000, (rows, peaks[rows], budget)
    # 27 more rows per block cost 27 rows of buffer and scratch, no more (40 blocks vs 4 blocks).
    assert 0 < peaks[30] - peaks[3] <= 27 * row_bytes(n, COLS, stored_bytes_per_sample=2), peaks


def test_frames_of_another_shape_are_named(night: NightTruth, tmp_path: Path) -> None:
    odd = tmp_path / "odd.fits"
    write_image(odd, np.zeros((ROWS, COLS + 2), dtype=np.float32), [Keyword("IMAGETYP", "DARK", "")])
    paths = [*night.files["dark_300s"][:4], odd]
    with pytest.raises(FrameError, match=r"odd\.fits.*162x120.*160x120"):
        integrate_files(paths, WINSORIZED, memory_limit=1 << 30)


def test_truncated_file_is_named(night: NightTruth, tmp_path: Path) -> None:
    bad = tmp_path / "bad.fits"
    data = night.files["dark_300s"][0].read_bytes()
    bad.write_bytes(data[: len(data) - 5000])
    with pytest.raises(FrameError, match=r"bad\.fits"):
        integrate_files([*night.files["dark_300s"][:4], bad], WINSORIZED, memory_limit=1 << 30)


def test_colour_frames_integrate_each_channel_with_its_own_normalization(tmp_path: Path) -> None:
    """An RGB stack equals three mono stacks of its channels, bit for bit, normalization included."""
    rng = np.random.default_rng(5)
    levels = np.array([0.2, 0.5, 0.35])
    colour, mono = [], {c: [] for c in range(3)}
    for i in range(9):
        gain = 1 + 0.05 * i
        frame = (levels[:, None, None] * gain + 0.01 * rng.standard_normal((3, 40, 50))).astype(np.float32)
        frame[1, 5, 7] += 0.3 if i == 4 else 0.0  # an outlier in one channel of one frame
        colour.append(tmp_path / f"rgb_{i}.xisf")
        write_image(colour[-1], frame, [])
        for c in range(3):
            mono[c].append(tmp_path / f"c{c}_{i}.xisf")
            write_image(mono[c][-1], frame[c], [])
    result = integrate_files(colour, FLAT, memory_limit=0)
    assert result.image.shape == (3, 40, 50) and result.blocks == 40
    for c in range(3):
        single = integrate_files(mono[c], FLAT, memory_limit=1 << 30)
        assert np.array_equal(result.image[c], single.image)
        assert np.array_equal(result.rejected_high[c], single.rejected_high)
        assert [s.median for s in result.channel_stats[c]] == [s.median for s in single.frame_stats]
    assert result.rejected_high[1, 5, 7] == 1


def test_progress_and_threads(night: NightTruth) -> None:
    paths = night.files["dark_300s"]
    calls: list[tuple[int, int]] = []
    before = numba.get_num_threads()
    try:
        one = integrate_files(
            paths,
            WINSORIZED,
            memory_limit=limit_for_rows(len(paths), 40),
            threads=1,
            progress=lambda d, t: calls.append((d, t)),
        )
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(before)
    total = len(paths) + one.blocks
    assert calls == [(i, total) for i in range(1, total + 1)]
    assert np.array_equal(one.image, integrate_files(paths, WINSORIZED, memory_limit=1 << 30).image)


def test_auto_rejection_must_be_resolved(night: NightTruth) -> None:
    with pytest.raises(ValueError, match="auto"):
        integrate_files(night.files["dark_300s"], replace(WINSORIZED, rejection="auto"), memory_limit=1 << 30)
