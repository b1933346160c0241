"""The public API: a few verbs in ``nas``, the rest in its rooms, and everything outside ``nas/`` uses only those.

The CLI, the tests, the benchmarks and the notebooks import from ``nas`` or a room
(``nas.results``), never from a private module (``nas.run._driver``, ``nas._metrics``), and
only names the package exports (its ``__all__``); ``nas.room.name`` attribute paths are held
to the same rule. Both are read with :mod:`ast` from the source, function-level imports included.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import types
from pathlib import Path

import pytest

import nas

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("benchmarks", "proxies", "compression", "cost", "study", "results", "run", "sweep", "plots", "validation")
PUBLIC_MODULES = ("nas", *(f"nas.{room}" for room in ROOMS))
MAX_VERBS = 20
"""The verbs of a session, from a study file to its report; more means something belongs in a room."""


def _sources() -> dict[str, str]:
    """Python source by a readable name: cli.py, tests, benchmarks, and the notebooks' code cells."""
    paths = [ROOT / "cli.py", *sorted((ROOT / "tests").glob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py"))]
    sources = {str(path.relative_to(ROOT)): path.read_text(encoding="utf-8") for path in paths}
    for notebook in sorted((ROOT / "studies" / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        for number, cell in enumerate(cells):
            if cell["cell_type"] == "code":
                sources[f"{notebook.relative_to(ROOT)} cell {number}"] = "".join(cell["source"])
    return sources


SOURCES = _sources()


def _exported(module: str) -> set[str]:
    return set(importlib.import_module(module).__all__)


def _dotted(node: ast.expr) -> list[str] | None:
    """``["a", "b", "c"]`` of an attribute chain ``a.b.c`` on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else None


def private_uses(source: str) -> list[str]:
    """Every import or ``nas.…`` attribute path in ``source`` that is not a public name of a public module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "nas":
            if node.module not in PUBLIC_MODULES:
                found.append(f"line {node.lineno}: from {node.module} import (not nas or one of its rooms)")
                continue
            exported = _exported(node.module)
            found += [f"line {node.lineno}: {node.module}.{alias.name} is not in its __all__"
                      for alias in node.names if alias.name not in exported]
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {alias.name} (not nas or one of its rooms)"
                      for alias in node.names if alias.name.split(".")[0] == "nas" and alias.name not in PUBLIC_MODULES]
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            parts = _dotted(node)
            if parts is None or parts[0] != "nas" or parts[1].startswith("__"):
                continue
            module, name = ("nas." + parts[1], parts[2]) if parts[1] in ROOMS and len(parts) > 2 else ("nas", parts[1])
            if name not in _exported(module):
                found.append(f"line {node.lineno}: {module}.{name} is not in its __all__")
    return sorted(set(found))


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_cli_tests_benchmarks_and_notebooks_use_only_public_names(name):
    used = private_uses(SOURCES[name])
    assert not used, f"{name}: " + "; ".join(used)


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("from nas.run._driver import ask_trial", "from nas.run._driver import"),
        ("from nas._metrics import METRICS", "from nas._metrics import"),
        ("import nas.proxies._learned", "import nas.proxies._learned"),
        ("from nas import open_storage", "nas.open_storage is not in its __all__"),
        ("from nas.proxies import _shipped", "nas.proxies._shipped is not in its __all__"),
        ("import nas\nnas.params_of(ds, 0)", "nas.params_of is not in its __all__"),
        ("import nas\nnas.run._driver.ask_trial", "nas.run._driver is not in its __all__"),
    ],
)
def test_a_private_path_is_caught(source, flagged):
    assert any(flagged in use for use in private_uses(source)), private_uses(source)


def test_public_paths_pass():
    assert private_uses("import nas\nfrom nas.results import params_of\nnas.results.params_of(ds, 0)\n"
                        "nas.load_dataset('r.nc')\nprint(nas.__file__)") == []


def test_nas_exports_a_few_verbs_the_errors_and_every_room():
    rooms = {name for name in nas.__all__ if isinstance(getattr(nas, name), types.ModuleType)}
    assert rooms == set(ROOMS)
    verbs = [name for name in nas.__all__ if inspect.isfunction(getattr(nas, name))]
    assert len(verbs) <= MAX_VERBS, verbs
    assert set(nas.__all__) == rooms | set(verbs) | {"NasError", "InputError"}


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_exported_name_exists_and_is_public(module):
    imported = importlib.import_module(module)
    for name in imported.__all__:
        assert hasattr(imported, name), f"{module}.__all__ names {name}, which it lacks"
        assert not name.startswith("_"), f"{module}.__all__ names the private {name}"
