"""Helpers for the quality tests: small synthetic nights and the three bad frames of the issue."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from astropy.io import fits

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from apcal.demo.truth import NightTruth
from apcal.frames.model import Frame
from apcal.frames.normalize import read_frame
from apcal.io.image import open_image
from apcal.plan.screening import FrameQuality
from apcal.recipe.model import Headers

SMALL_CAMERA = CameraModel(rows=200, cols=300)
HEADERS = Headers(imagetyp_aliases={}, keyword_aliases={})


def small_night(folder: Path, seed: int = 2026, camera: CameraModel = SMALL_CAMERA) -> NightTruth:
    """A quick night: 10 bias, 8 darks of 60 s, 8 flats in L (200 x 300 pixels)."""
    plan = NightPlan(
        n_bias=10,
        dark_exposures=(60.0,),
        n_darks=8,
        filters=("L",),
        flat_exposures=(1.5,),
        n_flats=8,
        seed=seed,
    )
    return generate_night(folder, camera, plan)


def frames(paths: list[Path]) -> list[Frame]:
    return [read_frame(p, HEADERS) for p in paths]


def qualities(paths: list[Path]) -> list[FrameQuality]:
    out = []
    for p in paths:
        with open_image(p) as reader:
            out.append(FrameQuality.of(reader.read()))
    return out


def _rewrite(path: Path, change) -> None:
    with fits.open(path) as hdul:
        data = hdul[0].data.astype(np.float64)
        header = hdul[0].header.copy()
    data, header = change(data, header)
    fits.PrimaryHDU(np.clip(np.rint(data), 0, 65535).astype(np.uint16), header=header).writeto(
        path, overwrite=True
    )


def brighten_flat(path: Path, factor: float = 3.0) -> None:
    """The sky brightened: the whole frame at ``factor`` x the level (clipped at full scale)."""
    _rewrite(path, lambda data, header: (data * factor, header))


def add_light_leak(path: Path, amplitude_adu: float = 16.0) -> None:
    """A light leak from one corner: a smooth gradient of up to ``amplitude_adu`` (mean about 30 %)."""

    def change(data, header):
        rows, cols = data.shape
        y = np.linspace(0, 1, rows)[:, None]
        x = np.linspace(0, 1, cols)[None, :]
        return data + amplitude_adu * ((x + y) / 2) ** 2, header

    _rewrite(path, change)


def warm_sensor(path: Path, degrees: float = 8.0) -> None:
    """The sensor had not cooled down: CCD-TEMP ``degrees`` above SET-TEMP (pixels unchanged)."""

    def change(data, header):
        header["CCD-TEMP"] = float(header["SET-TEMP"]) + degrees
        return data, header

    _rewrite(path, change)


def copy_night(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def moved(paths: list[Path], src: Path, dst: Path) -> list[Path]:
    return [dst / p.relative_to(src) for p in paths]
