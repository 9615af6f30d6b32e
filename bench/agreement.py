"""How far the tools' masters are from each other and from the night's truth (not a test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from children import EXPOSURES
from flat_scaling import FULL_SCALE, read_unit


def agreement(folder: Path, masters: dict[str, dict[str, Path]]) -> list[str]:
    """RMS(tool - apcal) / RMS(apcal - truth) per master type the night has."""
    from apcal.demo.truth import dark_truth, flat_truth_normalized, load_truth

    truth = load_truth(folder)
    edge = 16
    truths = {"bias": lambda: truth.bias.astype(np.float64)}
    truths["dark"] = lambda: dark_truth(truth, EXPOSURES["dark"]).astype(np.float64)
    truths["flat"] = lambda: flat_truth_normalized(truth, truth.night.filters[0]).astype(np.float64)
    lines = []
    for kind in ("bias", "dark", "flat"):
        if kind not in masters.get("apcal", {}):
            continue
        apcal = read_unit(masters["apcal"][kind])
        if kind == "flat":
            apcal = apcal / np.median(apcal)
        inner = (slice(edge, -edge), slice(edge, -edge))
        exact = truths[kind]()
        reference = exact / (np.median(exact) if kind == "flat" else 1.0)
        noise = float(np.sqrt(np.mean((apcal - reference)[inner] ** 2)))
        parts = [
            f"{kind:5s} apcal-truth rms {noise * (1 if kind == 'flat' else FULL_SCALE):.4g}"
            + (" (relative)" if kind == "flat" else " ADU")
        ]
        for tool, paths in masters.items():
            if tool == "apcal" or kind not in paths or not paths[kind].is_file():
                continue
            other = read_unit(paths[kind])
            if kind == "flat":
                other = other / np.median(other)
            diff = float(np.sqrt(np.mean((other - apcal)[inner] ** 2)))
            truth_rms = float(np.sqrt(np.mean((other - reference)[inner] ** 2)))
            parts.append(
                f"{tool}-apcal {diff / noise:.3f} sigma ({tool}-truth {truth_rms / noise:.3f} sigma)"
            )
        lines.append("; ".join(parts))
    return lines
