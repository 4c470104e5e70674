"""The layers hold: import-linter's contracts (``[tool.importlinter]`` in pyproject.toml), and no
import cycle between textos modules, nor between its packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterable, Mapping

import grimp

ROOT = Path(__file__).resolve().parent.parent

LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports('pyproject.toml', no_cache=True, no_logo=True))"


def test_import_contracts_are_kept():
    done = subprocess.run([sys.executable, "-c", LINT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One cycle (``[a, b, …, a]``) per strongly connected group of ``edges``, shortest first found."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(group)
    return [_cycle_through(min(group), edges, group) for group in groups]


def _cycle_through(start: str, edges: Mapping[str, Iterable[str]], group: set[str]) -> list[str]:
    """The shortest path from ``start`` back to itself within ``group`` (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges.get(node, ())):
                if child not in group:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")


def import_graph() -> dict[str, set[str]]:
    """Every textos module → the textos modules it imports (at any level, type-checking imports included)."""
    graph = grimp.build_graph("textos", cache_dir=None)
    return {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}


def test_cycles_are_found_and_shown_as_paths():
    found = cycles({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e2"}, "e2": {"e"}})
    assert found == [["a", "b", "c", "a"], ["e", "e2", "e"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_no_import_cycle_between_packages():
    packages: dict[str, set[str]] = {}
    for module, imported in import_graph().items():
        package = ".".join(module.split(".")[:2])
        packages.setdefault(package, set()).update(".".join(m.split(".")[:2]) for m in imported)
    edges = {package: targets - {package} for package, targets in packages.items()}
    found = cycles(edges)
    assert not found, "import cycles between packages:\n" + "\n".join(" -> ".join(cycle) for cycle in found)
