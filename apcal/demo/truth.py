"""What a synthetic night's masters should equal: the noise-free truth, its helpers, and its files on disk."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from apcal.demo.camera import FULL_SCALE, CameraModel, NightPlan, cfa_letters

TRUTH_DIR = "truth"
_TRUTH_VERSION = 1


@dataclass(frozen=True, eq=False)
class NightTruth:
    """What the masters of a synthetic night should equal, in [0, 1] units (ADU / 65535).

    Attributes:
        bias: noise-free bias (pedestal + column pattern), float32 (rows, cols).
        dark_current: thermal signal per second, hot pixels included, float32 (rows, cols).
        flat: per filter, the flat response (vignetting x dust x PRNU [x CFA]) with mean 1.
        read_noise: read noise of one frame, before quantization.
        files: the frames written, by group: 'bias', 'dark_300s', 'flat_L', 'flatdark_1.5s'.
        hot_pixels: (k, 2) int array of the hot pixels' (row, col).
        cosmic_rays: per frame path, (m, 3) float array of (row, col, ADU added); frames without hits
            are absent.
        flat_levels: per filter, each flat's mean signal above bias (frame order as in ``files``).
        camera, night: the models the night was made from.
    """

    bias: np.ndarray
    dark_current: np.ndarray
    flat: dict[str, np.ndarray]
    read_noise: float
    files: dict[str, list[Path]]
    hot_pixels: np.ndarray
    cosmic_rays: dict[Path, np.ndarray] = field(repr=False)
    flat_levels: dict[str, np.ndarray] = field(repr=False)
    camera: CameraModel = field(repr=False)
    night: NightPlan = field(repr=False)


# ---------------------------------------------------------------------------------------------------------
# Helpers for tests and `apcal demo`


def theoretical_bias_noise(camera: CameraModel, n_frames: int) -> float:
    """Per-pixel rms of (average of ``n_frames`` bias frames - truth bias), in [0, 1] units.

    One frame's noise is read noise plus rounding to integer ADU (1/12 ADU^2, uniform, since read noise
    dithers it); an average of N frames divides it by sqrt(N). This is the floor for a plain average;
    rejection (e.g. winsorized sigma clipping) costs a few percent more, which callers allow for.
    """
    per_frame = math.sqrt(camera.read_noise_adu**2 + 1.0 / 12.0)
    return per_frame / math.sqrt(n_frames) / FULL_SCALE


def flat_truth_normalized(truth: NightTruth, filter: str, *, per_channel: bool = False) -> np.ndarray:
    """The filter's flat response scaled to mean 1, as a master flat compares once divided by its mean.

    ``per_channel`` scales each CFA channel (R, G, B) to mean 1 separately, as PixInsight does with
    "separate CFA flat scaling factors"; it needs a colour camera.
    """
    response = truth.flat[filter].astype(np.float64)
    if not per_channel:
        return (response / response.mean()).astype(np.float32)
    if truth.camera.bayer is None:
        raise ValueError("per_channel normalization needs a camera with a Bayer pattern")
    letters = cfa_letters(truth.camera.bayer, *response.shape)
    out = np.empty_like(response)
    for letter in "RGB":
        mask = letters == letter
        out[mask] = response[mask] / response[mask].mean()
    return out.astype(np.float32)


def dark_truth(truth: NightTruth, exposure: float, *, include_bias: bool = True) -> np.ndarray:
    """What a master dark of ``exposure`` seconds should equal: bias (unless excluded) + dark current x t."""
    signal = truth.dark_current * np.float32(exposure)
    return truth.bias + signal if include_bias else signal


# ---------------------------------------------------------------------------------------------------------
# The sequence: which frames, when, under which names


# ---------------------------------------------------------------------------------------------------------
# Truth on disk: <folder>/truth/truth.npz (maps) + truth.json (everything else, paths relative to folder)


def save_truth(truth: NightTruth, folder: Path) -> Path:
    """Write ``truth`` to ``folder/truth/`` (maps as npz, the rest as JSON) and return that directory.

    Frame paths are stored relative to ``folder``, so the night may be moved as a whole.
    """
    folder = Path(folder)
    out = folder / TRUTH_DIR
    out.mkdir(parents=True, exist_ok=True)
    filters = list(truth.flat)
    # Any: savez_compressed's stub matches **kwds against its allow_pickle flag too.
    arrays: dict[str, Any] = {
        "bias": truth.bias,
        "dark_current": truth.dark_current,
        "hot_pixels": truth.hot_pixels,
    }
    arrays |= {f"flat_{i}": truth.flat[f] for i, f in enumerate(filters)}
    np.savez_compressed(out / "truth.npz", **arrays)

    def rel(path: Path) -> str:
        return Path(path).relative_to(folder).as_posix()

    meta = {
        "version": _TRUTH_VERSION,
        "camera": asdict(truth.camera),
        "night": asdict(truth.night),
        "read_noise": truth.read_noise,
        "filters": filters,
        "files": {group: [rel(p) for p in paths] for group, paths in truth.files.items()},
        "cosmic_rays": {rel(p): hits.tolist() for p, hits in truth.cosmic_rays.items()},
        "flat_levels": {f: levels.tolist() for f, levels in truth.flat_levels.items()},
    }
    (out / "truth.json").write_text(json.dumps(meta, indent=1))
    return out


def load_truth(folder: Path) -> NightTruth:
    """Read what :func:`save_truth` wrote in ``folder/truth/``; frame paths resolve against ``folder``."""
    folder = Path(folder)
    meta = json.loads((folder / TRUTH_DIR / "truth.json").read_text())
    if meta.get("version") != _TRUTH_VERSION:
        raise ValueError(f"unsupported truth version {meta.get('version')!r} in {folder / TRUTH_DIR}")
    with np.load(folder / TRUTH_DIR / "truth.npz") as arrays:
        maps = {name: arrays[name] for name in arrays.files}
    camera_fields = meta["camera"] | {"cfa_response": tuple(meta["camera"]["cfa_response"])}
    night_fields: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in meta["night"].items()
    }
    return NightTruth(
        bias=maps["bias"],
        dark_current=maps["dark_current"],
        flat={f: maps[f"flat_{i}"] for i, f in enumerate(meta["filters"])},
        read_noise=meta["read_noise"],
        files={group: [folder / p for p in paths] for group, paths in meta["files"].items()},
        hot_pixels=maps["hot_pixels"],
        cosmic_rays={folder / p: np.array(h).reshape(-1, 3) for p, h in meta["cosmic_rays"].items()},
        flat_levels={f: np.array(v) for f, v in meta["flat_levels"].items()},
        camera=CameraModel(**camera_fields),
        night=NightPlan(**night_fields),
    )
