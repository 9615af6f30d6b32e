"""Calibrate a flat group's frames with its masters before integration (ImageCalibration's file work).

Each master is read whole once; each raw flat is read, calibrated
(:func:`~apcal.engines.native.calibration.calibrate_flat`, with the dark scaled by the factor k that
``dark_scaling`` finds when both a bias and a dark are given) and written to
``<output_dir>/<stem><postfix>.<xisf|fits>`` with the raw frame's keywords plus HISTORY lines saying
what was subtracted.

Each calibrated flat is written by a writer thread while the next one is read and calibrated (the
write and its fsync release the GIL; on the benchmark's night writing is about a third of flat
calibration). At most one write is in flight, so at most two calibrated frames and one raw frame are in
memory at a time, besides the masters. A failed write stops the group with the writer's error, which
names the file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from loguru import logger

from apcal.engines.native.calibration import DarkOptimizer, calibrate_flat
from apcal.engines.native.darkscale_pcl import PixInsightDarkOptimizer
from apcal.errors import FrameError
from apcal.io.adu import HISTORY_TEMPLATE
from apcal.io.base import ImageFormat
from apcal.io.image import open_image, read_header, write_image
from apcal.plan.darkscaling import exposure_ratio
from apcal.plan.model import FlatCalibration, MasterRef
from apcal.vocabulary import Keyword

#: DN -> [0, 1]: PixInsight's pedestal is in 16-bit DN.
DN = 1.0 / 65535.0


@dataclass(frozen=True)
class CalibratedFlats:
    """The calibrated files, in input order, and each input's dark scaling factor (by file name)."""

    paths: tuple[Path, ...]
    dark_scales: dict[str, float]
    from_adu: tuple[bool, ...] = ()  # per input: float ADU, read as 16-bit data (apcal.io.adu)?


def check_masters(calibration: FlatCalibration, failed_jobs: Collection[str] = ()) -> None:
    """FrameError when a master is missing on disk or its job failed earlier in this run."""
    for ref in calibration.masters:
        if (ref.job_id is not None and ref.job_id in failed_jobs) or not ref.path.is_file():
            raise FrameError(f"master {ref.type.value} {ref.path} is missing (its job failed or was not run)")


def load_master(ref: MasterRef | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """The master as float32 [0, 1], checked against the flats' ``shape``; None for no master.

    A library master stored as float ADU (another tool's) is read as 16-bit data like the frames
    (:mod:`apcal.io.adu`), and the log says so."""
    if ref is None:
        return None
    with open_image(ref.path) as reader:
        if reader.shape != shape:
            raise FrameError(
                f"master {ref.type.value} {ref.path} is {_shape_text(reader.shape)}, "
                f"the flats are {_shape_text(shape)}"
            )
        if reader.scaled_from_adu:
            logger.info("master {} {}: float data in ADU, read as 16-bit data", ref.type.value, ref.path)
        return reader.read()


def calibrate_files(
    paths: Sequence[Path],
    calibration: FlatCalibration,
    output_format: ImageFormat,
    *,
    failed_jobs: Collection[str] = (),
    progress: Callable[[int, int], None] | None = None,
    exposures: Sequence[float | None] = (),
    cfa: bool = False,
) -> CalibratedFlats:
    """Calibrate ``paths`` with ``calibration``'s masters, write them, and return where and each k.

    ``exposures`` are the flats' exposure times (seconds, in ``paths``' order; the exposure ratio
    ``dark_scaling: exposure`` uses and ``optimize`` weighs its fit against), ``cfa`` whether they are
    CFA mosaics. ``progress(done, len(paths))`` after each frame. Raises FrameError (naming the file)
    for a missing master, a master or flat of another shape, an unreadable flat, or an exposure that
    ``dark_scaling: exposure`` needs and no header gives.
    """
    check_masters(calibration, failed_jobs)
    params = calibration.params
    shape = read_header(paths[0]).shape
    bias = load_master(calibration.bias, shape)
    dark = load_master(calibration.dark, shape)
    flatdark = load_master(calibration.flatdark, shape)
    # What depends only on the masters (mask, the dark's wavelet layer) is prepared once per group.
    scaler = None
    if flatdark is None and bias is not None and dark is not None:
        scaler = _DarkScaler(calibration, bias, dark, cfa)
    scaled = scaler is not None
    pedestal = params.pedestal * DN
    calibration.output_dir.mkdir(parents=True, exist_ok=True)
    out_paths: list[Path] = []
    scales: dict[str, float] = {}
    from_adu: list[bool] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="apcal-flat-writer") as writer:
        pending: Future[None] | None = None
        for index, path in enumerate(paths):
            with open_image(path) as reader:
                if reader.shape != shape:
                    raise FrameError(
                        f"{path}: image is {_shape_text(reader.shape)}, unlike {Path(paths[0]).name} "
                        f"({_shape_text(shape)})"
                    )
                raw = reader.read()
                header = reader.keywords
                adu = reader.scaled_from_adu
            from_adu.append(adu)
            exposure = exposures[index] if index < len(exposures) else None
            k = scaler.scale(path, raw, exposure) if scaler is not None else 1.0
            result = _calibrate(raw, bias=bias, dark=dark, flatdark=flatdark, k=k, pedestal=pedestal)
            del raw
            target = calibration.calibrated_path(path, output_format)
            keywords = header + _history(calibration, k, params.dark_scaling if scaled else "none")
            if adu:
                keywords += (Keyword("HISTORY", HISTORY_TEMPLATE.format(count=1), ""),)
            if pending is not None:
                pending.result()  # one write in flight at most (memory); re-raises its error
            pending = writer.submit(write_image, target, result, keywords, format=output_format)
            logger.debug("calibrated {} -> {} (k = {:.4f})", path.name, target.name, k)
            out_paths.append(target)
            if calibration.dark is not None and flatdark is None:
                scales[path.name] = k
            if progress:
                progress(index + 1, len(paths))
        if pending is not None:
            pending.result()
    return CalibratedFlats(tuple(out_paths), scales, tuple(from_adu))


class _DarkScaler:
    """k per flat by the group's ``dark_scaling`` (one k per frame: a colour frame's channels' mean
    for ``pixinsight``, which finds one per channel as ImageCalibration)."""

    def __init__(self, calibration: FlatCalibration, bias: np.ndarray, dark: np.ndarray, cfa: bool):
        params = calibration.params
        self._method = params.dark_scaling
        self._dark_exposure = calibration.dark.exposure if calibration.dark is not None else None
        self._optimizer = DarkOptimizer(dark, bias, params, cfa=cfa) if self._method == "optimize" else None
        self._pixinsight = (
            PixInsightDarkOptimizer(dark, bias, params, cfa=cfa) if self._method == "pixinsight" else None
        )

    def scale(self, path: Path, raw: np.ndarray, exposure: float | None) -> float:
        ratio = exposure_ratio(exposure, self._dark_exposure)
        if self._optimizer is not None:
            fit = self._optimizer.fit(raw, ratio)
            shown = "unknown" if ratio is None else f"{ratio:.5f}"
            logger.debug(
                "{}: dark scale fit {:.5f} +/- {:.5f} on {} pixels, exposure ratio {}, k = {:.5f}",
                *(path.name, fit.fit, fit.error, fit.pixels, shown, fit.k),
            )
            return fit.k
        if self._pixinsight is not None:
            return float(np.mean(self._pixinsight.scales(raw)))
        if self._method == "exposure":
            if ratio is None:
                raise FrameError(
                    f"{path}: dark_scaling: exposure needs the exposure time of the flat and of the master "
                    "dark, and one of them is unknown (no EXPTIME/EXPOSURE keyword)"
                )
            return ratio
        return 1.0


def _calibrate(
    raw: np.ndarray,
    *,
    bias: np.ndarray | None,
    dark: np.ndarray | None,
    flatdark: np.ndarray | None,
    k: float,
    pedestal: float,
) -> np.ndarray:
    return calibrate_flat(raw, bias=bias, dark=dark, k=k, flatdark=flatdark, pedestal=pedestal)


def _history(calibration: FlatCalibration, k: float, method: str) -> tuple[Keyword, ...]:
    lines = []
    if calibration.flatdark is not None:
        lines.append(f"apcal.calibrated: - master flatdark {calibration.flatdark.path.name}")
    else:
        if calibration.bias is not None:
            lines.append(f"apcal.calibrated: - master bias {calibration.bias.path.name}")
        if calibration.dark is not None:
            how = f"dark_scaling {method}"
            lines.append(f"apcal.calibrated: - k * master dark {calibration.dark.path.name}")
            lines.append(f"apcal.calibrated: dark scale k = {k:.6f} ({how})")
    if calibration.params.pedestal:
        lines.append(f"apcal.calibrated: + pedestal {calibration.params.pedestal} DN")
    return tuple(Keyword("HISTORY", line, "") for line in lines)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in reversed(shape))
