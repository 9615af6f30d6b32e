"""Tile arithmetic: blocks cover every row once, blocks fit the memory limit, row samples are even."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apcal.engines.native.tiling import (
    BASELINE_BYTES,
    SAMPLE_BANDS,
    SCRATCH_BYTES_PER_PIXEL,
    blocks,
    output_bytes,
    row_bytes,
    rows_per_block,
    sample_rows,
)


@given(rows=st.integers(0, 20_000), per_block=st.integers(1, 25_000))
def test_blocks_cover_every_row_exactly_once_in_order(rows: int, per_block: int) -> None:
    ranges = blocks(rows, per_block)
    covered = [r for start, stop in ranges for r in range(start, stop)]
    assert covered == list(range(rows))
    sizes = [stop - start for start, stop in ranges]
    assert all(1 <= s <= per_block for s in sizes)
    if sizes:
        assert max(sizes) - min(sizes) <= 1  # balanced: no sliver at the end
        assert len(ranges) == -(-rows // per_block)  # as few blocks as the limit allows


@given(
    n=st.integers(1, 500),
    cols=st.integers(1, 20_000),
    channels=st.integers(1, 4),
    limit=st.integers(0, 64 << 30),
    overhead=st.integers(0, 4 << 30),
    bps=st.sampled_from([2, 4, 8]),
    stored=st.sampled_from([0, 1, 2, 4, 8]),
)
def test_rows_per_block_fits_the_limit_and_is_at_least_one(n, cols, channels, limit, overhead, bps, stored):
    rows = rows_per_block(
        n, cols, channels, limit, bytes_per_sample=bps, stored_bytes_per_sample=stored, overhead=overhead
    )
    assert rows >= 1
    per_row = row_bytes(n, cols, channels, bytes_per_sample=bps, stored_bytes_per_sample=stored)
    if rows > 1:
        assert overhead + rows * per_row <= limit
    # Maximal: one more row would not fit.
    assert overhead + (rows + 1) * per_row > limit


def test_accounting_for_60_frames_of_4000x3000_in_1_gib() -> None:
    """The documented case: 5 blocks, and the accounted peak stays within the limit."""
    limit = 1 << 30
    overhead = BASELINE_BYTES + output_bytes(3000, 4000)
    per = rows_per_block(60, 4000, 1, limit, stored_bytes_per_sample=2, overhead=overhead)
    assert 400 <= per <= 500
    assert len(blocks(3000, per)) == 7
    assert overhead + per * 4000 * (60 * (4 + 2) + SCRATCH_BYTES_PER_PIXEL) <= limit


def test_row_bytes_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        row_bytes(0, 10)
    with pytest.raises(ValueError):
        blocks(10, 0)


@given(rows=st.integers(1, 5000), cols=st.integers(1, 5000), budget=st.integers(1, 1 << 22))
def test_sample_rows_even_bands_within_budget(rows: int, cols: int, budget: int) -> None:
    ranges = sample_rows(rows, cols, budget)
    picked = [r for start, stop in ranges for r in range(start, stop)]
    assert picked == sorted(set(picked)) and picked[0] >= 0 and picked[-1] < rows
    if ranges == [(0, rows)]:
        assert rows * cols <= budget or rows <= 2  # at least one pair
        return
    # Whole pairs starting on even rows, so both rows of a Bayer pattern are sampled equally; few
    # ranges (each is one read per frame).
    assert all(start % 2 == 0 and (stop - start) % 2 == 0 for start, stop in ranges)
    assert len(ranges) <= SAMPLE_BANDS
    assert len(picked) * cols <= max(budget, 2 * cols)
    # Spread over the image, each band centred in its share: neither bunched nor edge-heavy.
    assert abs(sum(picked) / len(picked) - (rows - 1) / 2) <= 3
    assert picked[-1] - picked[0] >= rows - rows / len(ranges) - 4


def test_sample_rows_small_image_is_whole() -> None:
    assert sample_rows(100, 100, 10_000) == [(0, 100)]
    # 2**19 pixels of a 4000 x 3000 frame: 16 bands of 8 rows, each centred in its sixteenth.
    ranges = sample_rows(3000, 4000, 1 << 19)
    assert len(ranges) == 16 and all(stop - start == 8 for start, stop in ranges)
    centres = [(start + stop) / 2 for start, stop in ranges]
    assert all(abs(c - (i + 0.5) * 3000 / 16) <= 4 for i, c in enumerate(centres)), centres


def test_reader_bytes_is_one_slab_per_reader():
    from apcal.engines.native.tiling import reader_bytes
    from apcal.io.base import READ_SLAB_BYTES

    assert reader_bytes(60) == 60 * READ_SLAB_BYTES
    assert reader_bytes(0) == 0
