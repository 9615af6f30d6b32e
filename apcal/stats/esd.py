"""Critical values of the generalized ESD test (Rosner 1983), which need Student's t quantiles: computed
with a small incomplete-beta routine because scipy is not a runtime dependency."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, Numerical Recipes 6.4)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf(nu: float, t: float) -> float:
    """Upper tail P(T > t) of Student's t with ``nu`` degrees of freedom, for t >= 0."""
    return 0.5 * betainc(nu / 2.0, 0.5, nu / (nu + t * t))


def t_isf(nu: float, p: float) -> float:
    """The t with P(T > t) = p (0 < p < 0.5): bracketing, then safeguarded Newton steps."""
    log_pdf_norm = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
    lo, hi = 0.0, 1.0
    while t_sf(nu, hi) > p:
        lo, hi = hi, hi * 2.0
    t = 0.5 * (lo + hi)
    for _ in range(200):
        f = t_sf(nu, t) - p  # decreasing in t
        if f > 0:
            lo = t
        else:
            hi = t
        pdf = math.exp(log_pdf_norm - (nu + 1) / 2 * math.log1p(t * t / nu))
        step = f / pdf if pdf > 0 else 0.0
        candidate = t + step
        if not lo < candidate < hi:
            candidate = 0.5 * (lo + hi)
        if abs(candidate - t) <= 1e-12 * max(1.0, t):
            return candidate
        t = candidate
    return t


def esd_lambda(n: int, i: int, alpha: float) -> float:
    """Critical value λ_{i+1} of the generalized ESD test for a sample of ``n`` after ``i`` removals.

    λ = t·(n-i-1) / sqrt((n-i-2 + t²)(n-i)), t = t_{p, n-i-2}, p = 1 - alpha/(2(n-i)) (two-sided), as
    PCL's ``IntegrationRejectionEngine::ESDLambda``.
    """
    m = n - i
    if m < 3:
        return math.inf
    t = t_isf(m - 2, alpha / (2.0 * m))
    return t * (m - 1) / math.sqrt((m - 2 + t * t) * m)


def esd_max_outliers(n: int, fraction: float) -> int:
    """Largest number of ESD outliers tested in a sample of ``n``: trunc(fraction·n) clamped to [1, n-2]."""
    return min(max(int(fraction * n), 1), n - 2)


@lru_cache(maxsize=32)
def _esd_table_cached(n_max: int, alpha: float, fraction: float) -> np.ndarray:
    table = np.full((n_max + 1, max(n_max, 1)), np.inf)
    for n in range(3, n_max + 1):
        for i in range(esd_max_outliers(n, fraction)):
            table[n, i] = esd_lambda(n, i, alpha)
    table.setflags(write=False)
    return table


def esd_lambda_table(n_max: int, alpha: float, fraction: float) -> np.ndarray:
    """``table[n, i] = esd_lambda(n, i, alpha)`` for 3 <= n <= n_max and i < esd_max_outliers(n).

    Other entries are inf. Cached per (n_max, alpha, fraction): the t quantiles cost ~0.1 ms each.
    """
    return _esd_table_cached(int(n_max), float(alpha), float(fraction))
