"""The package import graph of meta_prompting/: who imports whom, cycles, floors, size.

Read from the source with `ast`, every import counted wherever it stands (at the top,
inside a function, under TYPE_CHECKING), so a cycle hidden in a function body shows.
Run it for the figures (`python tests/import_graph.py [--json]`); test_layout.py holds
the package to them.

A package is a folder under meta_prompting/; the top-level modules are packages of
their own (`errors`, the root `__init__` as `meta_prompting`, and `__main__`, which is
an entry point like `face`).
"""

from __future__ import annotations

import ast
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "meta_prompting"
FACES = ("face", "__main__")  # the top: nothing below may import them


class Import(NamedTuple):
    source: str  # the importing module, dotted
    target: str  # the imported module, dotted
    typing_only: bool  # under `if TYPE_CHECKING:`: never run


def modules(root: Path = REPO) -> dict[str, Path]:
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(module: str, path: Path, known: dict[str, Path]) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def resolve(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = module.split(".")
        base = base if is_package else base[:-1]
        base = base[:len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def add(target: str, typing_only: bool) -> None:
        if target.split(".")[0] == PACKAGE and target != module:
            found.append(Import(module, target, typing_only))

    def walk(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                walk(child, True)
            for child in node.orelse:
                walk(child, typing_only)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, typing_only)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node)
            for alias in node.names:
                # `from meta_prompting.face import show` imports the module face.show
                full = f"{base}.{alias.name}"
                add(full if full in known else base, typing_only)
        for child in ast.iter_child_nodes(node):
            walk(child, typing_only)

    walk(tree, False)
    return found


def all_imports(root: Path = REPO) -> list[Import]:
    known = modules(root)
    return [i for name, path in known.items() for i in imports_of(name, path, known)]


def package_edges(imports: list[Import], typing: bool = False) -> dict[str, set[str]]:
    """Package -> the packages it imports (typing-only imports too when `typing`)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for i in imports:
        if i.typing_only and not typing:
            continue
        a, b = package_of(i.source), package_of(i.target)
        if a != b:
            edges[a].add(b)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one package (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    nodes = sorted(set(edges) | {b for bs in edges.values() for b in bs})

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in nodes:
        if v not in index:
            visit(v)
    return sorted(groups)


def mutual_pairs(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Pairs of packages that import each other directly."""
    return sorted((a, b) for a, bs in edges.items() for b in bs
                  if a < b and a in edges.get(b, set()))


def face_imported_by(imports: list[Import]) -> list[Import]:
    """Imports of the face from below it: the core never speaks to people."""
    return [i for i in imports if package_of(i.target) in FACES
            and package_of(i.source) not in FACES]


def floors(edges: dict[str, set[str]]) -> dict[str, int]:
    """Each package's floor: 0 imports nothing of ours, else one above its highest import
    (packages in one cycle share a floor)."""
    groups = {v: tuple(g) for g in cycles(edges) for v in g}
    memo: dict[str, int] = {}

    def floor(v: str, seen: frozenset[str]) -> int:
        if v in memo:
            return memo[v]
        mine = groups.get(v, (v,))
        below = {w for m in mine for w in edges.get(m, ()) if w not in mine}
        value = max((floor(w, seen | set(mine)) + 1 for w in below if w not in seen),
                    default=0)
        for m in mine:
            memo[m] = value
        return value

    nodes = set(edges) | {b for bs in edges.values() for b in bs}
    return {v: floor(v, frozenset()) for v in sorted(nodes)}


def sizes(root: Path = REPO) -> dict[str, tuple[int, int, int]]:
    """Package -> (modules, lines, the longest module's lines)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for name, path in modules(root).items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        row = out[package_of(name)]
        row[0] += 1
        row[1] += lines
        row[2] = max(row[2], lines)
    return {k: (v[0], v[1], v[2]) for k, v in sorted(out.items())}


def report(root: Path = REPO) -> dict[str, object]:
    imports = all_imports(root)
    run = package_edges(imports)
    every = package_edges(imports, typing=True)
    return {
        "sizes": sizes(root),
        "cycles": cycles(run),
        "cycles_with_typing": cycles(every),
        "mutual_pairs": mutual_pairs(run),
        "mutual_pairs_with_typing": mutual_pairs(every),
        "face_imported_by": sorted({f"{i.source} -> {i.target}"
                                    for i in face_imported_by(imports)}),
        "floors": floors(run),
        "edges": {k: sorted(v) for k, v in sorted(run.items())},
    }


def main(argv: list[str]) -> int:
    root = Path(argv[argv.index("--root") + 1]) if "--root" in argv else REPO
    data = report(root)
    if "--json" in argv:
        print(json.dumps(data, indent=2))
        return 0
    total = [0, 0]
    print(f"{'package':<16}{'modules':>8}{'lines':>8}{'longest':>9}")
    for name, (count, lines, longest) in data["sizes"].items():  # type: ignore[attr-defined]
        total[0] += count
        total[1] += lines
        print(f"{name:<16}{count:>8}{lines:>8}{longest:>9}")
    print(f"{'total':<16}{total[0]:>8}{total[1]:>8}")
    print(f"package cycles (run time): {data['cycles']}")
    print(f"package cycles (with TYPE_CHECKING imports): {data['cycles_with_typing']}")
    print(f"packages importing each other (run time): {data['mutual_pairs']}")
    print(f"  with TYPE_CHECKING imports: {data['mutual_pairs_with_typing']}")
    print(f"the face imported from below: {data['face_imported_by']}")
    print(f"floors: {data['floors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
