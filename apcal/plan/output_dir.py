"""The output folder, resolved once and checked against the places apcal must never write to.

The recipe's ``output.dir`` is resolved with ``realpath`` once, before anything is read or written, and
every later comparison and write uses that resolved folder: an output reached through a symbolic link
into an input folder is then still recognised as the output, and its calibrated flats are never read
back as raw flats. Refused, with exit 2 and one line each:

* ``/`` and the home folder itself (a typo or an unset variable, never a real output folder);
* an input folder, or a folder containing one (every frame would count as apcal's own output);
* a symbolic link (anywhere on the way) whose target does not exist, such as an unmounted disk:
  creating the folder would write to the local disk under the mount point instead.

An output folder inside an input folder is allowed: its files are skipped as apcal's own output.
"""

from __future__ import annotations

import os
from pathlib import Path

from apcal.errors import ApcalError, RecipeError
from apcal.recipe.model import Recipe
from apcal.recipe.source import display_path


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


def resolve_output(recipe: Recipe) -> Path:
    """``recipe.output.dir`` resolved; RecipeError (exit 2) for an output folder apcal must not use."""
    where = display_path(recipe.source) if recipe.source else "recipe"
    given = Path(os.path.abspath(recipe.output.dir))
    link = dangling_link(given)
    if link is not None:
        target = os.readlink(link)
        raise RecipeError(
            f"{where}: output.dir: {link} is a symbolic link to {target}, which does not exist "
            "(an unmounted disk?)"
        )
    out = resolved(given)
    if out == Path(out.anchor):
        raise RecipeError(f"{where}: output.dir: {given} is the root folder (refused)")
    if out == _home():
        raise RecipeError(f"{where}: output.dir: {given} is the home folder itself (refused)")
    for index, input_set in enumerate(recipe.inputs):
        folder = resolved(input_set.path)
        if folder == out:
            raise RecipeError(
                f"{where}: output.dir: {given} is the input folder inputs[{index}].path (refused: "
                "use a folder of its own)"
            )
        if folder.is_relative_to(out):
            raise RecipeError(
                f"{where}: output.dir: {given} contains the input folder inputs[{index}].path "
                f"{input_set.path} (refused: every frame would count as apcal's own output)"
            )
    return out


def refuse_linked_folders(output_dir: Path, folders: list[Path]) -> None:
    """ApcalError (exit 2) when one of ``folders`` inside ``output_dir`` is a symbolic link: apcal
    writes and cleans up there, and must never be steered outside its output folder."""
    for folder in folders:
        if not folder.is_relative_to(output_dir):
            continue
        probe = folder
        while probe != output_dir:
            if probe.is_symlink():
                raise ApcalError(
                    f"{probe} is a symbolic link (refused: apcal writes only inside {output_dir}; "
                    "remove the link)"
                )
            probe = probe.parent
