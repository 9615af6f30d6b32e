"""The native engine's first use: compile its kernels in two processes at once, and say so.

On a fresh install numba compiles the kernels a run needs (~25 s of one core for the integration kernel,
~13 s for the statistics kernels) and caches them (:mod:`apcal.jit`). numba compiles under one
global lock, so threads cannot share the work; a second *process* can. When the cache is cold,
:func:`start` launches ``python -m apcal.engines.native.warmup``, which compiles the integration kernel
by running it on a few pixels and exits; its compiled code lands in the shared cache. The run's own
process meanwhile makes the plan and reads headers (``apcal demo`` starts the child before it generates
its night), then (:func:`ensure_compiled`) compiles the winsorized lanes (:func:`compile_lanes`), then
the statistics and flat calibration kernels, waits for the child, and loads the child's kernels from
the cache.

The lanes are the integration kernel's, compiled here to share its ~25 s between the two processes:
the child reaches them last (after ~15 s of compiling what comes before them) and then loads them from
the cache instead (numba looks there before compiling a callee). Of a cold first run's compiling, with
the statistics kernels as plain loops (:mod:`apcal.row_blocks`), the child then has ~19 s and this
process ~19 s (two cores; the numbers in ``bench/README.md``). Nothing depends on the child
succeeding: a kernel it did not cache is compiled where it is first called, as always. Once both are done
the cache folder is marked warm and later runs skip all of this.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from loguru import logger

from apcal.jit import configure_numba_cache, is_warm, mark_warm

#: What the console says, with the rough time on two cores (measured on this project's machines); the
#: cache folder comes with the closing line, each within a cron mail's 80 columns where the path allows.
ANNOUNCE = "compiling the native engine, once per install: ~{seconds} s (numba)"
COMPILED = "native engine compiled in {seconds:.0f} s, cached in {folder}"
EXPECTED_SECONDS = 25

_child: subprocess.Popen[bytes] | None = None
_started = 0.0


def start() -> None:
    """Begin compiling the integration kernels in a child process when the cache is cold (idempotent;
    silent: :func:`ensure_compiled` says what is happening when the run gets to it)."""
    global _child, _started
    if _child is not None or is_warm():
        return
    _started = time.perf_counter()
    try:
        _child = subprocess.Popen(
            [sys.executable, "-m", "apcal.engines.native.warmup"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError as error:  # no second process: everything compiles here, as before
        logger.debug("compiling in one process: {}", error)


def ensure_compiled() -> None:
    """Before the first job: compile the winsorized lanes and the statistics kernels here while the
    child compiles the rest of the integration kernel, then wait for it. Returns at once when the cache
    is warm."""
    global _child
    if is_warm():
        return
    # Said here, not in start(): a run that stops before building (locked, nothing to do) prints only why.
    folder = configure_numba_cache()
    logger.info(ANNOUNCE, seconds=EXPECTED_SECONDS)
    start()
    try:
        compile_lanes()
        compile_statistics()
        if _child is not None:
            _child.wait()
            _child = None
        compile_integration()  # loads what the child cached (or compiles what it could not)
    except Exception as error:  # warming up is an optimization: the jobs compile on demand
        logger.opt(exception=error).debug(
            "warming up the native engine failed; kernels compile on first call"
        )
        return
    mark_warm()
    logger.info(COMPILED, seconds=_elapsed(), folder=_home_relative(folder))


def _home_relative(folder: Path) -> str:
    """``~/.cache/apcal/...`` for a folder below the home folder (the usual case, and a shorter line)."""
    try:
        return str(Path("~") / folder.relative_to(Path.home()))
    except (ValueError, RuntimeError):  # elsewhere, or no home folder to tell
        return str(folder)


def _elapsed() -> float:
    return time.perf_counter() - _started if _started else 0.0


def _sample(shape: tuple[int, ...]) -> np.ndarray:
    """A small float32 image of noise around 0.01 (the types and layouts the engine's calls use)."""
    return (0.01 + 1e-4 * np.random.default_rng(0).standard_normal(shape)).astype(np.float32)


def compile_statistics() -> None:
    """Every statistics kernel a run calls: frame statistics and quality, master statistics of each
    frame type, dark optimization (float64 statistics, the wavelet layer at the mask pixels), and flat
    calibration's kernel (here rather than in the child: the integration kernel alone keeps it busy
    longer than all of these), and the readers' conversion of 16-bit samples."""
    from apcal.engines.native.calibration import DarkOptimizer, calibrate_flat
    from apcal.engines.native.normalization import FrameStats
    from apcal.io.base import SampleEncoding
    from apcal.params import CalibrationParams
    from apcal.plan.screening import FrameQuality
    from apcal.stats.master import master_statistics
    from apcal.vocabulary import FrameType

    stored = np.arange(64 * 96, dtype=">i2").reshape(64, 96)  # FITS 16-bit, as the readers pass them
    encoding = SampleEncoding(stored.dtype, offset=32768.0, hi=65535.0)
    encoding.normalize(stored, out=np.empty((64, 96), np.float32))
    sample = _sample((1, 64, 96))
    stats = FrameStats.of(sample)
    FrameQuality.of(sample[0], median=stats.median, mad=stats.mad)
    counts = np.zeros((64, 96), dtype=np.uint16)
    for kind in (FrameType.BIAS, FrameType.DARK, FrameType.FLAT):
        master_statistics(sample[0], kind, rejected_low=counts, rejected_high=counts, n_frames=3)
    frames = _sample((3, 64, 96))
    frames[1, ::7, ::5] += 0.2  # hot pixels: a dark optimization mask
    DarkOptimizer(frames[1], frames[0], CalibrationParams()).scale(frames[2], 0.01)
    calibrate_flat(frames[2], bias=frames[0], dark=frames[1], k=0.5)


def compile_lanes() -> None:
    """The winsorized lanes and their start (:mod:`._winsorized_lanes`; the start in float64 and in
    float32), and the LAD lanes (:mod:`._lad_lanes`), with the very argument types
    :func:`._integrate_kernel.integrate_rows` calls them with (a test holds the two equal), so the
    child finds them cached."""
    from apcal.engines.native._integrate_kernel import CHUNK, _start_lanes
    from apcal.engines.native._kernel_params import kernel_params
    from apcal.engines.native._lad_lanes import _lad_lanes
    from apcal.engines.native._winsorized_lanes import LANES, _winsorized_lanes, lanes_networks
    from apcal.params import IntegrationParams

    n, cols = 3, 4
    settings = kernel_params(IntegrationParams(rejection="winsorized"), "winsorized", "average")
    srt = np.sort(_sample((n, cols)).astype(np.float64), axis=0)
    eligible = np.ones(cols, dtype=np.bool_)
    mean0, sig0 = np.empty(cols), np.empty(cols)
    chunk = np.zeros((n, CHUNK))
    chunk[:, :cols] = srt
    for dtype in (np.float64, np.float32):  # the float32 start: 16-bit frames (see _start_lanes)
        sorted_chunk = chunk.astype(dtype)
        scratch = np.empty((n, CHUNK), dtype=dtype)
        _start_lanes(sorted_chunk, n, cols, 0, eligible, lanes_networks(n), scratch, mean0, sig0)
    lo, hi = np.zeros(cols, dtype=np.int64), np.zeros(cols, dtype=np.int64)
    scratch, v, w = np.empty((n, LANES)), np.empty(n), np.empty(n)
    _winsorized_lanes(srt, cols, n, eligible, mean0, sig0, settings, lo, hi, scratch, v, w)
    lad = kernel_params(IntegrationParams(rejection="linear_fit"), "linear_fit", "average")
    back = np.zeros(cols, dtype=np.bool_)
    _lad_lanes(srt, cols, n, eligible, lanes_networks(n)[0], lad, lo, hi, back, scratch, scratch)


def compile_integration() -> None:
    """The integration kernel: one compiled function for every rejection but ESD (which compiles on its
    first use, :func:`apcal.engines.native.integration.integrate`)."""
    from apcal.engines.native.integration import integrate
    from apcal.params import IntegrationParams

    integrate(_sample((3, 2, 16)), IntegrationParams(rejection="winsorized"))


if __name__ == "__main__":
    compile_integration()
