"""The flat calibration kernel: :func:`calibrate_rows`, the numba path of
:func:`apcal.engines.native.calibration.calibrate_flat` (raw - bias - k·(dark - bias) [+ pedestal]).
Source: PCL ``src/modules/processes/ImageCalibration/ImageCalibrationInstance.cpp`` (vahlkar/PCL commit
bf047a139), the calibration of each target frame.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, nogil=True)
def calibrate_rows(raw, bias, dark, has_bias, has_dark, k, pedestal, add_pedestal, out):
    """out = float32(raw - bias - k·(dark - bias) [+ pedestal]) per pixel, in float64 as
    :func:`apcal.engines.native.calibration.calibrate_flat`'s numpy expression (same operations, same
    order), without its full-frame float64 temporaries. Without a bias: raw - k·dark; without a dark:
    raw - bias (``dark`` is then ignored; pass the flat dark as ``bias`` for raw - flatdark)."""
    rows, cols = raw.shape
    for r in prange(rows):
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
