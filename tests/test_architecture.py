"""Architecture: apcal's top-level parts import each other in one direction only.

The graph is computed with ``ast`` from every import statement in ``apcal/`` — at module level or inside
a function — except those under ``if TYPE_CHECKING:`` (they never run). Each module is reduced to its
top-level part (``apcal/<part>``: a package or a single module), and an edge ``a → b`` means some module
of ``a`` imports some module of ``b``. A cycle, or an edge that goes up the layer order, fails the test,
so a new one fails CI instead of slipping in through a function-level import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "apcal"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "vocabulary", "jit", "row_blocks", "stats"}),
    frozenset({"params", "naming"}),
    frozenset({"recipe"}),
    frozenset({"io", "frames"}),
    frozenset({"grouping", "library"}),
    frozenset({"plan"}),
    frozenset({"engines"}),
    frozenset({"report"}),
    frozenset({"run", "demo"}),
    frozenset({"cli", "__main__"}),
)
"""apcal's layers from the bottom up: a part may import parts of its own layer or of layers below.

Why this order: the data flows upwards. Pure array statistics (``stats``), the error types, the header
vocabulary (``Keyword``, ``HeaderValue``, ``FrameType``) and the numba plumbing (``jit``: where kernels are
cached; ``row_blocks``: kernels run on threads over rows, which statistics and engines both do) are the
bottom every part may use; the
integration/calibration parameters and file naming are shared words built on them; a recipe is read
before any frame; frames are found and read through ``io``; they are grouped and matched against the
master library; the plan says what to build; an engine builds it; the report describes what was built
(for either engine); ``run`` drives a whole night (and ``demo`` runs one); the CLI sits on top. Parts of
one layer may import each other only without a cycle (checked separately).
"""


def _part_of(module: str) -> str | None:
    """The top-level part of an ``apcal.*`` module name, or None for other packages."""
    pieces = module.split(".")
    if pieces[0] != "apcal" or len(pieces) < 2:
        return None
    return pieces[1]


def _is_part(name: str) -> bool:
    return (ROOT / name / "__init__.py").exists() or (ROOT / f"{name}.py").exists()


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every absolute module name imported anywhere in ``tree`` outside ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (name for child in node.orelse for name in _imports(child, module, is_package))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{alias.name}" for alias in node.names)
        yield from _imports(node, module, is_package)


def import_graph() -> dict[str, set[str]]:
    """Edges between apcal's top-level parts: ``graph[a]`` holds every part ``a`` imports (not itself)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_name(path)
        source = _part_of(module)
        if source is None:
            continue
        graph.setdefault(source, set())
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target in _imports(tree, module, path.name == "__init__.py"):
            part = _part_of(target)
            if part is not None and part != source and _is_part(part):
                graph[source].add(part)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one part (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _layer_of(part: str) -> int:
    for level, parts in enumerate(LAYERS):
        if part in parts:
            return level
    raise AssertionError(f"apcal/{part} is in no layer: add it to LAYERS in {Path(__file__).name}")


def test_no_import_cycle_between_top_level_parts() -> None:
    assert _cycles(import_graph()) == []


def test_imports_go_down_the_layer_order() -> None:
    upward = sorted(
        f"{source} → {target}"
        for source, targets in import_graph().items()
        for target in targets
        if _layer_of(target) > _layer_of(source)
    )
    assert upward == []


def test_every_top_level_part_has_a_layer() -> None:
    for part in import_graph():
        _layer_of(part)


def test_the_checker_sees_function_level_imports_and_skips_type_checking(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from apcal.cli import main\n"
        "def f():\n    from apcal.engines import ENGINES\n    import apcal.io.fits\n"
    )
    found = set(_imports(ast.parse(source), "apcal.plan.build", False))
    assert "apcal.engines" in found and "apcal.io.fits" in found
    assert not any(name.startswith("apcal.cli") for name in found)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
