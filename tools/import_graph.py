"""The import graph of src/r1lab, imports inside functions included: its circles (strongly
connected components of more than one module) and, for each, the arrows that tie it.

    python tools/import_graph.py            # circles, and every arrow inside them
    python tools/import_graph.py --arrows   # every arrow of the package

Only imports of r1lab's own modules count, wherever they stand (a function's import is an arrow
like any other); `import_module("r1lab.x")` with a literal string counts too. Imports under
`if TYPE_CHECKING:` do not (they never run). A registry that imports a module by a name it
looks up in a table (r1lab.kinds) draws no arrow: that is its point.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "r1lab"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The r1lab modules `path` imports, anywhere in the file."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found: set[str] = set()

    def add(name: str) -> None:
        while name and name not in modules:  # r1lab.a.b.c -> the longest module prefix
            name = name.rsplit(".", 1)[0] if "." in name else ""
        if name and name != here:
            found.add(name)

    tree = ast.parse(path.read_text())
    typing_only = {  # `if TYPE_CHECKING:` blocks: names for type hints, never imported at run time
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(full if full in modules else base)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
        ):
            if (
                node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                add(node.args[0].value)
    return found


def graph() -> dict[str, set[str]]:
    files = sorted((SRC / PACKAGE).rglob("*.py"))
    modules = {module_name(p) for p in files}
    return {module_name(p): imports(p, modules) for p in files}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in edges:
        if v not in index:
            visit(v)
    return found


def main(argv: list[str]) -> int:
    edges = graph()
    if "--arrows" in argv:
        for a in sorted(edges):
            for b in sorted(edges[a]):
                print(f"{a} -> {b}")
        return 0
    found = circles(edges)
    print(f"{len(edges)} modules, {sum(map(len, edges.values()))} arrows, {len(found)} circle(s)")
    for i, component in enumerate(found, 1):
        members = set(component)
        print(f"circle {i}: {len(component)} modules: {', '.join(component)}")
        for a in component:
            for b in sorted(edges[a] & members):
                print(f"  {a} -> {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
