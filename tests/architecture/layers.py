"""The import graph of ``src/idgate``, read with :mod:`ast` (nothing is imported), and the house rules.

* :func:`import_graph` maps each module to the modules it imports. ``from a.b import c`` counts as an
  import of ``a.b.c`` when that is a module, else of ``a.b``; imports under ``if TYPE_CHECKING:`` do not
  count (they never run). Imports inside functions do count: a cycle hidden in a function is a cycle.
* :func:`cycles` lists the strongly connected components of more than one module.
* :func:`violations` lists every import that crosses a forbidden direction of :data:`RULES`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

#: The core packages: pure, unit-tested without a server (ARCHITECTURE.md, "Layout").
CORES = (
    "idgate.oauth2",
    "idgate.oidc",
    "idgate.policy",
    "idgate.sessions",
    "idgate.storage",
    "idgate.connectors",
    "idgate.config",
    "idgate.proxy",
    "idgate.provider",
)
#: Web layers inside core packages: they are not the core.
WEB_LAYERS = ("idgate.proxy.web", "idgate.provider.web", "idgate.web")
#: What no core imports: the web framework, the front door, a web layer, the wiring, the commands.
#: Outbound HTTP goes through ``idgate.net``, the one owner of aiohttp's client.
FOR_NO_CORE = ("aiohttp", "aiohttp_jinja2", "idgate.edge", *WEB_LAYERS, "idgate.runtime", "idgate.cli")
#: ``config`` reads files and answers questions about them; it runs nothing.
FOR_NO_CONFIG = (
    "idgate.proxy",
    "idgate.provider",
    "idgate.edge",
    "idgate.net",
    "idgate.sessions",
    "idgate.storage",
)


CORE_RULE = "a core imports no framework, edge, web layer or wiring"
CONFIG_RULE = "config imports no runtime code"


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def module_names(src: Path) -> dict[str, Path]:
    """Every module under ``src`` (the directory holding the top-level packages) by dotted name."""
    names = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports(other)
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        yield from _imports(child)


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    parts = module.split(".")
    if not is_package:
        parts.pop()
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, node.module] if node.module else parts)


def import_graph(src: Path) -> dict[str, set[str]]:
    """Module -> the modules (ours by full name, foreign by top-level name) it imports."""
    names = module_names(src)
    graph: dict[str, set[str]] = {}
    for module, path in names.items():
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
                continue
            base = _base(module, path.name == "__init__.py", node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in names else base)
        graph[module] = {t for t in targets if t != module}
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(t for t in graph[root] if t in graph)))]
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
                    work.append((child, iter(sorted(t for t in graph[child] if t in graph))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return sorted(found)


def violations(graph: Mapping[str, set[str]]) -> list[str]:
    """``"a imports b: why"`` for every import against the house rules."""
    found = []
    for module in sorted(graph):
        if not _within(module, CORES) or _within(module, WEB_LAYERS):
            continue
        for target in sorted(graph[module]):
            if _within(target, FOR_NO_CORE):
                found.append(
                    f"{module} imports {target}: a core imports no framework, edge, web layer or wiring"
                )
            elif _within(module, ("idgate.config",)) and _within(target, FOR_NO_CONFIG):
                found.append(f"{module} imports {target}: {CONFIG_RULE}")
    return found
