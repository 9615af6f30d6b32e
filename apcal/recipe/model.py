"""The typed, immutable recipe the rest of apcal reads; built only by :func:`apcal.recipe.load_recipe`.

Field names equal the schema's property names (``schemas/recipe.schema.json``), which also holds every
default; a test checks the two agree, so a key cannot be added to one and forgotten in the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from apcal.params import CalibrationParams, IntegrationParams
from apcal.vocabulary import FrameType, ImageFormat


@dataclass(frozen=True)
class InputSet:
    """One folder of frames to discover, with glob filters relative to it."""

    path: Path
    recursive: bool = True
    include: tuple[str, ...] = ("*.fit", "*.fits", "*.fts", "*.xisf")
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tolerances:
    """How far numeric keys may differ and still count as equal when grouping and matching."""

    set_temp: float = 1.0
    exposure: float = 0.01
    sensor_temp: float = 2.0


@dataclass(frozen=True)
class Grouping:
    """Keyword lists per frame type; shape and binning are always added by apcal."""

    bias: tuple[str, ...]
    dark: tuple[str, ...]
    flat: tuple[str, ...]
    flatdark: tuple[str, ...]
    min_frames: int = 3
    tolerances: Tolerances = Tolerances()

    def keywords(self, frame_type: FrameType) -> tuple[str, ...]:
        return {
            FrameType.BIAS: self.bias,
            FrameType.DARK: self.dark,
            FrameType.FLAT: self.flat,
            FrameType.FLATDARK: self.flatdark,
        }[frame_type]


@dataclass(frozen=True)
class Screening:
    """Bad-frame screening before integration (see :mod:`apcal.plan.screening`).

    ``z_threshold`` is in robust standard deviations of the group's values; the flat levels are
    fractions of full scale ([0, 1]); the sensor temperature tolerance is ``grouping.tolerances.sensor_temp``.
    """

    enabled: bool = True
    z_threshold: float = 5.0
    flat_min_level: float = 0.1
    flat_max_level: float = 0.8
    check_sensor_temp: bool = True


@dataclass(frozen=True)
class QcGate:
    """``library.qc_gate``: when a new master is held back rather than filed (:mod:`apcal.library.qc`).

    The defaults are LCO BANZAI's rule (more than 5 % of the difference's pixels beyond 6 sigma) and
    apcal's own jumps: the level by 10 %, the noise per frame by 25 %. A rig whose bias drifts by design
    (no cooling) loosens ``level_jump`` rather than turning the gate off.
    """

    outlier_sigma: float = 6.0
    outlier_fraction: float = 0.05
    level_jump: float = 0.10
    noise_jump: float = 0.25


@dataclass(frozen=True)
class Library:
    """Folders of existing masters used to calibrate flats, and whether this run's masters may be used.

    ``root`` is a catalogued library (see :mod:`apcal.library.catalog`): its masters are matched too,
    and with ``publish`` this run's masters are filed into it behind a QC gate. ``max_age_days`` maps
    'bias', 'dark', 'flatdark' to the most days a master's night may lie from the flats'.
    ``set_temp_tolerance`` (None: ``grouping.tolerances.set_temp``) is how far a master's SET-TEMP may be
    from the flats'. ``qc_gate`` holds the publishing gate's thresholds.
    """

    bias: Path | None = None
    dark: Path | None = None
    flatdark: Path | None = None
    use_new_masters: bool = True
    root: Path | None = None
    publish: bool = False
    max_age_days: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"bias": 365.0, "dark": 180.0, "flatdark": 30.0})
    )
    set_temp_tolerance: float | None = None
    qc_gate: QcGate = field(default_factory=QcGate)


@dataclass(frozen=True)
class Output:
    dir: Path
    format: ImageFormat = "xisf"
    script_dir: Path | None = None
    rejection_maps: bool = False
    keep_reports: int = 30  # runs whose logs and reports stay in logs/ (see apcal.run.prune)


@dataclass(frozen=True)
class PixInsightSettings:
    binary: Path | None = None
    instance_id: int = 123
    force_exit: bool = True
    script_only: bool = False
    timeout: float = 3600.0


@dataclass(frozen=True)
class SirilSettings:
    """``binary`` is a path or a program name looked up on PATH when the run starts; ``threads`` 0
    leaves Siril's own choice; ``timeout`` applies to each master's siril-cli run."""

    binary: str = "siril-cli"
    threads: int = 0
    script_only: bool = False
    timeout: float = 3600.0


@dataclass(frozen=True)
class EngineSettings:
    name: Literal["native", "pixinsight", "siril"] = "native"
    memory_limit: int = 1 << 30
    threads: int = 0  # 0: every core
    pixinsight: PixInsightSettings = PixInsightSettings()
    siril: SirilSettings = SirilSettings()


@dataclass(frozen=True)
class Headers:
    """Header interpretation: extra IMAGETYP spellings and the site's clock for the observing night.

    ``timezone`` (an IANA name) wins over ``longitude`` (degrees east); with neither, UTC is used. The
    observing night rolls over at local noon.
    """

    imagetyp_aliases: Mapping[str, FrameType]
    keyword_aliases: Mapping[str, str]
    timezone: str | None = None
    longitude: float | None = None
    max_image_megapixels: float = 1000.0  # larger geometries are refused before reading pixels


@dataclass(frozen=True)
class Notify:
    """Where a run's digest is sent (Apprise URLs), and whether after every run or only on problems."""

    urls: tuple[str, ...] = ()
    when: Literal["always", "problems"] = "always"


@dataclass(frozen=True)
class Recipe:
    source: Path | None
    name: str
    inputs: tuple[InputSet, ...]
    grouping: Grouping
    library: Library
    output: Output
    engine: EngineSettings
    integration: Mapping[FrameType, IntegrationParams]
    calibration: CalibrationParams
    headers: Headers
    screening: Screening = Screening()
    notify: Notify = Notify()
