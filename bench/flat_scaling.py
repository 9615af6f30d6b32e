"""Master flat and master bias accuracy for bench_native.py: each dark_scaling beside Siril (not a test).

Called by bench_native.py after its round, with the masters apcal and Siril built from the night. It
prints, against the night's truth:

* the master bias noise (rms of master - truth) in units of the floor sigma/sqrt(N), sigma being one
  frame's read noise plus quantization: apcal's winsorized master beside Siril's (same sigmas 4/3);
* for each ``dark_scaling`` (optimize, pixinsight, exposure, none): the master flat's relative error
  against the truth over the centre 80 % of the frame, hot pixels included, and at the hot pixels alone
  (mean), and the range of k / exposure ratio; beside it Siril's master flat (bias only on Siril 1.0,
  whose dark optimization crashes siril-cli; ``-opt`` on >= 1.2);
* for ``optimize``, the range of the least-squares fit alone and of its standard error, which show how
  much the flats themselves say about k.

The flat jobs are rerun in this process with apcal's masters of the round (its master bias and dark),
one output folder per choice.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

FULL_SCALE = 65535.0
SCALINGS = ("optimize", "pixinsight", "exposure", "none")


def read_unit(path: Path) -> np.ndarray:
    """A master as float64 in [0, 1] units (ccdproc's masters are in ADU)."""
    from apcal.io.image import open_image

    with open_image(path) as reader:
        data = reader.read().astype(np.float64)
    return data / FULL_SCALE if np.nanmedian(data) > 2 else data


def flat_errors(master: np.ndarray, reference: np.ndarray, hot: np.ndarray) -> tuple[float, float, float]:
    """Relative error over the centre 80 %: rms over all pixels, and mean and rms at the hot pixels."""
    rows, cols = master.shape
    centre = (slice(rows // 10, rows - rows // 10), slice(cols // 10, cols - cols // 10))
    m, r = master[centre], reference[centre]
    error = (m / m.mean()) / (r / r.mean()) - 1
    at_hot = error[hot[centre]]
    rms = float(np.sqrt(np.mean(error**2)))
    return rms, float(np.mean(at_hot)), float(np.sqrt(np.mean(at_hot**2)))


def bias_noise_lines(night: Path, masters: dict[str, dict[str, Path]]) -> list[str]:
    from apcal.demo.truth import load_truth, theoretical_bias_noise

    truth = load_truth(night)
    n = len(truth.files["bias"])
    floor = theoretical_bias_noise(truth.camera, n)
    parts = []
    for tool in ("apcal", "siril"):
        path = masters.get(tool, {}).get("bias")
        if path is not None and path.is_file():
            rms = float(np.sqrt(np.mean((read_unit(path) - truth.bias.astype(np.float64)) ** 2)))
            parts.append(f"{tool} {rms / floor:.4f}")
    return [f"master bias noise / (sigma/sqrt({n}) floor): " + ", ".join(parts)]


def flat_scaling_lines(night: Path, work: Path, masters: dict[str, dict[str, Path]]) -> list[str]:
    from apcal.demo.truth import flat_truth_normalized, load_truth

    truth = load_truth(night)
    reference = flat_truth_normalized(truth, truth.night.filters[0]).astype(np.float64)
    hot = np.zeros(reference.shape, dtype=bool)
    hot[tuple(truth.hot_pixels.T)] = True
    title = "master flat vs truth (relative error, centre 80 %: rms; hot pixels: mean, rms); k / ratio"
    lines = [title + ":"]
    siril = masters.get("siril", {}).get("flat")
    if siril is not None and siril.is_file():
        rms, at_hot, hot_rms = flat_errors(read_unit(siril), reference, hot)
        lines.append(f"  siril              rms {rms:.6f}  hot {at_hot:+.5f} rms {hot_rms:.5f}")
    for scaling in SCALINGS:
        result, job, extra = _run_flat(night, work / scaling, masters["apcal"], scaling)
        if result is None:
            lines.append(f"  apcal {scaling:10s}   FAILED: {extra}")
            continue
        rms, at_hot, hot_rms = flat_errors(read_unit(result.output), reference, hot)
        ratio = job.group.frames[0].exposure / job.calibration.dark.exposure
        ks = np.array(list(result.dark_scales.values()))
        lines.append(
            f"  apcal {scaling:10s}   rms {rms:.6f}  hot {at_hot:+.5f} rms {hot_rms:.5f}"
            f"  k {ks.min():.5f}..{ks.max():.5f}"
            f" = {ks.min() / ratio:.3f}..{ks.max() / ratio:.3f} x ratio {ratio:.5f}{extra}"
        )
    return lines


def _run_flat(night: Path, out: Path, built: dict[str, Path], scaling: str):
    """The flat job with ``dark_scaling: scaling`` and apcal's bias and dark of the round."""
    from loguru import logger

    from apcal.engines.base import RunContext
    from apcal.engines.native.engine import NativeEngine
    from apcal.plan.prepare import prepare_plan
    from apcal.recipe import recipe_from_mapping
    from apcal.recipe.model import EngineSettings
    from apcal.vocabulary import FrameType

    mapping = {
        "apcal": 1,
        "name": f"bench-{scaling}",
        "inputs": [{"path": str(night)}],
        "output": {"dir": str(out)},
        "calibration": {"dark_scaling": scaling},
    }
    plan = prepare_plan(recipe_from_mapping(mapping, base_dir=out.parent))
    job = next(j for j in plan.jobs if j.type is FrameType.FLAT)
    cal = job.calibration
    assert cal is not None and cal.bias is not None and cal.dark is not None
    cal = dataclasses.replace(
        cal,
        bias=dataclasses.replace(cal.bias, path=built["bias"], source="library", job_id=None),
        dark=dataclasses.replace(cal.dark, path=built["dark"], source="library", job_id=None),
    )
    job = dataclasses.replace(job, calibration=cal, depends_on=())
    logger.disable("apcal")  # the engine's log lines would drown the figures
    try:
        context = RunContext("bench", out / "bench.log")
        (result,) = NativeEngine(EngineSettings()).execute(plan, [job], context)
    finally:
        logger.enable("apcal")
    if result.status != "built":
        return None, job, result.message
    extra = _fit_range(job, built) if scaling == "optimize" else ""
    return result, job, extra


def _fit_range(job, built: dict[str, Path]) -> str:
    """The least-squares fit alone (no exposure ratio) and its error over the flats, as ratios."""
    from apcal.engines.native.calibration import DarkOptimizer

    bias, dark = read_unit(built["bias"]).astype(np.float32), read_unit(built["dark"]).astype(np.float32)
    optimizer = DarkOptimizer(dark, bias, job.calibration.params)
    ratio = job.group.frames[0].exposure / job.calibration.dark.exposure
    fits = [optimizer.fit(read_unit(f.path).astype(np.float32)) for f in job.group.frames]
    k = np.array([f.fit for f in fits]) / ratio
    error = np.array([f.error for f in fits]) / ratio
    return (
        f"; fit alone {k.min():+.2f}..{k.max():+.2f} x ratio, its error {error.min():.2f}..{error.max():.2f}"
        f" x ratio, {fits[0].pixels} mask pixels"
    )
