"""Pixel rejection: numpy reference implementations of ImageIntegration's rejection algorithms.

:func:`reject` takes a stack ``(n, rows, cols)`` and returns two boolean masks of the same shape, the
samples rejected low and high. NaN marks a missing sample: it is never rejected and never counted. Each
algorithm is vectorized over pixels and iterates until no pixel changes; the numba kernels
(:mod:`apcal.engines.native._reject_kernels` and its neighbours) run the very same arithmetic per pixel
(same float64 operations in the same order), so both paths give identical results (tests).

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

from apcal.engines.native.rejection_esd import _esd
from apcal.engines.native.rejection_lad import _linear_fit
from apcal.engines.native.rejection_window import (
    Masks,
    _apply,
    _clip_counts,
    _median,
    _rows,
    _sigma,
    _sum,
    _window,
    _window_masks,
    sn_correction,
)
from apcal.params import RESOLVED_REJECTIONS, IntegrationParams

ALGORITHMS = RESOLVED_REJECTIONS
MIN_SURVIVORS = 3  # an iteration needs at least this many samples (PCL's ``n < 3`` tests)
WINSOR_CLAMP = 1.5  # winsorization clamps at mean ± 1.5 sigma (Huber)
WINSOR_SIGMA = 1.134  # consistency factor of the winsorized stdev at 1.5 sigma
SN_FACTOR = 1.1926  # Rousseeuw–Croux Sn -> sigma of a normal distribution
WINSOR_TOLERANCE = 0.0005  # relative change of sigma that ends the winsorization
#: A safety net against a cycle, which PCL has not: its winsorization runs until sigma changes by less
#: than WINSOR_TOLERANCE or underflows (1 + sigma == 1). Most pixels converge in 5-15 iterations, but
#: tie-heavy samples with a tight cutoff can shrink sigma by ~1 % per iteration for thousands (3028 on
#: one 14-frame pixel of the transcription test; the former limit of 100 stopped it half-way and
#: clipped 3 samples where PCL clips 6). Shrinking by the least that does not converge (0.05 %), sigma
#: falls from 10**4 to underflow in ~90 000 iterations; this limit only ever stops a cycle.
WINSOR_MAX_ITERATIONS = 1_000_000


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
# The algorithms. Each takes the sorted samples s (n, P) with NaN last and the valid count per pixel and
# returns (low, high) boolean masks in sorted order.


def _minmax(s: np.ndarray, count: np.ndarray, params: IntegrationParams) -> Masks:
    """Min/max clipping: drop the ``min_max_low`` lowest and ``min_max_high`` highest samples.

    PCL ``MinMaxRejectionThread``: one pass; each count is capped at N, so together they may reject every
    sample. A sample both counts reach (``min_max_low + min_max_high > N``) is counted low here, where
    PCL flags it both low and high.
    """
    nl = np.minimum(params.min_max_low if params.clip_low else 0, count)
    nh = np.minimum(params.min_max_high if params.clip_high else 0, count)
    return _window_masks(s.shape[0], count, nl, np.maximum(count - nh, nl))


def _percentile(s: np.ndarray, count: np.ndarray, params: IntegrationParams) -> Masks:
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


def _sigma_clip(s: np.ndarray, count: np.ndarray, params: IntegrationParams) -> Masks:
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


def _winsorize(
    s: np.ndarray, lo: np.ndarray, hi: np.ndarray, cutoff: float, active: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
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


def _winsorized(s: np.ndarray, count: np.ndarray, params: IntegrationParams) -> Masks:
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


def _averaged_sigma(s: np.ndarray, count: np.ndarray, params: IntegrationParams) -> Masks:
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


_ALGORITHMS = {
    "minmax": _minmax,
    "percentile": _percentile,
    "sigma": _sigma_clip,
    "winsorized": _winsorized,
    "averaged_sigma": _averaged_sigma,
    "linear_fit": _linear_fit,
    "esd": _esd,
}
