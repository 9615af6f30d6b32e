"""Plan a recipe: check its folders, discover frames, index the library, build the plan.

The one place that turns a Recipe into a Plan, shared by ``apcal plan``, ``apcal run`` and the
seed-compatible command, so what ``plan`` prints is exactly what ``run`` does.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

from apcal.errors import RecipeError
from apcal.frames.discovery import NOT_A_FRAME, discover
from apcal.frames.model import SkippedFile
from apcal.io.integrity import verify_checksum
from apcal.library import LibraryIndex, Policy, load_library
from apcal.library.catalog import Catalog
from apcal.plan.build import build_plan
from apcal.plan.model import Plan
from apcal.plan.output_dir import resolve_output
from apcal.recipe.model import Recipe
from apcal.recipe.source import display_path


def check_folders(recipe: Recipe) -> None:
    """Every input and library folder must exist, and the output must not be a file."""
    where = display_path(recipe.source) if recipe.source else "recipe"
    problems = []
    for index, input_set in enumerate(recipe.inputs):
        if not input_set.path.is_dir():
            what = "is not a folder" if input_set.path.exists() else "does not exist"
            problems.append(f"{where}: inputs[{index}].path: {input_set.path} {what}")
    for name in ("bias", "dark", "flatdark", "root"):
        folder = getattr(recipe.library, name)
        if folder is not None and not folder.is_dir():
            problems.append(f"{where}: library.{name}: {folder} does not exist or is not a folder")
    out = recipe.output.dir
    if out.exists() and not out.is_dir():
        problems.append(f"{where}: output.dir: {out} exists and is not a folder")
    else:
        blocker = next((p for p in out.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            problems.append(f"{where}: output.dir: {out} cannot be created ({blocker} is a file)")
    if problems:
        raise RecipeError(problems)


def _checksum_failure(path: Path) -> str | None:
    """Why a library master's data cannot be trusted (it fails its checksum), or None."""
    integrity = verify_checksum(path)
    return None if integrity.ok is not False else integrity.problem


def prepare_plan(recipe: Recipe) -> Plan:
    """The plan ``apcal run`` would execute for ``recipe`` (reads headers only)."""
    check_folders(recipe)
    recipe = replace(recipe, output=replace(recipe.output, dir=resolve_output(recipe)))
    found = discover(recipe.inputs, recipe.headers)
    libraries: list[LibraryIndex] = [
        load_library(folder, recipe.headers)
        for folder in dict.fromkeys(
            f for f in (recipe.library.bias, recipe.library.dark, recipe.library.flatdark) if f is not None
        )
    ]
    bad: dict[Path, str] = {}
    if recipe.library.root is not None:
        catalogued = _catalogued(recipe, bad)
        if catalogued.masters:  # an empty root is a library's first night, not a mistaken folder
            libraries.append(catalogued)
    policy = Policy(
        max_age_days=recipe.library.max_age_days,
        set_temp_tolerance=recipe.library.set_temp_tolerance,
        bad=bad,
    )
    return build_plan(
        recipe,
        found.frames,
        _outside_output(found.skipped, recipe.output.dir),
        libraries,
        distrust=cache(_checksum_failure),
        policy=policy,
    )


def _catalogued(recipe: Recipe, bad: dict[Path, str]) -> LibraryIndex:
    """The masters of ``library.root``'s catalogue, refreshed first; fills ``bad`` with its bad marks."""
    assert recipe.library.root is not None
    with Catalog(recipe.library.root, recipe.headers) as catalog:
        catalog.refresh()
        bad.update(catalog.bad())
        return LibraryIndex(folder=catalog.root, masters=tuple(catalog.frames()), skipped=())


def _outside_output(skipped: tuple[SkippedFile, ...], out: Path) -> tuple[SkippedFile, ...]:
    """Leave out the files apcal wrote itself (logs, reports, previews) when the output folder lies inside
    an input folder: they are not the user's files left unused."""
    resolved = out.resolve()
    return tuple(
        s
        for s in skipped
        if not (s.reason.startswith(NOT_A_FRAME) and s.path.resolve().is_relative_to(resolved))
    )
