"""Robust statistics shared by normalization, rejection and calibration (numpy and numba, no scipy).

* :func:`nan_median_mad` — median and raw median absolute deviation of an image, NaN-safe, optionally
  on a deterministic random subsample (frame statistics for normalization). Exact selection in numba
  (:mod:`apcal.stats._robust`), ~10x faster than ``np.median``'s partition and without its
  float64 copies; ``fast=False`` runs the numpy reference, which it equals exactly (tests).
* :func:`atrous_layer1` / :func:`ksigma_noise` — the first à trous wavelet layer (B3 spline) and the
  iterative 3-sigma clipped noise estimate on it, PixInsight's k-sigma noise evaluation.
* :func:`esd_lambda_table` — the generalized ESD critical values, which need Student's t quantiles;
  computed here with a small incomplete-beta routine because scipy is not a runtime dependency.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from apcal.stats import _robust

# Pixels used for whole-frame statistics: 2**21 random pixels give the median to ~0.1 % of the noise.
SUBSAMPLE = 1 << 21
MAD_TO_SIGMA = 1.482602218505602  # 1 / Phi^-1(3/4): MAD of a normal distribution -> its sigma
# Standard deviation of the first à trous layer (B3 spline) for unit white Gaussian noise (Starck &
# Murtagh); dividing by it turns the layer's sigma into the image's noise sigma.
B3_LAYER1_NOISE = 0.8907
# The k-sigma clip of :func:`ksigma_sigma` (and its numba twin): keep |x - mean| < 3 sigma, at most 10
# times, until sigma changes by at most 0.1 %.
KSIGMA_K = 3.0
KSIGMA_ITERATIONS = 10
KSIGMA_EPS = 1e-3
#: The dtypes the numba kernels are compiled for; anything else is converted to float64 first.
KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def jitter_positions(n: int, size: int) -> np.ndarray:
    """Flat positions of a ``size``-pixel subsample of ``n >= size`` pixels: one pseudo-random pixel in
    each of ``size`` equal strata (numpy reference of :func:`apcal.stats._robust.jitter_position`).

    Random, not strided: a regular stride can alias with a Bayer pattern and sample one colour only.
    Stratified: the positions come out sorted and distinct (no ``np.sort``, no pixel drawn twice), and
    each is a hash of its index, so the numba kernels recompute any of them without storing the array.
    """
    i = np.arange(size, dtype=np.uint64)
    start = i * np.uint64(n) // np.uint64(size)
    width = (i + np.uint64(1)) * np.uint64(n) // np.uint64(size) - start
    z = i * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x632BE59BD9B4E019)  # splitmix64, wrapping
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = (z ^ (z >> np.uint64(31))) >> np.uint64(32)
    return (start + (z * width >> np.uint64(32))).astype(np.intp)


def subsample(values: np.ndarray, size: int = SUBSAMPLE, *, fast: bool = True) -> np.ndarray:
    """Return ``values`` flattened, or the ``size`` pixels at :func:`jitter_positions` when it is larger.

    Deterministic: every frame of a given shape is measured on the same pixels. ``fast`` gathers them in
    numba (no index array); the numpy reference indexes with :func:`jitter_positions`.
    """
    flat = np.asarray(values).reshape(-1)
    if flat.size <= size:
        return flat
    if fast and flat.dtype in KERNEL_DTYPES:
        return _robust.jittered_gather(flat, size)
    return flat[jitter_positions(flat.size, size)]


def nan_median_mad(
    values: np.ndarray, size: int | None = SUBSAMPLE, *, fast: bool = True
) -> tuple[float, float]:
    """Median and raw MAD (not scaled by 1.4826) of the finite values; (nan, nan) when there are none.

    ``size`` caps the pixels used (see :func:`subsample`); ``None`` uses every pixel. The median is
    ``np.median`` of the finite values in float64 and the MAD the median of their absolute deviations
    from it, also in float64. ``fast`` computes both by exact selection in numba, reading float32 data
    in place (deviations in float64 inside the kernel); ``fast=False`` is the numpy reference below.
    The results are equal (a zero median may come out as -0.0 from one and 0.0 from the other).
    """
    flat = np.asarray(values).reshape(-1) if size is None else subsample(values, size, fast=fast)
    if not fast:
        return _reference_median_mad(flat)
    if flat.dtype not in KERNEL_DTYPES:
        flat = flat.astype(np.float64)
    median, mad = _robust.median_mad(flat)
    return float(median), float(mad)


def _reference_median_mad(flat: np.ndarray) -> tuple[float, float]:
    flat = flat[np.isfinite(flat)].astype(np.float64)
    if flat.size == 0:
        return math.nan, math.nan
    median = float(np.median(flat))
    mad = float(np.median(np.abs(flat - median)))
    return median, mad


def atrous_layer1(image: np.ndarray, *, fast: bool = True) -> np.ndarray:
    """First à trous wavelet layer ``w1 = I - I*B3`` (separable B3 spline 1/16 [1 4 6 4 1]).

    Mirror (``symmetric``) boundaries, float64 out. The layer is linear in the image, which dark
    optimization exploits: ``w1(a - k b) = w1(a) - k w1(b)``. ``fast`` runs the numba kernel, equal to
    this numpy reference (same operations in the same order) with one temporary instead of ~ten.
    """
    if fast:
        return _robust.atrous_layer1(np.ascontiguousarray(image, dtype=np.float64))
    img = np.asarray(image, dtype=np.float64)
    kernel = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)
    smooth = img
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (2, 2)
        padded = np.pad(smooth, pad, mode="symmetric")
        size = smooth.shape[axis]
        acc = np.zeros_like(smooth)
        for offset, weight in enumerate(kernel):
            acc += weight * np.take(padded, np.arange(offset, offset + size), axis=axis)
        smooth = acc
    return img - smooth


def ksigma_sigma(
    values: np.ndarray, k: float = KSIGMA_K, max_iterations: int = KSIGMA_ITERATIONS, eps: float = KSIGMA_EPS
) -> float:
    """Iterative k-sigma clipped standard deviation about zero-mean wavelet coefficients.

    Each iteration keeps the finite values with ``|x - mean| < k·sigma`` of the previous iteration's
    mean and (population) sigma, until sigma changes by at most ``eps`` (relative) or ``max_iterations``.
    PixInsight's NoiseEvaluation k-sigma method does the same on the first wavelet layer.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    finite = np.isfinite(x)
    if not finite.all():
        x = x[finite]
    if x.size < 2:
        return 0.0
    sigma = float(np.std(x))
    mean = float(np.mean(x))
    for _ in range(max_iterations):
        if sigma == 0.0:
            return 0.0
        kept = _robust.within(x, mean, k * sigma)  # x[np.abs(x - mean) < k * sigma], no temporaries
        if kept.size < 2:
            break
        new_sigma = float(np.std(kept))
        mean = float(np.mean(kept))
        if abs(new_sigma - sigma) <= eps * sigma:
            sigma = new_sigma
            break
        sigma = new_sigma
    return sigma


def ksigma_noise(layer1: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Noise sigma of an image from its first à trous layer (k-sigma clipped, scaled by 1/0.8907)."""
    values = layer1 if mask is None or mask.all() else layer1[mask]
    return ksigma_sigma(values) / B3_LAYER1_NOISE


# ---------------------------------------------------------------------------------------------------
# Student's t quantiles for the generalized ESD test (Rosner 1983), without scipy.


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
