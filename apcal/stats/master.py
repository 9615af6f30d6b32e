"""Statistics of a finished master for the run report: level, noise, rejection, defects, and for flats
the vignetting and the dust shadows.

All values are floats in the image's [0, 1] units or plain counts/ratios; no scipy. The pixel loops
run in numba kernels beside their numpy references: the 8-neighbour median (:mod:`apcal.stats._defects`),
the block means (:mod:`apcal.stats._binning`), and the median/MAD and wavelet layer of
:mod:`apcal.stats.robust`. About 35-60 ms and ~35 MB of temporaries for a 3 Mpx float32 master
(2 threads), where whole-image float64 copies and ``np.median`` once took 0.25-0.4 s and 75-140 MB.

* ``median``: of the finite pixels (on at most 2**21 of them, :func:`~apcal.stats.robust.subsample`'s
  stratified random pixels); ``mean``, ``min``, ``max``: of all the finite ones.
* ``noise``: Gaussian sigma from the first à trous wavelet layer, k-sigma clipped (PixInsight's k-sigma
  noise evaluation, :func:`apcal.stats.noise.estimate_noise`), on the central
  1024 x 1024 square; smooth structure (vignetting, gradients) does not count.
* ``rejected_low_fraction`` / ``rejected_high_fraction``: rejected samples over all samples
  (``n_frames x pixels``), when the rejection maps are given.
* ``hot_pixels`` / ``cold_pixels``: pixels more than ``HOT_SIGMA`` (5) robust sigma above / below
  the median of their 8 neighbours: a defect stands out of its neighbourhood while vignetting, dust
  shadows and gradients do not. At 5 sigma a Gaussian master of 24 Mpx shows about 7 by chance
  (3 sigma would give 32 000).
* flats only — ``vignetting_ratio``: median of the four corner patches over the median of the
  centre patch (each patch 1/10 of the image's height and width, measured on the 2 x 2-binned image so
  a Bayer mosaic's colours average out); 1.0 is no vignetting.
* flats only — ``dust_donuts``: connected dips of more than ``DUST_DEPTH`` (1 %) below a smooth
  background (a 2-D polynomial of degree 4 fitted with the dips clipped), at least ``DUST_MIN_AREA``
  binned pixels large; dust shadows are 1-10 % deep and tens of pixels across, so pixel noise and single
  defects are not counted. An estimate: a donut cut by the frame's edge can count twice, two
  overlapping ones once.

Against the numpy-only version the kernels replaced, the subsampled pixels behind ``median`` and the
defects' sigma are stratified rather than drawn with replacement, so those moved by sampling noise
(~1 % of the pixel noise on a vignetted flat), and the binned means and the polynomial background are
summed in another order (relative changes ~1e-13); everything else is unchanged to the bit.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from apcal.stats.noise import estimate_noise
from apcal.stats.robust import KERNEL_DTYPES, MAD_TO_SIGMA, SUBSAMPLE, nan_median_mad, subsample
from apcal.vocabulary import FrameType

HOT_SIGMA = 5.0
NOISE_WINDOW = 1024  # side of the central square the noise is measured on
PATCH = 0.1  # corner and centre patches: this fraction of the height and of the width
DUST_DEPTH = 0.01
DUST_MIN_AREA = 12  # binned pixels
DUST_DEGREE = 4
_BIN_TARGET = 512  # dust search: bin so the long side is at most about this many pixels


def master_statistics(
    image: np.ndarray,
    frame_type: FrameType | str,
    *,
    rejected_low: np.ndarray | None = None,
    rejected_high: np.ndarray | None = None,
    n_frames: int | None = None,
) -> dict[str, float]:
    """The statistics of one master (see the module docstring); flats get vignetting and dust too.

    ``image`` is (rows, cols) or (channels, rows, cols); channel-wise values (noise, defects) are
    averaged or summed over channels. ``rejected_low``/``rejected_high`` are per-pixel counts of rejected
    samples and need ``n_frames``.
    """
    kind = FrameType(frame_type)
    img = np.asarray(image, dtype=np.float32)
    planes = img if img.ndim == 3 else img[None]
    stats: dict[str, float] = _level(img)
    if math.isnan(stats["median"]):
        stats.update(noise=math.nan, hot_pixels=math.nan, cold_pixels=math.nan)
    else:
        stats["noise"] = float(np.mean([estimate_noise(_central(p)) for p in planes]))
        hot = cold = 0
        for plane in planes:
            h, c = defect_counts(plane)
            hot, cold = hot + h, cold + c
        stats.update(hot_pixels=float(hot), cold_pixels=float(cold))
    if rejected_low is not None and rejected_high is not None and n_frames:
        samples = max(1, int(n_frames) * img.size)
        stats["rejected_low_fraction"] = float(np.sum(rejected_low, dtype=np.int64)) / samples
        stats["rejected_high_fraction"] = float(np.sum(rejected_high, dtype=np.int64)) / samples
    if kind is FrameType.FLAT:
        mono = binned(planes.mean(axis=0) if planes.shape[0] > 1 else planes[0], 2)
        stats["vignetting_ratio"] = vignetting_ratio(mono)
        stats["dust_donuts"] = float(dust_donut_count(img))
    return stats


def _level(img: np.ndarray) -> dict[str, float]:
    """median (of at most 2**21 pixels), mean, min and max of the finite pixels, all NaN when none is.

    Only an image holding NaN or inf is copied to leave them out; a finite one is reduced in place."""
    median, _ = nan_median_mad(img)  # on 2**21 pixels at most, as frame statistics
    if math.isnan(median):
        return dict(median=math.nan, mean=math.nan, min=math.nan, max=math.nan)
    finite = np.isfinite(img)
    values = img if finite.all() else img[finite]
    return dict(
        median=median,
        mean=float(values.mean(dtype=np.float64)),
        min=float(values.min()),
        max=float(values.max()),
    )


def _central(plane: np.ndarray, size: int = NOISE_WINDOW) -> np.ndarray:
    """The central ``size`` x ``size`` square (the whole plane when smaller): noise is a property of the
    sensor, measured as well on 10**6 pixels as on the whole frame, at a fraction of the cost."""
    rows, cols = plane.shape
    r0, c0 = max(0, (rows - size) // 2), max(0, (cols - size) // 2)
    return plane[r0 : r0 + size, c0 : c0 + size]


def defect_counts(plane: np.ndarray, k: float = HOT_SIGMA, *, fast: bool = True) -> tuple[int, int]:
    """(hot, cold): pixels more than ``k`` robust sigma above / below the median of their 8 neighbours.

    The neighbours' median ignores a single defect next door (so a hot pixel's neighbours are not
    counted cold, as they would be against a smoothing kernel) and follows vignetting, dust shadows and
    gradients. Sigma is 1.4826 x MAD of those residuals, measured on the 2**21 pixels of
    :func:`~apcal.stats.robust.subsample` (sigma to ~0.1 %). ``fast`` uses the numba kernels
    (:mod:`apcal.stats._defects`), which never hold the residual image: one computes it only to
    sample it, the other recomputes it to count. Otherwise this numpy reference runs, in row chunks so
    memory stays near 9 x a chunk. The two give the same residuals and counts (tested).
    """
    img = np.ascontiguousarray(plane, dtype=np.float32)
    rows, cols = img.shape
    if rows < 3 or cols < 3:
        return 0, 0
    if fast:
        from apcal.stats._defects import count_outliers, residual_sample

        sample = residual_sample(img, SUBSAMPLE)
    else:
        residual = _reference_residual(img)
        sample = subsample(residual, SUBSAMPLE, fast=False)
    centre, mad = nan_median_mad(sample, None, fast=fast)
    sigma = MAD_TO_SIGMA * mad
    if not sigma > 0:
        return 0, 0
    if fast:
        return count_outliers(img, centre, k * sigma)
    with np.errstate(invalid="ignore"):
        hot = int(np.count_nonzero(residual - centre > k * sigma))
        cold = int(np.count_nonzero(residual - centre < -k * sigma))
    return hot, cold


def _reference_residual(img: np.ndarray) -> np.ndarray:
    rows, cols = img.shape
    residual = np.empty((rows, cols), dtype=np.float32)
    padded = np.pad(img, 1, mode="reflect")
    offsets = [(dy, dx) for dy in range(3) for dx in range(3) if (dy, dx) != (1, 1)]
    step = max(1, (1 << 22) // cols)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        neighbours = np.stack([padded[r0 + dy : r1 + dy, dx : dx + cols] for dy, dx in offsets])
        if np.isfinite(neighbours).all():
            residual[r0:r1] = img[r0:r1] - np.median(neighbours, axis=0)
            continue
        with warnings.catch_warnings():  # all-NaN neighbourhoods give NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            residual[r0:r1] = img[r0:r1] - np.nanmedian(neighbours, axis=0)
    return residual


def binned(plane: np.ndarray, factor: int, *, fast: bool = True) -> np.ndarray:
    """Mean of ``factor`` x ``factor`` blocks, float64 (NaN-aware; trailing rows/columns that do not fill
    a block are dropped). ``fast`` sums each block in numba straight from the plane's dtype
    (:mod:`apcal.stats._binning`); this numpy reference converts the whole plane to float64 first.
    The two agree to rounding (the sums run in another order)."""
    img = np.asarray(plane)
    if factor <= 1:
        return img.astype(np.float64)
    if fast:
        from apcal.stats._binning import block_means

        return block_means(img if img.dtype in KERNEL_DTYPES else img.astype(np.float64), factor)
    img = img.astype(np.float64)
    rows, cols = (img.shape[0] // factor) * factor, (img.shape[1] // factor) * factor
    blocks = img[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
    if np.isfinite(blocks).all():
        return blocks.mean(axis=(1, 3))
    with warnings.catch_warnings():  # an all-NaN block stays NaN ("Mean of empty slice")
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(blocks, axis=(1, 3))


def vignetting_ratio(plane: np.ndarray, patch: float = PATCH) -> float:
    """Median of the four corner patches' medians over the centre patch's median."""
    img = np.asarray(plane, dtype=np.float64)
    rows, cols = img.shape
    h, w = max(1, round(rows * patch)), max(1, round(cols * patch))
    r0, c0 = (rows - h) // 2, (cols - w) // 2
    centre = np.nanmedian(img[r0 : r0 + h, c0 : c0 + w])
    corners = [
        np.nanmedian(img[:h, :w]),
        np.nanmedian(img[:h, cols - w :]),
        np.nanmedian(img[rows - h :, :w]),
        np.nanmedian(img[rows - h :, cols - w :]),
    ]
    if not (np.isfinite(centre) and centre != 0):
        return math.nan
    return float(np.median(corners) / centre)


def dust_donut_count(image: np.ndarray, *, depth: float = DUST_DEPTH, min_area: int = DUST_MIN_AREA) -> int:
    """Connected dips deeper than ``depth`` (relative) below a smooth background, ``min_area`` or larger.

    The flat is binned (an even factor, so a Bayer mosaic averages out, making the long side at most
    about 512 pixels), smoothed 3 x 3, divided by a degree-4 polynomial background fitted with the
    dips iteratively left out, and the dips are labelled 4-connected.
    """
    img = np.asarray(image)
    plane = img.mean(axis=0, dtype=np.float64) if img.ndim == 3 else img
    factor = max(2, 2 * math.ceil(max(plane.shape) / _BIN_TARGET / 2))
    small = binned(plane, factor)
    if min(small.shape) < 8:
        return 0
    small = _box3(small)
    background = _smooth_background(small, depth)
    if background is None:
        return 0
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = small / background - 1.0
    dips = np.nan_to_num(relative, nan=0.0) < -depth
    labels = label_components(dips)
    if labels.max() == 0:
        return 0
    areas = np.bincount(labels.ravel())[1:]
    return int(np.count_nonzero(areas >= min_area))


def _box3(img: np.ndarray) -> np.ndarray:
    """3 x 3 mean with edge replication (NaN stays NaN-free only where the neighbourhood is finite)."""
    padded = np.pad(img, 1, mode="edge")
    out = np.zeros_like(img)
    for dy in range(3):
        for dx in range(3):
            out += padded[dy : dy + img.shape[0], dx : dx + img.shape[1]]
    return out / 9.0


def _smooth_background(img: np.ndarray, depth: float, iterations: int = 4) -> np.ndarray | None:
    """A degree-4 2-D polynomial fitted by least squares, leaving out pixels more than ``depth``/2 below
    the previous fit (the dips) and non-finite ones.

    The normal equations of the 15 monomials ``x^i y^j`` (x, y in [-1, 1], i + j <= 4) are built from
    the grid's separability: every entry is a moment ``sum(w · x^p · y^q)`` (p, q <= 8), and all 81 come
    from two small matrix products, ``Y^T (W X)``, with no design matrix of (pixels x 15). Normal
    equations of 15 unknowns over ~10^5 well-scaled pixels solve as accurately as an SVD fit.
    """
    rows, cols = img.shape
    y = (np.arange(rows) / max(1, rows - 1)) * 2 - 1
    x = (np.arange(cols) / max(1, cols - 1)) * 2 - 1
    powers = np.arange(2 * DUST_DEGREE + 1)
    xp, yp = x[:, None] ** powers, y[:, None] ** powers  # (cols, 9), (rows, 9)
    terms = [(i, j) for i in range(DUST_DEGREE + 1) for j in range(DUST_DEGREE + 1 - i)]
    ti = np.array([i for i, _ in terms])
    tj = np.array([j for _, j in terms])
    use = np.isfinite(img)
    fit = None
    for _ in range(iterations):
        if np.count_nonzero(use) < len(terms) * 4:
            return fit
        moments = yp.T @ (use @ xp)  # [q, p] = sum over used pixels of y^q x^p
        weighted = yp.T @ (np.where(use, img, 0.0) @ xp)
        normal = moments[tj[:, None] + tj[None, :], ti[:, None] + ti[None, :]]
        coef = np.linalg.solve(normal, weighted[tj, ti])
        grid = np.zeros((DUST_DEGREE + 1, DUST_DEGREE + 1))  # [j, i] = coefficient of x^i y^j
        grid[tj, ti] = coef
        fit = yp[:, : DUST_DEGREE + 1] @ grid @ xp[:, : DUST_DEGREE + 1].T
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = img / fit - 1.0
        use = np.isfinite(relative) & (relative > -depth / 2)
    return fit


def label_components(mask: np.ndarray) -> np.ndarray:
    """4-connected component labels of a boolean mask (0 = background, 1..n), numpy only.

    Each pixel starts with its own label; labels spread as the minimum over neighbours, with pointer
    jumping (a pixel adopts its label's label), until nothing changes — a few dozen passes for the
    blobs met here.
    """
    mask = np.asarray(mask, dtype=bool)
    rows, cols = mask.shape
    big = rows * cols + 1
    labels = np.where(mask, np.arange(1, rows * cols + 1).reshape(rows, cols), big)
    while True:
        padded = np.pad(labels, 1, constant_values=big)
        neighbours = np.minimum.reduce(
            [
                labels,
                padded[:-2, 1:-1],
                padded[2:, 1:-1],
                padded[1:-1, :-2],
                padded[1:-1, 2:],
            ]
        )
        new = np.where(mask, neighbours, big)
        flat = new.ravel()
        inside = flat < big
        flat[inside] = np.minimum(flat[inside], flat[flat[inside] - 1])  # pointer jumping
        new = flat.reshape(rows, cols)
        if np.array_equal(new, labels):
            break
        labels = new
    out = np.zeros((rows, cols), dtype=np.int64)
    roots = labels[mask]
    _, dense = np.unique(roots, return_inverse=True)
    out[mask] = dense.ravel() + 1
    return out
