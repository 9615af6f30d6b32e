"""numba kernel for :func:`apcal.quality.master_stats.defect_counts`: each pixel minus the median of its
8 neighbours (reflected at the edges), the numpy reference's arithmetic without its 8 stacked copies of
the image. Non-finite neighbours are left out of the median, as ``np.nanmedian`` does."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _reflect(i: int, n: int) -> int:
    if i < 0:
        return -i
    if i >= n:
        return 2 * n - 2 - i
    return i


@njit(cache=True, inline="always")
def _swap(b: np.ndarray, i: int, j: int) -> None:
    if b[i] > b[j]:
        b[i], b[j] = b[j], b[i]


@njit(cache=True, inline="always")
def _sort8(b: np.ndarray) -> None:
    """Batcher's odd-even merge sort network for 8 values (19 compare-exchanges)."""
    _swap(b, 0, 1); _swap(b, 2, 3); _swap(b, 4, 5); _swap(b, 6, 7)  # noqa: E702
    _swap(b, 0, 2); _swap(b, 1, 3); _swap(b, 4, 6); _swap(b, 5, 7)  # noqa: E702
    _swap(b, 1, 2); _swap(b, 5, 6); _swap(b, 0, 4); _swap(b, 3, 7)  # noqa: E702
    _swap(b, 1, 5); _swap(b, 2, 6)  # noqa: E702
    _swap(b, 1, 4); _swap(b, 3, 6)  # noqa: E702
    _swap(b, 2, 4); _swap(b, 3, 5)  # noqa: E702
    _swap(b, 3, 4)


@njit(cache=True, parallel=True)
def neighbour_residual(img: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    rows, cols = img.shape
    out = np.empty((rows, cols), dtype=np.float32)
    for r in prange(rows):
        buf = np.empty(8, dtype=np.float32)
        interior_row = 0 < r < rows - 1
        for c in range(cols):
            if interior_row and 0 < c < cols - 1:
                # Interior pixel: the 8 neighbours directly, sorted by a fixed network; the general
                # path below only when one of them is not finite (NaN would break the comparisons).
                buf[0] = img[r - 1, c - 1]
                buf[1] = img[r - 1, c]
                buf[2] = img[r - 1, c + 1]
                buf[3] = img[r, c - 1]
                buf[4] = img[r, c + 1]
                buf[5] = img[r + 1, c - 1]
                buf[6] = img[r + 1, c]
                buf[7] = img[r + 1, c + 1]
                finite = True
                for j in range(8):
                    if not np.isfinite(buf[j]):
                        finite = False
                if finite:
                    _sort8(buf)
                    out[r, c] = img[r, c] - np.float32((buf[3] + buf[4]) / np.float32(2))
                    continue
            k = 0
            for dy in range(-1, 2):
                rr = _reflect(r + dy, rows)
                for dx in range(-1, 2):
                    if dy == 0 and dx == 0:
                        continue
                    v = img[rr, _reflect(c + dx, cols)]
                    if np.isfinite(v):
                        # insertion into the sorted prefix
                        j = k
                        while j > 0 and buf[j - 1] > v:
                            buf[j] = buf[j - 1]
                            j -= 1
                        buf[j] = v
                        k += 1
            if k == 0:
                out[r, c] = np.nan
            elif k % 2 == 1:
                out[r, c] = img[r, c] - buf[k // 2]
            else:
                # np.median of float32 averages the two middle values in float32
                out[r, c] = img[r, c] - np.float32((buf[k // 2 - 1] + buf[k // 2]) / np.float32(2))
    return out
