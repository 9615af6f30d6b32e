"""Siril for the benchmark: find or install siril-cli, link a night's frames, write its script (not a test).

Siril 1.0's dark optimization (``preprocess -opt``) segfaults in siril-cli, so on 1.0 the flats are
calibrated with the bias only (with 2 s flats and a 300 s dark the optimized k is ~0.007, so bias-only is
the closest unoptimized calibration); on >= 1.2 ``calibrate -bias -dark -opt``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def ensure_siril() -> str | None:
    """Path of siril-cli; installed with apt-get when missing and running as root; else None."""
    found = shutil.which("siril-cli")
    if found:
        return found
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        print("siril-cli not found: installing the Debian package 'siril' (apt-get, running as root)...")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "siril"], check=False, env=env, stdout=subprocess.DEVNULL
        )
        found = shutil.which("siril-cli")
    if not found:
        print(
            "Siril skipped: siril-cli not found (install Siril, or run as root to let this script apt-get it)"
        )
    return found


def siril_version(binary: str) -> tuple[int, ...]:
    text = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    for word in text.split():
        parts = word.split(".")
        if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]):
            return tuple(int(p) for p in parts[:2])
    return (1, 0)


def siril_script(
    work: Path, version: tuple[int, ...], groups: list[str], sigmas: tuple[float, float]
) -> Path:
    """The Siril script for ``groups`` (bias, dark, flat: those present), frames linked into
    work/<group>/ by :func:`siril_inputs`; winsorized rejection with ``sigmas`` (low, high)."""
    rejection = f"rej w {sigmas[0]:g} {sigmas[1]:g}"
    lines = ["requires 1.0.0", "set32bits"]
    # One sequence folder per group: Siril 1.0 mixes up sequences that share a folder.
    for group in ("bias", "dark"):
        if group in groups:
            lines += [
                f"cd ../{group}" if len(lines) > 2 else f"cd {group}",
                f"link {group}_ -out=../seq_{group}",
                f"cd ../seq_{group}",
                f"stack {group}_ {rejection} -nonorm -out=../master_{group}",
            ]
    if "flat" in groups:
        if version >= (1, 2):
            calibrate = "calibrate flat_ -bias=../master_bias -dark=../master_dark -opt"
        else:
            calibrate = "preprocess flat_ -bias=../master_bias"
        lines += [
            "cd ../flat",
            "link flat_ -out=../seq_flat",
            "cd ../seq_flat",
            calibrate,
            f"stack pp_flat_ {rejection} -norm=mul -out=../master_flat",
        ]
    lines.append("close")
    script = work / "bench.ssf"
    script.write_text("\n".join(lines) + "\n")
    return script


def siril_inputs(files: dict[str, list[Path]], work: Path) -> list[str]:
    """Link each group's frames into work/<kind>/<kind>_NNNN.fits; the kinds linked, in order."""
    kinds = []
    for name, paths in files.items():
        group = work / name.split("_")[0]
        group.mkdir(parents=True, exist_ok=True)
        kinds.append(group.name)
        for index, path in enumerate(paths, 1):
            (group / f"{group.name}_{index:04d}.fits").symlink_to(Path(path).resolve())
    return list(dict.fromkeys(kinds))
