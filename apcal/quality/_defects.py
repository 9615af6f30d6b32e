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


@njit(cache=True, parallel=True)
def neighbour_residual(img: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    rows, cols = img.shape
    out = np.empty((rows, cols), dtype=np.float32)
    for r in prange(rows):
        buf = np.empty(8, dtype=np.float32)
        for c in range(cols):
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
