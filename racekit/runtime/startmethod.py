"""Start methods of ``kind: processes`` cases: which one a case gets, and what only ``fork`` can run.

A child started with ``fork`` is a copy of its parent: it has everything the
case's setup defined. A child started with ``spawn`` or ``forkserver`` (the
Linux default since CPython 3.14) is a fresh interpreter that receives its
target by pickling, that is by *name*: a function setup defined is found in
racekit's case module, which exists only where racekit built it. racekit builds
it in the children it starts itself (they run setup again), but not in the
processes and pools that the case's own code starts. Such a grandchild cannot
import what it is asked to run, and a ``multiprocessing.Pool`` then waits for a
task that never ends.

Two checks keep that from hanging or passing as a race:

- before any trial, :func:`fork_only_uses` reads the case's code for processes
  and pools that it starts itself with a function, class or lambda of the case
  as their work; a case with such uses under another start method is an error
  that names the line and the fix (``start_method: fork``), and a case that
  names ``fork`` is reported with this reason;
- during a trial, a grandchild that imports the case module gets
  ``racekit._case`` (the module file), whose import writes why to a notice file
  the parent watches (:func:`unreachable_notice`), so the trial ends at once
  as an error instead of waiting for the timeout.
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import tempfile
from dataclasses import dataclass

from racekit.case.model import Source, Variant
from racekit.errors import RacekitError

# Where a grandchild that cannot reach the case says so: one file per racekit
# worker (its TMPDIR is its own and is inherited by everything it starts, also
# by a forkserver started later).
NOTICE_NAME = "racekit-unreachable-case.txt"

_PROCESS_CLASSES = {"Process"}
_POOL_FACTORIES = {"Pool", "ProcessPoolExecutor"}
_POOL_METHODS = {"apply", "apply_async", "map", "map_async", "imap", "imap_unordered", "starmap",
                 "starmap_async", "submit"}


def default_start_method() -> str:
    """The start method ``multiprocessing`` uses when none is named (documented as the first listed)."""
    return multiprocessing.get_all_start_methods()[0]


def effective_start_method(variant: Variant) -> str:
    return variant.start_method or default_start_method()


@dataclass(frozen=True)
class ForkOnlyUse:
    """One place where the case's own code starts a process or pool with work of the case."""

    path: str
    line: int
    col: int
    api: str  # e.g. "Pool.apply_async", "Process(target=...)"
    work: str  # the function, class or lambda it runs

    def where(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


def fork_only_uses(variant: Variant) -> list[ForkOnlyUse]:
    """Where the case starts processes whose work only a ``fork`` child can have.

    Conservative on purpose: a use is reported only when the work is a name the
    case itself defines (a function, a class, a lambda bound in setup or in the
    thread code) or a lambda, passed to ``Process(target=...)``, to a pool's
    ``apply``/``map``/``submit``… or as a pool's ``initializer``. Work imported
    from a module pickles by name under every start method and is fine.
    """
    sources: list[Source] = [s for s in (variant.setup, *(t.code for t in variant.threads)) if s is not None]
    trees = []
    for source in sources:
        try:
            trees.append((source, source.parse("exec")))
        except (SyntaxError, ValueError):
            continue  # reported by the compiler, with its position
    defined: set[str] = set()
    process_classes = set(_PROCESS_CLASSES)
    for _source, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
                if isinstance(node, ast.ClassDef) and any(_last_name(b) in process_classes for b in node.bases):
                    process_classes.add(node.name)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
    pools, fork_contexts = _bound_names(trees)
    uses: list[ForkOnlyUse] = []
    for source, tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _on_fork_context(node.func, fork_contexts):
                continue
            name = _last_name(node.func)
            works: list[tuple[str, ast.AST | None]] = []
            if name in _PROCESS_CLASSES:
                works.append((f"{name}(target=...)", _argument(node, 1, "target")))
            elif name in process_classes:  # a Process subclass of the case: pickled by name
                works.append((f"{name}()", node.func))
            if name in _POOL_FACTORIES:
                works.append((f"{name}(initializer=...)", _argument(node, 2 if name == "Pool" else 1, "initializer")))
            if (isinstance(node.func, ast.Attribute) and node.func.attr in _POOL_METHODS
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in pools):
                works.append((f"{pools[node.func.value.id]}.{node.func.attr}", _argument(node, 0, "func")))
            for api, work in works:
                label = _case_work(work, defined)
                if label is not None:
                    # Lines are the file's already (parse in_file); columns are the code's.
                    uses.append(ForkOnlyUse(source.path, node.lineno, source.file_col(node), api, label))
    return sorted(set(uses), key=lambda u: (u.line, u.col))


def _bound_names(trees: list[tuple[Source, ast.AST]]) -> tuple[dict[str, str], set[str]]:
    """Names bound to a process pool (``with Pool(4) as pool``, ``pool = Pool()``)
    and to a fork context (``ctx = multiprocessing.get_context("fork")``)."""
    pools: dict[str, str] = {}
    fork_contexts: set[str] = set()
    for _source, tree in trees:
        for node in ast.walk(tree):
            pairs: list[tuple[ast.AST, ast.AST]] = []
            if isinstance(node, ast.Assign):
                pairs = [(t, node.value) for t in node.targets]
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                pairs = [(i.optional_vars, i.context_expr) for i in node.items if i.optional_vars is not None]
            for target, value in pairs:
                if not (isinstance(target, ast.Name) and isinstance(value, ast.Call)):
                    continue
                factory = _last_name(value.func)
                if factory in _POOL_FACTORIES and not _on_fork_context(value.func, fork_contexts):
                    pools[target.id] = factory
                elif _is_fork_context(value):
                    fork_contexts.add(target.id)
    return pools, fork_contexts


def _is_fork_context(call: ast.Call) -> bool:
    return (_last_name(call.func) == "get_context" and len(call.args) == 1
            and isinstance(call.args[0], ast.Constant) and call.args[0].value == "fork")


def _on_fork_context(func: ast.AST, fork_contexts: set[str]) -> bool:
    """``ctx.Process``, ``multiprocessing.get_context("fork").Pool``: fork by name, fine anywhere."""
    if not isinstance(func, ast.Attribute):
        return False
    owner = func.value
    return (isinstance(owner, ast.Name) and owner.id in fork_contexts) or (
        isinstance(owner, ast.Call) and _is_fork_context(owner))


def _last_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _argument(call: ast.Call, position: int, keyword: str) -> ast.AST | None:
    for item in call.keywords:
        if item.arg == keyword:
            return item.value
    if position < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args[:position + 1]):
        return call.args[position]
    return None


def _case_work(work: ast.AST | None, defined: set[str]) -> str | None:
    if isinstance(work, ast.Lambda):
        return "a lambda"
    if isinstance(work, ast.Name) and work.id in defined:
        return work.id
    return None


class StartMethodError(RacekitError):
    """A process case whose own processes need fork, to be started another way: refused before any trial."""

    def __init__(self, method: str, by_default: bool, uses: list[ForkOnlyUse]):
        first = uses[0]
        how = f"{method}, this interpreter's default start method" if by_default else method
        more = f" (and {len(uses) - 1} more place{'s' if len(uses) > 2 else ''})" if len(uses) > 1 else ""
        super().__init__(
            f"{first.where()}: error: the case's code starts processes of its own that run {first.work} "
            f"({first.api}){more}, defined in the case. Its children would start with {how}: each is a fresh "
            "interpreter that cannot have what setup defines, so it would fail or wait forever. Name "
            "`start_method: fork` in the case (a fork child inherits setup), or take the work from an importable "
            "module.")


def notice_path() -> str:
    return os.path.join(tempfile.gettempdir(), NOTICE_NAME)


def unreachable_notice() -> str | None:
    """What a grandchild that could not import the case wrote, if one did."""
    try:
        with open(notice_path(), encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def clear_notice() -> None:
    try:
        os.unlink(notice_path())
    except OSError:
        pass
