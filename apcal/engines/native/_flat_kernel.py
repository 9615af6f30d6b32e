"""The flat calibration kernel: :func:`calibrate_rows`, the numba path of
:func:`apcal.engines.native.calibration.calibrate_flat` (raw - bias - k·(dark - bias) [+ pedestal]),
in blocks of rows on the kernel threads (:mod:`apcal.row_blocks`).
Source: PCL ``src/modules/processes/ImageCalibration/ImageCalibrationInstance.cpp`` (vahlkar/PCL commit
bf047a139), the calibration of each target frame.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from apcal.row_blocks import block_count, run_blocks

#: Rows per block of :func:`_calibrate_block`.
BLOCK_ROWS = 64


@njit(cache=True, nogil=True)
def _calibrate_block(raw, bias, dark, has_bias, has_dark, k, pedestal, add_pedestal, out, blocks):
    """:func:`calibrate_rows` on the rows of blocks (first, stop)."""
    rows, cols = raw.shape
    for r in range(blocks[0] * BLOCK_ROWS, min(rows, blocks[1] * BLOCK_ROWS)):
        for c in range(cols):
            x = np.float64(raw[r, c])
            if has_dark and has_bias:
                b = np.float64(bias[r, c])
                x = x - b - k * (np.float64(dark[r, c]) - b)
            elif has_dark:
                x = x - k * np.float64(dark[r, c])
            elif has_bias:
                x = x - np.float64(bias[r, c])
            if add_pedestal:
                x = x + pedestal
            out[r, c] = x


def calibrate_rows(
    raw: np.ndarray,
    bias: np.ndarray,
    dark: np.ndarray,
    has_bias: bool,
    has_dark: bool,
    k: float,
    pedestal: float,
    add_pedestal: bool,
    out: np.ndarray,
) -> None:
    """out = float32(raw - bias - k·(dark - bias) [+ pedestal]) per pixel, in float64 as
    :func:`apcal.engines.native.calibration.calibrate_flat`'s numpy expression (same operations, same
    order), without its full-frame float64 temporaries. Without a bias: raw - k·dark; without a dark:
    raw - bias (``dark`` is then ignored; pass the flat dark as ``bias`` for raw - flatdark)."""
    settings = (has_bias, has_dark, k, pedestal, add_pedestal)
    run_blocks(
        lambda blocks: _calibrate_block(raw, bias, dark, *settings, out, blocks),
        block_count(raw.shape[0], BLOCK_ROWS),
    )
