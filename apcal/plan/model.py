"""The plan: every job a run would do, with its inputs, matched masters, parameters and output path.

Both engines take a :class:`Plan`; nothing in it depends on which engine runs it, which is what makes the
native engine and the PixInsight engine interchangeable per recipe.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from apcal.frames.model import SkippedFile
from apcal.grouping import Group, SkippedGroup
from apcal.library import Verdict
from apcal.params import CalibrationParams, IntegrationParams
from apcal.recipe.model import Screening
from apcal.vocabulary import FrameType, ImageFormat, Keyword


@dataclass(frozen=True)
class MasterRef:
    """A master used to calibrate flats: from the library, or built earlier in the same run."""

    path: Path
    type: FrameType
    source: Literal["library", "run"]
    exposure: float | None = None
    job_id: str | None = None  # the job that builds it, when source == "run"
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class MasterChoice:
    """Every library candidate of one type for a flat group with its verdict, and what was chosen
    (``apcal plan --explain``); ``chosen`` is None when no master of this type is used."""

    type: FrameType
    verdicts: tuple[Verdict, ...]
    chosen: Path | None
    reason: str


@dataclass(frozen=True)
class FlatCalibration:
    """The masters and settings that calibrate one flat group's frames before integration.

    Either ``flatdark`` (a master flat-dark subtracted as is) or ``bias`` and/or ``dark`` (dark scaled by
    the optimised factor k when ``params.optimize_darks``). ``output_dir`` receives the calibrated frames
    (``<name><postfix>.<ext>``).
    """

    bias: MasterRef | None
    dark: MasterRef | None
    flatdark: MasterRef | None
    params: CalibrationParams
    output_dir: Path

    @property
    def masters(self) -> tuple[MasterRef, ...]:
        return tuple(m for m in (self.bias, self.dark, self.flatdark) if m is not None)

    #: File stems (case-folded) that two or more of the group's frames share (dusk/ and dawn/ folders,
    #: or '.fit' beside '.fits'): their calibrated files get a short hash of the source path.
    colliding_stems: frozenset[str] = frozenset()

    def calibrated_path(self, frame: Path, extension: str) -> Path:
        """Where the calibrated ``frame`` goes: ``<output_dir>/<stem><postfix>.<extension>``, as
        ImageCalibration names it (``extension`` without the dot); ``<stem>-<8 hex digits of the
        source path's sha256><postfix>.<extension>`` when another frame of the group has the same stem,
        so no calibrated file overwrites another (case-insensitively, as on Windows and macOS)."""
        stem = frame.stem
        if stem.casefold() in self.colliding_stems:
            stem += "-" + hashlib.sha256(str(frame).encode("utf-8", "surrogateescape")).hexdigest()[:8]
        return self.output_dir / f"{stem}{self.params.output_postfix}.{extension.lstrip('.')}"


def colliding_stems(frames: Sequence[Path]) -> frozenset[str]:
    """The case-folded stems that more than one of ``frames`` has."""
    counts = Counter(p.stem.casefold() for p in frames)
    return frozenset(stem for stem, n in counts.items() if n > 1)


@dataclass(frozen=True)
class PixelScreening:
    """What an engine needs to screen a group's frames on their pixels (see apcal.plan.screening)."""

    settings: Screening
    min_frames: int
    sensor_temp_tolerance: float


@dataclass(frozen=True)
class Job:
    """Build one master: integrate ``group``'s frames (calibrated first when ``calibration`` is set).

    ``integration`` is resolved (never ``auto``). ``keywords`` are the master's header cards, the same
    for both engines: IMAGETYP 'Master ...', NCOMBINE, the grouping keywords under their original names,
    the parameters, apcal's version and a hash of the input set.
    """

    id: str
    group: Group
    integration: IntegrationParams
    output: Path
    keywords: tuple[Keyword, ...] = ()
    calibration: FlatCalibration | None = None
    depends_on: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # why no calibration master was found, and similar
    excluded: tuple[SkippedFile, ...] = ()  # frames screened out from their headers at plan time
    screening: PixelScreening | None = None  # None: the engine screens nothing on pixels
    choices: tuple[MasterChoice, ...] = ()  # flats: every candidate master with its verdict

    @property
    def type(self) -> FrameType:
        return self.group.type

    @property
    def inputs(self) -> tuple[Path, ...]:
        return tuple(f.path for f in self.group.frames)


@dataclass(frozen=True)
class Plan:
    """All jobs of a run in execution order (bias, dark, flat-dark, flat), and what was left out."""

    output_dir: Path
    output_format: ImageFormat
    jobs: tuple[Job, ...]
    skipped_files: tuple[SkippedFile, ...] = ()
    skipped_groups: tuple[SkippedGroup, ...] = ()
    script_dir: Path | None = None  # the seed's --script-dir; default <output>/logs
    notes: tuple[str, ...] = ()  # plan-wide warnings (an empty library folder, ...)
    rejection_maps: bool = False  # also write <master stem>_rejection_low/high next to each master

    @property
    def master_dir(self) -> Path:
        return self.output_dir / "master"

    @property
    def calibrated_dir(self) -> Path:
        return self.output_dir / "calibrated"

    @property
    def logs_dir(self) -> Path:
        return self.script_dir if self.script_dir is not None else self.output_dir / "logs"

    def job(self, job_id: str) -> Job:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)
