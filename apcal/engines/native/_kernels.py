"""Numba kernels of :func:`apcal.engines.native.integration.integrate` (``fast=True``).

One parallel loop over rows (``prange``); per pixel the kernel gathers the valid samples, applies range
clipping and rejection normalization, sorts them, runs the rejection algorithm and combines the
output-normalized survivors. The arithmetic mirrors :mod:`apcal.engines.native.rejection` operation for
operation (float64, same summation order), so both paths agree exactly; see that module for the
formulas and their sources. No ``fastmath``: it would let LLVM reassociate the sums and break that.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# Algorithm and combination codes (the Python side maps names to these).
NONE, MINMAX, PERCENTILE, SIGMA, WINSORIZED, AVERAGED, LINEAR_FIT, ESD = range(8)
AVERAGE, MEDIAN, MINIMUM, MAXIMUM = range(4)

# Indices into the float parameter vector.
P_SIGMA_LOW, P_SIGMA_HIGH, P_PC_LOW, P_PC_HIGH, P_CUTOFF, P_LF_LOW, P_LF_HIGH = range(7)
P_ESD_FRACTION, P_ESD_RELAX, P_RANGE_LOW, P_RANGE_HIGH = range(7, 11)
N_FLOAT_PARAMS = 11
# Indices into the integer parameter vector.
I_CLIP_LOW, I_CLIP_HIGH, I_RANGE_CLIP_LOW, I_RANGE_CLIP_HIGH, I_MM_LOW, I_MM_HIGH = range(6)
N_INT_PARAMS = 6

MIN_SURVIVORS = 3
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
def _insertion_sort(v, idx, cnt):
    for a in range(1, cnt):
        x = v[a]
        ix = idx[a]
        b = a - 1
        while b >= 0 and v[b] > x:
            v[b + 1] = v[b]
            idx[b + 1] = idx[b]
            b -= 1
        v[b + 1] = x
        idx[b + 1] = ix


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
    """Rousseeuw–Croux Sn of the sorted window (lomed_i himed_j |x_i - x_j|, no consistency factor)."""
    cnt = hi - lo
    k = cnt // 2  # 0-based rank of himed among the cnt distances of x_i
    for i in range(lo, hi):
        a = i
        b = i + 1
        d = 0.0
        for _ in range(k + 1):
            dl = v[i] - v[a] if a >= lo else np.inf
            dr = v[b] - v[i] if b < hi else np.inf
            if dl <= dr:
                d = dl
                a -= 1
            else:
                d = dr
                b += 1
        work[i - lo] = d
    _sort_values(work, cnt)
    r = (cnt + 1) // 2 - 1
    if r < 0:
        r = 0
    return work[r]


@njit(cache=True)
def _winsorize(v, lo, hi, cutoff, w):
    cnt = hi - lo
    mean = _median(v, lo, hi)
    sigma = SN_FACTOR * _sn(v, lo, hi, w)
    for j in range(lo, hi):
        w[j] = v[j]
    it = 0
    while it < WINSOR_MAX_ITERATIONS:
        if 1 + sigma == 1:
            break
        t0 = mean - WINSOR_CLAMP * sigma
        t1 = mean + WINSOR_CLAMP * sigma
        if cutoff > 0:
            c0 = mean - cutoff * sigma
            c1 = mean + cutoff * sigma
            for j in range(lo, hi):
                x = w[j]
                if x < t0:
                    w[j] = t0 if x > c0 else mean
                elif x > t1:
                    w[j] = t1 if x < c1 else mean
        else:
            for j in range(lo, hi):
                x = w[j]
                if x < t0:
                    w[j] = t0
                elif x > t1:
                    w[j] = t1
        s0 = sigma
        sigma = WINSOR_SIGMA * _sigma(w, lo, hi)
        total = 0.0
        for j in range(lo, hi):
            total += w[j]
        mean = total / cnt
        it += 1
        if it > 1 and abs(s0 - sigma) / s0 < WINSOR_TOLERANCE:
            break
    return mean, sigma


@njit(cache=True)
def _reject_sorted(algo, v, cnt, flags, fp, ip, esd_table, w, w2, w3, took_low):
    """Run ``algo`` on the sorted samples v[:cnt]; write KEEP/LOW/HIGH per sorted position in flags."""
    for j in range(cnt):
        flags[j] = KEEP
    if algo == NONE or cnt == 0:
        return
    clip_low = ip[I_CLIP_LOW] != 0
    clip_high = ip[I_CLIP_HIGH] != 0
    min_keep = min(cnt, MIN_SURVIVORS)
    lo = 0
    hi = cnt

    if algo == MINMAX:
        allowed = cnt - min_keep
        nl = min(ip[I_MM_LOW] if clip_low else 0, allowed)
        nh = min(ip[I_MM_HIGH] if clip_high else 0, allowed - nl)
        lo = nl
        hi = cnt - nh
    elif algo == PERCENTILE:
        m = _median(v, 0, cnt)
        if cnt >= 2 and 1 + m != 1:
            cl, ch = _clip_counts(v, 0, cnt, m, m, fp[P_PC_LOW], fp[P_PC_HIGH], clip_low, clip_high)
            if cl + ch > 0 and cnt - cl - ch >= min_keep:
                lo = cl
                hi = cnt - ch
    elif algo == SIGMA:
        while hi - lo >= 3:
            sigma = _sigma(v, lo, hi)
            if 1 + sigma == 1:
                break
            m = _median(v, lo, hi)
            cl, ch = _clip_counts(v, lo, hi, m, sigma, fp[P_SIGMA_LOW], fp[P_SIGMA_HIGH], clip_low, clip_high)
            if cl + ch == 0 or hi - lo - cl - ch < min_keep:
                break
            lo += cl
            hi -= ch
    elif algo == WINSORIZED:
        it = 0
        while hi - lo >= 3:
            cutoff = fp[P_CUTOFF] if it == 0 else 0.0
            mean, sigma = _winsorize(v, lo, hi, cutoff, w)
            if 1 + sigma == 1:
                break
            cl, ch = _clip_counts(
                v, lo, hi, mean, sigma, fp[P_SIGMA_LOW], fp[P_SIGMA_HIGH], clip_low, clip_high
            )
            if cl + ch == 0 or hi - lo - cl - ch < min_keep:
                break
            lo += cl
            hi -= ch
            it += 1
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
                if cl + ch == 0 or hi - lo - cl - ch < min_keep:
                    break
                lo += cl
                hi -= ch
                if hi - lo < 3:
                    break
                m = _median(v, lo, hi)
    elif algo == LINEAR_FIT:
        if cnt >= 5:
            _linear_fit(v, cnt, flags, fp, clip_low, clip_high, min_keep, w, w2, w3)
        return
    elif algo == ESD:
        _esd(v, cnt, flags, fp, clip_low, clip_high, min_keep, esd_table, w, took_low)
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
def _linear_fit(v, cnt, flags, fp, clip_low, clip_high, min_keep, y, pos, work):
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
        if nc == 0 or na - nc < min_keep:
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
def _esd(v, cnt, flags, fp, clip_low, clip_high, min_keep, table, r_values, took_low):
    """Generalized ESD on the sorted samples (see rejection._esd)."""
    if cnt < 3:
        return
    frac = fp[P_ESD_FRACTION]
    relax = fp[P_ESD_RELAX]
    kmax = int(frac * cnt)
    kmax = min(max(kmax, 1), cnt - 2)
    k = min(kmax, cnt - min_keep)
    lo = 0
    hi = cnt
    tested = 0
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
        xl = v[lo] - m
        xh = v[hi - 1] - m
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
    for i in range(tested):
        if r_values[i] >= table[cnt, i]:
            nc = i + 1
    if nc == 0:
        return
    nl = 0
    for i in range(nc):
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


@njit(cache=True, parallel=True)
def integrate_rows(stack, algo, combination, r_scale, r_offset, o_scale, o_offset, fp, ip, esd_table,
                   out, rejected_low, rejected_high):
    """Reject and combine every pixel of ``stack`` (n, rows, cols); write out/rejected_low/high."""
    n, rows, cols = stack.shape
    range_clip_low = ip[I_RANGE_CLIP_LOW] != 0
    range_clip_high = ip[I_RANGE_CLIP_HIGH] != 0
    range_low = fp[P_RANGE_LOW]
    range_high = fp[P_RANGE_HIGH]
    for y in prange(rows):
        v = np.empty(n)
        idx = np.empty(n, dtype=np.int64)
        flags = np.empty(n, dtype=np.int8)
        keep = np.empty(n, dtype=np.bool_)
        w = np.empty(n)
        w2 = np.empty(n)
        w3 = np.empty(n)
        took_low = np.empty(n, dtype=np.int64)
        values = np.empty(n)
        for x in range(cols):
            cnt = 0
            n_low = 0
            n_high = 0
            for i in range(n):
                keep[i] = False
                raw = np.float64(stack[i, y, x])
                if math.isnan(raw):
                    continue
                if range_clip_low and raw <= range_low:
                    n_low += 1
                    continue
                if range_clip_high and raw >= range_high:
                    n_high += 1
                    continue
                v[cnt] = raw * r_scale[i] + r_offset[i]
                idx[cnt] = i
                cnt += 1
            _insertion_sort(v, idx, cnt)
            _reject_sorted(algo, v, cnt, flags, fp, ip, esd_table, w, w2, w3, took_low)
            survivors = 0
            for j in range(cnt):
                if flags[j] == LOW:
                    n_low += 1
                elif flags[j] == HIGH:
                    n_high += 1
                else:
                    keep[idx[j]] = True
                    survivors += 1
            rejected_low[y, x] = n_low
            rejected_high[y, x] = n_high
            if survivors == 0:
                out[y, x] = 0.0
                continue
            # Combine the output-normalized survivors in frame order (the reference's order).
            k = 0
            for i in range(n):
                if keep[i]:
                    values[k] = np.float64(stack[i, y, x]) * o_scale[i] + o_offset[i]
                    k += 1
            if combination == AVERAGE:
                total = 0.0
                for j in range(k):
                    total += values[j]
                result = total / k
            elif combination == MEDIAN:
                _sort_values(values, k)
                result = _median(values, 0, k) if k >= 2 else values[0]
            elif combination == MINIMUM:
                result = values[0]
                for j in range(1, k):
                    result = min(result, values[j])
            else:
                result = values[0]
                for j in range(1, k):
                    result = max(result, values[j])
            out[y, x] = result
