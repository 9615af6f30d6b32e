"""The native engine: builds every master in-process with numpy/numba, no PixInsight needed.

Per job, in plan order: calibrate the flats first when the job says so (:mod:`.flatcal`), integrate the
frames in row blocks within ``engine.memory_limit`` (:mod:`.stack`), write the master atomically with
the job's header cards, and yield a :class:`~apcal.engines.base.JobResult` with the master's
statistics. A job that fails for any reason yields ``failed`` with a one-line message and the next job
runs; a flat job whose master's job failed earlier in the run fails without touching that master.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from apcal.engines.base import JobResult, RunContext
from apcal.engines.capabilities import assess
from apcal.engines.native.memory import release_free_memory
from apcal.errors import ApcalError, EngineError
from apcal.frames.model import SkippedFile
from apcal.plan.darkscaling import is_cfa
from apcal.plan.labels import short_label
from apcal.plan.model import Job, Plan
from apcal.recipe.model import EngineSettings
from apcal.vocabulary import Keyword

if TYPE_CHECKING:
    import numpy as np

    from apcal.io.base import ImageFormat

#: Failures a job may meet on real data; anything else is a bug, logged with its traceback.
_EXPECTED = (ApcalError, OSError, ValueError, MemoryError)


class NativeEngine:
    """Builds masters in-process (see the module docstring)."""

    name = "native"

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings

    def check(self, plan: Plan) -> None:
        """EngineError when the output folder cannot be created or written (nothing is created here)."""
        for folder in (plan.output_dir, plan.master_dir):
            problem = _unwritable(folder)
            if problem:
                raise EngineError(f"output folder {folder} {problem}")
        refusals = assess(plan, self.name).refusals  # none today: the native engine runs every setting
        if refusals:
            raise EngineError("; ".join(refusals))

    def execute(
        self, plan: Plan, jobs: Sequence[Job], context: RunContext, failed: Collection[str] = ()
    ) -> Iterator[JobResult]:
        """Build ``jobs`` in order; yield one result per job as it finishes.

        ``failed`` names jobs that failed before (on other workers of a cluster run): a flat job whose
        master's job is among them fails without touching that master, as one failed earlier here does.
        """
        self.check(plan)
        from apcal.engines.native.warmup import ensure_compiled

        ensure_compiled()  # first use: compiles the kernels (in two processes) and says so
        failed = set(failed)
        for job in jobs:
            start = time.perf_counter()
            logger.debug("{}: building from {} frames", job.id, len(job.inputs))
            try:
                result = self._build(plan, job, context, failed)
            except Exception as exc:  # one job's failure never stops the others
                release_free_memory()
                failed.add(job.id)
                message = _message(exc)
                if isinstance(exc, _EXPECTED):
                    logger.opt(exception=exc).debug("{} failed", job.id)
                    logger.debug("{}: failed: {}", job.id, message)
                else:
                    logger.opt(exception=exc).error("{}: failed with an internal error", job.id)
                    message = f"internal error: {message} (traceback in the run log)"
                yield JobResult(job.id, "failed", message=message, seconds=time.perf_counter() - start)
                continue
            release_free_memory()  # what this job freed, before the next one
            seconds = time.perf_counter() - start
            logger.debug("{}: built {} in {:.1f} s", job.id, job.output.name, seconds)
            yield JobResult(
                job.id,
                "built",
                job.output,
                seconds=seconds,
                stats=result.stats,
                calibrated=result.calibrated,
                dark_scales=result.dark_scales,
                excluded=result.excluded,
                screening_warnings=result.warnings,
            )

    def _build(self, plan: Plan, job: Job, context: RunContext, failed: set[str]) -> _Built:
        # Heavy imports here: the engine is constructed by `apcal plan` too, which never needs numba.
        from apcal.engines.native.flatcal import calibrate_files
        from apcal.engines.native.stack import integrate_files
        from apcal.io.image import write_image
        from apcal.plan.screening import FrameQuality, ScreeningResult, screen_group
        from apcal.recipe.model import Screening
        from apcal.stats.master import master_statistics

        inputs = list(job.inputs)
        n = len(inputs)
        calibrated: tuple[Path, ...] = ()
        dark_scales: dict[str, float] = {}
        raw_adu: tuple[bool, ...] = ()  # per raw flat: float ADU, read as 16-bit data (apcal.io.adu)?
        report = context.progress

        if job.calibration is not None:

            def calibration_progress(done: int, total: int) -> None:
                if report:
                    report(job.id, done, total, "calibrating")

            result = calibrate_files(
                inputs,
                job.calibration,
                plan.output_format,
                failed_jobs=failed,
                progress=calibration_progress,
                exposures=[f.exposure for f in job.group.frames],
                cfa=is_cfa(job.group),
            )
            calibrated, dark_scales, raw_adu = result.paths, result.dark_scales, result.from_adu
            inputs = list(calibrated)
            release_free_memory()  # the masters and frames calibration freed, before integration
            if dark_scales:
                ks = list(dark_scales.values())
                logger.debug("{}: dark scale k from {:.4f} to {:.4f}", job.id, min(ks), max(ks))

        def stack_progress(done: int, total: int) -> None:
            # integrate_files counts a statistics pass over the frames, then row blocks: shown in frames
            if report:
                report(job.id, min(n, round(n * done / max(total, 1))), n, "integrating")

        screened: list[ScreeningResult] = []
        frames = job.group.frames  # inputs[i] is frames[i], raw or calibrated

        def select(qualities: list[FrameQuality]) -> list[int]:
            # Without screening, frames mostly of NaN/inf pixels are still left out (screen_group).
            screening = job.screening
            result = screen_group(
                frames,
                qualities,
                screening.settings if screening else Screening(enabled=False),
                frame_type=job.type,
                sensor_temp_tolerance=screening.sensor_temp_tolerance if screening else 2.0,
                min_frames=screening.min_frames if screening else 3,
            )
            screened.append(result)
            title = f"{job.type.value} {short_label(job.group)}"
            for exclusion in result.excluded:
                logger.warning("{}: excluded {}", title, exclusion.reason)
            for warning in result.warnings:
                logger.warning("{}: {}", title, warning)
            return result.kept_indices([f.path for f in frames])

        stack = integrate_files(
            inputs,
            job.integration,
            memory_limit=self.settings.memory_limit,
            threads=self.settings.threads,
            progress=stack_progress,
            select=select,
        )
        logger.debug(
            "{}: integrated in {} block(s); {} rejection, {} normalization",
            job.id,
            stack.blocks,
            job.integration.rejection,
            job.integration.normalization,
        )
        used = len(stack.kept)
        from_adu = sum(raw_adu[i] for i in stack.kept) if raw_adu else stack.from_adu
        keywords = _with_ncombine(job.keywords, used) + _adu_history(job.id, from_adu)

        def write() -> None:
            write_image(job.output, stack.image, keywords, format=plan.output_format)
            if plan.rejection_maps:
                _write_rejection_maps(job, stack.rejected_low, stack.rejected_high, used, plan.output_format)

        job.output.parent.mkdir(parents=True, exist_ok=True)
        stats = _measured_while_written(
            lambda: master_statistics(
                stack.image,
                job.type,
                rejected_low=stack.rejected_low,
                rejected_high=stack.rejected_high,
                n_frames=used,
            ),
            write,
            [job.output, *(_rejection_map_paths(job, plan.output_format) if plan.rejection_maps else ())],
        )
        outcome = screened[0] if screened else ScreeningResult()
        excluded = tuple(SkippedFile(Path(e.path), e.reason) for e in outcome.excluded)
        return _Built(stats, calibrated, dark_scales, excluded, outcome.warnings)


@dataclass(frozen=True)
class _Built:
    stats: dict[str, float]
    calibrated: tuple[Path, ...]
    dark_scales: dict[str, float]
    excluded: tuple[SkippedFile, ...] = ()
    warnings: tuple[str, ...] = ()


def _with_ncombine(keywords: tuple[Keyword, ...], used: int) -> tuple[Keyword, ...]:
    """The job's cards with NCOMBINE set to the frames really integrated (screening may drop some)."""
    return tuple(k._replace(value=used) if k.name == "NCOMBINE" else k for k in keywords)


def _adu_history(job_id: str, count: int) -> tuple[Keyword, ...]:
    """The HISTORY card saying how many frames were float ADU read as 16-bit data; none when none were."""
    from apcal.io.adu import HISTORY_TEMPLATE

    if not count:
        return ()
    logger.info("{}: {} frame(s) were floats in ADU: read as 16-bit data (/65535)", job_id, count)
    return (Keyword("HISTORY", HISTORY_TEMPLATE.format(count=count), ""),)


def _measured_while_written(
    measure: Callable[[], dict[str, float]], write: Callable[[], None], written: Sequence[Path]
) -> dict[str, float]:
    """``write()`` (the master and its maps) here while a thread runs ``measure()`` (the master's
    statistics): the writer spends its time hashing (the XISF checksum), writing and syncing, all without
    the GIL, and the statistics kernels release it too, so on two cores the two take about the time of
    the longer (IMX294 master: 0.13 s of statistics beside 0.06-0.11 s of writing). The write stays in
    this thread so that a signal (SIGTERM) unwinds it at once and its temporary file is removed; the
    statistics are bounded work the unwinding waits for. The write's error is raised; when measuring
    fails, the ``written`` files are removed (a failed job leaves no master)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="apcal-stats") as helper:
        measuring = helper.submit(measure)
        write()
        try:
            return measuring.result()
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise


def _rejection_map_paths(job: Job, output_format: ImageFormat) -> tuple[Path, Path]:
    """Where the low and high rejection maps of ``job``'s master go."""
    return (
        job.output.with_name(f"{job.output.stem}_rejection_low.{output_format}"),
        job.output.with_name(f"{job.output.stem}_rejection_high.{output_format}"),
    )


def _write_rejection_maps(
    job: Job, low: np.ndarray, high: np.ndarray, used: int, output_format: ImageFormat
) -> None:
    """``<master stem>_rejection_low/high``: the fraction of each pixel's samples rejected, as
    PixInsight's rejection maps show it. Typed 'Rejection Map' so no scan takes them for frames."""
    from apcal.io.image import write_image

    paths = _rejection_map_paths(job, output_format)
    for side, counts, path in zip(("low", "high"), (low, high), paths, strict=True):
        cards = (
            Keyword("IMAGETYP", "Rejection Map", f"{side} rejection of {job.output.name}"),
            Keyword("NCOMBINE", used, "Number of frames integrated"),
        )
        write_image(path, (counts / max(used, 1)).astype("float32"), cards, format=output_format)


def _unwritable(folder: Path) -> str | None:
    """Why ``folder`` cannot be created or written, or None when it can."""
    folder = Path(folder).absolute()
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return "cannot be created (no existing parent folder)"
        probe = probe.parent
    if not probe.is_dir():
        return "cannot be created" + (f" ({probe} is a file)" if probe != folder else " (it is a file)")
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "is not writable" if probe == folder else f"cannot be created ({probe} is not writable)"
        return where
    return None


def _message(exc: BaseException) -> str:
    """One line: the exception's message (FrameError and OSError name the file), or its type."""
    if isinstance(exc, MemoryError):
        return "out of memory (lower engine.memory_limit or free memory)"
    text = " ".join(str(exc).split())
    if isinstance(exc, ApcalError | OSError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
