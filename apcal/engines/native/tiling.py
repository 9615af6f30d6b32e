"""Tile arithmetic for the stacking driver: how many rows of an n-frame stack fit in memory, and the blocks.

Pure functions, no I/O. The driver (:mod:`apcal.engines.native.stack`) integrates a stack of ``n`` frames
of ``channels x rows x cols`` pixels in blocks of whole rows; a block holds those rows of every frame at
once, so each pixel sees all its samples and blocks are independent (the result does not depend on the
block size).

**Memory accounting.** ``memory_limit`` is the budget for the whole process while a stack is integrated.
The driver reserves ``overhead`` for what does not scale with the block (the interpreter with numpy,
numba's compiled kernels and astropy, measured at ~200 MB RSS, and the full-size outputs: a float32
image and two uint16 rejection maps, 8 bytes per output pixel — see :func:`output_bytes`). What is left
is divided by the cost of one block row, which is per pixel of the row (``channels x cols``):

* ``n_frames x bytes_per_sample`` — the block buffer (float32 samples of every frame), allocated once
  and reused for every block;
* ``n_frames x stored_bytes_per_sample`` — what each open reader keeps of the stored samples of the
  last rows it read. Planar readers now convert through a reused slab of at most
  :data:`apcal.io.base.READ_SLAB_BYTES` (1 MiB; :func:`reader_bytes`), so a driver may pass
  ``stored_bytes_per_sample=0`` and add ``reader_bytes(n)`` to ``overhead``; passing the file's sample
  size (2 bytes for 16-bit files, 4 for float32) over-reserves but stays safe;
* :data:`SCRATCH_BYTES_PER_PIXEL` = 20 — the kernel's per-block outputs (a float64 image, 8; two uint16
  count maps, 4; the float32 copy of the image it returns, 4) and one frame's rows converted to float32
  (4), copied into the buffer and dropped before the next frame is read.

For 60 16-bit frames of 4000x3000 with ``memory_limit`` = 1 GiB: overhead = 256 MiB + 96 MB of
outputs, one row costs 4000 x (60 x (4 + 2) + 20) = 1.52 MB, so blocks of at most 463 rows (7 blocks)
and an accounted peak of 1 GiB; the interpreter estimate is generous (~180 MB measured), which keeps
the measured RSS under 1.2 x memory_limit (``bench/bench_native.py --large``).

When even one row does not fit, the answer is still one row: a stack is always integrated, the limit is
then exceeded by at most one row's cost.

**A ceiling, not a target.** ``memory_limit`` bounds the block; the driver does not fill it. Blocks
larger than :data:`BLOCK_ROWS` rows gain nothing (a 20 x 2000x1500 winsorized stack took 0.44 s in
one block of 1500 rows, 0.41-0.46 s in blocks of 750, 375, 250, 192, 160 or 128 rows; 0.58 s in
blocks of 100, where the kernel's 16-row tasks, 7 per block, no longer balance two threads), while
every byte of block is resident memory. So blocks hold at most :data:`BLOCK_ROWS` rows: on the
benchmark's night ~20 MB of samples instead of the whole 240 MB stack.
"""

from __future__ import annotations

#: What the process needs besides the stack: Python, numpy, numba's kernels, astropy (~200 MB RSS
#: measured on Linux after the first integration), rounded up.
BASELINE_BYTES = 256 << 20

#: Per block pixel, besides the samples: kernel outputs (8 + 2 + 2 + 4). Readers convert straight into
#: the block buffer, so no frame's rows are held in flight (their small slabs are ``reader_bytes``).
SCRATCH_BYTES_PER_PIXEL = 16

#: Rows per block when memory allows more (see "A ceiling, not a target" in the module docstring).
BLOCK_ROWS = 128

#: Bands of rows the statistics pass samples at most (:func:`sample_rows`).
SAMPLE_BANDS = 16

#: Per output pixel of the whole image: the float32 master and two uint16 rejection-count maps.
OUTPUT_BYTES_PER_PIXEL = 8


def reader_bytes(n_frames: int) -> int:
    """Bytes the ``n_frames`` open readers of a stack keep between reads: one slab of stored samples
    each (:data:`apcal.io.base.READ_SLAB_BYTES`), whatever the block size."""
    from apcal.io.base import READ_SLAB_BYTES

    return max(0, n_frames) * READ_SLAB_BYTES


def output_bytes(rows: int, cols: int, channels: int = 1) -> int:
    """Bytes of the full-size outputs the driver keeps: the float32 image and two uint16 count maps."""
    return rows * cols * channels * OUTPUT_BYTES_PER_PIXEL


def row_bytes(
    n_frames: int,
    cols: int,
    channels: int = 1,
    *,
    bytes_per_sample: int = 4,
    stored_bytes_per_sample: int = 0,
) -> int:
    """Bytes one block row costs: every frame's samples (in the block buffer and in its reader's buffer
    of stored samples) plus the kernel's and the conversion's scratch."""
    if n_frames < 1 or cols < 1 or channels < 1 or bytes_per_sample < 1 or stored_bytes_per_sample < 0:
        raise ValueError("n_frames, cols, channels and bytes_per_sample must be >= 1")
    per_sample = bytes_per_sample + stored_bytes_per_sample
    return channels * cols * (n_frames * per_sample + SCRATCH_BYTES_PER_PIXEL)


def rows_per_block(
    n_frames: int,
    cols: int,
    channels: int,
    memory_limit: int,
    *,
    bytes_per_sample: int = 4,
    stored_bytes_per_sample: int = 0,
    overhead: int = BASELINE_BYTES,
) -> int:
    """How many rows of an ``n_frames`` stack fit in ``memory_limit`` bytes once ``overhead`` is reserved.

    ``overhead`` is what the process holds besides the block (see the module docstring; the driver passes
    ``BASELINE_BYTES + output_bytes(...)``); ``stored_bytes_per_sample`` is the file's sample size, which
    every reader keeps a block of. Always at least 1, so a stack can be integrated whatever the limit:
    ``rows x row_bytes(...) + overhead <= memory_limit`` holds unless the result is 1.
    """
    if memory_limit < 0 or overhead < 0:
        raise ValueError("memory_limit and overhead must be >= 0")
    per_row = row_bytes(
        n_frames,
        cols,
        channels,
        bytes_per_sample=bytes_per_sample,
        stored_bytes_per_sample=stored_bytes_per_sample,
    )
    return max(1, (memory_limit - overhead) // per_row)


def blocks(rows: int, per_block: int) -> list[tuple[int, int]]:
    """Half-open row ranges ``[start, stop)`` of at most ``per_block`` rows covering ``0..rows`` in order.

    The blocks are balanced (their sizes differ by at most one row), so the last one is never a sliver:
    10 rows by 4 give (0, 4), (4, 7), (7, 10) rather than 4, 4, 2.
    """
    if rows < 0 or per_block < 1:
        raise ValueError(f"rows must be >= 0 and per_block >= 1, not {rows} and {per_block}")
    if rows == 0:
        return []
    count = -(-rows // per_block)
    base, extra = divmod(rows, count)
    out, start = [], 0
    for index in range(count):
        stop = start + base + (1 if index < extra else 0)
        out.append((start, stop))
        start = stop
    return out


def sample_rows(rows: int, cols: int, max_pixels: int, bands: int = SAMPLE_BANDS) -> list[tuple[int, int]]:
    """Row ranges ``[start, stop)`` holding at most about ``max_pixels`` pixels, spread evenly over the image.

    The whole image (``[(0, rows)]``) when it is small enough; otherwise at most ``bands`` bands of
    equal, even height starting on even rows, each centred in its share of the image (the top and
    bottom edges, a flat's most vignetted rows, are not over-represented), so a Bayer
    mosaic's four colours are sampled equally and every frame of a stack is measured on the very same
    pixels (touching bands are merged into one range). At least one pair of rows (or one row for a
    one-row image). Few bands rather than many thin ones: each range is one read per frame, and a
    read's fixed cost made 131 pairs of rows per frame a tenth of the benchmark's run.
    """
    if rows < 1 or cols < 1 or max_pixels < 1 or bands < 1:
        raise ValueError("rows, cols, max_pixels and bands must be >= 1")
    if rows * cols <= max_pixels or rows < 2:
        return [(0, rows)]
    pairs_available = rows // 2
    pairs = min(pairs_available, max(1, max_pixels // (2 * cols)))
    count = min(bands, pairs)
    per_band = pairs // count  # pairs of rows per band
    # Band i centred on the middle of the i-th of `count` equal strata of pairs; centres are at least
    # pairs_available // count >= per_band pairs apart, so bands never overlap.
    half = per_band // 2
    starts = [
        2 * min(pairs_available - per_band, max(0, ((2 * i + 1) * pairs_available) // (2 * count) - half))
        for i in range(count)
    ]
    out: list[tuple[int, int]] = []
    for start in starts:
        stop = start + 2 * per_band
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], stop)
        else:
            out.append((start, stop))
    return out
