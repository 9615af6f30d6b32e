"""numba kernels of :mod:`apcal.stats.wavelet`: the first à trous layer, whole or at given pixels (for
dark optimization), with one B3 kernel and one edge rule for both."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from apcal.row_blocks import block_count, run_blocks

_B3 = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)


@njit(cache=True, inline="always")
def _symmetric(i: int, n: int) -> int:
    """``np.pad(mode="symmetric")`` index for a pad of at most 2: -1 -> 0, -2 -> 1, n -> n-1, n+1 -> n-2
    (a single row or column pads with itself)."""
    if n == 1:
        return 0
    if i < 0:
        return -i - 1
    if i >= n:
        return 2 * n - i - 1
    return i


#: Rows per block of :func:`_layer_rows`: each block holds its rows' column pass (16 float64 rows).
BLOCK_ROWS = 16


@njit(cache=True, nogil=True)
def _layer_rows(img: np.ndarray, out: np.ndarray, blocks: tuple[int, int]) -> None:
    """Rows of blocks (first, stop) of :func:`atrous_layer1`: the column pass of those rows (each needs
    the image only), then the row pass."""
    rows, cols = img.shape
    w0, w1, w2, w3, w4 = _B3
    first = blocks[0] * BLOCK_ROWS
    stop = min(rows, blocks[1] * BLOCK_ROWS)
    columns = np.empty((BLOCK_ROWS, cols), dtype=np.float64)
    for b0 in range(first, stop, BLOCK_ROWS):
        for r in range(b0, min(stop, b0 + BLOCK_ROWS)):
            r0, r1 = _symmetric(r - 2, rows), _symmetric(r - 1, rows)
            r3, r4 = _symmetric(r + 1, rows), _symmetric(r + 2, rows)
            col = columns[r - b0]
            for c in range(cols):
                acc = 0.0
                acc += w0 * img[r0, c]
                acc += w1 * img[r1, c]
                acc += w2 * img[r, c]
                acc += w3 * img[r3, c]
                acc += w4 * img[r4, c]
                col[c] = acc
        for r in range(b0, min(stop, b0 + BLOCK_ROWS)):
            row = columns[r - b0]
            for c in range(cols):
                acc = 0.0
                acc += w0 * row[_symmetric(c - 2, cols)]
                acc += w1 * row[_symmetric(c - 1, cols)]
                acc += w2 * row[c]
                acc += w3 * row[_symmetric(c + 1, cols)]
                acc += w4 * row[_symmetric(c + 2, cols)]
                out[r, c] = img[r, c] - acc


def atrous_layer1(img: np.ndarray) -> np.ndarray:
    """First à trous layer of the float64 ``img``: the same float64 operations in the same order as the
    numpy reference :func:`apcal.stats.wavelet.atrous_layer1` (each pass summed from 0.0 over
    offsets 0..4, columns first, symmetric edges), so equal to it, with one float64 temporary of a
    block's rows instead of ~ten of the image. Blocks of rows on the kernel threads
    (:mod:`apcal.row_blocks`)."""
    out = np.empty(img.shape, dtype=np.float64)
    run_blocks(lambda blocks: _layer_rows(img, out, blocks), block_count(img.shape[0], BLOCK_ROWS))
    return out


@njit(cache=True, inline="always")
def _signal(image: np.ndarray, bias: np.ndarray, r: int, c: int, has_bias: bool) -> float:
    """``image - bias`` at (r, c) in float64, 0 where it is not finite (as the reference's input)."""
    x = np.float64(image[r, c])
    if has_bias:
        x = x - np.float64(bias[r, c])
    return x if math.isfinite(x) else 0.0


@njit(cache=True, nogil=True)
def atrous_layer1_at(
    image: np.ndarray, bias: np.ndarray, has_bias: bool, rr: np.ndarray, cc: np.ndarray, out: np.ndarray
) -> None:
    """First à trous layer of ``image - bias`` (non-finite -> 0) at the pixels (rr[p], cc[p]) only, into
    ``out`` (dark optimization needs it on the mask pixels alone).

    The same float64 operations in the same order as :func:`atrous_layer1` and its numpy reference on
    the whole image (the column pass, then the row pass, each summed from offset 0 to 4 starting at 0.0,
    the same symmetric edges), so the values are identical (tests) — without computing the other ~99 %
    of the layer.
    """
    rows, cols = image.shape
    k0, k1, k2, k3, k4 = _B3
    for p in range(rr.shape[0]):
        r = rr[p]
        c = cc[p]
        acc = 0.0
        for v in range(5):
            cj = _symmetric(c + v - 2, cols)
            s = 0.0
            s += k0 * _signal(image, bias, _symmetric(r - 2, rows), cj, has_bias)
            s += k1 * _signal(image, bias, _symmetric(r - 1, rows), cj, has_bias)
            s += k2 * _signal(image, bias, r, cj, has_bias)
            s += k3 * _signal(image, bias, _symmetric(r + 1, rows), cj, has_bias)
            s += k4 * _signal(image, bias, _symmetric(r + 2, rows), cj, has_bias)
            acc += _B3[v] * s
        out[p] = _signal(image, bias, r, c, has_bias) - acc
