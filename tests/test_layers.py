"""The package's layers (docs/ARCHITECTURE.md): every import runs downward.

``kernels`` < ``model`` < ``data`` < ``geo`` < ``app`` < ``maps`` < ``web`` <
``cli``; ``errors`` is at the bottom with ``kernels``, and the package root
(``deadzone``, for ``__version__``) may be imported anywhere.  No module
imports another package's private module (``deadzone.x._y`` from outside
``x``) or a private name from another package.  Imports inside functions
count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "deadzone"
RANK = {"errors": 0, "kernels": 0, "model": 1, "data": 2, "geo": 3, "app": 4, "maps": 5,
        "web": 6, "whatif": 7, "cli": 8, "__main__": 9}


def _modules() -> list[tuple[str, str, ast.Module]]:
    out = []
    for f in sorted(PKG.rglob("*.py")):
        parts = f.relative_to(PKG.parent).with_suffix("").parts
        layer = parts[1] if len(parts) > 1 else "__init__"
        out.append((".".join(parts), layer, ast.parse(f.read_text(encoding="utf-8"))))
    return out


def _imports(tree: ast.Module) -> list[tuple[str, list[str], int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module == "deadzone" or node.module.startswith("deadzone.")):
            found.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names
                      if a.name == "deadzone" or a.name.startswith("deadzone.")]
    return found


def _violations() -> list[str]:
    bad = []
    for mod, layer, tree in _modules():
        if layer == "__init__":
            continue  # the package root gathers the public API lazily
        for target, names, line in _imports(tree):
            parts = target.split(".")
            if len(parts) == 1:
                continue  # ``from deadzone import __version__``
            t_layer = parts[1]
            where = f"{mod}:{line} imports {target}"
            if RANK.get(t_layer, 99) > RANK.get(layer, 99):
                bad.append(f"{where} (upward: {layer} -> {t_layer})")
            if t_layer != layer:
                private = [p for p in parts[2:] if p.startswith("_")]
                private += [n for n in names if n.startswith("_") and not n.startswith("__")]
                if private:
                    bad.append(f"{where} (private {private} of another package)")
    return bad


def _import_graph() -> dict[str, set[str]]:
    """Module -> the deadzone modules it imports (a ``from package import
    submodule`` counts as the submodule, not the package's ``__init__``)."""
    trees = {}
    for f in PKG.rglob("*.py"):
        parts = f.relative_to(PKG.parent).with_suffix("").parts
        trees[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = ast.parse(
            f.read_text(encoding="utf-8"))
    graph: dict[str, set[str]] = {m: set() for m in trees}
    for mod, tree in trees.items():
        for target, names, _line in _imports(tree):
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in trees]
            for t in subs or [target]:
                if t in trees and t not in (mod, "deadzone"):
                    graph[mod].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles() -> None:
    assert _cycles(_import_graph()) == []


def test_the_cycle_check_finds_a_circle() -> None:
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(g) == [["a", "b", "c"]]


def test_layer_table_names_every_package() -> None:
    packages = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in PKG.glob("*.py")} - {"__init__"}
    assert packages | modules <= set(RANK)


def test_every_import_runs_downward() -> None:
    assert _violations() == []


@pytest.mark.parametrize(("source", "expected"), [
    ("from deadzone.cli.options import x", "upward"),
    ("from deadzone.kernels import _paths", "private"),
    ("from deadzone.kernels._jit import jit", "private"),
    ("from deadzone.model.dem import Dem", None),
])
def test_the_check_sees_violations(source: str, expected: str | None, monkeypatch) -> None:  # noqa: ANN001
    """The checker itself: a geo module with the given import."""
    tree = ast.parse(source)
    monkeypatch.setattr(
        "tests.test_layers._modules", lambda: [("deadzone.geo.example", "geo", tree)])
    found = _violations()
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0]
