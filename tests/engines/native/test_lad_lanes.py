"""The LAD lanes (linear fit clipping's first fit across a row's columns) against the per-pixel fit.

Each lane must find ``_reject_kernels._lad_fit``'s line to the bit (same a, b and deviation), whatever
path its bracketing and bisection take; the kernel then keeps every sample of the columns whose first fit
rejects nothing and hands the others, with that line, to the per-pixel path. Both must give the numpy
reference's master and rejection counts.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from apcal.engines.native import _integrate_kernel as K
from apcal.engines.native import _lad_lanes as LL
from apcal.engines.native import _reject_kernels as R
from apcal.engines.native._kernel_params import kernel_params
from apcal.engines.native._winsorized_lanes import LANES, lanes_networks
from apcal.engines.native.integration import integrate
from apcal.params import IntegrationParams


@njit(cache=True)
def _per_pixel_fits(s, out):
    n, cols = s.shape
    y = np.empty(n)
    work = np.empty(n)
    for c in range(cols):
        for j in range(n):
            y[j] = s[j, c]
        a, b, adev = R._lad_fit(y, n, work)
        out[0, c], out[1, c], out[2, c] = a, b, adev


def columns(kind: str, n: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted columns (n, cols) of one kind of pixel."""
    if kind == "normal":  # a flat's pixels, normalized
        s = rng.normal(0.45, 0.003, (n, cols))
    elif kind == "ties":  # 16-bit data with little noise: many equal samples
        s = np.round(rng.normal(1000.0, 0.8, (n, cols))) / 65535
    elif kind == "outliers":  # cosmic rays and dead samples: long brackets
        s = rng.normal(0.45, 0.003, (n, cols))
        hit = rng.random(s.shape) < 0.05
        s[hit] *= rng.uniform(0.2, 3.0, hit.sum())
    else:  # "degenerate": constant columns (sigma_b 0), zeros (rofunc's y == 0 branch), a single step
        s = np.full((n, cols), 0.5)
        s[:, ::3] = 0.0
        s[: n // 2, 1::3] = 0.25
    return np.ascontiguousarray(np.sort(s, axis=0))


@pytest.mark.parametrize("n", [5, 6, 7, 20, 21, 33])
@pytest.mark.parametrize("kind", ["normal", "ties", "outliers", "degenerate"])
def test_lanes_find_the_per_pixel_line_to_the_bit(n: int, kind: str):
    rng = np.random.default_rng(n)
    cols = 3 * LANES + 17  # lanes take new columns while others still bisect
    s = columns(kind, n, cols, rng)
    elig = np.ones(cols, dtype=np.bool_)
    elig[5] = elig[LANES + 2] = False  # skipped: their line stays as it was
    line = np.full((3, cols), -7.0)
    LL._lad_lanes(s, cols, n, elig, lanes_networks(n)[0], line[0], line[1], line[2], *_scratch(n))
    want = np.empty((3, cols))
    _per_pixel_fits(s, want)
    np.testing.assert_array_equal(line[0, elig], want[0, elig])
    np.testing.assert_array_equal(line[1, elig], want[1, elig])
    np.testing.assert_array_equal(line[2, elig] / n, want[2, elig])
    assert (line[:, ~elig] == -7.0).all()


def _scratch(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.empty((n, LANES)), np.empty((n, LANES))


def test_first_fit_verdict_is_the_per_pixel_one():
    # The verdict the kernel acts on: rejects something exactly where the per-pixel linear fit
    # rejects something (its first iteration decides whether there is a second).
    n, cols = 30, 2 * LANES
    s = columns("outliers", n, cols, np.random.default_rng(3))
    params = kernel_params(IntegrationParams(rejection="linear_fit"), "linear_fit", "average")
    line = np.empty((3, cols))
    LL._lad_lanes(s, cols, n, np.ones(cols, np.bool_), lanes_networks(n)[0], *line, *_scratch(n))
    verdicts = [LL._first_fit_rejects(s, c, n, *line[:, c], params) for c in range(cols)]
    flags = np.empty(n, dtype=np.int8)
    scratch = (np.empty(n), np.empty(n), np.empty(n))
    expected = []
    for c in range(cols):
        flags[:] = R.KEEP
        R._linear_fit(
            s[:, c].copy(), n, flags, True, True, params.lf_low, params.lf_high, *scratch, np.full(3, np.nan)
        )
        expected.append(bool((flags != R.KEEP).any()))
    assert verdicts == expected
    assert 0 < sum(verdicts) < cols  # both kinds of column


@pytest.mark.parametrize("n", [5, 20, 30])
@pytest.mark.parametrize("combination", ["average", "median"])
def test_linear_fit_kernel_matches_reference(n: int, combination: str):
    # Flats: most columns' first fit rejects nothing (kept whole), some go on per pixel from the lanes'
    # line; a few samples missing or range-clipped (those pixels never take the lanes).
    rng = np.random.default_rng(40 + n)
    rows, cols = K.ROW_BLOCK + 2, 2 * K.CHUNK + 9
    dn = 30000 + 150 * rng.standard_normal((n, rows, cols))
    hits = rng.random(dn.shape) < 0.01
    dn[hits] *= rng.uniform(1.05, 1.5, hits.sum())
    stack = (np.round(dn) / 65535).astype(np.float32)
    stack[rng.random(stack.shape) < 0.001] = np.nan
    stack[:, 2, 3] = 0.0
    params = IntegrationParams(rejection="linear_fit", combination=combination)
    fast = integrate(stack, params, fast=True)
    reference = integrate(stack, params, fast=False)
    np.testing.assert_array_equal(fast.rejected_low, reference.rejected_low)
    np.testing.assert_array_equal(fast.rejected_high, reference.rejected_high)
    np.testing.assert_array_equal(fast.image, reference.image)
    if n >= 20:
        rejected = fast.rejected_low + fast.rejected_high
        assert 0 < (rejected > 0).sum() < rejected.size // 2
