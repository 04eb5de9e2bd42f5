"""The package's layering: every module of src/ pinned to a layer, no upward import, and
docs/architecture.md drawn from the same list.

Every ``.py`` file under ``src/classicnets`` is parsed (never imported) and every import is
collected, at module level and inside functions alike, so that a "lazy" import cannot hide an
upward edge. A module may import modules of its own layer or of a lower one. The package's
``__init__`` is the public face above everything (lower modules may read ``__version__`` from
it) and is left out.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import classicnets

PACKAGE = "classicnets"
SOURCE = Path(classicnets.__file__).resolve().parent
ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

#: The layers, lowest first: (name, module patterns relative to the package). A module belongs
#: to the first layer with a matching pattern. docs/architecture.md shows this list as it is.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("errors", "preprocessing")),
    ("runtime", ("runtime", "runtime.*")),
    ("layers", ("layers", "layers.*")),
    ("model records", ("models.specs", "models.keys", "models.registry")),
    ("model contract", ("models.base", "models.features")),
    ("families", ("models", "models.*")),
    ("weights", ("weights", "weights.*")),
    ("factory", ("factory",)),
    ("data", ("data", "data.*")),
    ("deployment", ("deployment", "deployment.*")),
    ("tools", ("tools", "tools.*")),
    ("evaluation", ("evaluation", "evaluation.*")),
    ("training", ("training", "training.*")),
    ("cli", ("cli", "cli.*", "__main__")),
)


def layer_of(module: str) -> int | None:
    """The index in LAYERS of a package-relative module name, or None when none matches."""
    for i, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(module, p) for p in patterns):
            return i
    return None


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
            for alias in node.names:
                # `from . import models`: a name is a module of its own, or the package's attribute
                sub = root.parent.joinpath(*target.split("."), alias.name)
                is_module = sub.is_dir() or sub.with_suffix(".py").is_file()
                yield f"{target}.{alias.name}" if is_module else target


def _relative(module: str) -> str | None:
    """``classicnets.a.b`` -> ``a.b``; None for the package itself and for other packages."""
    parts = module.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        return None
    return ".".join(parts[1:])


def modules(root: Path = SOURCE) -> dict[str, Path]:
    """Package-relative module name -> file, for every module but the package's ``__init__``."""
    found = {_relative(_module_name(p, root)): p for p in sorted(root.rglob("*.py"))}
    return {m: p for m, p in found.items() if m is not None}


def import_graph(root: Path = SOURCE) -> dict[str, set[str]]:
    """Module -> the package modules it imports (package-relative names)."""
    graph: dict[str, set[str]] = {}
    for module, path in modules(root).items():
        targets = {_relative(t) for t in _imports(path, root)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every edge from a module to a module of a higher layer, as readable lines."""
    found = []
    for module, targets in sorted(graph.items()):
        low = layer_of(module)
        for target in sorted(targets):
            high = layer_of(target)
            if low is not None and high is not None and high > low:
                found.append(f"{module} ({LAYERS[low][0]}) imports {target} ({LAYERS[high][0]})")
    return found


def layers_text() -> str:
    """The layer list as docs/architecture.md shows it, lowest first."""
    return "\n".join(f"{name:<16}{', '.join(patterns)}" for name, patterns in LAYERS)


def documented_files(text: str) -> set[str]:
    """The files the Layout tree of docs/architecture.md names under ``src/classicnets/``,
    as package-relative paths: an entry's folder is given by the folders above it that are
    indented less."""
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    folders: list[tuple[int, str]] = []  # (indent, name) of the open folders
    files: set[str] = set()
    for line in block.splitlines():
        m = re.match(r"^( *)(\S+)", line)
        if not m:
            continue
        indent, name = len(m.group(1)), m.group(2)
        folders = [(i, f) for i, f in folders if i < indent]
        path = "/".join([f.rstrip("/") for _, f in folders] + [name])
        if name.endswith("/"):
            folders.append((indent, name))
        elif name.endswith(".py") and path.startswith("src/classicnets/"):
            files.add(path.removeprefix("src/classicnets/"))
    return files


def test_the_parser_sees_imports_inside_functions(tmp_path: Path) -> None:
    root = tmp_path / PACKAGE
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "low.py").write_text("def f():\n    from .sub.inner import g\n")
    (root / "sub" / "__init__.py").write_text("from .. import low\n")
    (root / "sub" / "inner.py").write_text("import classicnets.low\n")
    assert import_graph(root) == {"low": {"sub.inner"}, "sub": {"low"}, "sub.inner": {"low"}}


def test_an_upward_import_is_found() -> None:
    graph = {"errors": {"models.registry"}, "models.resnet": {"layers.conv", "models.registry"}}
    assert upward_imports(graph) == ["errors (foundation) imports models.registry (model records)"]


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in modules() if layer_of(m) is None)
    assert not unplaced, f"modules in no layer of LAYERS (tests/test_layering.py): {unplaced}"


def test_no_module_imports_a_higher_layer() -> None:
    found = upward_imports(import_graph())
    assert not found, "upward imports:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("module", "layer"),
    [("models.registry", "model records"), ("models.resnet", "families"), ("cli.train", "cli")],
)
def test_a_module_takes_the_first_layer_that_matches(module: str, layer: str) -> None:
    assert LAYERS[layer_of(module)][0] == layer  # type: ignore[index]


def test_architecture_md_names_every_module_and_no_other() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    actual = {
        p.relative_to(SOURCE).as_posix()
        for p in SOURCE.rglob("*.py")
        if p.name != "__init__.py" or p.read_text(encoding="utf-8").strip()
    }
    documented = documented_files(text)
    assert not actual - documented, (
        f"missing from docs/architecture.md: {sorted(actual - documented)}"
    )
    assert not documented - actual, (
        f"named in docs/architecture.md, not in src: {sorted(documented - actual)}"
    )


def test_architecture_md_shows_the_layers() -> None:
    assert layers_text() in ARCHITECTURE.read_text(encoding="utf-8"), (
        "docs/architecture.md's 'Dependency direction' block must be layers_text() of "
        "tests/test_layering.py:\n" + layers_text()
    )
