"""Pixel rejection: numpy reference implementations of ImageIntegration's rejection algorithms.

:func:`reject` takes a stack ``(n, rows, cols)`` and returns two boolean masks of the same shape, the
samples rejected low and high. NaN marks a missing sample: it is never rejected and never counted. Each
algorithm is vectorized over pixels and iterates until no pixel changes; the numba kernels in
:mod:`apcal.engines.native._kernels` run the very same arithmetic per pixel (same float64 operations in
the same order), so both paths give identical results (tests).

Source followed: PixInsight's PCL, ``src/modules/processes/ImageIntegration/IntegrationRejectionEngine.cpp``
and ``.h``, and ``IntegrationEngine.cpp`` (vahlkar/PCL, ImageIntegration as last open, commit fd570d584),
with Sn from ``include/pcl/Math.h``. Every algorithm works on the sorted samples of
one pixel. Common definitions, for the ``N`` surviving samples ``x`` of a pixel:

* ``median`` — middle sample, mean of the two middle ones for even N;
* ``sigma`` — sample standard deviation (N - 1), PCL's two-pass ``RejectionSigma``;
* a sample is rejected low when ``(c - x)/σ > t_low`` and high when ``(x - c)/σ > t_high`` (strict), with
  ``clip_low``/``clip_high`` switching each side on.

**Minimum survivors**, as PCL: the iterative algorithms (sigma, winsorized, averaged sigma, linear fit)
start only with at least 3 samples (linear fit 5), apply each rejection step in full and stop iterating
once fewer than 3 samples survive, so a step may leave 1 or 2. Min/max and percentile clipping are one
pass and may reject every sample; ESD tests at most N - 2 candidates. Where no sample survives,
:func:`apcal.engines.native.integration.integrate` writes the median of all the pixel's samples
(PCL ``IntegrationEngine::IntegrationThread::Run``).

**Range clipping** (``range_clip_low``: ``x <= range_low``; ``range_clip_high``: ``x >= range_high``, PCL's
inclusive tests) runs before statistical rejection; :func:`reject` applies it to the values it is given,
while :func:`apcal.engines.native.integration.integrate` applies it to the raw values, before rejection
normalization, as PCL does.
"""

from __future__ import annotations

import numpy as np

from apcal.params import IntegrationParams
from apcal.stats.robust import esd_lambda_table, esd_max_outliers

ALGORITHMS = ("none", "minmax", "percentile", "sigma", "winsorized", "averaged_sigma", "linear_fit", "esd")
MIN_SURVIVORS = 3  # an iteration needs at least this many samples (PCL's ``n < 3`` tests)
WINSOR_CLAMP = 1.5  # winsorization clamps at mean ± 1.5 sigma (Huber)
WINSOR_SIGMA = 1.134  # consistency factor of the winsorized stdev at 1.5 sigma
SN_FACTOR = 1.1926  # Rousseeuw–Croux Sn -> sigma of a normal distribution
#: Finite-sample correction c_n of Sn for n = 2..9 (PCL include/pcl/Math.h, ``Sn``; Croux & Rousseeuw
#: 1992); for n >= 10 it is n/(n - 0.9) for odd n and 1 for even n (:func:`sn_correction`).
SN_SMALL_SAMPLE = {2: 0.743, 3: 1.851, 4: 0.954, 5: 1.351, 6: 0.993, 7: 1.198, 8: 1.005, 9: 1.131}
WINSOR_TOLERANCE = 0.0005  # relative change of sigma that ends the winsorization
WINSOR_MAX_ITERATIONS = 100  # safety net; PCL has none (convergence takes ~5-15 iterations)


def check_algorithm(params: IntegrationParams) -> str:
    """Return ``params.rejection`` or raise ValueError for ``auto`` (must be resolved) or an unknown name."""
    name = params.rejection
    if name == "auto":
        raise ValueError("rejection 'auto' must be resolved with IntegrationParams.resolved(n) first")
    if name not in ALGORITHMS:
        raise ValueError(f"unknown rejection {name!r}; expected one of {', '.join(ALGORITHMS)}")
    return name


def range_masks(stack: np.ndarray, params: IntegrationParams) -> tuple[np.ndarray, np.ndarray]:
    """Samples out of range, low (``x <= range_low``) and high (``x >= range_high``); NaN never is."""
    x = np.asarray(stack)
    low = np.zeros(x.shape, dtype=bool)
    high = np.zeros(x.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        if params.range_clip_low:
            low = x <= params.range_low
        if params.range_clip_high:
            high = (x >= params.range_high) & ~low
    return low, high


def reject(stack: np.ndarray, params: IntegrationParams) -> tuple[np.ndarray, np.ndarray]:
    """Range clipping, then ``params.rejection`` on ``stack`` (n, rows, cols): (low_mask, high_mask).

    ``params.rejection`` must be resolved (``auto`` raises ValueError). Values are used as given (apply
    rejection normalization first). Works in float64 whatever the input dtype.
    """
    name = check_algorithm(params)
    x = np.asarray(stack, dtype=np.float64)
    range_low, range_high = range_masks(x, params)
    out = range_low | range_high
    if out.any():
        x = np.where(out, np.nan, x)
    low, high = statistical_masks(x, params, name)
    return low | range_low, high | range_high


def statistical_masks(
    stack: np.ndarray, params: IntegrationParams, name: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Statistical rejection only (no range clipping) of a float stack whose missing samples are NaN."""
    name = name or check_algorithm(params)
    x = np.asarray(stack, dtype=np.float64)
    shape = x.shape
    n = shape[0]
    flat = x.reshape(n, -1)
    low = np.zeros(flat.shape, dtype=bool)
    high = np.zeros(flat.shape, dtype=bool)
    if name == "none" or flat.shape[1] == 0:
        return low.reshape(shape), high.reshape(shape)
    order = np.argsort(flat, axis=0, kind="stable")  # NaN sorts last
    s = np.take_along_axis(flat, order, axis=0)
    count = np.isfinite(s).sum(axis=0)
    low_s, high_s = _ALGORITHMS[name](s, count, params)
    np.put_along_axis(low, order, low_s, axis=0)
    np.put_along_axis(high, order, high_s, axis=0)
    return low.reshape(shape), high.reshape(shape)


# ---------------------------------------------------------------------------------------------------
# Vectorized helpers over sorted samples s (n, P); a pixel's survivors are the window lo <= j < hi.


def _rows(n: int) -> np.ndarray:
    return np.arange(n)[:, None]


def _window(n: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    j = _rows(n)
    return (j >= lo) & (j < hi)


def _at(s: np.ndarray, index: np.ndarray) -> np.ndarray:
    index = np.clip(index, 0, s.shape[0] - 1)
    return np.take_along_axis(s, index[None, :], axis=0)[0]


def _median(s: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Median of each window (sorted); 0 where the window has fewer than 2 samples (as PCL)."""
    cnt = hi - lo
    half = cnt // 2
    upper = _at(s, lo + half)
    lower = _at(s, lo + half - 1)
    with np.errstate(invalid="ignore"):
        med = np.where(cnt % 2 == 1, upper, (upper + lower) / 2)
    return np.where(cnt < 2, 0.0, med)


def _sum(values: np.ndarray, member: np.ndarray) -> np.ndarray:
    # Summing along axis 0 adds the rows in order: the same order as the kernels' loops.
    return np.sum(np.where(member, values, 0.0), axis=0)


def _sigma(values: np.ndarray, member: np.ndarray, cnt: np.ndarray, centre: np.ndarray | None = None):
    """PCL's RejectionSigma: sqrt((Σd² - (Σd)²/N)/(N-1)), d = x - mean (or x - centre); 0 for N < 2."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if centre is None:
            centre = _sum(values, member) / cnt
        d = values - centre
        var = _sum(d * d, member)
        eps = _sum(d, member)
        sigma = np.sqrt((var - eps * eps / cnt) / (cnt - 1))
    return np.where(cnt < 2, 0.0, sigma)


def _leading(cond: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Number of consecutive True from the bottom of each window (PCL's low-side loop with ``break``)."""
    j = _rows(cond.shape[0])
    c = np.where(j < lo, True, np.where(j < hi, cond, False))
    return np.logical_and.accumulate(c, axis=0).sum(axis=0) - lo


def _trailing(cond: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Number of consecutive True from the top of each window (PCL's high-side loop)."""
    n = cond.shape[0]
    j = _rows(n)
    c = np.where(j >= hi, True, np.where(j >= lo, cond, False))
    return np.logical_and.accumulate(c[::-1], axis=0).sum(axis=0) - (n - hi)


def _window_masks(n: int, count: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    j = _rows(n)
    return j < lo, (j >= hi) & (j < count)


def sn_correction(count: np.ndarray) -> np.ndarray:
    """Sn's finite-sample factor c_n for each sample size (PCL ``Sn`` in include/pcl/Math.h); 1 below 2."""
    n = np.asarray(count, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(n % 2 == 1, n / (n - 0.9), 1.0)
    for size, factor in SN_SMALL_SAMPLE.items():
        c = np.where(n == size, factor, c)
    return np.where(n < 2, 1.0, c)


def _clip_counts(s, lo, hi, centre, sigma, low_t, high_t, params, active):
    """Low/high rejection counts for ``(c - x)/σ > low_t`` and ``(x - c)/σ > high_t`` on active pixels."""
    zero = np.zeros_like(lo)
    with np.errstate(invalid="ignore", divide="ignore"):
        cl = _leading((centre - s) / sigma > low_t, lo, hi) if params.clip_low else zero
        ch = _trailing((s - centre) / sigma > high_t, lo, hi) if params.clip_high else zero
    return np.where(active, cl, 0), np.where(active, ch, 0)


def _apply(lo, hi, cl, ch, active):
    """Apply the counts on active pixels; return (lo, hi, still_active: the pixels that changed)."""
    step = active & ((cl + ch) > 0)
    return lo + np.where(step, cl, 0), hi - np.where(step, ch, 0), step


# ---------------------------------------------------------------------------------------------------
# The algorithms. Each takes the sorted samples s (n, P) with NaN last and the valid count per pixel and
# returns (low, high) boolean masks in sorted order.


def _minmax(s: np.ndarray, count: np.ndarray, params: IntegrationParams):
    """Min/max clipping: drop the ``min_max_low`` lowest and ``min_max_high`` highest samples.

    PCL ``MinMaxRejectionThread``: one pass; each count is capped at N, so together they may reject every
    sample. A sample both counts reach (``min_max_low + min_max_high > N``) is counted low here, where
    PCL flags it both low and high.
    """
    nl = np.minimum(params.min_max_low if params.clip_low else 0, count)
    nh = np.minimum(params.min_max_high if params.clip_high else 0, count)
    return _window_masks(s.shape[0], count, nl, np.maximum(count - nh, nl))


def _percentile(s: np.ndarray, count: np.ndarray, params: IntegrationParams):
    """Percentile clipping, one pass around the median m (PCL ``PercentileClipRejectionThread``).

    Low: ``(m - x)/m > pc_clip_low``; high: ``(x - m)/m > pc_clip_high``. Skipped for N < 2 or when
    ``1 + m == 1`` (m ≈ 0). May reject every sample (two distant samples, or an even N whose middle
    pair is far apart). Meant for small stacks (WBPP picks it below 6 frames).
    """
    lo = np.zeros_like(count)
    hi = count.copy()
    m = _median(s, lo, hi)
    active = (count >= 2) & (1 + m != 1)
    cl, ch = _clip_counts(s, lo, hi, m, m, params.pc_clip_low, params.pc_clip_high, params, active)
    lo, hi, _ = _apply(lo, hi, cl, ch, active)
    return _window_masks(s.shape[0], count, lo, hi)


def _sigma_clip(s: np.ndarray, count: np.ndarray, params: IntegrationParams):
    """Iterative sigma clipping (PCL ``SigmaClipRejectionThread``).

    Each iteration: m = median, σ = stdev (N - 1) of the survivors; reject ``x < m - sigma_low·σ`` and
    ``x > m + sigma_high·σ``; repeat until nothing changes, N < 3 or σ ≈ 0 (``1 + σ == 1``). Equivalent
    to ``astropy.stats.sigma_clip(axis=0, cenfunc='median', stdfunc=<std with ddof=1>, maxiters=None)``.
    """
    n = s.shape[0]
    lo = np.zeros_like(count)
    hi = count.copy()
    active = count >= 3
    while active.any():
        member = _window(n, lo, hi)
        cnt = hi - lo
        sigma = _sigma(s, member, cnt)
        m = _median(s, lo, hi)
        active &= (cnt >= 3) & (1 + sigma != 1)
        cl, ch = _clip_counts(s, lo, hi, m, sigma, params.sigma_low, params.sigma_high, params, active)
        lo, hi, active = _apply(lo, hi, cl, ch, active)
    return _window_masks(n, count, lo, hi)


def _sn(s: np.ndarray, lo: np.ndarray, hi: np.ndarray, chunk: int = 1 << 21) -> np.ndarray:
    """Rousseeuw–Croux Sn = lomed_i himed_j |x_i - x_j| over each window (without c_n and 1.1926).

    himed is the (N//2 + 1)-th smallest of the N distances of x_i (itself included), lomed the
    ((N + 1)//2)-th smallest of the N himeds. Chunked over pixels: it needs n²·P temporaries.
    """
    n, p = s.shape
    out = np.zeros(p)
    step = max(1, chunk // (n * n))
    j = _rows(n)
    for a in range(0, p, step):
        b = min(p, a + step)
        sc, l_, h_ = s[:, a:b], lo[a:b], hi[a:b]
        member = (j >= l_) & (j < h_)
        with np.errstate(invalid="ignore"):
            d = np.abs(sc[:, None, :] - sc[None, :, :])  # d[i, j]
        d = np.where(member[None, :, :], d, np.inf)
        d.sort(axis=1)
        cnt = h_ - l_
        himed = np.take_along_axis(d, np.broadcast_to((cnt // 2)[None, None, :], (n, 1, b - a)), axis=1)[:, 0]
        himed = np.where(member, himed, np.inf)
        himed.sort(axis=0)
        out[a:b] = np.take_along_axis(himed, np.clip((cnt + 1) // 2 - 1, 0, n - 1)[None, :], axis=0)[0]
    return out


def _winsorize(s, lo, hi, cutoff, active):
    """PCL ``RejectionWinsorization`` on each window: returns (mean, sigma) of the winsorized sample.

    Start from m = median, σ = 1.1926·c_n·Sn (c_n: :func:`sn_correction`, part of PCL's ``Sn``);
    iterate: clamp samples to [m - 1.5σ, m + 1.5σ] (with a cutoff > 0, samples beyond m ± cutoff·σ are
    replaced by m instead), then σ = 1.134·stdev(clamped), m = mean(clamped), until σ changes by less
    than 0.0005 (relative; at least two iterations).
    """
    n = s.shape[0]
    member = _window(n, lo, hi)
    cnt = hi - lo
    mean = _median(s, lo, hi)
    sigma = SN_FACTOR * (sn_correction(cnt) * _sn(s, lo, hi))
    v = np.where(member, s, 0.0)
    running = active.copy()
    iteration = 0
    while running.any() and iteration < WINSOR_MAX_ITERATIONS:
        running &= 1 + sigma != 1
        t0 = mean - WINSOR_CLAMP * sigma
        t1 = mean + WINSOR_CLAMP * sigma
        if cutoff > 0:
            c0 = mean - cutoff * sigma
            c1 = mean + cutoff * sigma
            w = np.where(v < t0, np.where(v > c0, t0, mean), np.where(v > t1, np.where(v < c1, t1, mean), v))
        else:
            w = np.where(v < t0, t0, np.where(v > t1, t1, v))
        v = np.where(running[None, :] & member, w, v)
        s0 = sigma
        with np.errstate(invalid="ignore", divide="ignore"):
            new_sigma = WINSOR_SIGMA * _sigma(v, member, cnt)
            new_mean = _sum(v, member) / cnt
        sigma = np.where(running, new_sigma, sigma)
        mean = np.where(running, new_mean, mean)
        iteration += 1
        if iteration > 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                running &= ~(np.abs(s0 - sigma) / s0 < WINSOR_TOLERANCE)
    return mean, sigma


def _winsorized(s: np.ndarray, count: np.ndarray, params: IntegrationParams):
    """Winsorized sigma clipping (PCL ``WinsorizedSigmaClipRejectionThread``).

    Each iteration estimates (m, σ) robustly by Huber winsorization (:func:`_winsorize`), then rejects
    ``x < m - sigma_low·σ`` and ``x > m + sigma_high·σ``; repeat until nothing changes or N < 3. In the
    first iteration only, samples beyond ``winsorization_cutoff``·σ are replaced by the median during the
    estimate (PixInsight's documented meaning: "set equal to the median ... in the first rejection
    iteration"), so they cannot inflate σ; the clipping step then rejects them like any outlier.
    """
    n = s.shape[0]
    lo = np.zeros_like(count)
    hi = count.copy()
    active = count >= 3
    iteration = 0
    while active.any():
        cnt = hi - lo
        active &= cnt >= 3
        cutoff = params.winsorization_cutoff if iteration == 0 else 0.0
        mean, sigma = _winsorize(s, lo, hi, cutoff, active)
        active &= 1 + sigma != 1
        cl, ch = _clip_counts(s, lo, hi, mean, sigma, params.sigma_low, params.sigma_high, params, active)
        lo, hi, active = _apply(lo, hi, cl, ch, active)
        iteration += 1
    return _window_masks(n, count, lo, hi)


def _averaged_sigma(s: np.ndarray, count: np.ndarray, params: IntegrationParams):
    """Averaged sigma clipping (PCL ``AveragedSigmaClipRejectionThread``).

    Poisson-like noise model: once per pixel, m = median and s = sqrt(Σ(x - m)²/m / (N - 1)) over all
    valid samples; then iterate with σ = s·sqrt(m), rejecting ``x < m - sigma_low·σ`` and
    ``x > m + sigma_high·σ``, recomputing only m (the median of the survivors). Skipped when
    ``1 + m == 1``. Deviation: PCL then discards the pixel's samples (the pixel becomes their median);
    here they are kept and averaged — such a pixel reads ~0 in every frame, so both give ~0, and keeping
    the samples keeps the rejection counts honest.
    """
    n = s.shape[0]
    lo = np.zeros_like(count)
    hi = count.copy()
    m = _median(s, lo, hi)
    active = (count >= 3) & (1 + m != 1)
    member = _window(n, lo, hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = s - m
        scale = np.sqrt(_sum(d * d / m, member) / (count - 1))
    while active.any():
        with np.errstate(invalid="ignore"):
            sigma = scale * np.sqrt(m)
        active &= 1 + sigma != 1
        cl, ch = _clip_counts(s, lo, hi, m, sigma, params.sigma_low, params.sigma_high, params, active)
        lo, hi, active = _apply(lo, hi, cl, ch, active)
        active &= (hi - lo) >= 3
        m = np.where(active, _median(s, lo, hi), m)
    return _window_masks(n, count, lo, hi)


LAD_EPS = 1e-7
LAD_MAX_STEPS = 100


def _rofunc(b: float, y: list[float]) -> tuple[float, float]:
    """For slope b: a = median(y - b·x) and Σ x_j·sign(y_j - a - b·x_j) with x_j = j (NR ``rofunc``)."""
    n = len(y)
    r = sorted(yj - b * float(j) for j, yj in enumerate(y))
    half = n // 2
    a = r[half] if n % 2 == 1 else (r[half - 1] + r[half]) / 2
    total = 0.0
    for j, yj in enumerate(y):
        d = yj - (b * float(j) + a)
        if yj != 0:
            d /= abs(yj)
        if abs(d) > LAD_EPS:
            total += float(j) if d >= 0 else -float(j)
    return total, a


def _lad_fit(y: list[float]) -> tuple[float, float, float]:
    """Least-absolute-deviation line y = a + b·x through (j, y_j): returns (a, b, mean |residual|).

    Numerical Recipes' ``medfit``, the method of ``pcl::LinearFit``: start from the least-squares line,
    bracket the root of ``rofunc`` in b (steps of 3σ_b, growing by 1.6), bisect it down to 0.01·σ_b;
    a = median(y - b·x) for the final b.
    """
    n = len(y)
    sx = sy = sxy = sxx = 0.0
    for j, yj in enumerate(y):
        x = float(j)
        sx += x
        sy += yj
        sxy += x * yj
        sxx += x * x
    delta = n * sxx - sx * sx
    a = (sxx * sy - sx * sxy) / delta
    b = (n * sxy - sx * sy) / delta
    chisq = 0.0
    for j, yj in enumerate(y):
        d = yj - (a + b * float(j))
        chisq += d * d
    sigb = (chisq / delta) ** 0.5
    if sigb > 0:
        b1 = b
        f1, _ = _rofunc(b1, y)
        if f1 != 0:
            b2 = b1 + (3 * sigb if f1 > 0 else -3 * sigb)
            f2, _ = _rofunc(b2, y)
            steps = 0
            while f1 * f2 > 0 and steps < LAD_MAX_STEPS:
                b1, f1, b2 = b2, f2, b2 + 1.6 * (b2 - b1)
                f2, _ = _rofunc(b2, y)
                steps += 1
            b = b2
            tol = 0.01 * sigb
            steps = 0
            while abs(b2 - b1) > tol and steps < LAD_MAX_STEPS:
                bb = b1 + 0.5 * (b2 - b1)
                if bb in (b1, b2):
                    break
                b = bb
                f, _ = _rofunc(bb, y)
                if f * f1 >= 0:
                    f1, b1 = f, bb
                else:
                    f2, b2 = f, bb
                steps += 1
    _, a = _rofunc(b, y)
    total = 0.0
    for j, yj in enumerate(y):
        total += abs(yj - (a + b * float(j)))
    return a, b, total / n


def _linear_fit_pixel(v: list[float], params: IntegrationParams) -> list[int]:
    """Linear fit clipping of one pixel's sorted samples; 0 keep, 1 low, 2 high per sorted position."""
    cnt = len(v)
    flags = [0] * cnt
    if cnt < 5:
        return flags
    y = list(v)
    pos = list(range(cnt))
    while True:
        a, b, adev = _lad_fit(y)
        sigma = 2 * adev * (1 + b * b) ** 0.5
        if 1 + sigma == 1:
            break
        verdict = []
        for j, yj in enumerate(y):
            f = a + b * float(j)
            if yj < f:
                verdict.append(1 if params.clip_low and (f - yj) / sigma >= params.linear_fit_low else 0)
            else:
                verdict.append(2 if params.clip_high and (yj - f) / sigma >= params.linear_fit_high else 0)
        nc = sum(1 for r in verdict if r)
        if nc == 0:
            break
        for j, r in enumerate(verdict):
            if r:
                flags[pos[j]] = r
        y = [yj for yj, r in zip(y, verdict, strict=True) if not r]
        pos = [pj for pj, r in zip(pos, verdict, strict=True) if not r]
        if len(y) < 3:
            break
    return flags


def _linear_fit(s: np.ndarray, count: np.ndarray, params: IntegrationParams):
    """Linear fit clipping (PCL ``LinearFitRejectionThread`` with ``pcl::LinearFit``).

    Fit y = a + b·x to the sorted survivors y against their rank x = 0..N-1 by least absolute
    deviations (:func:`_lad_fit`); with adev the mean absolute deviation from the line and
    σ = 2·adev·sqrt(1 + b²) ("2·" makes it comparable with sigma clipping, as PCL), reject below the
    line when ``(fit - y)/σ >= linear_fit_low`` and above when ``(y - fit)/σ >= linear_fit_high``;
    repeat until nothing changes or N < 3. Needs N >= 5.

    The reference is a per-pixel Python loop (the bisection does not vectorize): use small stacks.
    """
    low = np.zeros(s.shape, dtype=bool)
    high = np.zeros(s.shape, dtype=bool)
    for pixel in np.flatnonzero(count >= 5):
        c = int(count[pixel])
        flags = _linear_fit_pixel([float(x) for x in s[:c, pixel]], params)
        for j, f in enumerate(flags):
            if f == 1:
                low[j, pixel] = True
            elif f == 2:
                high[j, pixel] = True
    return low, high


def _esd(s: np.ndarray, count: np.ndarray, params: IntegrationParams):
    """Generalized extreme Studentized deviate test (Rosner 1983; PCL ``ESDRejectionThread``).

    Up to k = trunc(esd_outliers_fraction·N), clamped to [1, N - 2], candidates are removed one at a
    time: the sample maximizing R = (x - m)/s_h above m or (m - x)/s_l below m, where m is the mean
    trimmed of trunc(fraction·N') - i highest and trunc(fraction/esd_low_relaxation·N') - i lowest
    samples (each at least 1; the median when they leave < 3), s_h the stdev about m, and
    s_l = esd_low_relaxation·s_h (relaxation > 1 makes the low side more tolerant). Each R_i is compared
    with λ_i, the two-sided critical value at significance ``esd_alpha``
    (:func:`apcal.stats.robust.esd_lambda`). Outliers above the median of all samples are
    rejected high, the others low. One pass, not iterated.

    How many candidates are outliers is ``params.esd_rule``: ``pixinsight`` (PCL) — the candidates
    before the first with R_i < λ_i; ``rosner`` — up to the last with R_i >= λ_i, immune to the masking
    of clustered similar outliers (see :class:`apcal.params.IntegrationParams`). Once the remaining
    samples are all equal (s_h ≈ 0) PCL's statistic is 0/0, which never compares below λ: under the
    ``pixinsight`` rule every remaining candidate then counts as an outlier (equal values, so the
    combined value does not change, only the counts); ``rosner`` stops there.

    Deviation from PCL: PCL's trimmed mean (``TrimmedMeanDestructive``) sums every sample within the
    trimmed range's end values, so ties at an end count more than N' - trimmed samples; here exactly the
    N' - trimmed middle samples are averaged. With ``clip_low``/``clip_high`` off, PCL still lowers the
    pixel's count for the unflagged outliers of that side; here they are kept.
    """
    n, p = s.shape
    low = np.zeros(s.shape, dtype=bool)
    high = np.zeros(s.shape, dtype=bool)
    if n < 3:
        return low, high
    frac = params.esd_outliers_fraction
    relax = params.esd_low_relaxation
    table = esd_lambda_table(n, params.esd_alpha, frac)
    kmax = np.array([esd_max_outliers(int(c), frac) if c >= 3 else 0 for c in range(n + 1)])
    k = np.where(count >= 3, kmax[count], 0)
    lo = np.zeros_like(count)
    hi = count.copy()
    steps = int(k.max()) if p else 0
    r_values = np.full((max(steps, 1), p), -np.inf)
    took_low = np.zeros((max(steps, 1), p), dtype=bool)
    tested = np.zeros(p, dtype=np.int64)
    active = k > 0
    for i in range(steps):
        active &= i < k
        if not active.any():
            break
        nn = hi - lo
        th = np.maximum(1, (frac * nn).astype(np.int64) - i)
        tl = np.maximum(1, (frac / relax * nn).astype(np.int64) - i)
        trimmed = (th + tl) < (nn - 2)
        tlo = np.where(trimmed, lo + tl, lo)
        thi = np.where(trimmed, hi - th, hi)
        member = _window(n, tlo, thi)
        with np.errstate(invalid="ignore", divide="ignore"):
            tmean = _sum(s, member) / (thi - tlo)
        m = np.where(trimmed, tmean, _median(s, lo, hi))
        sh = _sigma(s, _window(n, lo, hi), nn, centre=m)
        active &= 1 + sh != 1
        sl = relax * sh
        with np.errstate(invalid="ignore", divide="ignore"):
            xl = _at(s, lo) - m
            xh = _at(s, hi - 1) - m
            r_low = np.where(xl >= 0, xl / sh, -xl / sl)
            r_high = np.where(xh >= 0, xh / sh, -xh / sl)
        pick_low = r_low >= r_high
        r_values[i] = np.where(active, np.where(pick_low, r_low, r_high), -np.inf)
        took_low[i] = pick_low
        tested += active
        lo = lo + (active & pick_low)
        hi = hi - (active & ~pick_low)
    # Number of outliers.
    width = max(steps, 1)
    lam = table[count[None, :], np.arange(width)[:, None]] if steps else np.full((1, p), np.inf)
    steps_index = np.arange(width)[:, None]
    tested_step = steps_index < tested[None, :]
    passed = (r_values >= lam) & tested_step
    if params.esd_rule == "rosner":
        nc = np.where(passed.any(axis=0), width - np.argmax(passed[::-1], axis=0), 0)
    else:
        # The steps left untested because the rest was all equal (s_h ≈ 0) pass, as PCL's NaN statistic.
        # (Steps beyond k are marked passed only so that a pixel whose k all pass finds no failure.)
        passed |= (~tested_step & (steps_index < k[None, :])) | (steps_index >= k[None, :])
        nc = np.where(passed.all(axis=0), k, np.argmin(passed, axis=0))
        took_low = took_low | ~tested_step  # those candidates are taken from the low end (equal values)
    first = steps_index < nc[None, :]
    nl = (first & took_low).sum(axis=0)
    nh = (first & ~took_low).sum(axis=0)
    removed_low, removed_high = _window_masks(n, count, nl, count - nh)
    median = _median(s, np.zeros_like(count), count)
    with np.errstate(invalid="ignore"):
        above = s > median
    removed = removed_low | removed_high
    if params.clip_high:
        high = removed & above
    if params.clip_low:
        low = removed & ~above
    return low, high


_ALGORITHMS = {
    "minmax": _minmax,
    "percentile": _percentile,
    "sigma": _sigma_clip,
    "winsorized": _winsorized,
    "averaged_sigma": _averaged_sigma,
    "linear_fit": _linear_fit,
    "esd": _esd,
}
