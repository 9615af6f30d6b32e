"""The LAD lanes (linear fit clipping across a row's columns) against the per-pixel fit.

Each lane must fit ``_reject_kernels._lad_fit``'s lines to the bit, whatever path its bracketing and
bisection take, and clip as ``_linear_fit`` does: every column's surviving window is the per-pixel
clipping's survivors, and a column goes back to the per-pixel path only where they are not a window.
The kernel must give the numpy reference's master and rejection counts.
"""

from __future__ import annotations

import numpy as np
import pytest

from apcal.engines.native import _integrate_kernel as K
from apcal.engines.native import _lad_lanes as LL
from apcal.engines.native import _reject_kernels as R
from apcal.engines.native._kernel_params import kernel_params
from apcal.engines.native._winsorized_lanes import LANES, lanes_networks
from apcal.engines.native.integration import integrate
from apcal.params import IntegrationParams


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
    elif kind == "plateau":  # on a line but for a plateau above it: the clipping is not a window
        s = plateau_columns(n, cols, rng)
    else:  # "degenerate": constant columns (sigma_b 0), zeros (rofunc's y == 0 branch), a single step
        s = np.full((n, cols), 0.5)
        s[:, ::3] = 0.0
        s[: n // 2, 1::3] = 0.25
    return np.ascontiguousarray(np.sort(s, axis=0))


def plateau_columns(n: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted 16-bit samples 1000 + j, except a plateau J = 3..6 DN above that line from a place m in
    the lower half: the LAD line is the one most samples lie on, and it rejects the plateau's first
    samples as high, in the middle of the sorted samples (from 20 samples on)."""
    j = np.arange(n)[:, None]
    m = rng.integers(n // 4, n // 2, cols)
    plateau = rng.integers(3, 7, cols)
    dn = np.where((j >= m) & (j < m + plateau), m + plateau, j)
    return (1000.0 + dn) / 65535


LINEAR_FIT = kernel_params(IntegrationParams(rejection="linear_fit"), "linear_fit", "average")


def per_pixel_flags(column: np.ndarray) -> np.ndarray:
    """KEEP/LOW/HIGH per sorted sample from the per-pixel linear fit clipping (``_linear_fit``)."""
    n = column.size
    flags = np.full(n, R.KEEP, dtype=np.int8)
    p = LINEAR_FIT
    scratch = (np.empty(n), np.empty(n), np.empty(n))
    R._linear_fit(column.copy(), n, flags, p.clip_low, p.clip_high, p.lf_low, p.lf_high, *scratch)
    return flags


def window_flags(n: int, lo: int, hi: int) -> np.ndarray:
    """The flags a surviving window [lo, hi) stands for: LOW below it, HIGH above."""
    flags = np.full(n, R.KEEP, dtype=np.int8)
    flags[:lo], flags[hi:] = R.LOW, R.HIGH
    return flags


def is_window(flags: np.ndarray) -> bool:
    """Whether the flags are a window's: a run of LOW, then KEEP, then a run of HIGH."""
    lo = int(np.argmax(flags != R.LOW)) if (flags != R.LOW).any() else flags.size
    hi = flags.size - (int(np.argmax(flags[::-1] != R.HIGH)) if (flags != R.HIGH).any() else flags.size)
    return lo <= hi and bool((flags == window_flags(flags.size, lo, hi)).all())


@pytest.mark.parametrize("n", [5, 6, 7, 20, 21, 33, 50, 100])
@pytest.mark.parametrize("kind", ["normal", "ties", "outliers", "plateau", "degenerate"])
def test_lanes_clip_as_the_per_pixel_fit(n: int, kind: str):
    # Every fit of every column, in lanes that take new columns while others still bisect or refit a
    # narrower window: each column's window is the per-pixel clipping's survivors, or the column is
    # handed back exactly where those survivors are not a window.
    rng = np.random.default_rng(n)
    cols = 3 * LANES + 17
    s = columns(kind, n, cols, rng)
    elig = np.ones(cols, dtype=np.bool_)
    elig[5] = elig[LANES + 2] = False  # skipped: their window stays as it was
    lo, hi = np.full(cols, -7), np.full(cols, -7)
    back = np.zeros(cols, dtype=np.bool_)
    LL._lad_lanes(s, cols, n, elig, lanes_networks(n)[0], LINEAR_FIT, lo, hi, back, *_scratch(n))
    narrowed = 0
    for c in np.flatnonzero(elig):
        flags = per_pixel_flags(s[:, c])
        if back[c]:
            assert not is_window(flags)
        else:
            np.testing.assert_array_equal(window_flags(n, lo[c], hi[c]), flags, err_msg=f"column {c}")
            narrowed += (lo[c], hi[c]) != (0, n)
    assert (lo[~elig] == -7).all() and (hi[~elig] == -7).all() and not back[~elig].any()
    if kind == "outliers" and n >= 20:
        assert narrowed > 0
    if kind == "plateau" and n >= 20:
        assert back.any()


def _scratch(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.empty((n, LANES)), np.empty((n, LANES))


def test_later_fits_run_in_the_lanes():
    # Sorted normal samples curve away from a line at both ends: at 50 samples many columns' first
    # fit rejects, and their later fits on the narrower windows must run in the lanes too (few
    # columns handed back), each ending where the per-pixel fits end.
    n, cols = 50, 4 * LANES
    s = columns("normal", n, cols, np.random.default_rng(11))
    lo, hi = np.empty(cols, dtype=np.int64), np.empty(cols, dtype=np.int64)
    back = np.zeros(cols, dtype=np.bool_)
    LL._lad_lanes(
        s, cols, n, np.ones(cols, np.bool_), lanes_networks(n)[0], LINEAR_FIT, lo, hi, back, *_scratch(n)
    )
    assert back.sum() <= cols // 20
    narrowed = (lo > 0) | (hi < n)
    assert narrowed.sum() > cols // 10
    for c in np.flatnonzero(~back):
        np.testing.assert_array_equal(window_flags(n, lo[c], hi[c]), per_pixel_flags(s[:, c]))


@pytest.mark.parametrize("n", [5, 20, 30])
@pytest.mark.parametrize("combination", ["average", "median"])
def test_linear_fit_kernel_matches_reference(n: int, combination: str):
    # Flats: most columns' fits reject nothing or samples at the ends (their windows combined by the
    # chunk), a row of plateau pixels goes back to the per-pixel path; a few samples missing or
    # range-clipped (those pixels never take the lanes).
    rng = np.random.default_rng(40 + n)
    rows, cols = K.ROW_BLOCK + 2, 2 * K.CHUNK + 9
    dn = 30000 + 150 * rng.standard_normal((n, rows, cols))
    hits = rng.random(dn.shape) < 0.01
    dn[hits] *= rng.uniform(1.05, 1.5, hits.sum())
    stack = (np.round(dn) / 65535).astype(np.float32)
    stack[:, 4] = rng.permuted(plateau_columns(n, cols, rng), axis=0)  # in frame order
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
