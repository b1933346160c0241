"""The import structure of the project: every arrow points down, and no module takes part in a cycle.

Imports are read with :mod:`ast` from the source, function-level imports included (a lazy
import is still a dependency; it only hides a cycle until run time).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS: tuple[tuple[str, ...], ...] = (
    ("cost_models",),
    ("search_spaces",),
    ("nas._",),
    ("nas.benchmarks",),
    ("nas.proxies",),
    ("nas.compression", "nas.cost"),
    ("nas.study",),
    ("nas.results",),
    ("nas.run", "nas.sweep", "nas.plots"),
    ("nas.validation",),
    ("nas",),
    ("cli",),
)
"""Rooms, lowest first. A room may import its own modules and any room of a lower layer;
rooms of one layer are peers and import none of each other. ``nas._`` are the private
modules directly under ``nas/`` (errors, TOML reading, the Dask client): the foundation
every room stands on. ``nas`` is the package ``__init__`` that re-exports the public verbs."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_modules() -> dict[str, Path]:
    paths = [ROOT / "cli.py"]
    for package in ("cost_models", "search_spaces", "nas"):
        paths += sorted((ROOT / package).rglob("*.py"))
    return {_module_name(path): path for path in paths}


MODULES = _project_modules()


def _imports(name: str) -> set[str]:
    """Project modules ``name`` imports, at any depth of its code; ``from pkg import mod`` counts ``pkg.mod``."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
            targets = targets or [base]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _layer(name: str) -> tuple[int, str]:
    """Index of the layer and the room that ``name`` belongs to (the longest matching room)."""
    best: tuple[int, str] | None = None
    for index, rooms in enumerate(LAYERS):
        for room in rooms:
            inside = name == room or name.startswith(room if room.endswith("_") else room + ".")
            if inside and (best is None or len(room) > len(best[1])):
                best = (index, room)
    assert best is not None, f"{name} belongs to no layer; add its room to LAYERS"
    return best


GRAPH = {name: _imports(name) for name in MODULES}


def test_every_module_has_a_room():
    for name in MODULES:
        _layer(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down(name):
    layer, room = _layer(name)
    upward = []
    for target in sorted(GRAPH[name]):
        target_layer, target_room = _layer(target)
        if target_room != room and target_layer >= layer:
            upward.append(f"{target} ({target_room})")
    assert not upward, f"{name} ({room}) imports a room at its own layer or above: {', '.join(upward)}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_import_cycles_in_nas():
    nas = {name: {target for target in targets if target.startswith("nas")}
           for name, targets in GRAPH.items() if name.startswith("nas")}
    assert _cycles(nas) == []


def test_the_checks_see_a_planted_upward_import_and_cycle():
    graph = {name: set(targets) for name, targets in GRAPH.items()}
    graph["nas.benchmarks._nb201_table"].add("nas.run._driver")
    assert any("nas.benchmarks._nb201_table" in cycle for cycle in _cycles(graph))
    assert _layer("nas.run._driver")[0] > _layer("nas.benchmarks._nb201_table")[0]
    assert "nas.proxies._ranks" in _imports("nas.proxies._ensemble")  # a plain module-level import is seen
