"""Numba helpers of :mod:`apcal.engines.native._kernels` for two of PixInsight's rules, kept apart from
that (already long) module: Sn's finite-sample correction and the value of a pixel none of whose samples
survived rejection. Their numpy counterparts are :func:`apcal.engines.native.rejection.sn_correction`
and the fallback in :func:`apcal.engines.native.integration._integrate_reference`; tests hold the two
paths equal.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def sn_correction(n):
    """Sn's finite-sample factor c_n (PCL include/pcl/Math.h, ``Sn``): a table for n = 2..9, then
    n/(n - 0.9) for odd n and 1 for even n; 1 below 2 (Sn is 0 there anyway)."""
    if n < 2:
        return 1.0
    if n <= 9:
        return (0.743, 1.851, 0.954, 1.351, 0.993, 1.198, 1.005, 1.131)[n - 2]
    if n % 2 == 1:
        return n / (n - 0.9)
    return 1.0


@njit(cache=True)
def median_of_valid(stack, y, c, o_scale, o_offset, values):
    """The median of pixel (y, c)'s valid (non-NaN) samples of ``stack`` (n, rows, cols), output-
    normalized, range-clipped ones included: what PCL writes where rejection left no sample
    (``IntegrationEngine::IntegrationThread::Run``). 0 when every sample is NaN. ``values`` is (n,)
    scratch."""
    k = 0
    for i in range(stack.shape[0]):
        raw = np.float64(stack[i, y, c])
        if not math.isnan(raw):
            values[k] = raw * o_scale[i] + o_offset[i]
            k += 1
    if k == 0:
        return 0.0
    for a in range(1, k):  # insertion sort: a handful of values
        x = values[a]
        b = a - 1
        while b >= 0 and values[b] > x:
            values[b + 1] = values[b]
            b -= 1
        values[b + 1] = x
    half = k // 2
    if k % 2 == 1:
        return values[half]
    return (values[half] + values[half - 1]) / 2
