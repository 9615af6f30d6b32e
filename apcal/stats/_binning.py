"""numba kernel of :func:`apcal.stats.master.binned`: block means summed in float64 straight from
the float32 master, instead of a float64 copy of the whole image (24 MB for 3 Mpx) reduced over two
small axes, which numpy iterates slowly. Output rows in blocks on the kernel threads
(:mod:`apcal.row_blocks`)."""

from __future__ import annotations

import numpy as np
from numba import njit

from apcal.row_blocks import block_count, run_blocks

#: Output rows per block of :func:`_block_means_rows`.
BLOCK_ROWS = 16


@njit(cache=True, nogil=True)
def _block_means_rows(
    img: np.ndarray, factor: int, out: np.ndarray, blocks: tuple[int, int]
) -> None:  # pragma: no cover - compiled
    """The output rows of blocks (first, stop) of :func:`block_means`."""
    rows, cols = out.shape
    for r in range(blocks[0] * BLOCK_ROWS, min(rows, blocks[1] * BLOCK_ROWS)):
        for c in range(cols):
            total = 0.0
            count = 0
            for dy in range(factor):
                for dx in range(factor):
                    v = np.float64(img[r * factor + dy, c * factor + dx])
                    if v == v:
                        total += v
                        count += 1
            out[r, c] = total / count if count else np.nan


def block_means(img: np.ndarray, factor: int) -> np.ndarray:
    """Mean of each ``factor`` x ``factor`` block (trailing rows/columns that do not fill one dropped),
    NaN left out as ``np.nanmean`` does (an all-NaN block gives NaN; inf counts)."""
    out = np.empty((img.shape[0] // factor, img.shape[1] // factor), dtype=np.float64)
    run_blocks(
        lambda blocks: _block_means_rows(img, factor, out, blocks), block_count(out.shape[0], BLOCK_ROWS)
    )
    return out
