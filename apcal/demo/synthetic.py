"""Synthetic nights of calibration frames whose truth is known, written as N.I.N.A. writes them.

A :class:`CameraModel` (the sensor) and a :class:`NightPlan` (what was shot, when) give a folder of
16-bit FITS bias, dark, flat and flat-dark frames, plus a :class:`NightTruth`: the noise-free maps the
masters built from those frames should equal. ``apcal demo``, the tests that measure masters and the
benchmark all use it.

The physics, per pixel, in electrons and then ADU (``e / gain_e_per_adu``), rounded and clipped to uint16:

* bias = pedestal + fixed column pattern + read noise (Gaussian);
* dark = bias + Poisson(dark current x t) + cosmic rays; hot pixels are pixels with 50-500x the dark current;
* flat = bias + Poisson(level x response + dark current x t) + cosmic rays, where response is
  vignetting x dust donuts x (1 + PRNU) (x the CFA channel sensitivities when ``bayer`` is set) with mean 1,
  and level drifts linearly by +/- ``lamp_drift`` across each filter's sequence. Flat signal is thousands
  of electrons, so its Poisson noise is drawn as a Gaussian of the same variance (one draw for shot and
  read noise together).

Truth is in PixInsight's [0, 1] units for 16-bit data: ADU / 65535. Every frame has its own random stream,
derived from ``NightPlan.seed`` and the frame's group and number, so a seed gives byte-identical files
(with a given numpy) and a frame's pixels do not change when other groups are added or resized. Frames are
generated one at a time, in float32, and never stacked in memory.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
from astropy.io import fits

from apcal.demo.camera import FULL_SCALE, SWCREATE, CameraModel, NightPlan, cfa_letters
from apcal.demo.truth import NightTruth
from apcal.errors import ApcalError

# Random stream ids: each (stream, ...) spawn key gives an independent generator.
_STREAM_MAPS, _STREAM_FRAME, _STREAM_TIMELINE = 0, 1, 2


@dataclass(frozen=True)
class _Shot:
    kind: str  # IMAGETYP: BIAS, DARK, FLAT, DARKFLAT
    group: str
    exposure: float
    filter: str | None
    number: int  # 1-based within the group
    start_utc: datetime
    ccd_temp: float
    relpath: Path


def _group_name(kind: str, exposure: float, filter: str | None) -> str:
    if kind == "BIAS":
        return "bias"
    if kind == "FLAT":
        return f"flat_{filter}"
    return f"{'dark' if kind == 'DARK' else 'flatdark'}_{exposure:g}s"


def _plan_shots(camera: CameraModel, night: NightPlan) -> list[_Shot]:
    """Every frame in acquisition order, with realistic start times (exposure + download + jitter)."""
    groups: list[tuple[str, float, str | None, int]] = [("BIAS", 0.0, None, night.n_bias)]
    groups += [("DARK", t, None, night.n_darks) for t in night.dark_exposures]
    flats = zip(night.filters, night.flat_exposures, strict=True)
    groups += [("FLAT", t, f, night.n_flats) for f, t in flats]
    if night.n_flat_darks:
        groups += [("DARKFLAT", t, None, night.n_flat_darks) for t in sorted(set(night.flat_exposures))]

    rng = _rng(night.seed, _STREAM_TIMELINE)
    offset = timedelta(hours=night.utc_offset_hours)
    local = datetime.combine(date.fromisoformat(night.night), time.fromisoformat(night.start_local))
    clock = local - offset + timedelta(milliseconds=int(rng.integers(0, 1000)))
    download_s = 0.4 + camera.rows * camera.cols / 20e6  # USB3 readout: about 1.7 s for 26 Mpx
    shots: list[_Shot] = []
    for kind, exposure, filter, count in groups:
        for number in range(1, count + 1):
            local_start = clock + offset
            # N.I.N.A.'s default pattern: $$DATEMINUS12$$/$$IMAGETYPE$$/$$DATETIME$$_..._$$FRAMENR$$
            folder = (local_start - timedelta(hours=12)).date().isoformat()
            label = f"{kind}_{filter}" if kind == "FLAT" else kind
            name = f"{local_start:%Y-%m-%d_%H-%M-%S}_{label}_{exposure:.2f}s_{number:04d}.fits"
            ccd_temp = camera.set_temp + float(np.clip(rng.normal(0.0, 0.08), -0.2, 0.2))
            shots.append(
                _Shot(
                    kind=kind,
                    group=_group_name(kind, exposure, filter),
                    exposure=exposure,
                    filter=filter if kind == "FLAT" else night.dark_filter,
                    number=number,
                    start_utc=clock,
                    ccd_temp=round(ccd_temp, 1),
                    relpath=Path(folder, kind, name),
                )
            )
            step = exposure + download_s + rng.uniform(0.0, 0.15)
            clock += timedelta(milliseconds=round(step * 1000))
        clock += timedelta(seconds=45)  # the sequencer moves on: filter change, next instruction
    return shots


def _iso_ms(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}"


def _header(shot: _Shot, camera: CameraModel, night: NightPlan) -> fits.Header:
    """The keywords N.I.N.A. 3 writes on a calibration frame, with its comments and order."""
    local = shot.start_utc + timedelta(hours=night.utc_offset_hours)
    cards: list[tuple[str, object, str]] = [
        ("IMAGETYP", shot.kind, "Type of exposure"),
        ("EXPOSURE", shot.exposure, "[s] Exposure duration"),
        ("EXPTIME", shot.exposure, "[s] Exposure duration"),
        ("DATE-LOC", _iso_ms(local), "Time of observation (local)"),
        ("DATE-OBS", _iso_ms(shot.start_utc), "Time of observation (UTC)"),
        ("XBINNING", 1, "X axis binning factor"),
        ("YBINNING", 1, "Y axis binning factor"),
        ("GAIN", camera.gain_setting, "Sensor gain"),
        ("OFFSET", camera.offset_setting, "Sensor gain offset"),
        ("EGAIN", camera.gain_e_per_adu, "[e-/ADU] Electrons per A/D unit"),
        ("XPIXSZ", camera.pixel_size_um, "[um] Pixel X axis size"),
        ("YPIXSZ", camera.pixel_size_um, "[um] Pixel Y axis size"),
        ("INSTRUME", camera.instrument, "Imaging instrument name"),
        ("SET-TEMP", camera.set_temp, "[degC] CCD temperature setpoint"),
        ("CCD-TEMP", shot.ccd_temp, "[degC] CCD temperature"),
    ]
    if camera.readout_mode is not None:
        cards.append(("READOUTM", camera.readout_mode, "Sensor readout mode"))
    if camera.bayer is not None:
        cards += [
            ("BAYERPAT", camera.bayer, "Sensor Bayer pattern"),
            ("XBAYROFF", 0, "Bayer pattern X axis offset"),
            ("YBAYROFF", 0, "Bayer pattern Y axis offset"),
        ]
    if shot.filter is not None:
        cards.append(("FILTER", shot.filter, "Active filter name"))
    cards += [
        ("SITELAT", night.site_latitude, "[deg] Observation site latitude"),
        ("SITELONG", night.site_longitude, "[deg] Observation site longitude"),
        ("ROWORDER", "TOP-DOWN", "FITS Image Orientation"),
        ("SWCREATE", SWCREATE, "Software that created this file"),
    ]
    return fits.Header(cards)


# ---------------------------------------------------------------------------------------------------------
# The sensor's fixed maps (the truth) and the frames


def _rng(seed: int, stream: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, *key)))


def _key(text: str) -> int:
    return zlib.crc32(text.encode())


def _dust(response: np.ndarray, rng: np.random.Generator, count: int) -> None:
    """Multiply ``response`` in place by ``count`` donut-shaped dust shadows (2-6% deep)."""
    rows, cols = response.shape
    scale = min(rows, cols) / 400.0  # radius 10-40 px on a 400-row image, in proportion elsewhere
    for _ in range(count):
        radius = rng.uniform(10.0, 40.0) * scale
        depth = rng.uniform(0.02, 0.06)
        cy, cx = rng.uniform(0, rows), rng.uniform(0, cols)
        soft = max(0.7, 0.08 * radius)
        reach = radius + 5 * soft
        r0, r1 = max(0, int(cy - reach)), min(rows, int(cy + reach) + 1)
        c0, c1 = max(0, int(cx - reach)), min(cols, int(cx + reach) + 1)
        if r0 >= r1 or c0 >= c1:
            continue
        yy = np.arange(r0, r1, dtype=np.float32)[:, None] + 0.5 - cy
        xx = np.arange(c0, c1, dtype=np.float32)[None, :] + 0.5 - cx
        rho = np.hypot(yy, xx)
        # A ring: the shadow of the obstructed pupil, darker between 0.45 R and R, with soft edges.
        ring = 1 / (1 + np.exp(-(rho - 0.45 * radius) / soft)) - 1 / (1 + np.exp(-(rho - radius) / soft))
        response[r0:r1, c0:c1] *= (1 - depth * ring).astype(np.float32)


def _truth_maps(
    camera: CameraModel, night: NightPlan
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Bias (ADU), dark current (e-/s), flat responses (mean 1) and hot pixel (row, col) pairs."""
    rows, cols = camera.rows, camera.cols
    rng = _rng(night.seed, _STREAM_MAPS)
    columns = rng.standard_normal(cols).astype(np.float32) * np.float32(camera.column_pattern)
    bias_adu = np.empty((rows, cols), np.float32)
    bias_adu[:] = np.float32(camera.bias_level) + columns

    n_hot = round(camera.hot_pixel_fraction * rows * cols)
    flat_index = np.sort(rng.choice(rows * cols, size=n_hot, replace=False))
    hot = np.column_stack(np.unravel_index(flat_index, (rows, cols))).astype(np.int64)
    dark_e = np.full((rows, cols), camera.dark_current, np.float32)
    dark_e.flat[flat_index] *= np.exp(rng.uniform(np.log(50.0), np.log(500.0), n_hot)).astype(np.float32)

    # Shared by every filter: vignetting around an off-centre optical axis, window dust, PRNU.
    cy = rows / 2 * (1 + rng.uniform(-0.1, 0.1))
    cx = cols / 2 * (1 + rng.uniform(-0.1, 0.1))
    half_diag2 = (rows / 2) ** 2 + (cols / 2) ** 2
    yy = ((np.arange(rows, dtype=np.float32) + 0.5 - cy) ** 2 / half_diag2)[:, None]
    xx = ((np.arange(cols, dtype=np.float32) + 0.5 - cx) ** 2 / half_diag2)[None, :]
    shared = 1 - np.float32(night.vignetting) * (yy + xx)
    _dust(shared, rng, night.dust_donuts // 2)
    shared *= 1 + np.float32(camera.prnu) * rng.standard_normal((rows, cols), dtype=np.float32)
    if camera.bayer is not None:
        letters = cfa_letters(camera.bayer, rows, cols)
        for letter, sensitivity in zip("RGB", camera.cfa_response, strict=True):
            shared[letters == letter] *= np.float32(sensitivity)

    flats: dict[str, np.ndarray] = {}
    for filter in night.filters:
        response = shared.copy()
        own_dust = night.dust_donuts - night.dust_donuts // 2
        _dust(response, _rng(night.seed, _STREAM_MAPS, _key(filter)), own_dust)
        response /= np.float32(response.mean(dtype=np.float64))
        flats[filter] = response
    return bias_adu, dark_e, flats, hot


def _cosmic_rays(rng: np.random.Generator, camera: CameraModel, exposure: float) -> np.ndarray:
    """(row, col, ADU) of the pixels hit during one frame: short tracks of 1-4 pixels of 2000-30000 ADU
    at their head, with a faint halo around the head (charge diffusion)."""
    megapixels = camera.rows * camera.cols / 1e6
    n = rng.poisson(megapixels * (camera.cosmic_ray_floor + camera.cosmic_ray_rate * exposure))
    hits: dict[tuple[int, int], float] = {}
    for _ in range(n):
        r, c = int(rng.integers(camera.rows)), int(rng.integers(camera.cols))
        peak = float(np.exp(rng.uniform(np.log(2000.0), np.log(30000.0))))
        angle, length = rng.uniform(0, 2 * np.pi), int(rng.integers(1, 5))
        pixels = [(r, c, peak)]
        pixels += [
            (round(r + k * np.sin(angle)), round(c + k * np.cos(angle)), peak * rng.uniform(0.4, 1.0))
            for k in range(1, length)
        ]
        halo = ((0, 1), (0, -1), (1, 0), (-1, 0))
        pixels += [(r + dr, c + dc, peak * rng.uniform(0.02, 0.1)) for dr, dc in halo]
        for pr, pc, adu in pixels:
            if 0 <= pr < camera.rows and 0 <= pc < camera.cols:
                hits[(pr, pc)] = hits.get((pr, pc), 0.0) + round(adu, 1)
    return np.array([(r, c, a) for (r, c), a in sorted(hits.items())], dtype=np.float64).reshape(-1, 3)


@dataclass(frozen=True)
class _Maps:
    bias_adu: np.ndarray
    dark_e: np.ndarray
    flats: dict[str, np.ndarray]
    hot: np.ndarray


def _render(
    shot: _Shot, level: float, maps: _Maps, camera: CameraModel, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """One frame's uint16 pixels and its cosmic-ray hits. ``level`` is a flat's mean signal in [0, 1]."""
    rng = _rng(seed, _STREAM_FRAME, _key(shot.group), shot.number)
    shape = (camera.rows, camera.cols)
    per_e = np.float32(1.0 / camera.gain_e_per_adu)
    noise = rng.standard_normal(shape, dtype=np.float32)
    if shot.kind == "FLAT":
        assert shot.filter is not None  # every flat shot is taken through a filter (plan_shots)
        # Poisson(lambda) with lambda of thousands of e-: a Gaussian of the same variance, drawn together
        # with read noise.
        signal_e = maps.flats[shot.filter] * np.float32(level * FULL_SCALE / per_e)
        signal_e += maps.dark_e * np.float32(shot.exposure)
        adu = signal_e * per_e
        sigma = np.sqrt(adu * per_e + np.float32(camera.read_noise_adu**2))
        adu += maps.bias_adu
        adu += sigma * noise
    else:
        adu = maps.bias_adu + noise * np.float32(camera.read_noise_adu)
        if shot.kind != "BIAS":
            # Poisson sums: a uniform draw for the common dark current, then the hot pixels' excess.
            electrons = rng.poisson(camera.dark_current * shot.exposure, shape).astype(np.float32)
            rows, cols = maps.hot[:, 0], maps.hot[:, 1]
            excess = (maps.dark_e[rows, cols] - camera.dark_current) * shot.exposure
            electrons[rows, cols] += rng.poisson(np.maximum(excess, 0.0))
            adu += electrons * per_e
    hits = np.empty((0, 3))
    if shot.kind != "BIAS":
        hits = _cosmic_rays(rng, camera, shot.exposure)
        if len(hits):
            adu[hits[:, 0].astype(int), hits[:, 1].astype(int)] += hits[:, 2].astype(np.float32)
    np.rint(adu, out=adu)
    np.clip(adu, 0, camera.full_well_adu, out=adu)
    return adu.astype(np.uint16), hits


def _flat_levels(camera: CameraModel, night: NightPlan) -> dict[str, np.ndarray]:
    """Each flat's mean signal above bias in [0, 1] units: a linear lamp drift plus 0.2% flicker."""
    base = night.flat_level * camera.full_well_adu / FULL_SCALE
    levels = {}
    for filter in night.filters:
        rng = _rng(night.seed, _STREAM_TIMELINE, _key(filter))
        ramp = np.linspace(-1.0, 1.0, night.n_flats) if night.n_flats > 1 else np.zeros(night.n_flats)
        flicker = 1 + 0.002 * rng.standard_normal(night.n_flats)
        levels[filter] = base * (1 + night.lamp_drift * ramp) * flicker
    return levels


def generate_night(
    folder: Path,
    camera: CameraModel | None = None,
    night: NightPlan | None = None,
    *,
    overwrite: bool = False,
) -> NightTruth:
    """Write a night of calibration frames under ``folder`` and return its truth (not saved: see
    :func:`save_truth`).

    Files follow N.I.N.A.'s default pattern: ``<folder>/<night>/<IMAGETYP>/<local date_time>_<IMAGETYP>
    [_<filter>]_<exposure>s_<nnnn>.fits``. Raises :class:`~apcal.errors.ApcalError` when a file already
    exists, unless ``overwrite``.
    """
    camera = camera or CameraModel()
    night = night or NightPlan()
    folder = Path(folder)
    shots = _plan_shots(camera, night)
    if not overwrite:
        for shot in shots:
            if (folder / shot.relpath).exists():
                raise ApcalError(f"{folder / shot.relpath} already exists (pass overwrite to replace it)")

    bias_adu, dark_e, flats, hot = _truth_maps(camera, night)
    maps = _Maps(bias_adu, dark_e, flats, hot)
    levels = _flat_levels(camera, night)
    files: dict[str, list[Path]] = {}
    cosmic_rays: dict[Path, np.ndarray] = {}
    for shot in shots:
        level = 0.0
        if shot.kind == "FLAT" and shot.filter is not None:
            level = float(levels[shot.filter][shot.number - 1])
        data, hits = _render(shot, level, maps, camera, night.seed)
        path = folder / shot.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        fits.PrimaryHDU(data, header=_header(shot, camera, night)).writeto(path, overwrite=overwrite)
        files.setdefault(shot.group, []).append(path)
        if len(hits):
            cosmic_rays[path] = hits

    to_unit = np.float32(1.0 / FULL_SCALE)
    return NightTruth(
        bias=bias_adu * to_unit,
        dark_current=dark_e * np.float32(1.0 / camera.gain_e_per_adu) * to_unit,
        flat=flats,
        read_noise=camera.read_noise_adu / FULL_SCALE,
        files=files,
        hot_pixels=hot,
        cosmic_rays=cosmic_rays,
        flat_levels=levels,
        camera=camera,
        night=night,
    )
