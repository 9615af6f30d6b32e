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
from apcal.recipe.checks import output_dir_problem, resolved
from apcal.recipe.model import Recipe
from apcal.recipe.source import display_path


def resolve_output(recipe: Recipe) -> Path:
    """``recipe.output.dir`` resolved; RecipeError (exit 2) for an output folder apcal must not use
    (:func:`apcal.recipe.checks.output_dir_problem`, which ``apcal validate`` reports too)."""
    problem = output_dir_problem(recipe)
    if problem is not None:
        where = display_path(recipe.source) if recipe.source else "recipe"
        raise RecipeError(f"{where}: output.dir: {problem}")
    return resolved(Path(os.path.abspath(recipe.output.dir)))


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
