"""The fast paths inside the numba kernel against what they replace: the across-columns winsorized
clipping (start per chunk, every rejection iteration in lanes that take the row's columns in turn),
the stable ranking, the two-pointer Sn and the sorting network.

``test_kernels_agreement`` checks the kernel against the numpy reference on small images; here the
stacks are wide enough to use several column chunks (with a partial last one), with quantized 16-bit
samples (many ties), cosmic rays and columns with missing samples next to complete ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from apcal.engines.native import _chunk_combine as CC
from apcal.engines.native import _chunk_samples as C
from apcal.engines.native import _integrate_kernel as K
from apcal.engines.native import _kernel_stats as S
from apcal.engines.native import _winsorized_lanes as W
from apcal.engines.native._kernel_params import kernel_params
from apcal.engines.native.integration import integrate
from apcal.engines.native.normalization import Coefficients
from apcal.params import IntegrationParams


def quantized_stack(n: int, cols: int, seed: int, rows: int = 3, missing: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dn = 1000 + 8 * rng.standard_normal((n, rows, cols))
    hits = rng.random(dn.shape) < 0.01
    dn[hits] += rng.uniform(100, 5000, size=hits.sum())
    dn[rng.random(dn.shape) < 0.003] -= 400
    dn[:, 0, :5] = 1000  # all equal: sigma 0
    stack = (np.round(dn) / 65535).astype(np.float32)
    if missing:
        stack[rng.random(stack.shape) < 0.002] = np.nan  # a few columns leave the chunked path
        stack[:, 1, 7] = 0.0  # range-clipped low in every frame
    return stack


def assert_same(stack, params, **kw):
    a = integrate(stack, params, fast=True, **kw)
    b = integrate(stack, params, fast=False, **kw)
    np.testing.assert_array_equal(a.rejected_low, b.rejected_low)
    np.testing.assert_array_equal(a.rejected_high, b.rejected_high)
    np.testing.assert_allclose(a.image, b.image, rtol=1e-6, atol=1e-7)
    return a


@pytest.mark.parametrize("n", [3, 4, 11, 20, 33, 60, 100])
def test_chunked_winsorized_matches_reference(n: int):
    stack = quantized_stack(n, cols=2 * K.CHUNK + 13, seed=n)
    result = assert_same(stack, IntegrationParams(rejection="winsorized"))
    if n >= 11:
        assert result.rejected_high.sum() > 0 and result.rejected_low.sum() > 0


@pytest.mark.parametrize("cutoff", [5.0, 2.5])
def test_winsorized_lanes_over_long_rows_and_row_blocks_match_reference(cutoff: float):
    # Rows several times LANES wide (lanes take new columns and run later rejection iterations while
    # others still winsorize), more rows than a ROW_BLOCK (work arrays reused across rows), heavy
    # outliers on both sides (several rejection iterations; with cutoff 2.5 the cutoff replaces
    # samples by the mean).
    n = 20
    rng = np.random.default_rng(7)
    rows, cols = K.ROW_BLOCK + 3, 4 * W.LANES + 29
    dn = 1000 + 8 * rng.standard_normal((n, rows, cols))
    hits = rng.random(dn.shape) < 0.06
    dn[hits] += rng.uniform(20, 3000, size=hits.sum())
    dn[rng.random(dn.shape) < 0.02] -= rng.uniform(20, 400)
    stack = (np.round(dn) / 65535).astype(np.float32)
    stack[rng.random(stack.shape) < 0.0005] = np.nan
    params = IntegrationParams(rejection="winsorized", winsorization_cutoff=cutoff)
    result = assert_same(stack, params)
    assert (result.rejected_high > 1).sum() > 100 and (result.rejected_low > 0).sum() > 100
    assert_same(
        stack, IntegrationParams(rejection="winsorized", winsorization_cutoff=cutoff, combination="median")
    )


@pytest.mark.parametrize(
    "params",
    [
        IntegrationParams(rejection="winsorized", winsorization_cutoff=0.0),
        IntegrationParams(rejection="winsorized", clip_low=False),
        IntegrationParams(rejection="winsorized", clip_high=False, sigma_low=2.0),
        IntegrationParams(rejection="winsorized", combination="median"),
        IntegrationParams(rejection="winsorized", combination="maximum", range_clip_low=False),
    ],
)
def test_chunked_winsorized_options_match_reference(params: IntegrationParams):
    assert_same(quantized_stack(17, cols=K.CHUNK + 5, seed=3), params)


def test_chunked_winsorized_with_normalization_matches_reference():
    n = 24
    stack = quantized_stack(n, cols=K.CHUNK + 40, seed=5, missing=False)
    rng = np.random.default_rng(1)
    output = Coefficients(scale=rng.uniform(0.9, 1.1, n), offset=rng.uniform(-0.01, 0.01, n))
    rejection = Coefficients(scale=rng.uniform(0.9, 1.1, n), offset=np.zeros(n))
    assert_same(stack, IntegrationParams(rejection="winsorized"), output=output, rejection=rejection)


def test_chunked_winsorized_ties_at_the_window_ends_match_reference():
    # Integer samples with little noise: equal samples at both ends of almost every window, and distinct
    # output scales per frame, so keeping the wrong one of equal samples would change the average.
    n = 20
    rng = np.random.default_rng(12)
    dn = 1000 + rng.uniform(0.3, 2.0, 200) * rng.standard_normal((n, 4, 200))
    hits = rng.random(dn.shape) < 0.08
    dn[hits] += rng.uniform(5, 50, size=hits.sum())
    dn[rng.random(dn.shape) < 0.04] -= 8
    stack = (np.round(dn) / 65535).astype(np.float32)
    output = Coefficients(scale=1 + 0.05 * np.arange(n), offset=0.001 * np.arange(n))
    for combination in ("average", "median"):
        params = IntegrationParams(rejection="winsorized", combination=combination, sigma_high=1.5)
        result = assert_same(stack, params, output=output)
    s = np.sort(stack.astype(np.float64), axis=0)
    lo = result.rejected_low.astype(int)[None]
    hi = n - result.rejected_high.astype(int)[None]
    at = lambda j: np.take_along_axis(s, np.clip(j, 0, n - 1), axis=0)[0]  # noqa: E731
    assert ((hi < n) & (at(hi - 1) == at(hi - 2))).sum() > 300  # clipped high, equal samples kept
    assert ((lo > 0) & (at(lo) == at(lo + 1))).sum() > 100  # clipped low, equal samples kept


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unnormalized_samples_gathered_as_stored_are_the_normalized_gather(dtype):
    # Bias and darks are gathered and sorted in the stack's dtype (_gather_raw), then widened: the
    # same values and counts as the float64 gather with scale 1 and offset 0, missing, range-clipped
    # and negative-zero samples included.
    n, width = 13, 40
    stack = quantized_stack(n, cols=width, seed=4, rows=2).astype(dtype)
    stack[3, 0, :6] = -0.0
    stack[5, 0, 6:9] = 1.0  # range-clipped high
    stack[6, 1, 10:12] = -1.0  # range-clipped low
    settings = IntegrationParams(
        rejection="winsorized", range_clip_low=True, range_low=-0.5, range_clip_high=True
    )
    params = kernel_params(settings, "winsorized", "average")
    fs = (np.ones(n), np.zeros(n), np.ones(n), np.zeros(n))
    assert C._identity_rejection(fs) and not C._identity_rejection((np.full(n, 1.1), *fs[1:]))
    for y in range(2):
        ref, raw, vals = np.empty((n, width)), np.empty((n, width), dtype=dtype), np.empty((n, width))
        counts = [np.empty(width, dtype=np.int64) for _ in range(6)]
        C._gather_chunk(stack, y, 0, width, params, fs, ref, *counts[:3])
        C._gather_raw(stack, y, 0, width, params, raw, *counts[3:])
        C._widen(raw, vals, n, width)
        np.testing.assert_array_equal(vals, ref)
        assert not np.signbit(vals).any()  # -0.0 gathered as +0.0, as scale 1 and offset 0 make it
        for a, b in zip(counts[:3], counts[3:], strict=True):
            np.testing.assert_array_equal(a, b)
        assert counts[5].sum() == (3 if y == 0 else 0) and counts[4].sum() == (0 if y == 0 else 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunked_winsorized_sorted_as_stored_matches_reference(dtype):
    stack = quantized_stack(21, cols=K.CHUNK + 9, seed=8).astype(dtype)
    stack[4, 2, :20] = -0.0
    assert_same(stack, IntegrationParams(rejection="winsorized"))


@pytest.mark.parametrize("n", [20, 60])
def test_float32_start_is_float64s_wherever_sn_exact_says_so(n: int):
    # The start in float32 (16-bit frames) against float64, chunk by chunk: the medians always agree;
    # Sn does wherever _sn_exact says so, which it says of 16-bit-like samples and not of samples
    # spread over binades, where float32's Sn does differ.
    rng = np.random.default_rng(n)
    networks, eligible = W.lanes_networks(n), np.ones(K.CHUNK, dtype=np.bool_)
    verdicts, differed = [], False
    for trial in range(40):
        if trial % 2:
            samples = rng.uniform(1e-3, 1.0, (n, K.CHUNK))
        else:
            samples = np.round(500 + 6 * rng.standard_normal((n, K.CHUNK))) / 65535
        raw = np.sort(samples.astype(np.float32), axis=0)
        starts = []
        for chunk in (raw.astype(np.float64), raw):
            h, mean0, sig0 = np.empty(chunk.shape, dtype=chunk.dtype), np.empty(K.CHUNK), np.empty(K.CHUNK)
            K._start_lanes(chunk, n, K.CHUNK, 0, eligible, networks, h, mean0, sig0)
            starts.append((mean0, sig0))
        (mean64, sn64), (mean32, sn32) = starts
        np.testing.assert_array_equal(mean32, mean64)
        exact = K._sn_exact(raw, h, n, K.CHUNK)
        verdicts.append(exact)
        if exact:
            np.testing.assert_array_equal(sn32, sn64)
        differed |= bool((sn32 != sn64).any())
    assert verdicts == [True, False] * 20 and differed


def test_stable_keep_is_the_stable_rank_window():
    # The combine's fallback (never taken by winsorized clipping): the window [lo, hi) of the stable
    # ranks, even when it splits equal samples.
    rng = np.random.default_rng(2)
    n, cols = 15, 300
    stack = np.round(rng.standard_normal((n, 1, cols)) * 1.5).astype(np.float32)  # many ties
    r_scale = np.where(rng.random(n) < 0.5, 1.0, 2.0)
    r_offset = np.zeros(n)
    keep = np.empty(n, dtype=np.bool_)
    ranks = np.empty((n, 1), dtype=np.int32)
    for c in range(cols):
        lo = int(rng.integers(0, n // 2))
        hi = int(rng.integers(lo + 1, n + 1))
        CC._stable_keep(stack, 0, c, r_scale, r_offset, lo, hi, keep)
        C._rank_chunk(stack[:, 0, c : c + 1].astype(np.float64) * r_scale[:, None], ranks, n, 1)
        np.testing.assert_array_equal(keep, (lo <= ranks[:, 0]) & (ranks[:, 0] < hi))


@pytest.mark.parametrize("algorithm", ["sigma", "percentile", "esd", "linear_fit", "averaged_sigma"])
def test_ranked_gather_matches_reference_over_several_chunks(algorithm: str):
    assert_same(quantized_stack(9, cols=K.CHUNK + 3, seed=11, rows=2), IntegrationParams(rejection=algorithm))


def test_rank_chunk_is_the_stable_sort_order():
    rng = np.random.default_rng(0)
    n, width = 23, 50
    vals = np.round(rng.standard_normal((n, width)) * 3)  # many ties
    vals[rng.random(vals.shape) < 0.1] = np.inf  # excluded samples
    ranks = np.empty((n, width), dtype=np.int32)
    C._rank_chunk(vals, ranks, n, width)
    order = np.argsort(vals, axis=0, kind="stable")
    expected = np.empty_like(ranks)
    np.put_along_axis(expected, order, np.arange(n)[:, None].repeat(width, axis=1), axis=0)
    np.testing.assert_array_equal(ranks, expected)


def _sn_merge(v, lo, hi):
    """The merge walk the two-pointer Sn replaced: k+1 steps outward from each sample."""
    cnt = hi - lo
    k = cnt // 2
    himeds = []
    for i in range(lo, hi):
        a, b, d = i, i + 1, 0.0
        for _ in range(k + 1):
            dl = v[i] - v[a] if a >= lo else np.inf
            dr = v[b] - v[i] if b < hi else np.inf
            if dl <= dr:
                d, a = dl, a - 1
            else:
                d, b = dr, b + 1
        himeds.append(d)
    return sorted(himeds)[max(0, (cnt + 1) // 2 - 1)]


def sorted_windows(seed: int, trials: int, *, odd: bool = False):
    """Sorted 16-bit-like samples (ties everywhere, long runs of them every 7th trial) and a window
    [lo, hi) of at least one; ``odd`` adds a mid-window run of ties and, every 13th trial, a +inf."""
    rng = np.random.default_rng(seed)
    for trial in range(trials):
        n = int(rng.integers(1, 70))
        v = np.sort(np.round(rng.standard_normal(n) * rng.choice([0.5, 3, 100])) / 65535 + 0.3)
        if trial % 7 == 0:
            v[: n // 2] = v[0]  # long runs of ties
        if odd and trial % 11 == 0:
            v[n // 3 : n // 2 + 1] = v[n // 3]
        if odd and trial % 13 == 0:
            v[-1] = np.inf  # not finite
        lo = int(rng.integers(0, max(1, n // 4)))
        hi = n - int(rng.integers(0, max(1, n // 4)))
        if hi - lo >= 1:
            yield v, lo, hi


def test_two_pointer_sn_equals_the_merge_walk():
    work = np.empty(70)
    for v, lo, hi in sorted_windows(4, 400):
        assert S._sn(v, lo, hi, work) == _sn_merge(v, lo, hi)


def test_sn_windows_equals_two_pointer_sn():
    """The lanes' restarts take Sn branch-free (_sn_windows): the two-pointer Sn's value, also with a
    non-finite end (where it falls back to _sn itself)."""
    work = np.empty(70)
    for v, lo, hi in sorted_windows(5, 3000, odd=True):
        expected = S._sn(v, lo, hi, work)
        got = S._sn_windows(v, lo, hi, work)
        assert got == expected or (np.isnan(got) and np.isnan(expected))


def test_select_takes_every_rank_of_tie_heavy_values():
    """Sn's selection (_select: counting between two pivots) gives numpy's r-th smallest, for every rank,
    whether or not a pivot is the answer; values from a few distinct ones (ties everywhere) to all
    distinct, in the order Sn's himeds come in and shuffled."""
    rng = np.random.default_rng(11)
    for trial in range(600):
        cnt = int(rng.integers(1, 140))
        w = np.round(rng.standard_normal(cnt) * rng.choice([0.3, 2, 50, 1e4])) / 7
        if trial % 2:
            w = np.abs(w - np.median(w))  # V-shaped by position, as the himeds of sorted samples
        expected = np.sort(w)
        for r in range(cnt):
            assert S._select(w.copy(), cnt, r) == expected[r]


@pytest.mark.parametrize("n", range(1, 17))
def test_sorting_network_sorts_every_zero_one_input(n: int):
    x = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.int8)
    for a, b in W.sorting_network(n):
        assert a < b < n
        x[:, a], x[:, b] = np.minimum(x[:, a], x[:, b]), np.maximum(x[:, a], x[:, b])
    assert (np.diff(x, axis=1) >= 0).all()


@pytest.mark.parametrize("n", [17, 20, 33, 60, 100])
def test_sorting_network_sorts_random_inputs(n: int):
    x = np.round(np.random.default_rng(n).standard_normal((2000, n)) * 4)
    for a, b in W.sorting_network(n):
        x[:, a], x[:, b] = np.minimum(x[:, a], x[:, b]), np.maximum(x[:, a], x[:, b])
    assert (np.diff(x, axis=1) >= 0).all()


@pytest.mark.parametrize("n", range(1, 15))
def test_selection_network_selects_every_rank_of_every_zero_one_input(n: int):
    x0 = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.int8)
    expected = np.sort(x0, axis=1)
    for r in range(n):
        x = x0.copy()
        for a, b in W.selection_network(W.sorting_network(n), r):
            x[:, a], x[:, b] = np.minimum(x[:, a], x[:, b]), np.maximum(x[:, a], x[:, b])
        np.testing.assert_array_equal(x[:, r], expected[:, r])


def _wire_sequences(network: np.ndarray) -> dict[int, list[tuple[int, int]]]:
    sequences: dict[int, list[tuple[int, int]]] = {}
    for a, b in network:
        for wire in (a, b):
            sequences.setdefault(int(wire), []).append((int(a), int(b)))
    return sequences


@pytest.mark.parametrize("n", [2, 20, 32, 33, 64, 65, 100, 128])
def test_blocked_order_meets_each_wires_comparators_in_batchers_order(n: int):
    """The cache-friendly order only moves comparators past comparators on other wires, which is what
    makes it compute the same function; for the lomed's selection network too."""
    batcher = W.sorting_network(n)
    sort, select = W.lanes_networks(n)
    assert _wire_sequences(sort) == _wire_sequences(batcher)
    assert _wire_sequences(select) == _wire_sequences(W.selection_network(batcher, (n + 1) // 2 - 1))
    x = np.round(np.random.default_rng(n).standard_normal((500, n)) * 4)
    expected = np.sort(x, axis=1)
    for a, b in sort:
        x[:, a], x[:, b] = np.minimum(x[:, a], x[:, b]), np.maximum(x[:, a], x[:, b])
    np.testing.assert_array_equal(x, expected)


def test_blocked_order_sorts_the_first_block_before_touching_the_next():
    """At 100 samples the first 32 rows are sorted (Batcher's 191 comparators for 32 values) before any
    comparator reaches a row beyond them; in Batcher's own order the first stage already spans all."""
    first = W.lanes_networks(100)[0][: len(W.sorting_network(32))]
    assert first.max() < W.BLOCK_WIRES
    assert W.sorting_network(100)[: len(first)].max() >= W.BLOCK_WIRES


@pytest.mark.parametrize("n", [17, 20, 40, 41, 64, 100])
def test_lomed_network_is_a_pruned_sorting_network_that_selects_the_lomed(n: int):
    sort, select = W.lanes_networks(n)
    r = (n + 1) // 2 - 1
    assert 0 < len(select) < len(sort)
    assert {tuple(c) for c in select} <= {tuple(c) for c in sort}
    x = np.round(np.random.default_rng(n).standard_normal((2000, n)) * 4)
    expected = np.sort(x, axis=1)[:, r]
    for a, b in select:
        x[:, a], x[:, b] = np.minimum(x[:, a], x[:, b]), np.maximum(x[:, a], x[:, b])
    np.testing.assert_array_equal(x[:, r], expected)


@pytest.mark.parametrize("n", [3, 4, 5, 9, 20, 39, 40, 41, 64, 100, 101])
def test_banded_himeds_equal_every_window(n: int):
    """Sn's himeds over the band of windows that holds each column's optimum are those over every
    window, bit for bit. Chunks of one or two columns (the band is then exactly the optimum's
    neighbourhood: starting it one window later than the leftmost crossing changes the result) and a
    partial chunk of tie-heavy columns, one repeated value, a very wide column beside narrow ones (the
    band spreads) and a long run of ties."""
    rng = np.random.default_rng(n)
    for trial in range(60):
        width = 1 + trial % 2
        wc = np.ascontiguousarray(np.sort(rng.standard_normal((n, K.CHUNK)), axis=0))
        assert_banded_is_every_window(wc, width, n)
    dn = np.round(1000 + rng.choice([0.5, 3, 8], size=K.CHUNK) * rng.standard_normal((n, K.CHUNK)))
    dn[:, 3] = 1000
    dn[:, 4] = np.round(1000 + 3000 * rng.standard_normal(n))
    dn[: n // 2, 5] = dn[0, 5]
    assert_banded_is_every_window(np.ascontiguousarray(np.sort(dn / 65535, axis=0)), K.CHUNK - 5, n)


def assert_banded_is_every_window(wc: np.ndarray, width: int, n: int) -> None:
    every, banded = np.empty_like(wc), np.empty_like(wc)
    W._himeds_all_windows(wc, width, n, every)
    W._himeds_banded(wc, width, n, banded)
    np.testing.assert_array_equal(banded[:, :width], every[:, :width])
