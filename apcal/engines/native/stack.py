"""Integrate a stack of image files in row blocks with bounded memory: the native engine's I/O and tiling.

:func:`integrate_files` owns the files; the pixel work is :func:`apcal.engines.native.integration.integrate`
and the tile arithmetic is :mod:`apcal.engines.native.tiling`. Every file is opened once and stays open
(readers read only the rows asked for); each row of each file is read once for the blocks, and the
statistics pass's sample rows (about a sixth of a 3 Mpx frame) once more unless there is one block:

1. **Statistics pass.** Each frame's median and MAD (:class:`FrameStats`), which normalization needs
   before any block is combined, measured on a deterministic subset of rows (up to 16 bands of an even
   number of rows, evenly spaced, :func:`~apcal.engines.native.tiling.sample_rows`; at most
   ``stats_pixels`` pixels per channel, 2**19 by default): the same pixels in every frame, so ratios
   between frames are not disturbed by sampling, and a Bayer mosaic is sampled evenly. 2**19 pixels give
   the median to 0.2 % of the noise, far below what normalization resolves, and the median of 2**19
   values costs a tenth of a full frame's. When the whole stack fits in one block (small frames), this
   pass reads the frames straight into the block buffer and measures the same rows there: every file is
   read once. With a ``select`` function, the same pass measures each frame's :class:`FrameQuality` for
   bad-frame screening, and only the frames ``select`` keeps are normalized and integrated (in the
   one-block case they are moved to the front of the buffer in place, so nothing is read twice).
2. **Blocks.** Blocks hold as many rows as ``memory_limit`` allows, but at most ``block_rows``
   (:data:`~apcal.engines.native.tiling.BLOCK_ROWS`): bigger blocks are no faster, only resident. For
   each block of rows, those rows of every frame are copied into one preallocated
   float32 buffer ``(channels, n, rows, cols)`` — allocated once for the largest block and reused, so
   memory does not grow with the number of blocks — and each channel's ``(n, rows, cols)`` stack (a
   contiguous view, no copy) is integrated with that channel's normalization coefficients. Pixels are
   independent, so the result is bit-identical whatever the block size (tested).
3. **Output range.** The whole master is brought into [0, 1] as ImageIntegration does
   (:func:`~apcal.engines.native.output_range.fit_output_range`: clamped by default).

With more than one block, reading overlaps integrating: a reader thread fills the next block's buffer
while the kernel (``nogil``) works on this one (two block buffers, each sized for half of what
``memory_limit`` allows, so the peak stays bounded and does not grow with the frame count). Reads
release the GIL (``readinto`` and the compiled conversion), so on a real-size night they leave the
critical path instead of adding ~10 % to it. The kernel's tasks for block b + 1 are queued before
block b's result is taken (:func:`~apcal.engines.native.integration.start_integration`), so its
threads go from one block to the next without waiting for the slowest task of each; block b + 2 is
read into block b's buffer once b is done.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
from loguru import logger

from apcal.engines.native.integration import IntegrationResult, start_integration
from apcal.engines.native.normalization import (
    Coefficients,
    FrameStats,
    output_coefficients,
    rejection_coefficients,
)
from apcal.engines.native.output_range import fit_output_range
from apcal.engines.native.tiling import (
    BASELINE_BYTES,
    BLOCK_ROWS,
    blocks,
    output_bytes,
    reader_bytes,
    rows_per_block,
    sample_rows,
)
from apcal.errors import FrameError
from apcal.io.base import ImageReader
from apcal.io.image import open_image
from apcal.params import IntegrationParams
from apcal.plan.screening import FrameQuality
from apcal.row_blocks import most_threads

#: Pixels per channel the statistics pass measures (see the module docstring).
STATS_PIXELS = 1 << 19

Progress = Callable[[int, int], None]
#: Chooses the frames to integrate from their qualities (indices, in order); see apcal.plan.screening.
Select = Callable[[list[FrameQuality]], Sequence[int]]


@dataclass(frozen=True)
class StackResult:
    """An integrated stack.

    ``image`` is float32, ``rejected_low``/``rejected_high`` uint16 counts of rejected samples per pixel;
    all three ``(rows, cols)`` for one channel, ``(channels, rows, cols)`` otherwise. ``frame_stats`` has
    one entry per input frame, over all its channels; ``channel_stats[c][i]`` is frame i's statistics in
    channel c (what normalized channel c).
    """

    image: np.ndarray
    rejected_low: np.ndarray
    rejected_high: np.ndarray
    frame_stats: list[FrameStats]
    channel_stats: list[list[FrameStats]] = field(default_factory=list)
    blocks: int = 1
    kept: tuple[int, ...] = ()  # indices of the frames integrated (all of them without ``select``)
    from_adu: int = 0  # how many of the kept frames were float ADU read as 16-bit data (apcal.io.adu)


def set_threads(threads: int) -> None:
    """Use ``threads`` numba threads (clamped to what numba started with); 0 leaves numba's default."""
    if threads > 0:
        numba.set_num_threads(min(threads, most_threads()))


def _statistics_pass(
    readers: list[ImageReader],
    sampled: list[tuple[int, int]],
    whole: np.ndarray | None,
    channels: int,
    *,
    with_quality: bool,
    progress: Progress | None,
    total: int,
) -> tuple[list[FrameStats], list[FrameQuality], list[list[FrameStats]]]:
    """Each frame's statistics on the ``sampled`` rows (whole frame, and per channel for colour), and
    its quality when screening will select; with ``whole`` (one block) every frame is read into it
    first and measured there. ``progress(i + 1, total)`` after each frame, in order.

    Frames after the first are measured on as many threads as the kernel's (numba's thread count):
    reading releases the GIL and so do the statistics kernels and most of numpy, so on two cores this
    pass, which nothing else overlaps, takes less time (IMX294 darks: 0.065-0.090 s instead of
    0.095-0.120). The first frame is measured alone: in a process's first job it loads the statistics
    kernels, which two threads at once only slowed down. Each result is its own frame's, whatever the
    order they finish in."""

    def measure(i: int) -> tuple[FrameStats, FrameQuality | None, list[FrameStats]]:
        reader = readers[i]
        if whole is not None:
            _read_into(reader, 0, whole.shape[2], whole[:, i])  # whole: (channels, n, rows, cols)
            parts = [whole[:, i, r0:r1] for r0, r1 in sampled]
        else:
            parts = [_read3(reader, r0, r1) for r0, r1 in sampled]
        sample = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        stats = FrameStats.of(sample)
        quality = None
        if with_quality:  # the same pixels' median and MAD: measured once
            image = sample[0] if channels == 1 else sample
            quality = FrameQuality.of(image, median=stats.median, mad=stats.mad)
        per_channel = [FrameStats.of(sample[c]) for c in range(channels)] if channels > 1 else [stats]
        return stats, quality, per_channel

    frame_stats: list[FrameStats] = []
    qualities: list[FrameQuality] = []
    channel_stats: list[list[FrameStats]] = [[] for _ in range(channels)]
    first = [measure(0)]  # here: a process's first frame loads the kernels, once, in one thread
    with ThreadPoolExecutor(max_workers=numba.get_num_threads(), thread_name_prefix="apcal-stats") as pool:
        measured = itertools.chain(first, pool.map(measure, range(1, len(readers))))
        for i, (stats, quality, per_channel) in enumerate(measured):
            frame_stats.append(stats)
            if quality is not None:
                qualities.append(quality)
            for c in range(channels):
                channel_stats[c].append(per_channel[c])
            if progress:
                progress(i + 1, total)
    return frame_stats, qualities, channel_stats


def integrate_files(
    paths: Sequence[Path],
    params: IntegrationParams,
    *,
    memory_limit: int,
    threads: int = 0,
    progress: Progress | None = None,
    stats_pixels: int | None = STATS_PIXELS,
    select: Select | None = None,
    block_rows: int = BLOCK_ROWS,
    read_ahead: bool = True,
) -> StackResult:
    """Integrate the images at ``paths`` (all of one shape) into one, holding at most ``memory_limit`` bytes.

    ``params.rejection`` must be resolved (not ``auto``). ``threads`` > 0 sets numba's thread count.
    ``progress(done, total)`` is called after each frame of the statistics pass and after each block
    (total = frames + blocks). ``stats_pixels`` caps the pixels per channel the statistics are measured
    on; None measures every pixel. ``block_rows`` caps the rows per block below what ``memory_limit``
    allows (:data:`~apcal.engines.native.tiling.BLOCK_ROWS`). ``read_ahead`` reads the next block in a
    thread while this one integrates (see the module docstring; False reads in turn; the same result).
    ``select`` receives every frame's quality and returns the indices to integrate (see the module
    docstring); ``frame_stats`` stays one entry per input frame. Raises
    :class:`~apcal.errors.FrameError` naming the file when one cannot be opened or read or has another
    shape than the first.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("integrate_files needs at least one file")
    set_threads(threads)
    with contextlib.ExitStack() as stack:
        readers = [stack.enter_context(open_image(p)) for p in paths]
        shape = _common_shape(readers)
        channels, rows, cols = (1, *shape) if len(shape) == 2 else shape
        n = len(readers)
        # Readers convert straight into the block buffer and keep one small slab each (reader_bytes).
        overhead = BASELINE_BYTES + output_bytes(rows, cols, channels) + reader_bytes(n)
        # memory_limit is a ceiling: blocks of more than block_rows rows would only cost memory.
        fit = rows_per_block(n, cols, channels, memory_limit, overhead=overhead)
        per_block = min(rows, block_rows, fit)
        buffers = 1
        if per_block < rows and read_ahead:  # two buffers (read ahead), each half of what fits
            per_block, buffers = max(1, min(block_rows, fit // 2)), 2
        ranges = blocks(rows, per_block)
        total = n + len(ranges)
        logger.debug(
            "integrating {} frames of {}: {} block(s) of <= {} rows (memory_limit {} MB)",
            n,
            shape,
            len(ranges),
            per_block,
            memory_limit // 1_000_000,
        )

        buffer = np.empty(channels * n * per_block * cols, dtype=np.float32)
        spare = np.empty_like(buffer) if buffers == 2 else buffer
        sampled = sample_rows(rows, cols, stats_pixels) if stats_pixels else [(0, rows)]
        # One block: read the stack once and measure the statistics in the buffer (the same rows, so
        # the same numbers as reading them from the files).
        whole = None
        if len(ranges) == 1:
            whole = buffer.reshape(channels, n, rows, cols)
        frame_stats, qualities, channel_stats = _statistics_pass(
            readers, sampled, whole, channels, with_quality=select is not None, progress=progress, total=total
        )
        kept = list(range(n)) if select is None else list(select(qualities))
        if not kept:
            raise ValueError("screening left no frame to integrate")
        from_adu = sum(readers[i].scaled_from_adu for i in kept)
        if len(kept) < n:
            if whole is not None:
                _compact(buffer, kept, channels, n, rows * cols)
            readers = [readers[i] for i in kept]
            n = len(kept)
        kept_stats = [[stats[i] for i in kept] for stats in channel_stats]
        output = [output_coefficients(s, params.normalization) for s in kept_stats]
        rejection = [rejection_coefficients(s, params.rejection_normalization) for s in kept_stats]

        image, low, high = _integrate_blocks(
            readers,
            ranges,
            [buffer, spare][:buffers],
            (channels, rows, cols),
            read=whole is None,
            integrate=lambda c, block, into: _integrate_block(block, params, output[c], rejection[c], into),
            progress=(lambda b: progress(len(paths) + b + 1, total)) if progress else None,
        )
    fit_output_range(image, params.truncate_on_out_of_range)
    if channels == 1:
        image, low, high = image[0], low[0], high[0]
    return StackResult(image, low, high, frame_stats, channel_stats, len(ranges), tuple(kept), from_adu)


def _integrate_blocks(
    readers: Sequence[ImageReader],
    ranges: Sequence[tuple[int, int]],
    buffers: Sequence[np.ndarray],
    shape: tuple[int, int, int],
    *,
    read: bool,
    integrate: Callable[[int, np.ndarray, IntegrationResult], Callable[[], IntegrationResult]],
    progress: Callable[[int], None] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrate each block of rows ``ranges`` of the ``readers``' frames, channel by channel, into
    (image, rejected low, rejected high) of ``shape`` (channels, rows, cols). ``integrate(c, stack,
    into)`` starts channel c of a block, to be written into ``into`` (views of the block's rows of the
    three), and returns the function that waits for it. With two ``buffers`` a
    reader thread reads block b + 1 into one while block b integrates from the other, and block b + 1 is
    started before block b's result is taken (no idle kernel thread between blocks); with one, blocks
    are read and integrated in turn. ``read`` False: the one block is already in the buffer (the
    statistics pass read it). ``progress(b)`` after block b, in order."""
    channels, _, cols = shape
    n = len(readers)
    image = np.empty(shape, dtype=np.float32)
    low = np.empty(shape, dtype=np.uint16)
    high = np.empty(shape, dtype=np.uint16)

    def read_block(b: int) -> np.ndarray:
        r0, r1 = ranges[b]
        # A contiguous view of the buffer's head: each channel's (n, h, cols) stack is contiguous too.
        block = buffers[b % len(buffers)][: channels * n * (r1 - r0) * cols].reshape(
            channels, n, r1 - r0, cols
        )
        if read:
            for i, reader in enumerate(readers):
                _read_into(reader, r0, r1, block[:, i])
        return block

    def into(b: int, c: int) -> IntegrationResult:
        r0, r1 = ranges[b]
        return IntegrationResult(image[c, r0:r1], low[c, r0:r1], high[c, r0:r1])

    def store(b: int, results: list[Callable[[], IntegrationResult]]) -> None:
        for result in results:
            result()
        if progress:
            progress(b)

    ahead = len(buffers) == 2
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="apcal-read") as reader_thread:
        pending = reader_thread.submit(read_block, 0)
        running: tuple[int, list[Callable[[], IntegrationResult]]] | None = None
        for b in range(len(ranges)):
            block = pending.result()
            started = [integrate(c, block[c], into(b, c)) for c in range(channels)]
            if running is not None:  # this block's tasks are queued: finish the previous one's
                store(*running)
            if not ahead:
                store(b, started)
            running = (b, started) if ahead else None
            if b + 1 < len(ranges):  # into the buffer no block in flight uses
                pending = reader_thread.submit(read_block, b + 1)
        if running is not None:
            store(*running)
    return image, low, high


def _compact(buffer: np.ndarray, kept: Sequence[int], channels: int, n: int, size: int) -> None:
    """Move frames ``kept`` of a (channels, n, size) buffer to the front of a (channels, len(kept),
    size) layout, in place. Each destination lies at or before its source and after every source
    still to be read, so ascending order never overwrites a frame before it is moved."""
    m = len(kept)
    for c in range(channels):
        for j, i in enumerate(kept):
            dst, src = (c * m + j) * size, (c * n + i) * size
            if dst != src:
                buffer[dst : dst + size] = buffer[src : src + size]


def _integrate_block(
    stack: np.ndarray,
    params: IntegrationParams,
    output: Coefficients,
    rejection: Coefficients,
    into: IntegrationResult,
) -> Callable[[], IntegrationResult]:
    return start_integration(stack, params, output=output, rejection=rejection, fast=True, into=into)


def _read_into(reader: ImageReader, start: int, stop: int, out: np.ndarray) -> None:
    """Rows of a reader converted straight into ``out`` (channels, rows, cols), a view of the buffer."""
    reader.read_rows(start, stop, out=out[0] if out.shape[0] == 1 else out)


def _read3(reader: ImageReader, start: int, stop: int) -> np.ndarray:
    """Rows of a reader as (channels, rows, cols)."""
    data = reader.read_rows(start, stop)
    return data[None] if data.ndim == 2 else data


def _common_shape(readers: Sequence[ImageReader]) -> tuple[int, ...]:
    first = readers[0]
    for reader in readers[1:]:
        if reader.shape != first.shape:
            raise FrameError(
                f"{reader.path}: image is {_shape_text(reader.shape)}, "
                f"unlike the stack's first frame {first.path.name} ({_shape_text(first.shape)})"
            )
    return first.shape


def _shape_text(shape: tuple[int, ...]) -> str:
    """numpy shape as the user reads it: cols x rows [x channels]."""
    if len(shape) == 2:
        return f"{shape[1]}x{shape[0]}"
    return f"{shape[2]}x{shape[1]}x{shape[0]}"
