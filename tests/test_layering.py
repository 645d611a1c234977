"""The import tiers of DESIGN.md ("Layout"), checked module by module, and no import cycles.

    pure      runtime, and the layers' pure modules        imports: pure
    node      node                                         imports: pure, node
    sdk       sdk                                          imports: pure, sdk
    service   the layers' service modules                  imports: pure, sdk, service
    devnet    devnet                                       imports: anything

A layer package (``storage_node``, ``da_layer``, ``compute_pallet``) keeps its service part in a
``service`` sub-package and its command line in ``cli`` modules; everything else in it is pure. Every
import counts, including those inside functions, since a deferred import is still a dependency; only
``if TYPE_CHECKING:`` imports (annotations) do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("runtime", "node", "sdk", "storage_node", "da_layer", "compute_pallet", "devnet")
LAYERS = ("storage_node", "da_layer", "compute_pallet")
MAY_IMPORT = {
    "pure": {"pure"},
    "node": {"pure", "node"},
    "sdk": {"pure", "sdk"},
    "service": {"pure", "sdk", "service"},
    "devnet": {"pure", "node", "sdk", "service", "devnet"},
}


def tier_of(module: str) -> str:
    parts = module.split(".")
    top = parts[0]
    if top in LAYERS:
        return "service" if "service" in parts[1:] or parts[-1] == "cli" else "pure"
    return {"runtime": "pure", "node": "node", "sdk": "sdk", "devnet": "devnet"}[top]


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``module`` imports (``from a import b`` counts as ``a.b`` when that is a module)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import a.b.c` of a non-module attribute: its module
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (annotations only, never imported)."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                pending.extend(child.orelse)
            else:
                pending.append(child)


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def test_every_import_respects_the_tiers():
    wrong = [f"{importer} ({tier_of(importer)}) imports {imported} ({tier_of(imported)})"
             for importer, imported_set in import_graph().items() for imported in sorted(imported_set)
             if tier_of(imported) not in MAY_IMPORT[tier_of(importer)]]
    assert wrong == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the components with more than one module are the cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
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
                    work.append((child, iter(sorted(graph[child]))))
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
                components.append(sorted(component))
    return components


def test_no_import_cycles():
    graph = import_graph()
    # a package's __init__ re-exporting its own submodules is not a cycle of dependencies
    for module in graph:
        graph[module] = {m for m in graph[module] if not m.startswith(module + ".")}
    assert [c for c in strongly_connected(graph) if len(c) > 1] == []


def test_the_checker_sees_a_wrong_way_import_and_a_cycle():
    assert tier_of("storage_node.service.daemon") == "service"
    assert "node" not in MAY_IMPORT[tier_of("storage_node.erasure.coder")]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"], ["d"]]
