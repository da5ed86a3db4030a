"""The package's import graph has no cycles, counting imports inside functions.

Every module under src/stylegen is parsed with `ast` (not imported): each `import` / `from ...
import` statement anywhere in the file (top level, inside functions, under `if TYPE_CHECKING`)
and each `importlib.import_module("literal")` call is an edge to the stylegen module it names. The
root package `stylegen/__init__.py` maps public names to modules with importlib, so the module
names in its table are its edges; nothing may import the root back. Importing `a.b.c` also
imports the packages `a` and `a.b` first; those implicit edges are left out (a package's
`__init__` importing its own submodules is not a circle).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "stylegen"
ROOT_INIT = SRC / PACKAGE / "__init__.py"


def module_names(src: Path = SRC, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    modules = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: Iterable[str]) -> str | None:
    """The longest prefix of `name` that is a module of the package, or None."""
    modules = set(modules)
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _is_import_module_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name == "import_module"


def imports_of(module: str, path: Path, modules: Iterable[str]) -> set[str]:
    """The package modules that `module` (source at `path`) imports, anywhere in the file."""
    modules = set(modules)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                targets.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # `from a import b` imports the module a.b when there is one, else a name of a
            for alias in node.names:
                full = f"{prefix}.{alias.name}"
                targets.add(full if full in modules else prefix)
        elif _is_import_module_call(node):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                targets.add(arg.value)
    if path == ROOT_INIT:
        # the lazy public-API table: ("stylegen.module", "attribute") pairs for importlib
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and (node.value in modules)
            ):
                targets.add(node.value)
    edges = {_resolve(t, modules) for t in targets}
    edges.discard(None)
    edges.discard(module)
    return edges  # type: ignore[return-value]


def import_graph(src: Path = SRC, package: str = PACKAGE) -> dict[str, set[str]]:
    modules = module_names(src, package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cyclic_components(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (or a self-loop), each sorted, by
    Tarjan's algorithm (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    nodes = set(graph) | {t for targets in graph.values() for t in targets}
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    components.append(sorted(component))
    return sorted(components)


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One concrete cycle per cyclic component, from its first node back to it."""
    return [_cycle_in(component, graph) for component in cyclic_components(graph)]


def _cycle_in(component: list[str], graph: Mapping[str, Iterable[str]]) -> list[str]:
    """One cycle through the component's first node, staying inside the component (BFS)."""
    members = set(component)
    start = component[0]
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph.get(node, ())):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if child not in parents:
                    parents[child] = node
                    following.append(child)
        frontier = following
    return component


def test_cycle_finder_on_a_hand_made_graph():
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": {"e"},
        "e": set(),
        "f": {"f"},
        "g": {"d"},
    }
    assert find_cycles(graph) == [["a", "b", "c", "a"], ["f", "f"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    # two separate circles sharing no node, and one reached only through another node
    graph = {"x": {"y"}, "y": {"x", "z"}, "z": {"w"}, "w": {"z"}}
    assert find_cycles(graph) == [["w", "z", "w"], ["x", "y", "x"]]


def test_imports_inside_functions_and_relative_imports_count(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import leaf\n")
    (pkg / "sub" / "leaf.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg.top import Thing\n"
        "def f():\n    from ..top import g\n    import importlib\n"
        "    importlib.import_module('pkg.other')\n"
    )
    (pkg / "top.py").write_text("def g():\n    from pkg.sub.leaf import f\n")
    (pkg / "other.py").write_text("import os\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.sub"] == {"pkg.sub.leaf"}
    assert graph["pkg.sub.leaf"] == {"pkg.top", "pkg.other"}
    assert graph["pkg.top"] == {"pkg.sub.leaf"}
    assert find_cycles(graph) == [["pkg.sub.leaf", "pkg.top", "pkg.sub.leaf"]]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_is_not_empty(graph):
    """Known edges, so that the acyclicity test cannot pass on a graph it failed to read."""
    expected = {
        "stylegen.checkpoint": {"stylegen.models", "stylegen.interop.nvlabs", "stylegen.runs"},
        "stylegen.models.base": {"stylegen.models.serialization"},
        "stylegen.models.stylegan2": {"stylegen.models.registry"},
        "stylegen.interop.nvlabs": {"stylegen.models.serialization", "stylegen.fileio"},
        "stylegen.data.open": {"stylegen.data.builtin", "stylegen.data.datasets"},
        "stylegen.translate": {"stylegen.images", "stylegen.models.cyclegan"},
        "stylegen.training.cyclegan": {"stylegen.models.cyclegan", "stylegen.models.serialization"},
        "stylegen.metrics.report": {"stylegen.images", "stylegen.checkpoint"},
        "stylegen.training.stylegan": {"stylegen.data.open", "stylegen.training.trainer"},
        "stylegen": {"stylegen.checkpoint", "stylegen.training.stylegan", "stylegen.errors"},
    }
    for module, targets in expected.items():
        assert targets <= graph[module], (module, targets - graph[module])
    assert len(graph) > 50 and sum(map(len, graph.values())) > 150


def test_nothing_imports_the_package_root(graph):
    importers = sorted(m for m, targets in graph.items() if PACKAGE in targets)
    assert not importers, f"these modules import the package root {PACKAGE!r}: {importers}"


def test_the_import_graph_has_no_cycles(graph):
    components = cyclic_components(graph)
    report = [
        " -> ".join(_cycle_in(c, graph)) + f"\n    (circle of {len(c)}: {', '.join(c)})"
        for c in components
    ]
    assert not components, "import cycles (counting imports inside functions):\n" + "\n".join(
        report
    )


def test_building_the_cli_parser_imports_no_torch():
    """The network configs moved beside their (torch) networks; the CLI parser, built from the
    torch-free training configs, must still not import torch (`stylegen --help` stays fast)."""
    code = (
        "import sys; from stylegen.commands import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('stylegen.models')))"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"
