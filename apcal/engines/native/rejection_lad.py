"""Linear fit clipping, numpy reference: a least-absolute-deviation line through each pixel's samples.

PCL ``IntegrationRejectionEngine.cpp`` (``LinearFitRejectionThread``), commit fd570d584: the sorted
survivors are fitted with a LAD line against their rank (Numerical Recipes' ``medfit``/``rofunc``) and
samples too far from it are rejected (:func:`_linear_fit`), until nothing changes. Split from
:mod:`apcal.engines.native.rejection`, which dispatches to it.
"""

from __future__ import annotations

import math

import numpy as np

from apcal.engines.native.rejection_window import Masks
from apcal.params import IntegrationParams

LAD_EPS = 1e-7
LAD_MAX_STEPS = 100


def _rofunc(b: float, y: list[float]) -> tuple[float, float, float]:
    """For slope b, with x_j = j (NR ``rofunc``): a = median(y - b·x), Σ x_j·sign(y_j - a - b·x_j)
    over the points farther than LAD_EPS (relative to |y_j|) from the line, and Σ |y_j - a - b·x_j|.

    Returns (sign sum, a, absolute deviation sum)."""
    n = len(y)
    r = sorted(yj - b * float(j) for j, yj in enumerate(y))
    half = n // 2
    a = r[half] if n % 2 == 1 else (r[half - 1] + r[half]) / 2
    total = 0.0
    abdev = 0.0
    for j, yj in enumerate(y):
        d = yj - (b * float(j) + a)
        abdev += abs(d)
        if yj != 0:
            d /= abs(yj)
        if abs(d) > LAD_EPS:
            total += float(j) if d >= 0 else -float(j)
    return total, a, abdev


def _lad_fit(y: list[float]) -> tuple[float, float, float]:
    """Least-absolute-deviation line y = a + b·x through (j, y_j): returns (a, b, mean |residual|).

    Numerical Recipes' ``medfit`` (2nd ed. §15.7; ``Fitmed`` in the 3rd), the method we take
    ``pcl::LinearFit`` to use (its solver is closed: LinearFit.h documents the objective, the outputs
    a, b, adev of NR's routine and an iteration count unknown in advance): start from the least-squares
    slope, step 3·σ_b in the direction of ``rofunc``'s sign (up when it is 0) and grow the step by 1.6
    until the sign changes, bisect down to 0.01·σ_b. As in NR, b is the last slope tried and a and the
    deviation come from the last ``rofunc`` evaluation. The step caps are a guard only: NR's loops end
    on their own.
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
    sigb = math.sqrt(chisq / delta)  # sqrt, not ** 0.5 (pow), which can differ in the last bit
    b1 = b
    f1, a, abdev = _rofunc(b1, y)
    if sigb > 0:
        b2 = b + (3 * sigb if f1 >= 0 else -3 * sigb)
        f2, a, abdev = _rofunc(b2, y)
        if b2 == b1:
            return a, b, abdev / n
        steps = 0
        while f1 * f2 > 0 and steps < LAD_MAX_STEPS:
            b = b2 + 1.6 * (b2 - b1)
            b1, f1, b2 = b2, f2, b
            f2, a, abdev = _rofunc(b2, y)
            steps += 1
        tol = 0.01 * sigb
        steps = 0
        while abs(b2 - b1) > tol and steps < LAD_MAX_STEPS:
            b = b1 + 0.5 * (b2 - b1)
            if b in (b1, b2):
                break
            f, a, abdev = _rofunc(b, y)
            if f * f1 >= 0:
                f1, b1 = f, b
            else:
                f2, b2 = f, b
            steps += 1
    return a, b, abdev / n


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
        sigma = 2 * adev * math.sqrt(1 + b * b)
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


def _linear_fit(s: np.ndarray, count: np.ndarray, params: IntegrationParams) -> Masks:
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
