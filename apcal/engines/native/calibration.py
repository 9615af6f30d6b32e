"""Flat calibration and dark optimization (ImageCalibration's pixel work), on whole 2-D frames.

Frames are float arrays in PixInsight's [0, 1] range; results are float32 and are not truncated (a
calibrated flat is far from 0, and negative noise around 0 must survive averaging unbiased).

Master darks are assumed to contain the bias (WBPP's default), hence ``raw - bias - k·(dark - bias)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import overload

import numpy as np

from apcal.engines.native._flat_kernel import calibrate_rows
from apcal.params import CalibrationParams
from apcal.stats import _wavelet
from apcal.stats.robust import KERNEL_DTYPES, MAD_TO_SIGMA, nan_median_mad
from apcal.stats.wavelet import atrous_layer1

MIN_MASK_PIXELS = 16
#: A dark or frame value at or above this ([0, 1] units: 64224 of 65535 ADU) is taken as saturated.
SATURATION = 0.98
#: The relative spread given to the exposure ratio when the fit is weighted against it.
EXPOSURE_PRIOR = 0.25


def calibrate_flat(
    raw: np.ndarray,
    *,
    bias: np.ndarray | None,
    dark: np.ndarray | None,
    k: float = 1.0,
    flatdark: np.ndarray | None = None,
    pedestal: float = 0.0,
) -> np.ndarray:
    """Calibrate one flat: ``raw - flatdark``, or ``raw - bias - k·(dark - bias)``, plus ``pedestal``.

    With a ``flatdark`` (a master dark of the flats' exposure, bias included) bias, dark and k are
    ignored. A dark without bias gives ``raw - k·dark``; only a bias ``raw - bias``; nothing ``raw``.
    ``pedestal`` is in the data's units (the driver converts DN to [0, 1]). NaN propagates.
    """
    raw = np.asarray(raw)
    if flatdark is not None:
        bias, dark = flatdark, None
    if raw.ndim != 2:  # colour: plane by plane
        planes = [
            calibrate_flat(
                raw[c],
                bias=None if bias is None else np.asarray(bias)[c],
                dark=None if dark is None else np.asarray(dark)[c],
                k=k,
                pedestal=pedestal,
            )
            for c in range(raw.shape[0])
        ]
        return np.stack(planes)
    out = np.empty(raw.shape, dtype=np.float32)
    calibrate_rows(
        _float_plane(raw),
        _float_plane(raw if bias is None else bias),
        _float_plane(raw if dark is None else dark),
        bias is not None,
        dark is not None,
        float(k),
        float(pedestal),
        bool(pedestal),
        out,
    )
    return out


def _float_plane(a: np.ndarray) -> np.ndarray:
    """A native-endian float32/float64 2-D array for the kernels (no copy when it already is one)."""
    a = np.asarray(a)
    if a.dtype not in KERNEL_DTYPES:
        a = a.astype(np.float64)
    return a


def _dark_signal(dark: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """``dark - bias`` in float64, with one frame-sized temporary: the bias is cast chunk by chunk
    inside the in-place subtraction (float64 copies of both masters and their difference were 72 MB
    on a 3 Mpx frame, the flat job's memory peak)."""
    d = np.array(dark, dtype=np.float64)
    if bias is not None:
        d -= bias
    return d


def dark_optimization_mask(dark: np.ndarray, bias: np.ndarray | None, low: float) -> np.ndarray:
    """Pixels of the dark signal ``dark - bias`` above ``median + low·1.4826·MAD`` (hot and warm pixels).

    These carry the dark current whose residual the optimization minimizes; median and MAD come from
    :func:`~apcal.stats.robust.nan_median_mad` (subsampled on large frames).
    """
    d = _dark_signal(dark, bias)
    median, mad = nan_median_mad(d)
    threshold = median + low * MAD_TO_SIGMA * mad
    with np.errstate(invalid="ignore"):
        return d > threshold


def _window(shape: tuple[int, ...], size: int) -> tuple[slice, slice]:
    rows, cols = shape
    if size <= 0:
        return slice(0, rows), slice(0, cols)
    h, w = min(size, rows), min(size, cols)
    r0, c0 = (rows - h) // 2, (cols - w) // 2
    return slice(r0, r0 + h), slice(c0, c0 + w)


def saturated_near(image: np.ndarray, rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
    """For each pixel (rr[p], cc[p]): does its 5x5 neighbourhood (indices clipped at the edges) hold a
    value at or above :data:`SATURATION`? Such a pixel's first wavelet layer is not the signal's."""
    rows, cols = image.shape
    out = np.zeros(rr.shape[0], dtype=bool)
    with np.errstate(invalid="ignore"):
        for dr in range(-2, 3):
            r = np.clip(rr + dr, 0, rows - 1)
            for dc in range(-2, 3):
                out |= image[r, np.clip(cc + dc, 0, cols - 1)] >= SATURATION
    return out


@dataclass(frozen=True)
class DarkScaleFit:
    """One frame's dark scale: ``k`` (what is subtracted), the least-squares ``fit`` and its standard
    ``error`` alone, and the number of mask ``pixels`` they used."""

    k: float
    fit: float
    error: float
    pixels: int


def combine_with_exposure(fit: float, error: float, pixels: int, ratio: float | None) -> float:
    """k from the unclipped fit and the exposure ratio ``t_flat / t_dark``, weighted by their precisions.

    The ratio is what k physically is when dark current scales with time; it is given a relative spread
    of :data:`EXPOSURE_PRIOR` (a few degrees of sensor temperature). The fit's weight is
    ``1 / error²``: a fit whose error is far below that spread (long flats, a dark of another
    temperature) sets k, a fit drowned in the flat's shot noise does not. Without a ratio the fit
    alone; without enough pixels the ratio, else 1. Never below 0.
    """
    if pixels < MIN_MASK_PIXELS or not math.isfinite(fit):
        return float(ratio) if ratio else 1.0
    if not ratio or ratio <= 0:
        return max(0.0, fit)
    if error <= 0:
        return max(0.0, fit)
    w_fit, w_ratio = 1.0 / error**2, 1.0 / (EXPOSURE_PRIOR * ratio) ** 2
    return max(0.0, (fit * w_fit + ratio * w_ratio) / (w_fit + w_ratio))


def least_squares(a: np.ndarray, d: np.ndarray, ratio: float | None) -> DarkScaleFit:
    """The unclipped least-squares k of ``a ≈ k·d`` (both first wavelet layers on the mask pixels),
    its standard error, and the k :func:`combine_with_exposure` makes of them."""
    n = int(a.shape[0])
    dd = float(np.dot(d, d))
    if n < MIN_MASK_PIXELS or dd <= 0:
        return DarkScaleFit(combine_with_exposure(math.nan, math.inf, n, ratio), math.nan, math.inf, n)
    fit = float(np.dot(a, d)) / dd
    residual = a - fit * d
    error = math.sqrt(float(np.dot(residual, residual)) / (n - 1) / dd)
    return DarkScaleFit(combine_with_exposure(fit, error, n, ratio), fit, error, n)


@overload
def _planes(image: np.ndarray, window: tuple[slice, slice], cfa: bool) -> list[np.ndarray]: ...
@overload
def _planes(image: None, window: tuple[slice, slice], cfa: bool) -> list[None]: ...
@overload
def _planes(
    image: np.ndarray | None, window: tuple[slice, slice], cfa: bool
) -> list[np.ndarray] | list[None]: ...
def _planes(
    image: np.ndarray | None, window: tuple[slice, slice], cfa: bool
) -> list[np.ndarray] | list[None]:
    """The windowed image's planes the layers are computed on: one for mono, each plane of a colour
    frame, the four 2x2 phases (one colour each) of a CFA mosaic (contiguous copies)."""
    if image is None:
        return [None] * (4 if cfa else 1)
    image = np.asarray(image)
    planes = [image[window]] if image.ndim == 2 else [p[window] for p in image]
    if cfa:
        planes = [p[i::2, j::2] for p in planes for i in (0, 1) for j in (0, 1)]
    return [np.ascontiguousarray(p) for p in planes]


def optimize_dark_scale(
    raw: np.ndarray,
    *,
    bias: np.ndarray | None,
    dark: np.ndarray,
    params: CalibrationParams,
    cfa: bool = False,
    exposure_ratio: float | None = None,
) -> float:
    """k for ``raw - bias - k·(dark - bias)`` by ``dark_scaling: optimize`` (:class:`DarkOptimizer`)."""
    return DarkOptimizer(dark, bias, params, cfa=cfa).fit(raw, exposure_ratio).k


class DarkOptimizer:
    """``dark_scaling: optimize``: k by an unclipped least-squares fit of the frame's first à trous
    wavelet layer against the dark signal's, on the dark's threshold mask, saturated pixels left out.

    The mask is :func:`dark_optimization_mask` (``dark - bias`` above median +
    ``dark_optimization_low``·1.4826·MAD) inside the central ``dark_optimization_window`` square. A mask
    pixel leaves it when a dark or frame value in its 5x5 neighbourhood is at or above
    :data:`SATURATION` (a clipped hot pixel's true signal is far higher, and its layer is wrong) or its
    frame signal is not finite. The fit is ``k = Σ a·d / Σ d²`` over the remaining pixels (``a`` the
    frame's layer, ``d`` the dark signal's), with no clipping, and is then weighted against the
    exposure ratio by :func:`combine_with_exposure`. A CFA mosaic is split into its four 2x2 phases and
    a colour frame into its planes; their pixels enter one fit (one k per frame).

    Why not PixInsight's objective (``dark_scaling: pixinsight``, :mod:`.darkscale_pcl`): the plain
    standard deviation over the whole window sees the flat's illumination, which the first wavelet layer
    removes, and k-sigma clipping (PixInsight before 1.7.1, and apcal's first version) throws away the
    hot-pixel residuals that carry the information. Measured on the benchmark's night (20 flats of
    2 s, 2000x1500, 300 s master dark, exposure ratio 0.00667; ``bench/flat_scaling.py``):
    PixInsight's objective gives k = 0 for every flat (the whole-window std, vignetting and all,
    still falls at k = -0.05 and PCL clamps at 0), apcal's former k-sigma search 0 to 0.054 (six
    flats), and this fit alone -0.016 to 0.039 (-2.4 to 5.8x the ratio), its standard error
    0.021-0.022 (3.2-3.3x the ratio: 2 s of dark current is invisible in a flat's shot noise).
    Weighted with the ratio, k is 0.00654-0.00686 (0.98-1.03x), and the master flat's error at the
    hot pixels is +0.03 % in the mean (PixInsight's k = 0: +0.04 %, k = 1: -1.5 %).

    What depends only on the masters — window, mask, the dark signal's layer on it — is computed once
    here; per frame the layer is computed at the mask pixels only
    (:func:`apcal.stats._wavelet.atrous_layer1_at`, identical to the whole-frame layer there).
    :func:`optimize_dark_scale_reference` is the whole-frame numpy definition (tests).
    """

    def __init__(
        self, dark: np.ndarray, bias: np.ndarray | None, params: CalibrationParams, *, cfa: bool = False
    ):
        dark = np.asarray(dark)
        self._shape = dark.shape
        self._window = _window(dark.shape[-2:], params.dark_optimization_window)
        self._cfa = cfa
        self._bias = _planes(bias, self._window, cfa)
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for dark_p, bias_p in zip(_planes(dark, self._window, cfa), self._bias, strict=True):
            mask = dark_optimization_mask(dark_p, bias_p, params.dark_optimization_low)
            mask &= np.isfinite(dark_p) if bias_p is None else np.isfinite(dark_p) & np.isfinite(bias_p)
            rr, cc = (np.ascontiguousarray(a, dtype=np.int64) for a in np.nonzero(mask))
            keep = ~saturated_near(dark_p, rr, cc)
            rr, cc = rr[keep], cc[keep]
            d = np.empty(rr.size)
            has_bias = bias_p is not None
            dark_f = _float_plane(dark_p)
            bias_f = _float_plane(bias_p) if bias_p is not None else dark_f
            _wavelet.atrous_layer1_at(dark_f, bias_f, has_bias, rr, cc, d)
            self._parts.append((rr, cc, d))

    @property
    def pixels(self) -> int:
        """Number of mask pixels (before the frame's own saturated or non-finite ones leave)."""
        return sum(rr.size for rr, _, _ in self._parts)

    def scale(self, raw: np.ndarray, exposure_ratio: float | None = None) -> float:
        """The dark scaling factor k of ``raw``."""
        return self.fit(raw, exposure_ratio).k

    def fit(self, raw: np.ndarray, exposure_ratio: float | None = None) -> DarkScaleFit:
        """k of ``raw`` with the fit it came from (see the class)."""
        raw = np.asarray(raw)
        if raw.shape != self._shape:
            raise ValueError(f"frame shape {raw.shape} differs from the masters' {self._shape}")
        a_all, d_all = [], []
        for image, bias, (rr, cc, d) in zip(
            _planes(raw, self._window, self._cfa), self._bias, self._parts, strict=True
        ):
            has_bias = bias is not None
            image = _float_plane(image)
            bias = _float_plane(bias) if bias is not None else image
            a = np.empty(rr.size)
            _wavelet.atrous_layer1_at(image, bias, has_bias, rr, cc, a)
            values = image[rr, cc].astype(np.float64)
            if has_bias:
                values = values - bias[rr, cc]
            keep = np.isfinite(values) & ~saturated_near(image, rr, cc)
            a_all.append(a[keep])
            d_all.append(d[keep])
        return least_squares(np.concatenate(a_all), np.concatenate(d_all), exposure_ratio)


# ---------------------------------------------------------------------------------------------------
# Plain numpy references: the definitions the kernels above are tested against.


def calibrate_flat_reference(
    raw: np.ndarray,
    *,
    bias: np.ndarray | None,
    dark: np.ndarray | None,
    k: float = 1.0,
    flatdark: np.ndarray | None = None,
    pedestal: float = 0.0,
) -> np.ndarray:
    """:func:`calibrate_flat` in whole-array numpy (float64 temporaries the size of the frame)."""
    out = np.asarray(raw, dtype=np.float64)
    if flatdark is not None:
        out = out - np.asarray(flatdark, dtype=np.float64)
    elif dark is not None and bias is not None:
        b = np.asarray(bias, dtype=np.float64)
        out = out - b - k * (np.asarray(dark, dtype=np.float64) - b)
    elif dark is not None:
        out = out - k * np.asarray(dark, dtype=np.float64)
    elif bias is not None:
        out = out - np.asarray(bias, dtype=np.float64)
    if pedestal:
        out = out + pedestal
    return out.astype(np.float32)


def _dilate2(flags: np.ndarray) -> np.ndarray:
    """``flags`` grown by 2 pixels in each direction (a 5x5 square; edges as :func:`saturated_near`)."""
    padded = np.pad(flags, 2, mode="edge")
    rows, cols = flags.shape
    out = np.zeros_like(flags)
    for dr in range(5):
        for dc in range(5):
            out |= padded[dr : dr + rows, dc : dc + cols]
    return out


def optimize_dark_scale_reference(
    raw: np.ndarray,
    *,
    bias: np.ndarray | None,
    dark: np.ndarray,
    params: CalibrationParams,
    cfa: bool = False,
    exposure_ratio: float | None = None,
) -> DarkScaleFit:
    """:class:`DarkOptimizer`'s fit with both wavelet layers computed on whole (windowed) planes."""
    window = _window(np.shape(raw)[-2:], params.dark_optimization_window)
    a_all, d_all = [], []
    for raw_p, bias_p, dark_p in zip(
        _planes(raw, window, cfa), _planes(bias, window, cfa), _planes(dark, window, cfa), strict=True
    ):
        mask = dark_optimization_mask(dark_p, bias_p, params.dark_optimization_low)
        signal = raw_p.astype(np.float64) - (0.0 if bias_p is None else bias_p)
        dsig = _dark_signal(dark_p, bias_p)
        with np.errstate(invalid="ignore"):
            saturated = _dilate2(dark_p >= SATURATION) | _dilate2(raw_p >= SATURATION)
        mask &= np.isfinite(signal) & np.isfinite(dsig) & ~saturated
        a_all.append(atrous_layer1(np.where(np.isfinite(signal), signal, 0.0))[mask])
        d_all.append(atrous_layer1(np.where(np.isfinite(dsig), dsig, 0.0))[mask])
    return least_squares(np.concatenate(a_all), np.concatenate(d_all), exposure_ratio)
