"""The layering the README's "Development" section describes, checked on the source: no import cycle inside
racekit (imports inside functions count too; only ``if TYPE_CHECKING:`` blocks,
which never run, do not), the leaf modules import nothing of racekit's, and
analysis never imports the runtime.

Run ``python tests/test_architecture.py`` to print the import graph's cycles.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "racekit"


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target not in (name, "racekit"):
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
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for node in sorted(graph):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)  # the tests after this one in the worker run at the usual limit
    return found


def test_there_is_no_import_cycle_in_racekit():
    assert cycles(import_graph()) == []


def test_the_leaf_modules_import_nothing_of_racekit():
    graph = import_graph()
    for leaf in ("racekit.records", "racekit.options", "racekit.errors"):
        assert graph[leaf] == set(), (leaf, graph[leaf])


def test_analysis_never_imports_the_runtime_or_the_report():
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("racekit.analysis"):
            bad = {t for t in targets if t.startswith(("racekit.runtime", "racekit.report", "racekit.engine"))}
            assert not bad, (name, bad)


def test_the_report_never_imports_the_runtime():
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("racekit.report"):
            bad = {t for t in targets if t.startswith(("racekit.runtime", "racekit.engine"))}
            assert not bad, (name, bad)


if __name__ == "__main__":
    found = cycles(import_graph())
    print("\n".join(" -> ".join(c) for c in found) or "no import cycles")


MODE_NAMES = {"auto", "native", "line", "opcode", "yield", "controlled"}


def _mode_name_comparisons(path: Path) -> list[str]:
    """Where ``path`` decides something by a mode's name (``spec.name == "controlled"``,
    ``mode in ("native", "line")``): a mode's behaviour belongs to the mode."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Compare):
            continue
        for operand in (node.left, *node.comparators):
            values = operand.elts if isinstance(operand, (ast.Tuple, ast.Set, ast.List)) else [operand]
            if any(isinstance(v, ast.Constant) and v.value in MODE_NAMES for v in values):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {ast.unparse(node)}")
                break
    return found


def test_the_runtime_and_the_engine_ask_a_mode_what_it_does_never_its_name():
    # A new mode is a module in runtime/modes/ and a line in its registry: the
    # engine's planning, the worker, the pool and the forcing never test which
    # mode is running. (The report still words each mode by its name.)
    modes_folder = PACKAGE / "runtime" / "modes"
    files = [*sorted((PACKAGE / "runtime").rglob("*.py")), PACKAGE / "engine.py", PACKAGE / "api.py"]
    found = [hit for path in files if modes_folder not in path.parents for hit in _mode_name_comparisons(path)]
    assert not found, "\n".join(found)
