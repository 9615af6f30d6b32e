"""The flats' integration kernel (linear fit clipping, WBPP's ``auto``) by frame count (not a test).

    python bench/flat_kernel.py [N ...] [--rows R] [--cols C] [--rounds K] [--outliers F] [--threads T]

For each frame count N (default 20, 30, 50, 100) it builds R x C flat pixels as 16-bit data in [0, 1]
(30000 +- 150 DN, quantized; ``--outliers`` multiplies that fraction of the samples by 1.05-1.5) and
integrates them with ``integrate`` (average, linear fit clipping at apcal's defaults), the way a block
of a master flat is integrated, after one untimed call on a few rows. Prints the minimum over the
rounds in ns per pixel and per sample, and the share of pixels with a rejected sample (their fits after
the first run in the LAD lanes too, ``_lad_lanes``). One thread by default: the figures are the
kernel's work, not how the machine shares its cores.
"""

from __future__ import annotations

import time

import numpy as np
from kernel_stages import kernel_arguments

from apcal.engines.native.integration import integrate
from apcal.params import IntegrationParams

PARAMS = IntegrationParams(rejection="linear_fit")


def flats(n: int, rows: int, cols: int, outliers: float, seed: int = 1) -> np.ndarray:
    """n flats of rows x cols float32 samples in [0, 1], quantized like 16-bit data."""
    rng = np.random.default_rng(seed + n)
    dn = 30000 + 150 * rng.standard_normal((n, rows, cols))
    if outliers:
        hit = rng.random(dn.shape) < outliers
        dn[hit] *= rng.uniform(1.05, 1.5, int(hit.sum()))
    return (np.round(dn) / 65535).astype(np.float32)


def seconds(stack: np.ndarray) -> tuple[float, float]:
    """Wall seconds of one integration, and the share of its pixels with a rejected sample."""
    started = time.perf_counter()
    result = integrate(stack, PARAMS)
    spent = time.perf_counter() - started
    return spent, float(((result.rejected_low + result.rejected_high) > 0).mean())


def main() -> None:
    args = kernel_arguments(__doc__, [20, 30, 50, 100], rows=64, cols=2048, outliers=0.001)
    stacks = {n: flats(n, args.rows, args.cols, args.outliers) for n in args.frames}
    for n in args.frames:  # load (or compile) the kernel for this n before timing
        seconds(stacks[n][:, :2])
    best = dict.fromkeys(args.frames, np.inf)
    rejected = dict.fromkeys(args.frames, 0.0)
    for _ in range(args.rounds):
        for n in args.frames:
            spent, rejected[n] = seconds(stacks[n])
            best[n] = min(best[n], spent)
    pixels = args.rows * args.cols
    shape = f"{args.rows} x {args.cols}, outliers {args.outliers:g}, {args.threads} thread(s)"
    print(f"linear fit clipping, ns per pixel, min of {args.rounds} rounds, {shape}")
    print(f"{'frames':>6s}{'ns/px':>9s}{'per sample':>12s}{'pixels rejecting':>18s}")
    for n in args.frames:
        per_pixel = 1e9 * best[n] / pixels
        print(f"{n:6d}{per_pixel:9.0f}{per_pixel / n:12.1f}{rejected[n]:17.1%}")


if __name__ == "__main__":
    main()
