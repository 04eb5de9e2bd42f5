"""The package's layering: no import cycle between units, and the lowest layers in their order.

Every ``.py`` file under ``src/classicnets`` is parsed (never imported) and every import is
collected, at module level and inside functions alike, so that a "lazy" import cannot hide a
cycle. A unit is a top-level module (``registry``, ``factory``, ``train``) or a subpackage
(``models``, ``weights``, ``layers``, ``data``, ``engine``); the package's ``__init__`` is the
public face above everything and is left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import classicnets

PACKAGE = "classicnets"
SOURCE = Path(classicnets.__file__).resolve().parent

#: What each of the lowest layers may never import (the layering of docs/architecture.md).
FORBIDDEN: dict[str, set[str]] = {
    "errors": {"specs", "keys", "registry", "layers", "models", "weights", "factory"},
    "specs": {"keys", "registry", "layers", "models", "weights", "factory"},
    "keys": {"registry", "layers", "models", "weights", "factory", "features"},
    "layers": {"registry", "models", "weights", "factory", "features", "data", "engine"},
    "registry": {"models", "weights", "features", "factory", "layers", "data", "engine"},
    "models": {"weights", "factory", "features", "data", "engine", "train", "cli"},
    "weights": {"factory", "data", "engine", "train", "evaluate", "predict", "cli"},
    "factory": {"data", "engine", "train", "evaluate", "predict", "bench", "cli"},
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path) -> Iterator[str]:
    """The ``classicnets`` modules a file imports, resolved to absolute dotted names."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if node.module is None or target in (PACKAGE, package):
                # `from . import models`: a name is a module of its own, or the package's attribute
                for alias in node.names:
                    sub = root.parent.joinpath(*target.split("."), alias.name)
                    is_module = sub.is_dir() or sub.with_suffix(".py").is_file()
                    yield f"{target}.{alias.name}" if is_module else target
            else:
                yield target


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        return None
    return parts[1]


def unit_graph(root: Path = SOURCE) -> dict[str, set[str]]:
    """Unit -> the other units it imports, over every file under ``root``."""
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        unit = _unit(_module_name(path, root))
        if unit is None or unit == "__main__":
            continue
        edges = graph.setdefault(unit, set())
        for target in _imports(path, root):
            other = _unit(target)
            if other is not None and other != unit:
                edges.add(other)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_parser_sees_imports_inside_functions(tmp_path: Path) -> None:
    root = tmp_path / PACKAGE
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "low.py").write_text("def f():\n    from .sub.inner import g\n")
    (root / "sub" / "__init__.py").write_text("from .. import low\n")
    (root / "sub" / "inner.py").write_text("import classicnets.low\n")
    graph = unit_graph(root)
    assert graph == {"low": {"sub"}, "sub": {"low"}}
    assert find_cycle(graph) in (["low", "sub", "low"], ["sub", "low", "sub"])


def test_no_import_cycle_between_units() -> None:
    graph = unit_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle between units: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("unit", sorted(FORBIDDEN))
def test_lowest_layers_import_nothing_above_them(unit: str) -> None:
    imported = unit_graph().get(unit, set())
    assert not imported & FORBIDDEN[unit], (
        f"{unit} imports {sorted(imported & FORBIDDEN[unit])}, which sit above it"
    )
