"""Numba kernels of :func:`apcal.engines.native.integration.integrate` (``fast=True``) and of flat
calibration (:mod:`apcal.engines.native.calibration`).

One parallel loop over rows (``prange``). Each row is taken ``CHUNK`` columns at a time: the samples
are gathered frame by frame (contiguous reads), range-clipped and rejection-normalized, and ranked in
their stable sorted order across all the chunk's columns at once (:func:`_rank_chunk`, branch-free, so
the compiler vectorizes it). Then each pixel's sorted samples go through the rejection algorithm and
the output-normalized survivors are combined in frame order. Winsorized clipping, the default for
every master, is computed across columns instead: each chunk's columns sorted by a sorting network
(:func:`_sort_chunk`, no ranks needed: its windows never split equal samples, so the survivors are
told apart by value), the start (median, Sn) per chunk (:func:`_winsorized_start`), then every
rejection iteration in lanes that take the row's columns in turn (:func:`_winsorized_lanes`).

The arithmetic mirrors :mod:`apcal.engines.native.rejection` operation for operation (float64, same
summation order, same Sn start), so both paths agree exactly; see that module for the formulas and
their sources. Work arrays are allocated once per row, never per pixel. No ``fastmath``: it would let
LLVM reassociate the sums and break that agreement. ``nogil``: a reader thread could run alongside.

Measured on a 20-frame stack of 16-bit frames: ~0.077 µs per pixel on 2 threads (0.23 s for 3 Mpx;
``bench/README.md``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from apcal.engines.native._pcl_rules import median_of_valid, sn_correction

# Algorithm and combination codes (the Python side maps names to these).
NONE, MINMAX, PERCENTILE, SIGMA, WINSORIZED, AVERAGED, LINEAR_FIT, ESD = range(8)
AVERAGE, MEDIAN, MINIMUM, MAXIMUM = range(4)

# Indices into the float parameter vector.
P_SIGMA_LOW, P_SIGMA_HIGH, P_PC_LOW, P_PC_HIGH, P_CUTOFF, P_LF_LOW, P_LF_HIGH = range(7)
P_ESD_FRACTION, P_ESD_RELAX, P_RANGE_LOW, P_RANGE_HIGH = range(7, 11)
N_FLOAT_PARAMS = 11
# Indices into the integer parameter vector.
I_CLIP_LOW, I_CLIP_HIGH, I_RANGE_CLIP_LOW, I_RANGE_CLIP_HIGH, I_MM_LOW, I_MM_HIGH, I_ESD_ROSNER = range(7)
N_INT_PARAMS = 7

WINSOR_CLAMP = 1.5
WINSOR_SIGMA = 1.134
SN_FACTOR = 1.1926
WINSOR_TOLERANCE = 0.0005
WINSOR_MAX_ITERATIONS = 100

KEEP, LOW, HIGH = 0, 1, 2


@njit(cache=True)
def _median(v, lo, hi):
    cnt = hi - lo
    if cnt < 2:
        return 0.0
    half = cnt // 2
    if cnt % 2 == 1:
        return v[lo + half]
    return (v[lo + half] + v[lo + half - 1]) / 2


@njit(cache=True)
def _sigma_about(v, lo, hi, centre):
    cnt = hi - lo
    if cnt < 2:
        return 0.0
    var = 0.0
    eps = 0.0
    for j in range(lo, hi):
        d = v[j] - centre
        var += d * d
        eps += d
    return math.sqrt((var - eps * eps / cnt) / (cnt - 1))


@njit(cache=True)
def _sigma(v, lo, hi):
    cnt = hi - lo
    if cnt < 2:
        return 0.0
    total = 0.0
    for j in range(lo, hi):
        total += v[j]
    return _sigma_about(v, lo, hi, total / cnt)


@njit(cache=True)
def _clip_counts(v, lo, hi, centre, sigma, low_t, high_t, clip_low, clip_high):
    """Leading/trailing counts of (c - x)/σ > low_t and (x - c)/σ > high_t in the sorted window."""
    cl = 0
    if clip_low:
        for j in range(lo, hi):
            if not (centre - v[j]) / sigma > low_t:
                break
            cl += 1
    ch = 0
    if clip_high:
        for j in range(hi - 1, lo - 1, -1):
            if not (v[j] - centre) / sigma > high_t:
                break
            ch += 1
    return cl, ch


@njit(cache=True)
def _sort_values(v, cnt):
    for a in range(1, cnt):
        x = v[a]
        b = a - 1
        while b >= 0 and v[b] > x:
            v[b + 1] = v[b]
            b -= 1
        v[b + 1] = x


@njit(cache=True)
def _sn(v, lo, hi, work):
    """Rousseeuw–Croux Sn of the sorted window (lomed_i himed_j |x_i - x_j|, no consistency factor).

    himed_i, the (k+1)-th smallest distance from x_i (itself included, k = cnt//2), is the smallest
    over the windows of k+1 consecutive samples holding i of the window's largest distance from x_i,
    max(x_i - x_a, x_(a+k) - x_i). The first term falls and the second rises with a, so the optimum is
    at the first a where the second reaches the first (or just before it), and that a never decreases
    with i: one two-pointer sweep, O(cnt) instead of a k-step merge per sample. The differences are the
    very floating-point numbers the merge compared, so the result is the same (tests).
    """
    cnt = hi - lo
    k = cnt // 2
    a = lo
    last = hi - 1 - k  # the last window start
    for i in range(lo, hi):
        xi = v[i]
        if a < i - k:
            a = i - k
        while a < last and a < i and v[a + k] - xi < xi - v[a]:
            a += 1
        d = v[a + k] - xi
        if d < xi - v[a]:  # only when no window start further right exists
            d = xi - v[a]
        if a > lo and a - 1 >= i - k:
            left = xi - v[a - 1]
            if left < d:
                d = left
        work[i - lo] = d
    r = (cnt + 1) // 2 - 1
    if r < 0:
        r = 0
    return _select(work, cnt, r)


@njit(cache=True)
def _select(w, cnt, r):
    """The r-th smallest (0-based) of w[:cnt], by counting: the w_i with #{w_j < w_i} <= r < #{w_j <= w_i}.

    Branch-free inner loops (vectorized): for ~20-60 values about twice as fast as sorting them.
    """
    for i in range(cnt):
        wi = w[i]
        lt = 0
        le = 0
        for j in range(cnt):
            lt += w[j] < wi
            le += w[j] <= wi
        if lt <= r < le:
            return wi
    return w[r]  # unreachable for finite values


@njit(cache=True)
def _sn_windows(v, lo, hi, work):
    """:func:`_sn` with the himeds taken over every window, without a data-dependent branch: for the
    restarts of :func:`_winsorized_lanes` (windows of ~20 real, tie-heavy samples), where the two-pointer
    sweep's branches mispredict about once per sample; this takes half its time (~60 ns instead of
    ~120 ns for 18 samples, before the selection), the lanes ~7 % of theirs on bias and darks.

    Each himed is the minimum over *all* the windows of k+1 consecutive samples holding i of their
    largest distance from x_i, as :func:`_winsorized_start` takes it: the same floating-point
    candidates among which the sweep finds its optimum, so the same minimum, then the same
    :func:`_select`. Windows with an infinite sample take :func:`_sn` itself (inf - inf is NaN, and
    min/max would treat it unlike the sweep's comparisons).
    """
    cnt = hi - lo
    if not (math.isfinite(v[lo]) and math.isfinite(v[hi - 1])):  # sorted: finite ends, finite window
        return _sn(v, lo, hi, work)
    k = cnt // 2
    for i in range(cnt):
        work[i] = np.inf
    for a in range(lo, hi - k):
        xa = v[a]
        xak = v[a + k]
        for i in range(a, a + k + 1):
            xi = v[i]
            work[i - lo] = min(work[i - lo], max(xi - xa, xak - xi))
    r = (cnt + 1) // 2 - 1
    if r < 0:
        r = 0
    return _select(work, cnt, r)


@njit(cache=True)
def _winsorize(v, lo, hi, cutoff, w):
    cnt = hi - lo
    mean = _median(v, lo, hi)
    sigma = SN_FACTOR * (sn_correction(cnt) * _sn(v, lo, hi, w))
    for j in range(lo, hi):
        w[j] = v[j]
    it = 0
    while it < WINSOR_MAX_ITERATIONS:
        if 1 + sigma == 1:
            break
        t0 = mean - WINSOR_CLAMP * sigma
        t1 = mean + WINSOR_CLAMP * sigma
        # The clamping pass also sums the clamped samples, in the same order as the reference's sum;
        # the stdev is then taken about total/cnt (what _sigma would recompute) and that is the new mean.
        total = 0.0
        if cutoff > 0:
            c0 = mean - cutoff * sigma
            c1 = mean + cutoff * sigma
            for j in range(lo, hi):
                x = w[j]
                if x < t0:
                    x = t0 if x > c0 else mean
                elif x > t1:
                    x = t1 if x < c1 else mean
                w[j] = x
                total += x
        else:
            for j in range(lo, hi):
                x = w[j]
                if x < t0:
                    x = t0
                elif x > t1:
                    x = t1
                w[j] = x
                total += x
        s0 = sigma
        mean = total / cnt
        sigma = WINSOR_SIGMA * (_sigma_about(w, lo, hi, mean) if cnt >= 2 else 0.0)
        it += 1
        if it > 1 and abs(s0 - sigma) / s0 < WINSOR_TOLERANCE:
            break
    return mean, sigma


@njit(cache=True)
def _winsorized_from(v, lo, hi, it, fp, clip_low, clip_high, w):
    """Winsorized sigma clipping of the sorted window v[lo:hi] from rejection iteration ``it``: the
    final window. (:func:`_winsorized_lanes` runs the same steps across columns.)"""
    while hi - lo >= 3:
        cutoff = fp[P_CUTOFF] if it == 0 else 0.0
        mean, sigma = _winsorize(v, lo, hi, cutoff, w)
        if 1 + sigma == 1:
            break
        cl, ch = _clip_counts(v, lo, hi, mean, sigma, fp[P_SIGMA_LOW], fp[P_SIGMA_HIGH], clip_low, clip_high)
        if cl + ch == 0:
            break
        lo += cl
        hi -= ch
        it += 1
    return lo, hi


@njit(cache=True)
def _reject_sorted(algo, v, cnt, flags, fp, ip, esd_table, w, w2, w3, took_low):
    """Run ``algo`` on the sorted samples v[:cnt]; write KEEP/LOW/HIGH per sorted position in flags."""
    for j in range(cnt):
        flags[j] = KEEP
    if algo == NONE or cnt == 0:
        return
    clip_low = ip[I_CLIP_LOW] != 0
    clip_high = ip[I_CLIP_HIGH] != 0
    lo = 0
    hi = cnt

    if algo == MINMAX:
        lo = min(ip[I_MM_LOW] if clip_low else 0, cnt)
        hi = max(cnt - min(ip[I_MM_HIGH] if clip_high else 0, cnt), lo)
    elif algo == PERCENTILE:
        m = _median(v, 0, cnt)
        if cnt >= 2 and 1 + m != 1:
            cl, ch = _clip_counts(v, 0, cnt, m, m, fp[P_PC_LOW], fp[P_PC_HIGH], clip_low, clip_high)
            lo, hi = cl, cnt - ch
    elif algo == SIGMA:
        while hi - lo >= 3:
            sigma = _sigma(v, lo, hi)
            if 1 + sigma == 1:
                break
            m = _median(v, lo, hi)
            cl, ch = _clip_counts(v, lo, hi, m, sigma, fp[P_SIGMA_LOW], fp[P_SIGMA_HIGH], clip_low, clip_high)
            if cl + ch == 0:
                break
            lo += cl
            hi -= ch
    elif algo == WINSORIZED:
        lo, hi = _winsorized_from(v, 0, cnt, 0, fp, clip_low, clip_high, w)
    elif algo == AVERAGED:
        m = _median(v, 0, cnt)
        if cnt >= 3 and 1 + m != 1:
            acc = 0.0
            for j in range(cnt):
                d = v[j] - m
                acc += d * d / m
            scale = math.sqrt(acc / (cnt - 1))
            while True:
                sigma = scale * math.sqrt(m)
                if 1 + sigma == 1:
                    break
                cl, ch = _clip_counts(
                    v, lo, hi, m, sigma, fp[P_SIGMA_LOW], fp[P_SIGMA_HIGH], clip_low, clip_high
                )
                if cl + ch == 0:
                    break
                lo += cl
                hi -= ch
                if hi - lo < 3:
                    break
                m = _median(v, lo, hi)
    elif algo == LINEAR_FIT:
        if cnt >= 5:
            _linear_fit(v, cnt, flags, fp, clip_low, clip_high, w, w2, w3)
        return
    elif algo == ESD:
        _esd(v, cnt, flags, fp, clip_low, clip_high, ip[I_ESD_ROSNER] != 0, esd_table, w, took_low)
        return

    for j in range(lo):
        flags[j] = LOW
    for j in range(hi, cnt):
        flags[j] = HIGH


LAD_EPS = 1e-7  # relative residual below which a point counts as on the line (Numerical Recipes rofunc)
LAD_MAX_STEPS = 100


@njit(cache=True)
def _rofunc(b, y, n, work):
    """For slope b: a = median(y - b·x) and Σ x_j·sign(y_j - a - b·x_j), with x_j = j."""
    for j in range(n):
        work[j] = y[j] - b * float(j)
    _sort_values(work, n)
    half = n // 2
    a = work[half] if n % 2 == 1 else (work[half - 1] + work[half]) / 2
    total = 0.0
    for j in range(n):
        d = y[j] - (b * float(j) + a)
        if y[j] != 0:
            d /= abs(y[j])
        if abs(d) > LAD_EPS:
            total += float(j) if d >= 0 else -float(j)
    return total, a


@njit(cache=True)
def _lad_fit(y, n, work):
    """Least-absolute-deviation line through (j, y_j): returns (a, b, adev). See rejection._lad_fit."""
    sx = 0.0
    sy = 0.0
    sxy = 0.0
    sxx = 0.0
    for j in range(n):
        x = float(j)
        sx += x
        sy += y[j]
        sxy += x * y[j]
        sxx += x * x
    delta = n * sxx - sx * sx
    a = (sxx * sy - sx * sxy) / delta
    b = (n * sxy - sx * sy) / delta
    chisq = 0.0
    for j in range(n):
        d = y[j] - (a + b * float(j))
        chisq += d * d
    sigb = math.sqrt(chisq / delta)
    if sigb > 0:
        b1 = b
        f1, _ = _rofunc(b1, y, n, work)
        if f1 != 0:
            b2 = b1 + (3 * sigb if f1 > 0 else -3 * sigb)
            f2, _ = _rofunc(b2, y, n, work)
            steps = 0
            while f1 * f2 > 0 and steps < LAD_MAX_STEPS:
                bb = b2 + 1.6 * (b2 - b1)
                b1 = b2
                f1 = f2
                b2 = bb
                f2, _ = _rofunc(b2, y, n, work)
                steps += 1
            b = b2
            tol = 0.01 * sigb
            steps = 0
            while abs(b2 - b1) > tol and steps < LAD_MAX_STEPS:
                bb = b1 + 0.5 * (b2 - b1)
                if bb == b1 or bb == b2:  # noqa: SIM109 (kept numba-plain)
                    break
                b = bb
                f, _ = _rofunc(bb, y, n, work)
                if f * f1 >= 0:
                    f1 = f
                    b1 = bb
                else:
                    f2 = f
                    b2 = bb
                steps += 1
    _, a = _rofunc(b, y, n, work)
    total = 0.0
    for j in range(n):
        total += abs(y[j] - (a + b * float(j)))
    return a, b, total / n


@njit(cache=True)
def _linear_fit(v, cnt, flags, fp, clip_low, clip_high, y, pos, work):
    """Iterative LAD line fit on the sorted survivors (see rejection._linear_fit)."""
    na = cnt
    for j in range(cnt):
        y[j] = v[j]
        pos[j] = j
    while True:
        a, b, adev = _lad_fit(y, na, work)
        sigma = 2 * adev * math.sqrt(1 + b * b)
        if 1 + sigma == 1:
            break
        nc = 0
        for j in range(na):
            f = a + b * float(j)
            if y[j] < f:
                if clip_low and (f - y[j]) / sigma >= fp[P_LF_LOW]:
                    nc += 1
            elif clip_high and (y[j] - f) / sigma >= fp[P_LF_HIGH]:
                nc += 1
        if nc == 0:
            break
        k = 0
        for j in range(na):
            f = a + b * float(j)
            rejected = 0
            if y[j] < f:
                if clip_low and (f - y[j]) / sigma >= fp[P_LF_LOW]:
                    rejected = LOW
            elif clip_high and (y[j] - f) / sigma >= fp[P_LF_HIGH]:
                rejected = HIGH
            if rejected != 0:
                flags[int(pos[j])] = rejected
            else:
                y[k] = y[j]
                pos[k] = pos[j]
                k += 1
        na = k
        if na < 3:
            break


@njit(cache=True)
def _esd(v, cnt, flags, fp, clip_low, clip_high, rosner, table, r_values, took_low):
    """Generalized ESD on the sorted samples (see rejection._esd)."""
    if cnt < 3:
        return
    frac, relax = fp[P_ESD_FRACTION], fp[P_ESD_RELAX]
    k = min(max(int(frac * cnt), 1), cnt - 2)
    lo, hi, tested = 0, cnt, 0
    for i in range(k):
        nn = hi - lo
        th = max(1, int(frac * nn) - i)
        tl = max(1, int(frac / relax * nn) - i)
        if th + tl < nn - 2:
            total = 0.0
            for j in range(lo + tl, hi - th):
                total += v[j]
            m = total / (nn - th - tl)
        else:
            m = _median(v, lo, hi)
        sh = _sigma_about(v, lo, hi, m)
        if 1 + sh == 1:
            break
        sl = relax * sh
        xl, xh = v[lo] - m, v[hi - 1] - m
        r_low = xl / sh if xl >= 0 else -xl / sl
        r_high = xh / sh if xh >= 0 else -xh / sl
        if r_low >= r_high:
            r_values[i] = r_low
            took_low[i] = 1
            lo += 1
        else:
            r_values[i] = r_high
            took_low[i] = 0
            hi -= 1
        tested += 1
    nc = 0
    if rosner:
        for i in range(tested):
            if r_values[i] >= table[cnt, i]:
                nc = i + 1
    else:
        while nc < tested and r_values[nc] >= table[cnt, nc]:
            nc += 1
        if nc == tested:  # untested steps (the rest all equal) pass, as PCL's 0/0 statistic
            nc = k
    if nc == 0:
        return
    nl = nc - min(nc, tested)  # those untested candidates come from the low end (equal values)
    for i in range(min(nc, tested)):
        nl += took_low[i]
    nh = nc - nl
    median = _median(v, 0, cnt)
    for j in range(cnt):
        if j < nl or j >= cnt - nh:
            if v[j] > median:
                if clip_high:
                    flags[j] = HIGH
            elif clip_low:
                flags[j] = LOW


def sorting_network(n: int) -> np.ndarray:
    """Comparators (a, b), a < b, of Batcher's odd-even merge sort for n values, as an (m, 2) array.

    Applying ``v[a], v[b] = min, max`` for each in order sorts any n values (tested on every 0/1 input,
    which suffices by the 0-1 principle); branch-free, so it runs across many columns at once.
    """
    pairs = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


#: Columns gathered and ranked together: the ranking loops run across them (SIMD), and a chunk's
#: float64 samples (n x CHUNK) stay in the L1/L2 cache. 128 rather than 64: 4-7 % less time per
#: pixel on 20- and 40-frame stacks (fewer, longer vector loops; 32 was 10 % slower, 256 no faster).
#: The loops over a chunk's columns index 1-D views (``src = stack[i, y, x0:x0 + width]``, then
#: ``src[x]``), not ``stack[i, y, x0 + x]``: numba wraps negative indices, and with the sum as the
#: index LLVM did not vectorize them (the gather took 28 ns per pixel of 20 samples instead of 7).
CHUNK = 128


@njit(cache=True)
def _rank_chunk(vals, ranks, n, width):
    """Stable ranks of each column's samples: ranks[i, x] = #{j: v_j < v_i} + #{j < i: v_j == v_i}.

    The same order as a stable sort (the insertion sort, numpy's ``kind="stable"``), computed without a
    branch and across ``width`` columns at once, which the compiler vectorizes: for n ~ 20-60 this is
    several times faster than sorting each pixel on its own, whose branches mispredict constantly.
    Excluded samples are +inf and rank after every valid one.
    """
    for i in range(n):
        for x in range(width):
            ranks[i, x] = 0
        for j in range(i):
            for x in range(width):
                ranks[i, x] += vals[j, x] <= vals[i, x]
        for j in range(i + 1, n):
            for x in range(width):
                ranks[i, x] += vals[j, x] < vals[i, x]


@njit(cache=True)
def _sort_chunk(vals, n, width, network):
    """Sort each column x < width of ``vals[j, x]`` (n samples) in place with the sorting network
    (:func:`sorting_network`): every comparator is a min/max across the columns at once (branch-free,
    vectorized). The sorted values are those of any sort, whatever the order of ties; for n = 20 this
    is ~4x faster than ranking (:func:`_rank_chunk`) and scattering the samples into sorted order."""
    for p in range(network.shape[0]):
        a = network[p, 0]
        b = network[p, 1]
        for x in range(width):
            va = vals[a, x]
            vb = vals[b, x]
            vals[a, x] = min(va, vb)
            vals[b, x] = max(va, vb)


@njit(cache=True)
def _winsorized_start(wc, width, n, h, network, mean0, sig0):
    """The start of winsorized clipping for a chunk's columns x < width, from their sorted samples
    ``wc[j, x]`` (n each, contiguous (n, CHUNK)): the median and SN_FACTOR·Sn (:func:`_sn`), computed
    across the columns at once (the compiler vectorizes), into mean0/sig0[x] (views of the row's
    arrays at the chunk). ``h`` is (n, CHUNK) scratch; ``network`` the comparators of a sorting network
    for n (:func:`sorting_network`)."""
    half = n // 2
    for x in range(width):
        mean0[x] = wc[half, x] if n % 2 == 1 else (wc[half, x] + wc[half - 1, x]) / 2
    # Sn: himed_i = min over the windows of k+1 consecutive samples holding i of their largest
    # distance from x_i (see _sn).
    k = n // 2
    for i in range(n):
        a0 = max(0, i - k)
        a1 = min(i, n - 1 - k)
        for x in range(width):
            h[i, x] = np.inf
        for a in range(a0, a1 + 1):
            for x in range(width):
                d = max(wc[i, x] - wc[a, x], wc[a + k, x] - wc[i, x])
                h[i, x] = min(h[i, x], d)
    # Sort each column's himeds with the sorting network and take the lomed, the ((n + 1)//2)-th
    # smallest.
    _sort_chunk(h, n, width, network)
    r = (n + 1) // 2 - 1
    cn = sn_correction(n)
    for x in range(width):
        sig0[x] = SN_FACTOR * (cn * h[r, x])


#: Rows per parallel task of :func:`integrate_rows`: its work arrays (a row's sorted samples for
#: winsorized clipping, ~n x cols x 12 bytes) are allocated once per block, not per row.
ROW_BLOCK = 16

#: Lanes of :func:`_winsorized_lanes`: columns winsorized together, one step at a time.
LANES = 64

@njit(cache=True, error_model="numpy")
def _winsorized_lanes(s, cols, n, elig, mean0, sig0, fp, clip_low, clip_high, lo, hi, w, v, wv):
    """Winsorized sigma clipping of every column c < cols of a row's sorted samples ``s[j, c]`` (n each)
    where ``elig[c]``, from the start mean0/sig0[c] (:func:`_winsorized_start`); writes each column's
    surviving window [lo[c], hi[c]).

    The columns go through ``LANES`` lanes: every step runs one winsorization iteration (clamp and sum,
    then the stdev) on all lanes at once, vectorized across them; a lane whose winsorization has
    ended clips its column (the sorted samples, as :func:`_winsorized_from`), and either starts the
    next rejection iteration on the narrower window (median and Sn per pixel, :func:`_median` /
    :func:`_sn_windows`) or hands its result back and takes the row's next column. So all of a pixel's
    rejection iterations run across columns, and the lanes stay full until the row runs out of columns
    instead of waiting for a chunk's slowest column.

    Same float64 operations in the same order as :func:`_winsorize`: a lane sums over all n rows in
    order, adding 0.0 outside its window — exactly what the reference's masked sums do, and the same
    sum as the window's own (x + 0.0 == x). The cutoff applies in the first rejection iteration only.
    ``w`` is (n, LANES) scratch, ``v``/``wv`` (n,). The lanes' state is one 1D array per quantity (not
    rows of one array): the compiler then knows the step's loops do not alias, and vectorizes them.
    """
    cutoff = fp[P_CUTOFF]
    low_t = fp[P_SIGMA_LOW]
    high_t = fp[P_SIGMA_HIGH]
    lmean, lsig, lt0, lt1, lc0, lc1, ltot, lvar, leps = (
        np.empty(LANES), np.empty(LANES), np.empty(LANES), np.empty(LANES), np.empty(LANES), np.empty(LANES),
        np.empty(LANES), np.empty(LANES), np.empty(LANES))
    lcol, llo, lhi, lit, lrej = (np.empty(LANES, dtype=np.int64), np.empty(LANES, dtype=np.int64),
                                 np.empty(LANES, dtype=np.int64), np.empty(LANES, dtype=np.int64),
                                 np.empty(LANES, dtype=np.int64))
    lconv = np.empty(LANES, dtype=np.bool_)
    lcut = np.empty(LANES, dtype=np.bool_)
    lattn = np.empty(LANES, dtype=np.bool_)
    att = np.arange(LANES)  # the lanes to look at before the next step: att[:natt]
    natt = LANES
    busy = 0  # lanes holding a column
    wm = np.ones((n, LANES), dtype=np.bool_)  # the lanes' windows: wm[j, q] = lo <= j < hi
    nxt = 0  # the next column to hand to a lane
    for q in range(LANES):
        lcol[q] = -1
        llo[q] = 0
        lhi[q] = n
        lcut[q] = False
        lmean[q] = 0.0
        lsig[q] = 0.0
        for j in range(n):
            w[j, q] = 0.0
    while True:
        # Bring every lane to a column that needs a winsorization step (or leave it idle).
        for t in range(natt):
            q = att[t]
            busy -= lcol[q] >= 0
            while True:
                c = lcol[q]
                if c < 0:
                    while nxt < cols and not elig[nxt]:
                        nxt += 1
                    if nxt >= cols:
                        break  # idle
                    c = nxt
                    nxt += 1
                    lcol[q] = c
                    llo[q] = 0
                    lhi[q] = n
                    lit[q] = 0
                    lrej[q] = 0
                    lconv[q] = False
                    lcut[q] = cutoff > 0
                    lmean[q] = mean0[c]
                    lsig[q] = sig0[c]
                    for j in range(n):
                        w[j, q] = s[j, c]
                        wm[j, q] = True
                mean = lmean[q]
                sigma = lsig[q]
                if not (lconv[q] or 1 + sigma == 1 or lit[q] >= WINSOR_MAX_ITERATIONS):
                    break  # needs another step
                # This winsorization is over (as _winsorize returns): clip (as _winsorized_from).
                a = llo[q]
                b = lhi[q]
                done = True
                if 1 + sigma != 1:
                    cl = 0
                    if clip_low:
                        for j in range(a, b):
                            if not (mean - s[j, c]) / sigma > low_t:
                                break
                            cl += 1
                    ch = 0
                    if clip_high:
                        for j in range(b - 1, a - 1, -1):
                            if not (s[j, c] - mean) / sigma > high_t:
                                break
                            ch += 1
                    if cl + ch > 0:
                        a += cl
                        b -= ch
                        llo[q] = a
                        lhi[q] = b
                        if b - a >= 3:
                            # The next rejection iteration: winsorize the window again, without cutoff.
                            done = False
                            for j in range(n):
                                v[j] = s[j, c]
                                w[j, q] = v[j]
                                wm[j, q] = a <= j < b
                            lmean[q] = _median(v, a, b)
                            lsig[q] = SN_FACTOR * (sn_correction(b - a) * _sn_windows(v, a, b, wv))
                            lit[q] = 0
                            lconv[q] = False
                            lcut[q] = False
                            lrej[q] += 1
                if done:
                    lo[c] = a
                    hi[c] = b
                    lcol[q] = -1
            busy += lcol[q] >= 0
        if busy == 0:
            break
        # One winsorization iteration on every lane (idle lanes compute on stale values, unused).
        for q in range(LANES):
            mean = lmean[q]
            sigma = lsig[q]
            lt0[q] = mean - WINSOR_CLAMP * sigma
            lt1[q] = mean + WINSOR_CLAMP * sigma
            lc0[q] = mean - cutoff * sigma
            lc1[q] = mean + cutoff * sigma
            ltot[q] = 0.0
            lvar[q] = 0.0
            leps[q] = 0.0
        for j in range(n):
            for q in range(LANES):
                x = w[j, q]
                t0 = lt0[q]
                t1 = lt1[q]
                c0 = lc0[q]
                c1 = lc1[q]
                mean = lmean[q]
                cut = lcut[q]
                # below t0: t0, or (with the cutoff) the mean beyond c0; above t1 likewise. (Every
                # operand is loaded first and combined with &/|: no conditional loads, so it vectorizes.)
                below = t0 if ((x > c0) | (not cut)) else mean
                above = t1 if ((x < c1) | (not cut)) else mean
                d = below if x < t0 else (above if x > t1 else x)
                w[j, q] = d
                ltot[q] += d if wm[j, q] else 0.0
        for q in range(LANES):
            ltot[q] = ltot[q] / (lhi[q] - llo[q])  # the new mean
        for j in range(n):
            for q in range(LANES):
                d = w[j, q] - ltot[q]
                inside = wm[j, q]
                lvar[q] += d * d if inside else 0.0
                leps[q] += d if inside else 0.0
        for q in range(LANES):
            cnt = lhi[q] - llo[q]
            s0 = lsig[q]
            eps = leps[q]
            lmean[q] = ltot[q]
            sigma = WINSOR_SIGMA * math.sqrt((lvar[q] - eps * eps / cnt) / (cnt - 1))
            lsig[q] = sigma
            it = lit[q] + 1
            lit[q] = it
            conv = (it > 1) & (abs(s0 - sigma) / s0 < WINSOR_TOLERANCE)
            lconv[q] = conv
            # The lanes whose winsorization is over (_winsorize's exit tests) need attention.
            lattn[q] = conv | (1 + sigma == 1) | (it >= WINSOR_MAX_ITERATIONS)
        # Listed without a branch per lane (about one lane in five needs attention, at random: a branch
        # on each would mispredict at that rate). Idle lanes are left out (no column left to take).
        natt = 0
        for q in range(LANES):
            att[natt] = q
            natt += lattn[q] & (lcol[q] >= 0)


@njit(cache=True)
def _stable_keep(stack, y, c, r_scale, r_offset, lo, hi, keep):
    """keep[i] = whether frame i's sample of pixel (y, c) has its stable rank (equal samples in frame
    order, :func:`_rank_chunk`) in [lo, hi), among the n rejection-normalized samples (all valid).

    The chunked combine keeps the samples valued within [s[lo], s[hi-1]] instead, which is the same
    unless equal samples straddle an end of the window. Winsorized clipping never does that: a clip
    compares each sample's value with a threshold and takes all or none of them, so equal samples go
    together. This is the exact fallback the combine takes if the count ever disagrees.
    """
    n = stack.shape[0]
    for i in range(n):
        vi = np.float64(stack[i, y, c]) * r_scale[i] + r_offset[i]
        r = 0
        for j in range(n):
            vj = np.float64(stack[j, y, c]) * r_scale[j] + r_offset[j]
            r += (vj < vi) | ((j < i) & (vj == vi))
        keep[i] = lo <= r < hi


@njit(cache=True)
def _combine(values, k, combination):
    """Combine values[:k] (k >= 1) in their order."""
    if combination == AVERAGE:
        total = 0.0
        for j in range(k):
            total += values[j]
        return total / k
    if combination == MEDIAN:
        _sort_values(values, k)
        return _median(values, 0, k) if k >= 2 else values[0]
    result = values[0]
    if combination == MINIMUM:
        for j in range(1, k):
            result = min(result, values[j])
    else:
        for j in range(1, k):
            result = max(result, values[j])
    return result


@njit(cache=True, parallel=True, nogil=True)
def integrate_rows(stack, algo, combination, r_scale, r_offset, o_scale, o_offset, fp, ip, esd_table,
                   network, out, rejected_low, rejected_high):
    """Reject and combine every pixel of ``stack`` (n, rows, cols); write out/rejected_low/high.

    Per row, CHUNK columns at a time: gather the samples frame by frame, rank them (the stable sorted
    order, :func:`_rank_chunk`), then reject per pixel on its sorted samples and combine the survivors
    in frame order. Winsorized clipping instead sorts each chunk's columns (:func:`_sort_chunk`) into
    the row's sorted samples, computes the start (median, Sn) across the chunk's columns
    (:func:`_winsorized_start`), runs the whole rejection across the row's columns
    (:func:`_winsorized_lanes`), then combines chunk by chunk, keeping the samples valued within each
    window's ends (the sorted positions lo..hi-1; :func:`_stable_keep` if a window split equal
    samples). Pixels with missing or range-clipped samples always take the per-pixel path (ranked only
    in the chunks that have some).
    """
    n, rows, cols = stack.shape
    range_clip_low = ip[I_RANGE_CLIP_LOW] != 0
    range_clip_high = ip[I_RANGE_CLIP_HIGH] != 0
    clip_low = ip[I_CLIP_LOW] != 0
    clip_high = ip[I_CLIP_HIGH] != 0
    range_low = fp[P_RANGE_LOW]
    range_high = fp[P_RANGE_HIGH]
    chunked = algo == WINSORIZED and n >= 3
    row_cols = cols if chunked else 1
    nblocks = (rows + ROW_BLOCK - 1) // ROW_BLOCK
    for blk in prange(nblocks):
        # Work arrays once per block of rows (per thread), never per row or pixel.
        vals = np.empty((n, CHUNK))
        ranks = np.empty((n, CHUNK), dtype=np.int32)
        counts = np.empty(CHUNK, dtype=np.int64)
        range_low_n = np.empty(CHUNK, dtype=np.int64)
        range_high_n = np.empty(CHUNK, dtype=np.int64)
        h = np.empty((n, CHUNK))
        # The row's sorted samples, start and windows (winsorized clipping only).
        srt = np.empty((n, row_cols))
        elig = np.zeros(row_cols, dtype=np.bool_)
        mean0 = np.empty(row_cols)
        sig0 = np.empty(row_cols)
        lo = np.zeros(row_cols, dtype=np.int64)
        hi = np.zeros(row_cols, dtype=np.int64)
        wl = np.empty((n, LANES))
        ctotal = np.empty(CHUNK)
        ckept = np.empty(CHUNK, dtype=np.int64)
        cvlo = np.empty(CHUNK)
        cvhi = np.empty(CHUNK)
        v = np.empty(n)
        idx = np.empty(n, dtype=np.int64)
        flags = np.empty(n, dtype=np.int8)
        keep = np.empty(n, dtype=np.bool_)
        w = np.empty(n)
        w2 = np.empty(n)
        w3 = np.empty(n)
        took_low = np.empty(n, dtype=np.int64)
        values = np.empty(n)
        for y in range(blk * ROW_BLOCK, min(rows, (blk + 1) * ROW_BLOCK)):
            for x0 in range(0, cols, CHUNK):
                width = min(CHUNK, cols - x0)
                # Gather the chunk frame by frame (contiguous reads): range clipping, then rejection
                # normalization; excluded samples become +inf so they rank last.
                for x in range(width):
                    counts[x] = 0
                    range_low_n[x] = 0
                    range_high_n[x] = 0
                for i in range(n):
                    rs = r_scale[i]
                    ro = r_offset[i]
                    src = stack[i, y, x0:x0 + width]  # a view (see CHUNK)
                    for x in range(width):
                        raw = np.float64(src[x])
                        if math.isnan(raw):
                            vals[i, x] = np.inf
                        elif range_clip_low and raw <= range_low:
                            vals[i, x] = np.inf
                            range_low_n[x] += 1
                        elif range_clip_high and raw >= range_high:
                            vals[i, x] = np.inf
                            range_high_n[x] += 1
                        else:
                            vals[i, x] = raw * rs + ro
                            counts[x] += 1
                all_elig = True
                if chunked:
                    elig_c = elig[x0:x0 + width]
                    for x in range(width):
                        elig_c[x] = counts[x] == n
                        all_elig &= counts[x] == n
                # Pixels with missing or excluded samples (and every pixel of the other algorithms):
                # per pixel, on the stable ranks.
                if not (chunked and all_elig):
                    _rank_chunk(vals, ranks, n, width)
                for x in range(width):
                    if chunked and elig[x0 + x]:
                        continue
                    cnt = counts[x]
                    n_low = range_low_n[x]
                    n_high = range_high_n[x]
                    for i in range(n):
                        keep[i] = False
                        r = ranks[i, x]
                        if r < cnt:
                            v[r] = vals[i, x]
                            idx[r] = i
                    _reject_sorted(algo, v, cnt, flags, fp, ip, esd_table, w, w2, w3, took_low)
                    for j in range(cnt):
                        if flags[j] == LOW:
                            n_low += 1
                        elif flags[j] == HIGH:
                            n_high += 1
                        else:
                            keep[idx[j]] = True
                    rejected_low[y, x0 + x] = n_low
                    rejected_high[y, x0 + x] = n_high
                    # Combine the output-normalized survivors in frame order (the reference's order).
                    k = 0
                    for i in range(n):
                        if keep[i]:
                            values[k] = np.float64(stack[i, y, x0 + x]) * o_scale[i] + o_offset[i]
                            k += 1
                    if k == 0:  # nothing survived: the median of every valid sample (PCL)
                        out[y, x0 + x] = median_of_valid(stack, y, x0 + x, o_scale, o_offset, values)
                    else:
                        out[y, x0 + x] = _combine(values, k, combination)
                if chunked:
                    # Sort the chunk's columns (in place: vals is not needed any more) and keep the sorted
                    # samples of the complete columns for the row's rejection.
                    _sort_chunk(vals, n, width, network)
                    for x in range(width):
                        if not elig[x0 + x]:
                            for j in range(n):
                                vals[j, x] = 0.0  # (unused; keeps the start's arithmetic on finite values)
                    for j in range(n):
                        dst = srt[j, x0:x0 + width]
                        for x in range(width):
                            dst[x] = vals[j, x]
                    _winsorized_start(vals, width, n, h, network, mean0[x0:x0 + width], sig0[x0:x0 + width])
            if chunked:
                _winsorized_lanes(srt, cols, n, elig, mean0, sig0, fp, clip_low, clip_high, lo, hi, wl, v, w)
                # Combine the complete columns: the survivors are the sorted positions lo..hi-1, i.e. the
                # samples valued within [s[lo], s[hi-1]] (the window never splits equal samples: see
                # _stable_keep, which takes over if it ever did), told apart in frame order by value.
                for x0 in range(0, cols, CHUNK):
                    width = min(CHUNK, cols - x0)
                    for x in range(width):
                        c = x0 + x
                        if elig[c] and hi[c] > lo[c]:
                            cvlo[x] = srt[lo[c], c]
                            cvhi[x] = srt[hi[c] - 1, c]
                        else:  # unused, or nothing survived: an empty range keeps no sample
                            cvlo[x], cvhi[x] = 1.0, 0.0
                    if combination == AVERAGE:
                        # Average across the columns, adding 0.0 for the rejected samples as the reference
                        # does (the same sum, in frame order).
                        for x in range(width):
                            ctotal[x] = 0.0
                            ckept[x] = 0
                        for i in range(n):
                            rs = r_scale[i]
                            ro = r_offset[i]
                            os_ = o_scale[i]
                            oo = o_offset[i]
                            src = stack[i, y, x0:x0 + width]
                            for x in range(width):
                                raw = np.float64(src[x])
                                r = raw * rs + ro  # the rejection-normalized sample, as gathered
                                kept = (r >= cvlo[x]) & (r <= cvhi[x])
                                value = raw * os_ + oo
                                ctotal[x] += value if kept else 0.0
                                ckept[x] += kept
                        for x in range(width):
                            c = x0 + x
                            if elig[c] and ckept[x] != hi[c] - lo[c]:
                                _stable_keep(stack, y, c, r_scale, r_offset, lo[c], hi[c], keep)
                                total = 0.0
                                for i in range(n):
                                    value = np.float64(stack[i, y, c]) * o_scale[i] + o_offset[i]
                                    total += value if keep[i] else 0.0
                                ctotal[x] = total
                                ckept[x] = hi[c] - lo[c]
                        elig_c = elig[x0:x0 + width]
                        lo_c = lo[x0:x0 + width]
                        hi_c = hi[x0:x0 + width]
                        out_c = out[y, x0:x0 + width]
                        low_c = rejected_low[y, x0:x0 + width]
                        high_c = rejected_high[y, x0:x0 + width]
                        for x in range(width):
                            if elig_c[x]:
                                low_c[x] = lo_c[x]
                                high_c[x] = n - hi_c[x]
                                out_c[x] = ctotal[x] / ckept[x] if ckept[x] else median_of_valid(
                                    stack, y, x0 + x, o_scale, o_offset, values)
                    else:
                        for x in range(width):
                            c = x0 + x
                            if not elig[c]:
                                continue
                            rejected_low[y, c] = lo[c]
                            rejected_high[y, c] = n - hi[c]
                            k = 0
                            for i in range(n):
                                r = np.float64(stack[i, y, c]) * r_scale[i] + r_offset[i]
                                keep[i] = (r >= cvlo[x]) & (r <= cvhi[x])
                                k += keep[i]
                            if k != hi[c] - lo[c]:
                                _stable_keep(stack, y, c, r_scale, r_offset, lo[c], hi[c], keep)
                            k = 0
                            for i in range(n):
                                if keep[i]:
                                    values[k] = np.float64(stack[i, y, c]) * o_scale[i] + o_offset[i]
                                    k += 1
                            out[y, c] = _combine(values, k, combination) if k else median_of_valid(
                                stack, y, c, o_scale, o_offset, values)


# ---------------------------------------------------------------------------------------------------
# Flat calibration (apcal.engines.native.calibration).

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
