"""What a loaded case is: frozen records, free of YAML and of runtime concerns.

These records travel to worker processes (they pickle), so they hold plain
data only. Code blocks stay as :class:`Source` text with their position in the
YAML file; the runtime compiles them there, so that tracebacks and syntax errors
point at the case file's own lines.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

KINDS = ("threads", "processes", "script", "timing")
START_METHODS = ("fork", "spawn", "forkserver")  # kind processes: multiprocessing's start methods
DEFAULT_RUNS = 100
TIMING_RUNS = 3  # each timing run measures every work item three ways, workers times over
DEFAULT_TIMEOUT = 10.0
DEFAULT_VARIANT = "default"
# Names every case namespace provides; params may not shadow them.
PREIMPORTED = ("threading", "queue", "time")
THREAD_LOCALS = ("thread_index", "thread_name")


@dataclass(frozen=True)
class Source:
    """A block of Python code and where it sits in the case file.

    ``line`` is the file line of the code's first line; ``col`` is the 0-based
    column at which code lines start in the file (the block's indentation).
    ``columns_exact``: every code line sits in the file at ``col`` as written (a
    ``|`` block, a one-line plain scalar), so columns map too (a folded or quoted
    scalar's do not).
    """

    text: str
    path: str
    line: int
    col: int
    label: str  # e.g. "threads.depositor", shown in messages
    columns_exact: bool = False

    def file_position(self, code_line: int, code_col: int) -> tuple[int, int]:
        """Map a 1-based (line, col) inside the code to the case file."""
        return self.line + code_line - 1, self.col + max(code_col, 1)

    def parse(self, mode: Literal["exec", "eval"], in_file: bool = True) -> ast.AST:
        """The code's AST; with ``in_file``, line numbers are the case file's,
        and where they map exactly, columns too: a traceback's carets (3.11+)
        then stand under the expression that failed in the line the file shows.

        Raises SyntaxError (and ValueError for NUL bytes) with lines relative to
        the code; callers map them with :meth:`file_position`.
        """
        tree = ast.parse(self.text, filename=self.path, mode=mode)
        if not in_file:
            return tree
        if self.columns_exact and self.col:
            for node in ast.walk(tree):
                if "col_offset" in node._attributes:
                    node.col_offset += self.col
                    if getattr(node, "end_col_offset", None) is not None:
                        node.end_col_offset += self.col
        return ast.increment_lineno(tree, self.line - 1)

    def file_col(self, node: ast.AST) -> int:
        """A node's 1-based column in the case file, of a tree from :meth:`parse`."""
        return node.col_offset + 1 + (0 if self.columns_exact else self.col)


THREAD_FUNCTION = "_racekit_thread"


def thread_function(source: Source, in_file: bool = True) -> ast.Module:
    """Thread code as the body of ``def _racekit_thread(thread_index, thread_name)``.

    A thread's code runs as a function, as a ``Thread(target=...)`` would: its
    assignments are locals, private to the thread (the lesson of
    ``local_vs_shared.yaml``), and ``global x`` means what students expect.
    Shared state lives in the setup namespace, the function's globals.
    """
    body = source.parse("exec", in_file)
    assert isinstance(body, ast.Module)
    for node in _top_level_nodes(body):
        if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)):
            raise SyntaxError(
                "thread code cannot use yield or await (it runs as a plain function)",
                (source.path, node.lineno, source.file_col(node) if in_file else node.col_offset + 1, ""),
            )
    template = ast.parse(f"def {THREAD_FUNCTION}(thread_index=0, thread_name=''):\n    pass")
    function = template.body[0]
    assert isinstance(function, ast.FunctionDef)
    function.body = body.body or [ast.Pass()]
    first = function.body[0]
    for node in (function, *function.args.defaults):
        ast.copy_location(node, first)
    for arg in function.args.args:
        ast.copy_location(arg, first)
    return ast.fix_missing_locations(template)


def _top_level_nodes(tree: ast.AST):
    """Nodes of a body, not descending into nested functions, lambdas or classes."""
    stack = list(ast.iter_child_nodes(tree))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


@dataclass(frozen=True)
class ThreadSpec:
    """One entry of ``threads:``; ``count`` copies are named ``name-1`` … ``name-N``."""

    name: str
    code: Source
    count: int = 1

    def instance_names(self) -> list[str]:
        if self.count == 1:
            return [self.name]
        return [f"{self.name}-{i}" for i in range(1, self.count + 1)]


@dataclass(frozen=True)
class Expectation:
    """The correct outcome: one value, any of several, or a boolean check."""

    kind: Literal["value", "any_of", "check"]
    values: tuple[Any, ...] = ()
    check: Source | None = None
    label: str = ""  # how a check written in Python (a callable) is shown

    def to_json(self) -> Any:
        """The expectation as the case file spelled it."""
        if self.kind == "value":
            return self.values[0]
        if self.kind == "any_of":
            return {"any_of": list(self.values)}
        return {"check": self.check.text if self.check is not None else self.label}

    def numeric_targets(self) -> list[float]:
        """Expected numbers, when every expected value is one (for lost-update bounds)."""
        if self.kind == "check" or not self.values:
            return []
        if all(is_number(v) for v in self.values):
            return [float(v) for v in self.values]
        return []

    def describe(self) -> str:
        if self.kind == "value" and isinstance(self.values[0], dict):
            return "= " + ", ".join(f"{k}={v!r}" for k, v in self.values[0].items())
        if self.kind == "value":
            return f"= {self.values[0]!r}"
        if self.kind == "any_of":
            return "one of " + ", ".join(repr(v) for v in self.values)
        return self.check.text.strip() if self.check is not None else self.label


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class PythonTarget:
    """Where a case written in Python lives, so a worker process can import it."""

    path: str  # the module's file
    module: str  # its importable name
    qualname: str  # the decorated function
    sys_path: tuple[str, ...] = ()  # folders that make ``module`` importable


@dataclass(frozen=True)
class Variant:
    """One runnable configuration of a case (the top level merged with one ``variants`` entry)."""

    case: str
    name: str
    path: str
    kind: str
    params: dict[str, Any]
    setup: Source | None
    threads: tuple[ThreadSpec, ...]
    outcome: Source | dict[str, Source] | None  # None for cases written in Python
    expect: Expectation
    timeout: float = DEFAULT_TIMEOUT
    stall: float | None = None  # controlled: seconds without a step before a run is stuck (None: max(timeout, 60))
    runs: int = DEFAULT_RUNS
    racy: bool = False
    title: str = ""
    description: str = ""
    notes: str = ""
    challenge: str = ""  # what `racekit play` asks of the student
    i18n: dict[str, dict[str, str]] = field(default_factory=dict)
    target: PythonTarget | None = None  # set for cases written in Python
    modes: tuple[str, ...] = ()  # the case's preferred scheduler(s), when the command line names none
    instrument: tuple[str, ...] = ()  # more modules (by name) whose code instrumented modes rewrite
    # kind: processes
    start_method: str | None = None
    # kind: script
    script: str | None = None  # absolute path
    script_args: tuple[str, ...] = ()
    capture: Any = "stdout"  # "stdout" | "last_line" | "exit_code" | {"regex": PATTERN}
    output: str = "stdout"  # which stream the outcome is read from: stdout | stderr | both
    normalize: tuple[tuple[str, str], ...] = ()
    # kind: timing
    work: dict[str, Source] = field(default_factory=dict)
    workers: int = 4

    @property
    def id(self) -> str:
        return f"{self.case}[{self.name}]"

    def thread_count(self) -> int:
        return sum(t.count for t in self.threads)

    def with_params(self, overrides: dict[str, Any]) -> Variant:
        return replace(self, params={**self.params, **overrides})

    def text(self, key: Literal["title", "description", "notes", "challenge"], lang: str | None) -> str:
        """A translated text where the case has one, else the original."""
        if lang and lang in self.i18n and self.i18n[lang].get(key):
            return self.i18n[lang][key]
        return getattr(self, key)


@dataclass(frozen=True)
class Case:
    """A case file: its identity, its texts, and its variants."""

    name: str
    path: str
    kind: str
    title: str
    description: str
    variants: tuple[Variant, ...]
    i18n: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: str = ""
    name_at: tuple[int, int] = (1, 1)

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)

    def text(self, key: Literal["title", "description", "notes"], lang: str | None) -> str:
        if lang and lang in self.i18n and self.i18n[lang].get(key):
            return self.i18n[lang][key]
        return getattr(self, key)
