"""numba kernel of :func:`apcal.stats.master.binned`: block means summed in float64 straight from
the float32 master, instead of a float64 copy of the whole image (24 MB for 3 Mpx) reduced over two
small axes, which numpy iterates slowly."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, nogil=True)
def block_means(img: np.ndarray, factor: int) -> np.ndarray:  # pragma: no cover - compiled
    """Mean of each ``factor`` x ``factor`` block (trailing rows/columns that do not fill one dropped),
    NaN left out as ``np.nanmean`` does (an all-NaN block gives NaN; inf counts)."""
    rows, cols = img.shape[0] // factor, img.shape[1] // factor
    out = np.empty((rows, cols), dtype=np.float64)
    for r in prange(rows):
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
    return out
