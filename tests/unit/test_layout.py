"""The import graph of app/, schema/ and consumers/: layers point one way and no module cycles.

The layers, outermost first: transports (app/http, app/cli, the dev stack and the composition
root app/runtime.py) -> schema -> services (app/read, app/writes, app/live, app/access,
app/operations.py) -> the process's plumbing (settings, logs, store, metrics, auth) -> consumers.
A module may import its own layer or any layer further in, never one further out. Every import
counts, including those inside functions and under TYPE_CHECKING: a deferred import is still a
dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "schema", "consumers")

# Longest prefix wins; a higher number is further out.
LAYERS: dict[str, int] = {
    "app.http": 4,
    "app.cli": 4,
    "app.devstack": 4,
    "app.runtime": 4,
    "schema": 3,
    "app.read": 2,
    "app.writes": 2,
    "app.live": 2,
    "app.access": 2,
    "app.operations": 2,
    "app.settings": 1,
    "app.logs": 1,
    "app.store": 1,
    "app.metrics": 1,
    "app.auth": 1,
    "consumers": 0,
}

# The one cycle allowed: the API's own type graph is cyclic (Account.customer, Customer.accounts).
# schema/accounts.py names Customer through strawberry.lazy and imports it inside the resolver,
# so neither module needs the other at import time.
ALLOWED_CYCLES = [["schema.accounts", "schema.customers"]]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int:
    best = max(
        (p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None
    )
    if best is None:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {__file__}")
    return LAYERS[best]


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import module` depends on the module, `from module import name` on it.
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names
                ]
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_layers_point_one_way() -> None:
    graph = import_graph()
    outward = [
        f"{source} (layer {layer(source)}) imports {target} (layer {layer(target)})"
        for source, targets in sorted(graph.items())
        for target in sorted(targets)
        if layer(target) > layer(source)
    ]
    assert outward == []


def test_no_import_cycles() -> None:
    assert [c for c in cycles(import_graph()) if c not in ALLOWED_CYCLES] == []


def test_the_checks_see_a_bad_graph() -> None:
    # The checks themselves, on a small graph: an edge outward and a cycle are both reported.
    graph = {"consumers.engine": {"app.read.views"}, "app.read.views": {"consumers.engine"}}
    assert cycles(graph) == [["app.read.views", "consumers.engine"]]
    assert layer("consumers.engine") < layer("app.read.views")
