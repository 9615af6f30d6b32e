"""Read one YAML recipe file into plain data plus the file position of every value.

Positions (``Mark``) let every later error — unknown key, wrong type, undefined variable, extends cycle —
name ``recipe.yaml:LINE:COL``, even after base recipes are merged in. Only ``yaml.SafeLoader`` is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from apcal.errors import RecipeError

PathKey = tuple[str | int, ...]

#: Bounds on a recipe file, far above any real recipe: its size, its nesting, and its number of values
#: once YAML aliases are expanded.
MAX_RECIPE_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000


@dataclass(frozen=True)
class Mark:
    """A position in a recipe file, 1-based as editors show it."""

    file: Path
    line: int
    col: int

    def __str__(self) -> str:
        return f"{display_path(self.file)}:{self.line}:{self.col}"


def display_path(path: Path) -> str:
    """``path`` relative to the working folder when it is below it, as the user most likely typed it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def json_path(path: PathKey) -> str:
    """``('inputs', 0, 'path')`` -> ``$.inputs[0].path``; odd keys are quoted: ``$.aliases['Bias Frame']``."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.replace("_", "a").replace("-", "a").isalnum() and not part[:1].isdigit():
            out += f".{part}"
        else:
            out += "[" + repr(part) + "]"
    return out


@dataclass
class Located:
    """Recipe data with the mark of every mapping key's value and every list item."""

    data: dict[str, Any]
    marks: dict[PathKey, Mark]
    file: Path
    #: values that came from ``${...}`` expansion, by path, as written: messages show these, never the
    #: expanded value (it may be a secret from the environment)
    expanded: dict[PathKey, str] = field(default_factory=dict)

    def mark(self, path: PathKey) -> Mark:
        """The mark of ``path``, or of its nearest marked ancestor (the file's start for the root)."""
        while path:
            if path in self.marks:
                return self.marks[path]
            path = path[:-1]
        return self.marks.get((), Mark(self.file, 1, 1))


def _unclosed_quote(text: str, before_line: int) -> yaml.Mark | None:
    """Where the last quoted string that runs over several lines before ``before_line`` starts.

    YAML lets a quoted string span lines, so a quote left open on line 33 swallows the lines after it
    and the parser trips only where the next quote closes it (line 54): the mistake is where it opened.
    """
    opened = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.line > before_line:
                break
            if (
                isinstance(token, yaml.ScalarToken)
                and token.style in ('"', "'")
                and token.end_mark.line > token.start_mark.line
            ):
                opened = token.start_mark
    except yaml.YAMLError:
        pass
    return opened


def read_recipe_file(path: Path) -> Located:
    """Parse ``path`` safely; raise RecipeError naming the file and position for any YAML problem."""
    shown = display_path(path)
    try:
        if path.stat().st_size > MAX_RECIPE_BYTES:
            raise RecipeError(f"{shown}: larger than {MAX_RECIPE_BYTES // 1024} KiB: not a recipe (refused)")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"{shown}: recipe file not found") from None
    except IsADirectoryError:
        raise RecipeError(f"{shown}: is a folder, not a recipe file") from None
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{shown}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise RecipeError(f"{shown}: cannot read: {exc.strerror}") from None

    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character: refused before parsing starts
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        problem = f"YAML syntax error: character {char:#06x} is not allowed"
        raise RecipeError(f"{shown}:{line}:{col}: {problem}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise RecipeError(f"{shown}:1:1: the recipe is empty")
        _check_expanded_size(node, shown)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        opened = _unclosed_quote(text, mark.line if mark else len(text))
        if exc.context == "while scanning a quoted scalar" and exc.context_mark:
            opened = exc.context_mark
        if opened is not None and mark is not None and opened.line < mark.line:
            problem = f"a quoted string opened here is not closed ({problem}, line {mark.line + 1})"
            mark = opened
        where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark else shown
        raise RecipeError(f"{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"{shown}: YAML error: {exc}") from None
    except RecursionError:  # nesting thousands deep, before the size check could run
        raise RecipeError(f"{shown}: the recipe nests deeper than {MAX_DEPTH} levels (refused)") from None
    finally:
        loader.dispose()

    if not isinstance(data, dict):
        kind = type(data).__name__
        raise RecipeError(
            f"{shown}:{node.start_mark.line + 1}:1: a recipe is a mapping of keys, not a {kind}"
        )

    marks: dict[PathKey, Mark] = {(): _mark(path, node.start_mark)}
    problems: list[str] = []
    _collect_marks(node, (), path, marks, problems)
    if problems:
        raise RecipeError(problems)
    return Located(data=data, marks=marks, file=path)


def _check_expanded_size(root: yaml.Node, shown: str) -> None:
    """RecipeError when the document, with every alias expanded, is deeper than MAX_DEPTH or holds more
    than MAX_NODES nodes: a "billion laughs" of nested aliases is a few lines of YAML that would expand
    to billions of values in every later step (merging, variables, validation). Counted on the node
    graph, each shared node once, so the check itself stays small."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise RecipeError(f"{shown}: the recipe nests deeper than {MAX_DEPTH} levels (refused)")
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = MAX_NODES + 1  # a node met again inside itself: a recursive alias
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(item, depth + 1) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        else:
            total = 1
        if total > MAX_NODES:
            where = f"{shown}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"
            raise RecipeError(f"{where}: expands to more than {MAX_NODES} values through aliases (refused)")
        sizes[id(node)] = total
        return total

    size(root, 0)


def _mark(file: Path, mark: yaml.Mark) -> Mark:
    return Mark(file, mark.line + 1, mark.column + 1)


def _collect_marks(
    node: yaml.Node, path: PathKey, file: Path, marks: dict[PathKey, Mark], problems: list[str]
) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            key_mark = _mark(file, key_node.start_mark)
            if key_node.tag != "tag:yaml.org,2002:str":
                problems.append(f"{key_mark}: {json_path((*path, key))}: keys must be text (quote it)")
            if key in seen:
                problems.append(f"{key_mark}: {json_path((*path, key))}: duplicate key")
            seen.add(key)
            child = (*path, key)
            marks[child] = _mark(file, value_node.start_mark)
            key_path = (*child, "<key>")
            marks[key_path] = key_mark
            _collect_marks(value_node, child, file, marks, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            marks[child] = _mark(file, item.start_mark)
            _collect_marks(item, child, file, marks, problems)
