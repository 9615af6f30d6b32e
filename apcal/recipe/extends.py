"""``extends:``: deep-merge base recipes under a recipe, keeping each value's file position.

Bases are merged in the order listed, then the recipe itself on top: mappings merge key by key; lists and
scalars replace. Relative base paths are relative to the file that names them; ``apcal:NAME`` is a preset
shipped inside the package (``apcal/recipe/presets/NAME.yaml``). A cycle is reported with the chain of
files that forms it. A base that has none of a recipe's keys is refused without quoting it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from apcal.errors import RecipeError
from apcal.recipe.schema import recipe_schema
from apcal.recipe.source import Located, Mark, PathKey, display_path, read_recipe_file


def load_with_bases(path: Path) -> Located:
    """Read ``path`` and everything it extends, merged; raise RecipeError on a cycle or bad base."""
    return _load(path.resolve(), chain=())


def _load(path: Path, chain: tuple[Path, ...]) -> Located:
    own = read_recipe_file(path)
    if chain:
        _refuse_non_recipe(own)
    bases = _base_paths(own)
    if not bases:
        return own
    merged: Located | None = None
    for base, mark in bases:
        visiting = (*chain, path)
        if base in visiting:
            cycle = " -> ".join(p.name for p in (*visiting[visiting.index(base) :], base))
            raise RecipeError(f"{mark}: $.extends: extends cycle: {cycle}")
        if not base.is_file():
            raise RecipeError(f"{mark}: $.extends: base recipe not found: {base}")
        loaded = _load(base, (*chain, path))
        merged = loaded if merged is None else merge(merged, loaded)
    assert merged is not None
    return merge(merged, own)


def _refuse_non_recipe(base: Located) -> None:
    """RecipeError when a base has none of a recipe's keys: ``extends: ../../etc/shadow`` must not get
    its lines quoted back as unknown keys, so such a file is refused without showing its contents."""
    known = {*recipe_schema().get("properties", {}), "extends", "vars"}
    if not any(key in known for key in base.data):
        raise RecipeError(
            f"{display_path(base.file)}: not an apcal recipe (none of its keys is a recipe key; "
            "its contents are not shown)"
        )


def _base_paths(located: Located) -> list[tuple[Path, Mark]]:
    raw = located.data.pop("extends", None)
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
        raise RecipeError(
            f"{located.mark(('extends',))}: $.extends: must be a path or a list of paths to base recipes"
        )
    folder = located.file.parent
    out = []
    for index, item in enumerate(items):
        mark = located.mark(("extends", index)) if isinstance(raw, list) else located.mark(("extends",))
        if item.startswith(PRESET_PREFIX):
            out.append((preset_path(item, mark), mark))
        else:
            out.append(((folder / Path(item).expanduser()).resolve(), mark))
    return out


PRESET_PREFIX = "apcal:"
_PRESET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def presets() -> dict[str, Path]:
    """The presets shipped with apcal, by name."""
    from importlib.resources import files

    folder = Path(str(files("apcal.recipe").joinpath("presets")))
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def preset_path(reference: str, mark: Mark) -> Path:
    """The file of preset ``apcal:NAME``; RecipeError naming the presets there are for any other name."""
    name = reference.removeprefix(PRESET_PREFIX)
    known = presets()
    if not _PRESET_NAME.match(name) or name not in known:
        raise RecipeError(
            f"{mark}: $.extends: unknown preset {reference!r} (presets: "
            + ", ".join(PRESET_PREFIX + n for n in known)
            + ")"
        )
    return known[name].resolve()


def merge(base: Located, top: Located) -> Located:
    """Deep-merge ``top`` over ``base`` (mappings merge, everything else replaces), marks included."""
    marks = dict(base.marks)
    data = _merge_data(base.data, top.data, (), marks)
    marks.update({k: v for k, v in top.marks.items() if k != ()})
    return Located(data=data, marks=marks, file=top.file)


def _merge_data(base: Any, top: Any, path: PathKey, marks: dict[PathKey, Mark]) -> Any:
    if isinstance(base, dict) and isinstance(top, dict):
        out = dict(base)
        for key, value in top.items():
            out[key] = _merge_data(base[key], value, (*path, key), marks) if key in base else value
        return out
    # top replaces base here: forget the positions of everything base had below this path.
    for key in [k for k in marks if len(k) > len(path) and k[: len(path)] == path]:
        del marks[key]
    return top
