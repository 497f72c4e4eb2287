"""The import graph of retrieval/ (every import, lazy and TYPE_CHECKING ones too): prints its circles and the imports
each package's rules forbid; exits 1 when there is either. `python scripts/import_graph.py [--edges]`."""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "retrieval"

# package → packages of retrieval it must never import (the rules in each folder's __init__.py)
FORBIDDEN = {
    "text": ("ingest", "corpus", "encode", "index", "search", "answer", "jobs", "engine"),
    "ingest": ("corpus", "index", "search", "answer", "jobs", "engine"),
    "corpus": ("index", "search", "answer", "jobs", "engine"),
    "encode": ("text", "ingest", "corpus", "index", "search", "answer", "jobs", "engine"),
    "index": ("search", "answer", "jobs", "engine"),
    "answer": ("index", "corpus", "jobs", "engine"),
    "search": ("jobs", "engine"),
}
# Forbidden imports let through for now, each with why; printed on every run so they are not forgotten.
PENDING: dict[str, str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of the package `name` imports: `import a.b`, `from a.b import c` (c a module or a name in a.b)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
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
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(edges: dict[str, set[str]]) -> list[str]:
    return [f"{source} → {target}" for source, targets in sorted(edges.items()) for target in sorted(targets)
            if layer(target) in FORBIDDEN.get(layer(source), ()) and f"{source} → {target}" not in PENDING]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edges", action="store_true", help="print every edge too")
    args = parser.parse_args()
    edges = graph()
    if args.edges:
        for source, targets in sorted(edges.items()):
            print(source, "→", ", ".join(sorted(targets)) or "-")
    circles, forbidden = cycles(edges), violations(edges)
    print(f"{len(edges)} modules, {sum(map(len, edges.values()))} imports")
    for circle in circles:
        print("circle:", " ↔ ".join(circle))
    for edge in forbidden:
        print("forbidden:", edge)
    for edge, why in PENDING.items():
        print("let through for now:", edge, f"({why})")
    if not circles and not forbidden:
        print("no circle, no forbidden import")
    return 1 if circles or forbidden else 0


if __name__ == "__main__":
    raise SystemExit(main())
