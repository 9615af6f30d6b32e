"""The synthetic sensor and observing plan: what a synthetic night is made of (see apcal.demo.synthetic)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

import numpy as np

FULL_SCALE = 65535.0
"""ADU that PixInsight maps to 1.0 for 16-bit integer data."""

SWCREATE = "N.I.N.A. 3.1.2.9001"
BAYER_PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")


@dataclass(frozen=True)
class CameraModel:
    """The sensor: geometry, electronics and defects. Defaults are a ZWO ASI2600MM Pro at gain 100 (HCG).

    Attributes:
        instrument: INSTRUME keyword.
        rows, cols: image size (NAXIS2, NAXIS1).
        pixel_size_um: XPIXSZ/YPIXSZ.
        bias_level: pedestal in ADU set by the OFFSET setting (ASI2600 at offset 50 sits near 500 ADU).
        read_noise: e- rms per frame (ASI2600 at gain 100: about 1.5 e-, i.e. 6 ADU).
        gain_e_per_adu: conversion gain, written as EGAIN; ``gain_setting`` is the GAIN keyword (the
            driver's setting, not e-/ADU).
        offset_setting: OFFSET keyword.
        readout_mode: READOUTM keyword, written only when set (ZWO drivers have none).
        set_temp: SET-TEMP in degC; CCD-TEMP is within +/-0.2 of it.
        column_pattern: ADU rms of the fixed per-column offsets in every frame.
        dark_current: e-/s/pixel at ``set_temp``.
        hot_pixel_fraction: fraction of pixels whose dark current is 50-500x (log-uniform) the rest's.
        cosmic_ray_rate: expected hits per megapixel per second of exposure, in darks, flats and flat
            darks (bias frames are kept clean so their mean measures the bias exactly).
        cosmic_ray_floor: expected hits per megapixel per frame on top (readout, radioactivity).
        prnu: rms pixel response non-uniformity (fraction).
        bayer: CFA pattern ('RGGB', ...) of a colour sensor: BAYERPAT is written and flats get
            ``cfa_response`` per channel; None for mono.
        cfa_response: R, G, B sensitivities of a colour sensor's channels (relative).
        full_well_adu: the ADU at which frames saturate (uint16 ceiling).
    """

    instrument: str = "ZWO ASI2600MM Pro"
    rows: int = 400
    cols: int = 600
    pixel_size_um: float = 3.76
    bias_level: float = 500.0
    read_noise: float = 1.5
    gain_e_per_adu: float = 0.25
    gain_setting: int = 100
    offset_setting: int = 50
    readout_mode: str | None = None
    set_temp: float = -10.0
    column_pattern: float = 2.0
    dark_current: float = 0.002
    hot_pixel_fraction: float = 5e-4
    cosmic_ray_rate: float = 0.01
    cosmic_ray_floor: float = 0.5
    prnu: float = 0.01
    bayer: str | None = None
    cfa_response: tuple[float, float, float] = (0.6, 1.0, 0.8)
    full_well_adu: int = 65535

    def __post_init__(self) -> None:
        if self.rows < 8 or self.cols < 8:
            raise ValueError(f"camera must be at least 8x8 pixels, not {self.rows}x{self.cols}")
        if self.bayer is not None and self.bayer not in BAYER_PATTERNS:
            raise ValueError(f"bayer must be one of {BAYER_PATTERNS} or None, not {self.bayer!r}")
        if self.gain_e_per_adu <= 0 or self.read_noise < 0 or self.dark_current < 0:
            raise ValueError("gain_e_per_adu must be > 0; read_noise and dark_current >= 0")
        if not 0 < self.full_well_adu <= 65535:
            raise ValueError("full_well_adu must be in (0, 65535]")

    @property
    def read_noise_adu(self) -> float:
        """Read noise in ADU rms (before quantization)."""
        return self.read_noise / self.gain_e_per_adu


@dataclass(frozen=True)
class NightPlan:
    """What was shot and when. Frames are taken in this order: bias, darks (by exposure), flats (by filter),
    flat darks, one group straight after the other, starting at ``start_local``.

    Attributes:
        night: the night's date (ISO): the date folder and the evening the sequence starts on.
        start_local: local time of the first exposure (ISO); a sequence may run past midnight.
        utc_offset_hours: local time minus UTC (DATE-LOC - DATE-OBS); 1.0 is CET.
        site_latitude, site_longitude: SITELAT/SITELONG in degrees (east positive).
        n_bias: bias frames.
        dark_exposures, n_darks: dark exposure times (s) and frames per exposure.
        filters, flat_exposures: flat filters and each one's exposure (s), in the same order.
        n_flats: flats per filter.
        n_flat_darks: flat darks (IMAGETYP 'DARKFLAT') per distinct flat exposure; 0 for none.
        flat_level: mean flat signal above bias as a fraction of the camera's full well.
        lamp_drift: the panel's brightness ramps linearly from 1 - drift to 1 + drift over each filter's
            flats (plus 0.2% rms flicker), so flat normalization matters.
        dust_donuts: dust shadows per filter; half (rounded down) sit on the sensor window and appear in
            every filter at the same place, the rest sit on that filter only.
        vignetting: response falls as 1 - vignetting x r^2, r = 1 at the image's half-diagonal.
        dark_filter: FILTER written on bias, darks and flat darks (N.I.N.A. writes the wheel's current
            filter on every frame when a wheel is connected); None writes FILTER on flats only.
        seed: seeds every random draw.
    """

    night: str = "2026-11-23"
    start_local: str = "21:04:11"
    utc_offset_hours: float = 1.0
    site_latitude: float = 50.11
    site_longitude: float = 8.68
    n_bias: int = 20
    dark_exposures: tuple[float, ...] = (60.0, 300.0)
    n_darks: int = 15
    filters: tuple[str, ...] = ("L", "R")
    flat_exposures: tuple[float, ...] = (1.5, 2.0)
    n_flats: int = 20
    n_flat_darks: int = 0
    flat_level: float = 0.45
    lamp_drift: float = 0.03
    dust_donuts: int = 6
    vignetting: float = 0.3
    dark_filter: str | None = None
    seed: int = 2026

    def __post_init__(self) -> None:
        date.fromisoformat(self.night)
        time.fromisoformat(self.start_local)
        if len(self.filters) != len(self.flat_exposures):
            raise ValueError("filters and flat_exposures must have the same length")
        if len(set(self.filters)) != len(self.filters):
            raise ValueError("filters must be distinct")
        if not 0 < self.flat_level < 1:
            raise ValueError("flat_level must be in (0, 1)")
        if not 0 <= self.vignetting <= 0.8:
            raise ValueError("vignetting must be in [0, 0.8]")
        if min(self.n_bias, self.n_darks, self.n_flats, self.n_flat_darks) < 0:
            raise ValueError("frame counts must be >= 0")


def cfa_letters(bayer: str, rows: int, cols: int) -> np.ndarray:
    tile = np.array(list(bayer)).reshape(2, 2)
    return np.tile(tile, ((rows + 1) // 2, (cols + 1) // 2))[:rows, :cols]
