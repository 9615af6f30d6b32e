"""Masters as other tools write them (FITS by astropy, IMAGETYP 'Master ...'), light frames, recipes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from astropy.io import fits

from apcal.vocabulary import HeaderValue

SHAPE = (48, 64)
CAMERA: dict[str, HeaderValue] = {
    "INSTRUME": "ZWO ASI2600MM Pro",
    "SET-TEMP": -10.0,
    "XBINNING": 1,
    "YBINNING": 1,
}


def write_master(
    path: Path,
    kind: str,
    night: str,
    *,
    level: float = 500.0,
    noise: float = 2.0,
    seed: int = 1,
    leak: float = 0.0,
    **cards: HeaderValue,
) -> Path:
    """A uint16 master 'Master <kind>' taken on ``night`` (DATE-OBS at 22:00 UTC): a fixed pattern
    shared by every master of the camera (seeded 0), plus fresh noise; ``leak`` ADU over the left half."""
    pattern = np.random.default_rng(0).normal(0.0, 5.0, SHAPE)
    data = level + pattern + np.random.default_rng(seed).normal(0.0, noise, SHAPE)
    data[:, : SHAPE[1] // 2] += leak
    hdu = fits.PrimaryHDU(np.clip(np.rint(data), 0, 65535).astype(np.uint16))
    header = {
        "IMAGETYP": f"Master {kind}",
        **CAMERA,
        "DATE-OBS": f"{night}T22:00:00",
        "NCOMBINE": 20,
        **cards,
    }
    for key, value in header.items():
        hdu.header[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu.writeto(path)
    return path


def write_frames(folder: Path, imagetyp: str, night: str, count: int = 3, **cards: HeaderValue) -> Path:
    """``count`` raw frames (lights, flats) of ``night`` with ``cards``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        data = np.random.default_rng(100 + i).normal(20000.0, 100.0, SHAPE)
        hdu = fits.PrimaryHDU(np.clip(data, 0, 65535).astype(np.uint16))
        header = {"IMAGETYP": imagetyp, **CAMERA, "DATE-OBS": f"{night}T23:0{i}:00", **cards}
        for key, value in header.items():
            hdu.header[key] = value
        hdu.writeto(folder / f"{imagetyp.lower()}_{i}.fits")
    return folder


def write_recipe(path: Path, inputs: Path, output: Path, root: Path, **library: object) -> Path:
    data = {
        "apcal": 1,
        "name": "library test",
        "inputs": [{"path": str(inputs)}],
        "output": {"dir": str(output), "format": "fits"},
        "library": {"root": str(root), **library},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def write_raw_frames(
    folder: Path,
    imagetyp: str,
    instrument: str,
    night: str,
    *,
    count: int = 5,
    level: float = 500.0,
    leak: float = 0.0,
    **cards: HeaderValue,
) -> Path:
    """Raw frames of one camera (its own fixed pattern, seeded by its name) with 5 ADU of read noise
    each; ``leak`` ADU of light on the left half (a light leak)."""
    folder.mkdir(parents=True, exist_ok=True)
    pattern = np.random.default_rng(sum(instrument.encode())).normal(0.0, 5.0, SHAPE)
    for i in range(count):
        data = level + pattern + np.random.default_rng(1000 * count + i + int(leak)).normal(0.0, 5.0, SHAPE)
        data[:, : SHAPE[1] // 2] += leak
        hdu = fits.PrimaryHDU(np.clip(np.rint(data), 0, 65535).astype(np.uint16))
        header = {
            "IMAGETYP": imagetyp,
            **CAMERA,
            "INSTRUME": instrument,
            "DATE-OBS": f"{night}T20:0{i}:00",
            **cards,
        }
        for key, value in header.items():
            hdu.header[key] = value
        hdu.writeto(folder / f"{imagetyp.lower()}_{safe(instrument)}_{i}.fits")
    return folder


def safe(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)
