"""numba kernels of :mod:`apcal.stats.robust`: an exact median and MAD in a few streaming passes,
the jittered subsample, and the k-sigma clip's selection (:func:`within`, for :mod:`apcal.stats.noise`).

**Exact selection by filtering** (Floyd & Rivest's idea). The median is the value of rank ``k`` among
the finite values. ``SAMPLE`` values spread over the array give two pivots ``a <= b`` whose sample
ranks lie four standard errors either side of the target rank, so the target falls between them with
probability ~1 - 6e-5. A counting pass (branch-free, vectorized by LLVM) counts the values below
``a``, equal to ``a``, strictly between and equal to ``b``; that places the rank at a pivot (integer ADU
data repeat each value thousands of times: ties are counted, never copied) or between them, and then a
compaction pass copies the few % of values strictly between into a buffer and the search repeats there
until a few thousand values remain for a quickselect. When the rank misses the window (bad luck, or a
pathological distribution) every candidate is gathered and quickselected: slower, still exact.

Selection returns exact order statistics, so the median and the MAD equal ``np.median``'s on the
finite values cast to float64 (the midpoint of an even count as ``(a + b) / 2``, as ``np.mean`` of two
values). The MAD streams ``|x - median|`` computed in float64 from the input's own dtype: no float64
copy of a float32 image.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from apcal.stats._typed import FALSE, TRUE, ZERO, Flag

SAMPLE = 4096  # pivot sample size; the window between the pivots then holds ~6 % of the values
SMALL = 16384  # at most this many candidates: quickselect them directly
_SIGMAS = 4.0  # pivot margin, in standard errors of the target's rank in the sample
# Where a rank falls after a counting pass.
_AT_PIVOT, _INSIDE, _OUTSIDE = 0, 1, 2


@njit(cache=True, inline="always")
def _mix(i: int) -> int:
    """splitmix64 of ``i``, top 32 bits: cheap, well mixed, deterministic."""
    z = np.uint64(i) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x632BE59BD9B4E019)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return int((z ^ (z >> np.uint64(31))) >> np.uint64(32))


@njit(cache=True, inline="always")
def jitter_position(i: int, n: int, size: int) -> int:
    """Position of the ``i``-th of ``size`` samples of ``n >= size`` items: one pseudo-random item in
    each of ``size`` equal strata ``[(i·n) // size, ((i+1)·n) // size)``, so positions increase with
    ``i`` and never repeat."""
    start = (i * n) // size
    return jitter_in(i, start, ((i + 1) * n) // size)


@njit(cache=True, inline="always")
def jitter_in(i: int, start: int, end: int) -> int:
    """The position :func:`jitter_position` picks in stratum ``i`` = ``[start, end)``."""
    return start + ((_mix(i) * (end - start)) >> 32)


@njit(cache=True, inline="always")
def next_stratum(start: int, rem: int, n: int, size: int) -> tuple[int, int]:
    """The next stratum's start and remainder, from this one's ``start = (i·n) // size`` and
    ``rem = (i·n) % size``: walking the strata this way avoids two 64-bit divisions per sample, which
    would cost more than the rest of a gather loop."""
    end = start + n // size
    rem += n % size
    if rem >= size:
        end += 1
        rem -= size
    return end, rem


@njit(cache=True, nogil=True)
def jittered_gather(flat: np.ndarray, size: int) -> np.ndarray:
    """``flat`` at :func:`jitter_position` ``0 .. size-1`` (``flat.size >= size``), same dtype."""
    n = flat.shape[0]
    out = np.empty(size, dtype=flat.dtype)
    start = rem = 0
    for i in range(size):
        end, rem = next_stratum(start, rem, n, size)
        out[i] = flat[jitter_in(i, start, end)]
        start = end
    return out


@njit(cache=True, inline="always")
def _value(x: float, centre: float, deviation: Flag) -> float:
    """The streamed value of input ``x`` in float64: ``x``, or ``|x - centre|`` when ``deviation``."""
    v = np.float64(x)
    return abs(v - centre) if deviation else v


@njit(cache=True, inline="always")
def _finite_value(x: float, centre: float, deviation: Flag) -> float:
    """:func:`_value`, or NaN (false in every comparison) when ``x`` is not finite."""
    return _value(x, centre, deviation) if abs(np.float64(x)) < math.inf else math.nan


@njit(cache=True, nogil=True)
def _count_finite(values: np.ndarray) -> int:
    """Finite values in ``values`` (branch-free, vectorized)."""
    count = 0
    for i in range(values.shape[0]):
        count += abs(np.float64(values[i])) < math.inf
    return count


@njit(cache=True, nogil=True)
def _gather_finite(values: np.ndarray, centre: float, deviation: Flag, count: int) -> np.ndarray:
    """The streamed values of the ``count`` finite inputs, float64."""
    out = np.empty(count, dtype=np.float64)
    j = 0
    for i in range(values.shape[0]):
        if abs(np.float64(values[i])) < math.inf:
            out[j] = _value(values[i], centre, deviation)
            j += 1
    return out


@njit(cache=True, nogil=True)
def _select(a: np.ndarray, lo: int, hi: int, k: int) -> float:
    """Move the ``k``-th smallest of ``a[lo:hi + 1]`` (NaN-free) to ``a[k]`` and return it: quickselect
    with Hoare's partition, which splits runs of ties evenly, around the median of three pseudo-random
    elements (no input order, sorted or crafted, makes it quadratic in practice)."""
    while lo < hi:
        seed, span = (hi << 32) ^ lo, hi - lo + 1
        x = a[lo + ((_mix(seed) * span) >> 32)]
        y = a[lo + ((_mix(seed + 1) * span) >> 32)]
        z = a[lo + ((_mix(seed + 2) * span) >> 32)]
        pivot = max(min(x, y), min(max(x, y), z))
        i, j = lo, hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break  # a[j + 1 : i] all equal the pivot
    return a[k]


@njit(cache=True, nogil=True)
def _select_pair(a: np.ndarray, m: int, k: int, two: bool) -> tuple[float, float]:
    """The ``k``-th smallest of ``a[:m]`` and, when ``two``, the ``k+1``-th (else the ``k``-th again)."""
    low = _select(a, ZERO, m - 1, k)
    high = low
    if two:
        high = a[k + 1]
        for i in range(k + 2, m):
            high = min(high, a[i])
    return low, high


@njit(cache=True, nogil=True)
def _pivots(
    values: np.ndarray, m: int, centre: float, deviation: Flag, quantile: float
) -> tuple[float, float]:
    """Pivots ``a <= b`` bracketing the ``quantile`` of the streamed values of ``values[:m]``, from a
    jittered sample of them; NaN when the sample holds too few finite values."""
    size = min(SAMPLE, m // 4)
    sample = np.empty(size, dtype=np.float64)
    s = 0
    for i in range(size):
        v = _finite_value(values[jitter_position(i, m, size)], centre, deviation)
        if v == v:
            sample[s] = v
            s += 1
    if s < 64:
        return math.nan, math.nan
    target = quantile * (s - 1)
    margin = _SIGMAS * math.sqrt(s * quantile * (1.0 - quantile)) + 2.0
    i_a = max(0, int(target - margin))
    i_b = min(s - 1, int(target + margin) + 1)
    a = _select(sample, ZERO, s - 1, i_a)
    return a, _select(sample, i_a, s - 1, i_b)


@njit(cache=True, nogil=True)
def _counts(
    values: np.ndarray, m: int, centre: float, deviation: Flag, a: float, b: float
) -> tuple[int, int, int, int]:
    """One branch-free pass over ``values[:m]``: finite values below ``a``, equal to ``a``, strictly
    between ``a`` and ``b``, and equal to ``b`` (when ``b > a``)."""
    below = eq_a = inside = eq_b = 0
    for i in range(m):
        v = _finite_value(values[i], centre, deviation)
        below += v < a
        eq_a += v == a
        eq_b += (v == b) & (v > a)
        inside += (v > a) & (v < b)
    return below, eq_a, inside, eq_b


@njit(cache=True, nogil=True)
def _compact(
    values: np.ndarray, m: int, centre: float, deviation: Flag, a: float, b: float, out: np.ndarray
) -> int:
    """Copy the streamed values of ``values[:m]`` strictly between ``a`` and ``b`` to ``out``, in order
    (branch-free; ``out`` may be ``values`` itself). Non-finite inputs never fall strictly between two
    pivots, which are finite sample values or deviations, so they need no test here."""
    j = 0
    for i in range(m):
        v = _value(values[i], centre, deviation)
        out[j] = v
        j += (v > a) & (v < b)
    return j


@njit(cache=True, nogil=True)
def _least_between(values: np.ndarray, m: int, centre: float, deviation: Flag, a: float, b: float) -> float:
    """The least streamed value of ``values[:m]`` strictly between ``a`` and ``b``."""
    least = math.inf
    for i in range(m):
        v = _value(values[i], centre, deviation)
        if a < v < least and v < b:
            least = v
    return least


@njit(cache=True, inline="always")
def _locate(r: int, below: int, eq_a: int, inside: int, eq_b: int, a: float, b: float) -> tuple[int, float]:
    """Where rank ``r`` falls: (_AT_PIVOT, its value), (_INSIDE, its rank between the pivots) or
    (_OUTSIDE, 0)."""
    if r < below:
        return _OUTSIDE, 0.0
    r -= below
    if r < eq_a:
        return _AT_PIVOT, a
    r -= eq_a
    if r < inside:
        return _INSIDE, float(r)
    if r - inside < eq_b:
        return _AT_PIVOT, b
    return _OUTSIDE, 0.0


@njit(cache=True, nogil=True)
def _narrow(
    values: np.ndarray,
    m: int,
    count: int,
    centre: float,
    deviation: Flag,
    k: int,
    two: bool,
    buf: np.ndarray,
) -> tuple[bool, float, float, np.ndarray, int, int, bool]:
    """One filtering step for the ranks ``k`` (and ``k+1`` when ``two``) among the streamed values of the
    ``count`` finite inputs in ``values[:m]``.

    Returns ``(done, low, high, buf, m', k', two')``. When ``done``, ``low`` and ``high`` are the order
    statistics. Otherwise the candidates are now ``buf[:m']``: the values strictly between the pivots,
    or every finite value when the window missed. ``k'`` is the rank among them, ``two'`` tells whether
    ``k'+1`` is wanted there too, and when ``two`` but not ``two'``, ``high`` is already known. ``buf``
    is reused when large enough (it is ``values`` itself after the first step: copies run forward), and
    otherwise allocated at the size needed: untouched pages cost page faults.
    """
    a, b = _pivots(values, m, centre, deviation, (k + 0.5 * two + 0.5) / m)
    if a == a:
        below, eq_a, inside, eq_b = _counts(values, m, centre, deviation, a, b)
        where_low, low = _locate(k, below, eq_a, inside, eq_b, a, b)
        where_high, high = _locate(k + 1 if two else k, below, eq_a, inside, eq_b, a, b)
        if where_low == _AT_PIVOT:
            if where_high == _INSIDE:
                high = _least_between(values, m, centre, deviation, a, b)  # rank k+1
            if where_high != _OUTSIDE:
                return True, low, high, buf, 0, 0, False
        elif where_low == _INSIDE and where_high != _OUTSIDE:
            if buf.shape[0] <= inside:  # _compact writes one slot past the last kept value
                buf = np.empty(inside + 1, dtype=np.float64)
            kept = _compact(values, m, centre, deviation, a, b, buf)
            return False, 0.0, high, buf, kept, int(low), where_high == _INSIDE and two
    if buf.shape[0] < count:
        buf = np.empty(count, dtype=np.float64)
    kept = 0
    for i in range(m):
        if abs(np.float64(values[i])) < math.inf:
            buf[kept] = _value(values[i], centre, deviation)
            kept += 1
    return False, 0.0, 0.0, buf, kept, k, two


@njit(cache=True, nogil=True)
def _order_pair(values: np.ndarray, centre: float, deviation: Flag, count: int) -> tuple[float, float]:
    """The two middle order statistics (equal when ``count`` is odd) of the streamed values of the
    ``count`` finite inputs of ``values``."""
    k = (count - 1) // 2
    two = count % 2 == 0
    if values.shape[0] <= SMALL:
        return _select_pair(_gather_finite(values, centre, deviation, count), count, k, two)
    empty = np.empty(0, dtype=np.float64)
    done, low, high, buf, m, k, two_left = _narrow(
        values, values.shape[0], count, centre, deviation, k, two, empty
    )
    while not done and m > SMALL:
        before, wanted = m, two_left
        done, low, found, buf, m, k, two_left = _narrow(buf, m, m, 0.0, FALSE, k, wanted, buf)
        if wanted and not two_left:
            high = found
        if m == before:  # the window missed twice: quickselect what is left
            break
    if not done:
        low, found = _select_pair(buf, m, k, two_left)
        if two_left:
            high = found
    return low, high if two else low


@njit(cache=True, nogil=True)
def median_mad(values: np.ndarray) -> tuple[float, float]:
    """Median and raw MAD of the finite values of the 1-D ``values`` (float32 or float64), equal to
    ``np.median`` of them cast to float64 and of their absolute deviations; NaN, NaN when none is."""
    count = _count_finite(values)
    if count == 0:
        return math.nan, math.nan
    low, high = _order_pair(values, 0.0, FALSE, count)
    median = (low + high) / 2 if count % 2 == 0 else low
    low, high = _order_pair(values, median, TRUE, count)
    return median, (low + high) / 2 if count % 2 == 0 else low


@njit(cache=True, nogil=True)
def within(x: np.ndarray, centre: float, bound: float) -> np.ndarray:
    """``x[np.abs(x - centre) < bound]`` for a 1-D float64 ``x``: the same comparisons, counted first so
    the result is allocated once at its size, with no full-size temporaries."""
    count = 0
    for i in range(x.shape[0]):
        count += abs(x[i] - centre) < bound
    out = np.empty(count, dtype=np.float64)
    j = 0
    for i in range(x.shape[0]):
        if abs(x[i] - centre) < bound:
            out[j] = x[i]
            j += 1
    return out
