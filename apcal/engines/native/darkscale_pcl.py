"""``dark_scaling: pixinsight`` — ImageCalibration's dark optimization as PCL >= 1.7.1 does it.

Followed from PCL's ``src/modules/processes/ImageCalibration/ImageCalibrationInstance.cpp`` at commit
``bf047a139`` (the objective changed in ``09eef8f05``, 2021: "use variance estimation instead of noise
evaluation"): ``ImageCalibrationInstance::ExecuteGlobal`` builds the optimizing dark, the calibration
thread's ``Perform`` calls ``OptimizeDark`` → ``DarkOptimization`` → ``BracketDarkOptimization`` /
``TestDarkOptimization``. In words:

* the optimizing dark is the master dark minus the master bias (``SubtractBias``), binned 2x2 by
  averaging (``IntegerResample(-2)``, odd edges dropped) when the frames are CFA, then per channel every
  pixel below ``t = clip(median + darkOptimizationLow·1.4826·MAD, 0, 1)`` is set to 0; when fewer than
  16 pixels (``DARK_COUNT_SMALL``) reach ``t`` in any channel, optimization is off and k = 1; then the
  central ``darkOptimizationWindow`` square is cropped (``OptimizingRect``, in binned pixels);
* the target is the raw frame as read (no bias subtracted), binned the same way and cropped to the
  dark's window; the objective is the plain standard deviation of ``target - k·dark`` computed in
  float32 samples (``TestDarkOptimization``), and is stored as float;
* k is bracketed from [0.5, 2] with Numerical Recipes' ``mnbrak`` and found by golden section down to
  an interval of 5e-4, all in float32; the result is ``max(0, k)`` (PCL truncates only below; there is
  no upper truncation).

One k per channel of the binned target: one for a mono or CFA (2-D) frame, one per plane of a colour
frame. The only deliberate difference: the bracketing walk stops after 200 steps (PCL's has no bound;
its quadratic objective always turns, this only guards a degenerate frame).

:func:`pixinsight_dark_scale_reference` computes every objective value on the whole window in numpy;
:class:`PixInsightDarkOptimizer` computes the same sums with the off-mask pixels' sums taken once per
frame (the thresholded dark is 0 there), and agrees with it to the search's tolerance (tests).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from apcal.params import CalibrationParams
from apcal.stats.robust import MAD_TO_SIGMA

F32 = np.float32
DARK_COUNT_SMALL = 16
TOLERANCE = F32(0.0005)
_R = F32(0.61803399)
_C = F32(1) - _R
_GOLD = F32(1.618034)
_GLIMIT = F32(10)
_TINY = F32(1.0e-20)
_MAX_BRACKET_STEPS = 200


def bin2(image: np.ndarray) -> np.ndarray:
    """2x2 average (PCL's ``IntegerResample(-2)``: blocks summed in double, stored float32; a last odd
    row or column is dropped)."""
    a = np.asarray(image, dtype=np.float64)
    rows, cols = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    a = a[:rows, :cols]
    s = a[0::2, 0::2] + a[0::2, 1::2] + a[1::2, 0::2] + a[1::2, 1::2]
    return (s / 4).astype(F32)


def optimizing_rect(shape: tuple[int, int], window: int) -> tuple[slice, slice]:
    """PCL's ``OptimizingRect``: a ``window``-sided square (clipped to the image) at the centre, its
    corner at ``max(0, (size - window) >> 1)``."""
    rows, cols = shape
    r0, c0 = max(0, (rows - window) >> 1), max(0, (cols - window) >> 1)
    return slice(r0, r0 + min(window, rows)), slice(c0, c0 + min(window, cols))


def optimizing_dark(
    dark: np.ndarray, bias: np.ndarray | None, params: CalibrationParams, *, cfa: bool
) -> list[np.ndarray] | None:
    """The thresholded, windowed dark signal per channel (float32), or None when optimization is off
    (fewer than 16 pixels above the threshold in a channel)."""
    dark = np.asarray(dark, dtype=F32)
    planes = [dark] if dark.ndim == 2 else list(dark)
    bias_planes = (
        [None] * len(planes)
        if bias is None
        else ([np.asarray(bias, dtype=F32)] if np.ndim(bias) == 2 else list(np.asarray(bias, dtype=F32)))
    )
    out = []
    for plane, b in zip(planes, bias_planes, strict=True):
        d = plane - b if b is not None else plane.copy()  # float32 arithmetic, as SubtractBias
        if cfa:
            d = bin2(d)
        location = float(np.median(d))
        scale = MAD_TO_SIGMA * float(np.median(np.abs(d.astype(np.float64) - location)))
        threshold = min(max(location + params.dark_optimization_low * scale, 0.0), 1.0)
        below = d.astype(np.float64) < threshold  # float samples against a double, as PCL
        if np.count_nonzero(~below) < DARK_COUNT_SMALL:
            return None
        d[below] = 0
        window = params.dark_optimization_window
        if window > 0 and (window < d.shape[1] or window < d.shape[0]):
            d = d[optimizing_rect(d.shape, window)]
        out.append(np.ascontiguousarray(d))
    return out


def optimizing_target(raw: np.ndarray, dark_shape: tuple[int, int], *, cfa: bool) -> list[np.ndarray]:
    """The raw frame's channels as ImageCalibration optimizes on them: float32, binned for CFA, cropped
    to the optimizing dark's window (``OptimizeDark``)."""
    raw = np.asarray(raw, dtype=F32)
    planes = [raw] if raw.ndim == 2 else list(raw)
    out = []
    for plane in planes:
        t = bin2(plane) if cfa else plane
        if t.shape != dark_shape:
            t = t[optimizing_rect(t.shape, max(dark_shape))]
        out.append(t)
    return out


def _std_reference(target: np.ndarray, dark: np.ndarray) -> Callable[[F32], F32]:
    def objective(k: F32) -> F32:
        residual = target - F32(k) * dark  # float32 samples, as SubtractOneChannelDark
        return F32(np.std(residual, dtype=np.float64, ddof=1))

    return objective


def pixinsight_dark_scale_reference(
    raw: np.ndarray, *, bias: np.ndarray | None, dark: np.ndarray, params: CalibrationParams, cfa: bool
) -> list[float]:
    """k per channel of ``raw`` by PCL's objective, every value computed on the whole window in numpy."""
    darks = optimizing_dark(dark, bias, params, cfa=cfa)
    channels = 1 if np.ndim(raw) == 2 else np.shape(raw)[0]
    if darks is None:
        return [1.0] * channels
    targets = optimizing_target(raw, darks[0].shape, cfa=cfa)
    return [pcl_minimize(_std_reference(t, darks[min(c, len(darks) - 1)])) for c, t in enumerate(targets)]


class PixInsightDarkOptimizer:
    """:func:`pixinsight_dark_scale_reference` for a series of frames calibrated with the same masters.

    The optimizing dark is built once. Per frame the sums over the pixels where it is 0 are taken once
    (``target - k·0`` does not depend on k there); each objective value then needs the few thousand
    pixels above the threshold only.
    """

    def __init__(self, dark: np.ndarray, bias: np.ndarray | None, params: CalibrationParams, *, cfa: bool):
        self._cfa = cfa
        self._darks = optimizing_dark(dark, bias, params, cfa=cfa)
        self._index = [np.flatnonzero(d) for d in self._darks] if self._darks else []
        self._values = [d.ravel()[i] for d, i in zip(self._darks or [], self._index, strict=True)]

    def scales(self, raw: np.ndarray) -> list[float]:
        """k per channel of ``raw``."""
        channels = 1 if np.ndim(raw) == 2 else np.shape(raw)[0]
        if self._darks is None:
            return [1.0] * channels
        targets = optimizing_target(raw, self._darks[0].shape, cfa=self._cfa)
        out = []
        for c, t in enumerate(targets):
            d = min(c, len(self._darks) - 1)
            out.append(pcl_minimize(self._objective(t, self._index[d], self._values[d])))
        return out

    @staticmethod
    def _objective(target: np.ndarray, index: np.ndarray, dark: np.ndarray) -> Callable[[F32], F32]:
        flat = target.ravel()
        n = flat.size
        on = flat[index]
        shift = float(np.mean(flat, dtype=np.float64))  # centring keeps the sums of squares exact
        total = float(np.sum(flat - shift, dtype=np.float64))
        total2 = float(np.sum(np.square(flat - shift, dtype=np.float64)))
        on64 = on.astype(np.float64) - shift
        off1, off2 = total - float(on64.sum()), total2 - float(np.square(on64).sum())

        def objective(k: F32) -> F32:
            y = (on - F32(k) * dark).astype(np.float64) - shift
            s1, s2 = off1 + float(y.sum()), off2 + float(np.square(y).sum())
            return F32(np.sqrt(max(0.0, (s2 - s1 * s1 / n) / (n - 1))))

        return objective


def pcl_minimize(objective: Callable[[F32], F32]) -> float:
    """PCL's ``DarkOptimization``: bracket, then golden section down to 5e-4, in float32; max(0, k)."""
    ax, bx, cx = _bracket(objective)
    x0, x3 = ax, cx
    if abs(bx - ax) < abs(cx - bx):  # section the larger segment first
        x1, x2 = bx, F32(bx + _C * (cx - bx))
    else:
        x1, x2 = F32(bx - _C * (bx - ax)), bx
    f1, f2 = objective(x1), objective(x2)
    while abs(F32(x3 - x0)) > TOLERANCE:
        if f2 < f1:
            x0, x1, x2 = x1, x2, F32(_R * x2 + _C * x3)
            f1, f2 = f2, objective(x2)
        else:
            x3, x2, x1 = x2, x1, F32(_R * x1 + _C * x0)
            f2, f1 = f1, objective(x1)
    return float(max(F32(0), x1 if f1 < f2 else x2))


def _same_sign(x: F32, sign_of: F32) -> F32:
    return F32(abs(x)) if sign_of >= 0 else F32(-abs(x))


def _bracket(f: Callable[[F32], F32]) -> tuple[F32, F32, F32]:
    """PCL's ``BracketDarkOptimization`` (Numerical Recipes' ``mnbrak``) from [0.5, 2], in float32."""
    ax, bx = F32(0.5), F32(2.0)
    fa, fb = f(ax), f(bx)
    if fb > fa:
        ax, bx, fa, fb = bx, ax, fb, fa
    cx = F32(bx + _GOLD * (bx - ax))
    fc = f(cx)
    steps = 0
    while fb > fc and steps < _MAX_BRACKET_STEPS:
        steps += 1
        r = F32((bx - ax) * (fb - fc))
        q = F32((bx - cx) * (fb - fa))
        step = F32(F32((bx - cx) * q - (bx - ax) * r) / F32(2))
        u = F32(bx - step / _same_sign(max(F32(abs(q - r)), _TINY), F32(q - r)))
        ulim = F32(bx + _GLIMIT * (cx - bx))
        if (bx - u) * (u - cx) > 0:
            fu = f(u)
            if fu < fc:
                return bx, u, cx
            if fu > fb:
                return ax, bx, u
            u = F32(cx + _GOLD * (cx - bx))
            fu = f(u)
        elif (cx - u) * (u - ulim) > 0:
            fu = f(u)
            if fu < fc:
                du = F32(_GOLD * (u - cx))
                bx, cx, u = cx, u, F32(u + du)
                fb, fc, fu = fc, fu, f(u)
        elif (u - ulim) * (ulim - cx) >= 0:
            u = ulim
            fu = f(u)
        else:
            u = F32(cx + _GOLD * (cx - bx))
            fu = f(u)
        ax, bx, cx = bx, cx, u
        fa, fb, fc = fb, fc, fu
    return ax, bx, cx
