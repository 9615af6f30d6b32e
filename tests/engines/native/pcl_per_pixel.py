"""PixInsight's pixel rejection and combination for ONE pixel, in plain Python loops, written for the
tests from PCL's own routines (vahlkar/PCL at fd570d584: IntegrationRejectionEngine.cpp/.h,
IntegrationEngine.cpp; include/pcl/Math.h for Sn, StdDev and TrimmedMean; include/pcl/LinearFit.h for
what the line fit minimises, Numerical Recipes' ``medfit`` for how). Deliberately independent of
apcal: no apcal import, no vectorisation, nothing shared with apcal's reference or kernels, so a
mistake there cannot hide here.

:func:`integrate_pixel` takes one pixel's samples (NaN = missing) and returns (value, rejected low,
rejected high).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

# ---------------------------------------------------------------------------------------------------
# Statistics as PCL computes them.


def median(v: list[float]) -> float:
    """RejectionMedian: the middle of a sorted sample, 0 below 2 samples."""
    n = len(v)
    if n < 2:
        return 0.0
    h = n // 2
    return v[h] if n % 2 else (v[h] + v[h - 1]) / 2


def sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0 else math.nan


def stdev(v: list[float], centre: float | None = None) -> float:
    """RejectionSigma / pcl::StdDev: sqrt((Σd² - (Σd)²/n)/(n - 1)), d about the mean or ``centre``."""
    n = len(v)
    if n < 2:
        return 0.0
    if centre is None:
        centre = sum_in_order(v) / n
    var = eps = 0.0
    for x in v:
        d = x - centre
        var += d * d
        eps += d
    return sqrt((var - eps * eps / n) / (n - 1))


def sum_in_order(v: list[float]) -> float:
    total = 0.0
    for x in v:
        total += x
    return total


def sn(v: list[float]) -> float:
    """Rousseeuw & Croux's Sn by its definition: c_n · lomed_i himed_j |x_i - x_j| (himed: the
    (n//2 + 1)-th smallest of n; lomed: the ((n + 1)//2)-th smallest), c_n from pcl::Sn."""
    n = len(v)
    if n < 2:
        return 0.0
    himeds = sorted(sorted(abs(xi - xj) for xj in v)[n // 2] for xi in v)
    table = {2: 0.743, 3: 1.851, 4: 0.954, 5: 1.351, 6: 0.993, 7: 1.198, 8: 1.005, 9: 1.131}
    cn = table[n] if n in table else (n / (n - 0.9) if n % 2 else 1.0)
    return cn * himeds[(n + 1) // 2 - 1]


def winsorization(v: list[float], cutoff: float) -> tuple[float, float]:
    """RejectionWinsorization: Huber's winsorized mean and 1.134·stdev, from median and 1.1926·Sn."""
    if len(v) < 2:
        return 0.0, 0.0
    mean = median(v)
    sigma = 1.1926 * sn(v)
    w = list(v)
    it = 0
    while 1 + sigma != 1:
        t0, t1 = mean - 1.5 * sigma, mean + 1.5 * sigma
        c0, c1 = mean - cutoff * sigma, mean + cutoff * sigma
        for i, x in enumerate(w):
            if x < t0:
                w[i] = t0 if (cutoff <= 0 or x > c0) else mean
            elif x > t1:
                w[i] = t1 if (cutoff <= 0 or x < c1) else mean
        s0 = sigma
        sigma = 1.134 * stdev(w)
        mean = sum_in_order(w) / len(w)
        it += 1
        if it > 1 and abs(s0 - sigma) / s0 < 0.0005:
            break
    return mean, sigma


def leading(v: list[float], test) -> int:
    """How many samples from the bottom pass ``test`` before the first that does not (PCL's low loop)."""
    count = 0
    for x in v:
        if not test(x):
            break
        count += 1
    return count


def clip(v: list[float], centre: float, scale: float, low_t: float, high_t: float, p: dict):
    """One clipping step of sigma-type rejection: (low count, high count) on the sorted sample."""
    nl = leading(v, lambda x: (centre - x) / scale > low_t) if p["clip_low"] else 0
    nh = leading(v[::-1], lambda x: (x - centre) / scale > high_t) if p["clip_high"] else 0
    return nl, nh


# ---------------------------------------------------------------------------------------------------
# The rejection algorithms: sorted valid samples in, (lo, hi) out — the survivors are v[lo:hi] —
# except ESD and linear fit, which return their own (low, high, survivors).


def minmax(v, p):
    n = len(v)
    nl = min(p["min_max_low"], n) if p["clip_low"] else 0
    nh = min(p["min_max_high"], n) if p["clip_high"] else 0
    return nl, max(n - nh, nl)


def percentile(v, p):
    n = len(v)
    if n < 2:
        return 0, n
    m = median(v)
    if 1 + m == 1:
        return 0, n
    nl, nh = clip(v, m, m, p["pc_clip_low"], p["pc_clip_high"], p)
    return nl, n - nh


def sigma_clip(v, p):
    lo, hi = 0, len(v)
    if hi < 3:
        return lo, hi
    while True:
        w = v[lo:hi]
        s = stdev(w)
        if 1 + s == 1:
            break
        nl, nh = clip(w, median(w), s, p["sigma_low"], p["sigma_high"], p)
        if nl + nh == 0:
            break
        lo, hi = lo + nl, hi - nh
        if hi - lo < 3:
            break
    return lo, hi


def winsorized(v, p):
    lo, hi = 0, len(v)
    if hi < 3:
        return lo, hi
    it = 0
    while True:
        w = v[lo:hi]
        mean, s = winsorization(w, p["winsorization_cutoff"] if it == 0 else 0.0)
        if 1 + s == 1:
            break
        nl, nh = clip(w, mean, s, p["sigma_low"], p["sigma_high"], p)
        if nl + nh == 0:
            break
        lo, hi = lo + nl, hi - nh
        if hi - lo < 3:
            break
        it += 1
    return lo, hi


def averaged_sigma(v, p):
    lo, hi = 0, len(v)
    if hi < 3:
        return lo, hi
    m = median(v)
    if 1 + m == 1:
        return lo, hi  # (PCL discards such a pixel; the tests keep values away from 0)
    acc = 0.0
    for x in v:
        d = x - m
        acc += d * d / m
    scale = math.sqrt(acc / (hi - 1))
    while True:
        s = scale * sqrt(m)
        if 1 + s == 1:
            break
        nl, nh = clip(v[lo:hi], m, s, p["sigma_low"], p["sigma_high"], p)
        if nl + nh == 0:
            break
        lo, hi = lo + nl, hi - nh
        if hi - lo < 3:
            break
        m = median(v[lo:hi])
    return lo, hi


def medfit(y: list[float]) -> tuple[float, float, float]:
    """Numerical Recipes' ``medfit`` (2nd ed. section 15.7) for the points (j, y_j), j = 0..n-1: the
    line a + b·x of least absolute deviation as NR finds it, and the mean absolute deviation. PCL's
    LinearFit.h documents this objective and NR's outputs (a, b, adev); its solver is closed.

    NR's recipe: b starts at the least-squares slope; ``rofunc(b)`` sets a to the median of y - b·x and
    returns the sum of x_j·sign(residual_j), a residual counting only when |residual|/|y_j| (y_j != 0)
    exceeds 1e-7. Step from b by 3·sigma_b toward the sign of rofunc (upward for 0), enlarging each step
    by 1.6 until rofunc changes sign (product not > 0); bisect until the bracket is 0.01·sigma_b wide
    or the midpoint equals an end. The answer is the last slope tried, with a and the deviation left by
    the last rofunc call."""
    n = len(y)
    xs = [float(j) for j in range(n)]
    state = {}

    def rofunc(slope):
        shifted = sorted(y[j] - slope * xs[j] for j in range(n))
        mid = n // 2
        state["a"] = shifted[mid] if n % 2 else 0.5 * (shifted[mid - 1] + shifted[mid])
        state["abdev"] = 0.0
        s = 0.0
        for j in range(n):
            d = y[j] - (slope * xs[j] + state["a"])
            state["abdev"] += abs(d)
            if y[j] != 0.0:
                d /= abs(y[j])
            if abs(d) > 1e-7:
                s += xs[j] if d >= 0.0 else -xs[j]
        return s

    sx = sy = sxy = sxx = 0.0  # NR's plain running sums (Python's sum() would compensate)
    for j in range(n):
        sx += xs[j]
        sy += y[j]
        sxy += xs[j] * y[j]
        sxx += xs[j] * xs[j]
    det = n * sxx - sx * sx
    a_ls = (sxx * sy - sx * sxy) / det
    b = (n * sxy - sx * sy) / det
    chisq = 0.0
    for j in range(n):
        chisq += (y[j] - (a_ls + b * xs[j])) ** 2
    sigb = math.sqrt(chisq / det)
    lo = b
    f_lo = rofunc(lo)
    if sigb > 0.0:
        hi = b + math.copysign(3.0 * sigb, 1.0 if f_lo >= 0.0 else -1.0)
        f_hi = rofunc(hi)
        if hi == lo:
            return state["a"], b, state["abdev"] / n
        while f_lo * f_hi > 0.0:
            b = hi + 1.6 * (hi - lo)
            lo, f_lo = hi, f_hi
            hi = b
            f_hi = rofunc(hi)
        while abs(hi - lo) > 0.01 * sigb:
            b = lo + 0.5 * (hi - lo)
            if b in (lo, hi):
                break
            f = rofunc(b)
            if f * f_lo >= 0.0:
                lo, f_lo = b, f
            else:
                hi, f_hi = b, f
    return state["a"], b, state["abdev"] / n


def linear_fit(v, p):
    """LinearFitRejectionThread: fit the sorted survivors against their rank, reject by distance from
    the line in units of 2·adev·sqrt(1 + b²), ``>=``; repeat until nothing changes or < 3 remain."""
    n = len(v)
    low = high = 0
    y = list(v)
    if n < 5:
        return low, high, y
    while True:
        a, b, adev = medfit(y)
        s = 2 * adev * math.sqrt(1 + b * b)
        if 1 + s == 1:
            break
        keep, nl, nh = [], 0, 0
        for j, yj in enumerate(y):
            f = a + b * j
            if yj < f and p["clip_low"] and (f - yj) / s >= p["linear_fit_low"]:
                nl += 1
            elif yj >= f and p["clip_high"] and (yj - f) / s >= p["linear_fit_high"]:
                nh += 1
            else:
                keep.append(yj)
        if nl + nh == 0:
            break
        low, high, y = low + nl, high + nh, keep
        if len(y) < 3:
            break
    return low, high, y


def esd_lambda(n: int, i: int, alpha: float) -> float:
    """ESDLambda, stored as a float as PCL's cache does."""
    t = stats.t.isf(alpha / 2 / (n - i), n - i - 2)
    return float(np.float32(t * (n - i - 1) / math.sqrt((n - i - 2 + t * t) * (n - i))))


def esd(v, p):
    """ESDRejectionThread: k = clamp(trunc(f·n), 1, n - 2) candidates; the outliers are those before
    the first statistic below its critical value. Ties between a low and a high candidate go to the low
    one (the first in sorted order; PCL's choice depends on the order its trimmed mean leaves)."""
    n = len(v)
    if n < 3:
        return 0, 0, list(v)
    f, relax = p["esd_outliers_fraction"], p["esd_low_relaxation"]
    k = min(max(int(f * n), 1), n - 2)
    x = list(v)  # sorted; removals keep it sorted
    removed: list[float] = []
    statistics: list[float] = []
    for i in range(k):
        m_ = len(x)
        th = max(1, int(f * m_) - i)
        tl = max(1, int(f / relax * m_) - i)
        m = sum_in_order(x[tl : m_ - th]) / (m_ - tl - th) if th + tl < m_ - 2 else median(x)
        sh = stdev(x, m)
        sl = relax * sh
        r = []
        for xi in x:
            d = xi - m
            num, den = (d, sh) if d >= 0 else (-d, sl)
            r.append(num / den if den != 0 else (math.inf if num > 0 else math.nan))
        imax = 0
        for j in range(1, m_):
            if r[j] > r[imax]:
                imax = j
        statistics.append(r[imax])
        removed.append(x.pop(imax))
    nc = 0
    while nc < k and not statistics[nc] < esd_lambda(n, nc, p["esd_alpha"]):
        nc += 1
    med = median(v)
    low = sum(1 for value in removed[:nc] if not value > med and p["clip_low"])
    high = sum(1 for value in removed[:nc] if value > med and p["clip_high"])
    survivors = list(v)
    for value in removed[:nc]:
        if (value > med and p["clip_high"]) or (not value > med and p["clip_low"]):
            survivors.remove(value)
    return low, high, survivors


WINDOWED = {
    "minmax": minmax,
    "percentile": percentile,
    "sigma": sigma_clip,
    "winsorized": winsorized,
    "averaged_sigma": averaged_sigma,
}
LISTED = {"linear_fit": linear_fit, "esd": esd}


def integrate_pixel(samples: list[float], algorithm: str, p: dict) -> tuple[float, int, int]:
    """Range clipping, rejection and the average of one pixel; the median of all valid samples when
    none survives (IntegrationEngine.cpp). Returns (value, rejected low, rejected high)."""
    valid = [x for x in samples if not math.isnan(x)]
    range_low = [x for x in valid if p["range_clip_low"] and x <= p["range_low"]]
    range_high = [x for x in valid if x not in range_low and p["range_clip_high"] and x >= p["range_high"]]
    v = sorted(x for x in valid if x not in range_low and x not in range_high)
    if algorithm == "none":
        low, high, survivors = 0, 0, v
    elif algorithm in WINDOWED:
        lo, hi = WINDOWED[algorithm](v, p)
        low, high, survivors = lo, len(v) - hi, v[lo:hi]
    else:
        low, high, survivors = LISTED[algorithm](v, p)
    low, high = low + len(range_low), high + len(range_high)
    if survivors:
        return sum_in_order(survivors) / len(survivors), low, high
    if not valid:
        return 0.0, low, high
    return median(sorted(valid)) if len(valid) > 1 else valid[0], low, high
