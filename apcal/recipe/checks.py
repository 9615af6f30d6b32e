"""Checks of a loaded recipe that need no pixels: what ``apcal plan`` or ``run`` would refuse later.

The schema says a value has the right shape; these say it works on this machine: the time zone exists,
input and library folders exist and are folders, the output folder can be created, the engine's binary
is there. ``apcal validate`` runs them all and reports every problem at once, each at the
``file:line:col`` of the value, like a schema error.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apcal.recipe.model import Recipe
from apcal.recipe.source import Located, PathKey, json_path


def check_recipe(recipe: Recipe, located: Located, *, engine: bool = True) -> list[str]:
    """Every problem found, as ``file:line:col: $.path: message``, in the order of the recipe's keys.

    ``engine=False`` leaves out the engine's binary (``plan`` needs none; ``run --engine`` may change it,
    and the engine checks itself before a run).
    """
    problems: list[tuple[PathKey, str]] = []
    if recipe.headers.timezone is not None:
        try:
            ZoneInfo(recipe.headers.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append((("headers", "timezone"), _zone_problem(recipe.headers.timezone)))
    for index, input_set in enumerate(recipe.inputs):
        problem = _folder_problem(input_set.path)
        if problem:
            problems.append((("inputs", index, "path"), f"{input_set.path} {problem}"))
    for name in ("bias", "dark", "flatdark", "root"):
        folder = getattr(recipe.library, name)
        problem = _folder_problem(folder) if folder is not None else None
        if problem:
            problems.append((("library", name), f"{folder} {problem}"))
    if recipe.library.publish and recipe.library.root is None:
        problems.append((("library", "publish"), "publish needs library.root (where masters are filed)"))
    problem = _output_problem(recipe.output.dir)
    if problem:
        problems.append((("output", "dir"), f"{recipe.output.dir} {problem}"))
    else:
        refused = output_dir_problem(recipe)
        if refused:
            problems.append((("output", "dir"), refused))
    if engine:
        problems += _engine_problems(recipe)
    marked = []
    for path, message in problems:
        mark = located.mark(path)
        marked.append(((mark.line, mark.col), f"{mark}: {json_path(path)}: {message}"))
    return [text for _, text in sorted(marked, key=lambda item: item[0])]


def _zone_problem(name: str) -> str:
    import difflib
    from zoneinfo import available_timezones

    close = difflib.get_close_matches(name, sorted(available_timezones()), n=1)
    hint = f"did you mean '{close[0]}'?" if close else "e.g. 'Europe/Berlin'"
    return f"unknown IANA time zone {name!r} ({hint})"


def _folder_problem(folder: Path) -> str | None:
    if folder.is_dir():
        return None
    if folder.exists():
        return "is a file, not a folder"
    return "does not exist"


def _output_problem(out: Path) -> str | None:
    if out.exists():
        return None if out.is_dir() else "exists and is not a folder"
    blocker = next((p for p in out.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        return f"cannot be created ({blocker} is a file)"
    return None


def resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _home() -> Path | None:
    try:
        return resolved(Path.home())
    except (RuntimeError, KeyError):  # no HOME and no passwd entry (some containers)
        return None


def dangling_link(path: Path) -> Path | None:
    """The first symbolic link on the way to ``path`` whose target does not exist, or None."""
    for part in (path, *path.parents):
        if os.path.lexists(part):
            return part if part.is_symlink() and not part.exists() else None
    return None


def output_dir_problem(recipe: Recipe) -> str | None:
    """Why apcal must not use ``recipe.output.dir`` (see :mod:`apcal.plan.output_dir`), or None.

    Compared resolved (realpath), so a link into an input folder is recognised.
    """
    given = Path(os.path.abspath(recipe.output.dir))
    link = dangling_link(given)
    if link is not None:
        target = os.readlink(link)
        return f"{link} is a symbolic link to {target}, which does not exist (an unmounted disk?)"
    out = resolved(given)
    if out == Path(out.anchor):
        return f"{given} is the root folder (refused)"
    if out == _home():
        return f"{given} is the home folder itself (refused)"
    for index, input_set in enumerate(recipe.inputs):
        folder = resolved(input_set.path)
        if folder == out:
            return f"{given} is the input folder inputs[{index}].path (refused: use a folder of its own)"
        if folder.is_relative_to(out):
            return (
                f"{given} contains the input folder inputs[{index}].path {input_set.path} (refused: "
                "every frame would count as apcal's own output)"
            )
    return None


def _engine_problems(recipe: Recipe) -> list[tuple[PathKey, str]]:
    settings = recipe.engine.pixinsight
    if recipe.engine.name != "pixinsight" or settings.script_only:
        return []
    binary = settings.binary
    if binary is None:
        message = "PixInsight not found: set engine.pixinsight.binary, or script_only: true"
        return [(("engine", "name"), message)]
    found = Path(binary) if len(Path(binary).parts) > 1 else shutil.which(str(binary))
    if found is None or not Path(found).is_file() or not os.access(found, os.X_OK):
        message = f"PixInsight not found at {binary} (not an executable file)"
        return [(("engine", "pixinsight", "binary"), message)]
    return []
