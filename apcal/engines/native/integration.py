"""Integrate a block of frames: range clipping, rejection, combination (ImageIntegration's pixel work).

:func:`integrate` is what the tiling driver calls per row block. For each pixel of a stack (n, rows, cols):

1. missing samples (NaN) are dropped; they are neither rejected nor counted;
2. range clipping on the raw values (``range_clip_low``: ``x <= range_low``; ``range_clip_high``:
   ``x >= range_high``), counted as rejected low/high as in PixInsight's rejection maps;
3. rejection normalization (``rejection`` coefficients) and statistical rejection
   (:mod:`apcal.engines.native.rejection`);
4. output normalization (``output`` coefficients) of the survivors and combination: average, median,
   minimum or maximum.

A pixel without any surviving sample (every sample out of range, or rejected: min/max and percentile
clipping may reject them all) is the median of all its valid samples, output-normalized, range-clipped
ones included, as PixInsight writes it (PCL ``IntegrationEngine::IntegrationThread::Run``: "if all pixels
have been rejected, take the median"); its counts say why. A pixel whose every sample is NaN is 0.
``fast=True`` runs the numba kernel (threads over blocks of rows, :mod:`apcal.row_blocks`); ``fast=False``
the numpy reference. They agree exactly up to the final float32 rounding of the average (tests); the
reference needs O(n²·pixels) memory per chunk for the Sn of winsorized clipping, so use it for tests and
small blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from apcal.engines.native._integrate_kernel import ROW_BLOCK, integrate_rows
from apcal.engines.native._kernel_params import kernel_params
from apcal.engines.native._winsorized_lanes import lanes_networks
from apcal.engines.native.normalization import Coefficients
from apcal.engines.native.rejection import check_algorithm, range_masks, statistical_masks
from apcal.params import COMBINATIONS, IntegrationParams
from apcal.row_blocks import block_count, submit_blocks, wait_blocks
from apcal.stats.esd import esd_lambda_table


@dataclass(frozen=True)
class IntegrationResult:
    """A combined block: the image (float32) and per-pixel counts of samples rejected low/high (uint16)."""

    image: np.ndarray
    rejected_low: np.ndarray
    rejected_high: np.ndarray


def _coefficients(coefficients: Coefficients | None, n: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    if coefficients is None:
        return np.ones(n), np.zeros(n)
    scale = np.ascontiguousarray(coefficients.scale, dtype=np.float64)
    offset = np.ascontiguousarray(coefficients.offset, dtype=np.float64)
    if scale.shape != (n,) or offset.shape != (n,):
        raise ValueError(f"{what} coefficients have shape {scale.shape}/{offset.shape}, expected ({n},)")
    return scale, offset


def _check(stack: np.ndarray, params: IntegrationParams) -> tuple[str, str]:
    if stack.ndim != 3:
        raise ValueError(f"stack must have shape (n, rows, cols), got {stack.shape}")
    if stack.shape[0] == 0:
        raise ValueError("cannot integrate an empty stack")
    if stack.shape[0] > np.iinfo(np.uint16).max:
        raise ValueError("too many frames for uint16 rejection counts")
    algorithm = check_algorithm(params)
    if params.combination not in COMBINATIONS:
        expected = ", ".join(COMBINATIONS)
        raise ValueError(f"unknown combination {params.combination!r}; expected one of {expected}")
    return algorithm, params.combination


def integrate(
    stack: np.ndarray,
    params: IntegrationParams,
    *,
    output: Coefficients | None = None,
    rejection: Coefficients | None = None,
    fast: bool = True,
) -> IntegrationResult:
    """Reject and combine a block ``stack`` (n, rows, cols) of n frames; see the module docstring.

    ``params.rejection`` must be resolved (``auto`` raises ValueError). ``output`` and ``rejection`` are
    the per-frame normalizations (:mod:`apcal.engines.native.normalization`); None means identity.
    Any dtype is accepted; samples are processed in float64.
    """
    return start_integration(stack, params, output=output, rejection=rejection, fast=fast)()


def start_integration(
    stack: np.ndarray,
    params: IntegrationParams,
    *,
    output: Coefficients | None = None,
    rejection: Coefficients | None = None,
    fast: bool = True,
    into: IntegrationResult | None = None,
) -> Callable[[], IntegrationResult]:
    """:func:`integrate` in two steps: the kernel's tasks are queued on its threads here, and the returned
    function waits for them and gives the result, written into ``into``'s arrays when given (views of
    the whole master's: float32 image and uint16 counts of the stack's rows x cols), so no block is
    allocated and copied again. A caller that starts the next block before taking this one's result
    keeps the threads busy from block to block (:mod:`.stack`): without it, every block ended with one
    thread idle while the other finished the last task. ``stack`` must not change until
    the result is taken. The numpy reference (``fast=False``) runs here, at once."""
    stack = np.asarray(stack)
    algorithm, combination = _check(stack, params)
    n = stack.shape[0]
    o_scale, o_offset = _coefficients(output, n, "output")
    r_scale, r_offset = _coefficients(rejection, n, "rejection")
    if fast:
        frames = (r_scale, r_offset, o_scale, o_offset)  # the kernel's order
        return _integrate_fast(stack, params, algorithm, combination, frames, into)
    done = _integrate_reference(stack, params, algorithm, combination, o_scale, o_offset, r_scale, r_offset)
    if into is not None:
        into.image[...] = done.image
        into.rejected_low[...] = done.rejected_low
        into.rejected_high[...] = done.rejected_high
    return lambda: done if into is None else into


def _integrate_fast(
    stack: np.ndarray,
    params: IntegrationParams,
    algorithm: str,
    combination: str,
    frames: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    into: IntegrationResult | None,
) -> Callable[[], IntegrationResult]:
    """The kernel's tasks, queued; it writes straight into ``into`` (new arrays when None; the image
    rounded to float32 as it stores each pixel, as ``astype`` would). ``frames``: (r_scale, r_offset,
    o_scale, o_offset)."""
    n, rows, cols = stack.shape
    if into is None:
        into = IntegrationResult(
            image=np.empty((rows, cols), dtype=np.float32),
            rejected_low=np.empty((rows, cols), dtype=np.uint16),
            rejected_high=np.empty((rows, cols), dtype=np.uint16),
        )
    # The kernel is compiled for native-endian float32 and float64; anything else (>f4, integers) is
    # converted once here.
    if stack.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        stack = stack.astype(np.float32 if stack.dtype.itemsize <= 4 else np.float64)
    stack = np.ascontiguousarray(stack)
    # ESD's critical values, or None: numba then leaves ESD out of the kernel it compiles (a branch on a
    # None argument is pruned before typing), which spares every other run ~2 s of compiling on first use;
    # the first ESD integration compiles its own. A writable copy: the cached table is read-only, which
    # numba would compile yet another kernel for.
    table = (
        np.array(esd_lambda_table(n, params.esd_alpha, params.esd_outliers_fraction))
        if algorithm == "esd"
        else None
    )
    settings = kernel_params(params, algorithm, combination)
    networks = lanes_networks(n)
    out, low, high = into.image, into.rejected_low, into.rejected_high
    tasks = submit_blocks(
        lambda blocks: integrate_rows(stack, settings, frames, table, networks, out, low, high, blocks),
        block_count(rows, ROW_BLOCK),
    )

    def result() -> IntegrationResult:
        wait_blocks(tasks)
        return into

    return result


def _integrate_reference(
    stack: np.ndarray,
    params: IntegrationParams,
    algorithm: str,
    combination: str,
    o_scale: np.ndarray,
    o_offset: np.ndarray,
    r_scale: np.ndarray,
    r_offset: np.ndarray,
) -> IntegrationResult:
    x = np.asarray(stack, dtype=np.float64)
    missing = np.isnan(x)
    range_low, range_high = range_masks(x, params)
    excluded = missing | range_low | range_high
    normalized = x * r_scale[:, None, None] + r_offset[:, None, None]
    normalized[excluded] = np.nan
    low, high = statistical_masks(normalized, params, algorithm)
    keep = ~(excluded | low | high)
    values = x * o_scale[:, None, None] + o_offset[:, None, None]
    survivors = keep.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if combination == "average":
            image = np.sum(np.where(keep, values, 0.0), axis=0) / survivors
        elif combination == "median":
            ordered = np.sort(np.where(keep, values, np.nan), axis=0)  # NaN last
            half = survivors // 2
            upper = np.take_along_axis(ordered, np.clip(half, 0, x.shape[0] - 1)[None], axis=0)[0]
            lower = np.take_along_axis(ordered, np.clip(half - 1, 0, x.shape[0] - 1)[None], axis=0)[0]
            image = np.where(survivors % 2 == 1, upper, (upper + lower) / 2)
        elif combination == "minimum":
            image = np.min(np.where(keep, values, np.inf), axis=0)
        else:
            image = np.max(np.where(keep, values, -np.inf), axis=0)
    # No survivor: the median of every valid sample (PCL); 0 when there is none.
    ordered = np.sort(np.where(missing, np.nan, values), axis=0)  # NaN last
    valid = (~missing).sum(axis=0)
    half = valid // 2
    upper = np.take_along_axis(ordered, np.clip(half, 0, x.shape[0] - 1)[None], axis=0)[0]
    lower = np.take_along_axis(ordered, np.clip(half - 1, 0, x.shape[0] - 1)[None], axis=0)[0]
    fallback = np.where(valid == 0, 0.0, np.where(valid % 2 == 1, upper, (upper + lower) / 2))
    image = np.where(survivors == 0, fallback, image)
    return IntegrationResult(
        image=image.astype(np.float32),
        rejected_low=(range_low | low).sum(axis=0).astype(np.uint16),
        rejected_high=(range_high | high).sum(axis=0).astype(np.uint16),
    )
