"""Turn validated, defaults-filled recipe data into the immutable :class:`Recipe`.

Relative paths are resolved against the folder of the recipe file that declared them (a base recipe's
paths are relative to the base), ``~`` is expanded, and sizes like ``1GiB`` become bytes.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

from apcal.errors import RecipeError
from apcal.params import CalibrationParams, IntegrationParams
from apcal.recipe.model import (
    EngineSettings,
    Grouping,
    Headers,
    InputSet,
    Library,
    Notify,
    Output,
    PixInsightSettings,
    QcGate,
    Recipe,
    Screening,
    SirilSettings,
    Tolerances,
)
from apcal.recipe.source import Located, PathKey
from apcal.vocabulary import FrameType

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(i?)(B?)\s*$")


def parse_size(value: int | str) -> int:
    """Bytes from an integer or a string like '1GiB', '512MiB', '2G' (binary) or '500MB' (decimal)."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"not a size: {value!r}")
    number, unit, binary, byte = match.groups()
    power = " KMGT".index(unit or " ")
    base = 1000 if (unit and byte and not binary) else 1024
    return int(float(number) * base**power)


def build_recipe(located: Located, data: dict[str, Any]) -> Recipe:
    """Build the Recipe from ``data`` (validated and defaults-filled); ``located`` gives path origins."""

    def path(value: str, key: PathKey) -> Path:
        p = Path(value).expanduser()
        if not p.is_absolute():
            p = located.mark(key).file.parent / p
        return Path(_normalize(p))

    def optional_path(value: str | None, key: PathKey) -> Path | None:
        return None if value is None else path(value, key)

    g = data["grouping"]
    tol = g["tolerances"]
    lib = data["library"]
    out = data["output"]
    eng = data["engine"]
    pi = eng["pixinsight"]
    siril = eng["siril"]
    hdr = data["headers"]
    binary = pi.get("binary")
    return Recipe(
        source=located.file,
        name=data["name"],
        inputs=tuple(
            InputSet(
                path=path(item["path"], ("inputs", i, "path")),
                recursive=item["recursive"],
                include=tuple(item["include"]),
                exclude=tuple(item["exclude"]),
            )
            for i, item in enumerate(data["inputs"])
        ),
        grouping=Grouping(
            bias=tuple(g["bias"]),
            dark=tuple(g["dark"]),
            flat=tuple(g["flat"]),
            flatdark=tuple(g["flatdark"]),
            min_frames=g["min_frames"],
            tolerances=Tolerances(**tol),
        ),
        library=Library(
            bias=optional_path(lib.get("bias"), ("library", "bias")),
            dark=optional_path(lib.get("dark"), ("library", "dark")),
            flatdark=optional_path(lib.get("flatdark"), ("library", "flatdark")),
            use_new_masters=lib["use_new_masters"],
            root=optional_path(lib.get("root"), ("library", "root")),
            publish=lib["publish"],
            max_age_days=MappingProxyType({k: float(v) for k, v in lib["max_age_days"].items()}),
            set_temp_tolerance=lib.get("set_temp_tolerance"),
            qc_gate=QcGate(**{k: float(v) for k, v in lib["qc_gate"].items()}),
        ),
        output=Output(
            dir=path(out["dir"], ("output", "dir")),
            format=out["format"],
            script_dir=optional_path(out.get("script_dir"), ("output", "script_dir")),
            rejection_maps=out["rejection_maps"],
            keep_reports=out["keep_reports"],
        ),
        engine=EngineSettings(
            name=eng["name"],
            memory_limit=parse_size(eng["memory_limit"]),
            threads=eng["threads"],
            pixinsight=PixInsightSettings(
                # A bare program name ("PixInsight") is looked up on PATH when the run starts.
                binary=(
                    path(binary, ("engine", "pixinsight", "binary"))
                    if binary and _is_path(binary)
                    else (Path(binary) if binary else None)
                ),
                instance_id=pi["instance_id"],
                force_exit=pi["force_exit"],
                script_only=pi["script_only"],
                timeout=float(pi["timeout"]),
            ),
            siril=SirilSettings(
                # A bare program name (siril-cli) is looked up on PATH when the run starts.
                binary=(
                    str(path(siril["binary"], ("engine", "siril", "binary")))
                    if _is_path(siril["binary"])
                    else siril["binary"]
                ),
                threads=siril["threads"],
                script_only=siril["script_only"],
                timeout=float(siril["timeout"]),
            ),
        ),
        integration=MappingProxyType(
            {FrameType(kind): IntegrationParams(**params) for kind, params in data["integration"].items()}
        ),
        calibration=_calibration_params(located, data["calibration"]),
        headers=Headers(
            imagetyp_aliases=MappingProxyType({k: FrameType(v) for k, v in hdr["imagetyp_aliases"].items()}),
            keyword_aliases=MappingProxyType(dict(hdr["keyword_aliases"])),
            timezone=hdr.get("timezone"),
            longitude=hdr.get("longitude"),
            max_image_megapixels=float(hdr["max_image_megapixels"]),
        ),
        screening=build_screening(data.get("screening", {})),
        notify=Notify(urls=tuple(data["notify"]["urls"]), when=data["notify"]["when"]),
    )


def build_screening(value: bool | dict[str, Any]) -> Screening:
    """``screening: false`` (YAML ``off``) disables screening, ``true`` keeps the defaults; a mapping
    (defaults filled) gives each setting."""
    if isinstance(value, bool):
        return Screening(enabled=value)
    return Screening(**value)


def _is_path(program: str) -> bool:
    """A program setting that names a file (resolved against the recipe), not a name looked up on PATH."""
    return "/" in program or "\\" in program or program.startswith("~")


def _normalize(p: Path) -> str:
    """Absolute path with '..' folded lexically (the folder may not exist yet)."""
    import os.path

    return os.path.normpath(p.absolute())


def _calibration_params(located: Located, data: dict[str, Any]) -> CalibrationParams:
    """CalibrationParams, with the deprecated ``optimize_darks`` mapped onto ``dark_scaling``.

    ``optimize_darks: true`` keeps ``dark_scaling`` (``optimize`` by default); ``false`` means ``none``.
    Together they must agree: ``optimize_darks: true`` with ``dark_scaling: none``, or ``false`` with a
    scaling other than the default, is an error naming the line.
    """
    data = dict(data)
    alias = data.pop("optimize_darks", None)
    scaling = data.get("dark_scaling", "optimize")
    if alias is not None:
        if (alias and scaling == "none") or (not alias and scaling not in ("optimize", "none")):
            raise RecipeError(
                f"{located.mark(('calibration', 'optimize_darks'))}: $.calibration.optimize_darks: "
                f"{str(alias).lower()} contradicts dark_scaling: {scaling} (use dark_scaling alone)"
            )
        data["dark_scaling"] = scaling if alias else "none"
    return CalibrationParams(**data)
