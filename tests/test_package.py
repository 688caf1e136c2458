"""The package as a whole: no import cycle between its modules, and no global state of the host
program changed by importing it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap

import raytune_hpo

PACKAGE_DIR = os.path.dirname(raytune_hpo.__file__)


def module_name(path: str) -> str:
    relative = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))[: -len(".py")].replace(os.sep, ".")
    return relative.removesuffix(".__init__")


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports, at module level or inside a
    function (a function-level import is a cycle too, only a later one); an import also runs the
    packages above the imported module. Imports for type checkers only are left out."""
    modules = {}
    for root, _, files in os.walk(PACKAGE_DIR):
        for file in files:
            if file.endswith(".py"):
                modules[module_name(os.path.join(root, file))] = os.path.join(root, file)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        with open(path) as f:
            tree = ast.parse(f.read())
        type_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                     and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                     for statement in block.body for node in ast.walk(statement)}
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            for target in targets:
                parts = target.split(".")
                for depth in range(1, len(parts) + 1):  # the packages above run first
                    above = ".".join(parts[:depth])
                    if above in modules and above != name and not name.startswith(above + "."):
                        graph[name].add(above)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "raytune_hpo.runner" in graph["raytune_hpo"]  # the graph sees the package's imports
    assert cycles(graph) == []


def test_a_cycle_is_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_importing_the_package_changes_no_global_state():
    """The excepthook, the signal handlers and the root logger are the host program's; a
    ConfigError reaches a script as an ordinary exception whose message is one line."""
    script = textwrap.dedent("""
        import logging, signal, sys
        before = (sys.excepthook, {s: signal.getsignal(s) for s in signal.valid_signals()},
                  list(logging.getLogger().handlers), logging.getLogger().level)
        import raytune_hpo as hpo
        after = (sys.excepthook, {s: signal.getsignal(s) for s in signal.valid_signals()},
                 list(logging.getLogger().handlers), logging.getLogger().level)
        assert before == after, (before, after)
        try:
            hpo.run(lambda config: None, {"lr": hpo.loguniform(0, 1)}, metric="loss")
        except ValueError as e:
            print(type(e).__name__, e)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ConfigError space.lr: log-scaled bounds must be > 0, got low=0\n"


def test_the_package_is_typed():
    assert os.path.exists(os.path.join(PACKAGE_DIR, "py.typed"))
