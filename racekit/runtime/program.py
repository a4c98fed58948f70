"""A variant compiled for execution, and one trial of it.

Runs inside a worker process. Code is compiled with the case file as its file
name and the file's line numbers, so tracebacks and deadlock stacks show the
YAML lines the student wrote.
"""

from __future__ import annotations

import ast
import builtins
import io
import math
import os
import queue
import random
import sys
import threading
import time
import traceback
import types
from dataclasses import dataclass
from typing import Any

from racekit.case.model import THREAD_FUNCTION, Expectation, Source, Variant, thread_function
from racekit.runtime.forcing import Forcing, ModeSpec, Scope, make_forcing
from racekit.runtime.records import Status, Trial

# Exceptions that no interleaving can cause: a bug in the case, not a race.
CASE_BUG_ERRORS = (NameError, SyntaxError, ImportError)
OUTPUT_TAIL = 2000
MAX_ERRORS_KEPT = 3


@dataclass
class Program:
    variant: Variant
    setup: types.CodeType | None
    threads: list[tuple[str, int, types.CodeType]]  # (instance name, thread_index, function code)
    outcome: types.CodeType | dict[str, types.CodeType]
    check: types.CodeType | None
    target: types.CodeType | None  # X of a `check: outcome == X`, for lost-update bounds
    forcing: Forcing

    @classmethod
    def compile(cls, variant: Variant, mode: ModeSpec) -> Program:
        case_dir = os.path.dirname(os.path.abspath(variant.path))
        if case_dir not in sys.path:
            sys.path.insert(0, case_dir)  # `setup: from bank import Account`
        setup = _compile(variant.setup, "exec") if variant.setup else None
        threads = []
        for spec in variant.threads:
            module = compile(thread_function(spec.code), spec.code.path, "exec", dont_inherit=True)
            function_code = next(c for c in module.co_consts if isinstance(c, types.CodeType) and c.co_name == THREAD_FUNCTION)
            # Tracebacks and deadlock stacks then say "in depositor".
            label = spec.name if spec.name.isidentifier() else f"thread {spec.name}"
            function_code = _renamed(function_code, label)
            for index, name in enumerate(spec.instance_names()):
                threads.append((name, index, function_code))
        if isinstance(variant.outcome, dict):
            outcome: Any = {k: _compile(v, "eval") for k, v in variant.outcome.items()}
        else:
            outcome = _compile(variant.outcome, "eval")
        check = _compile(variant.expect.check, "eval") if variant.expect.check else None
        target = _compile_target(variant.expect.check) if variant.expect.check else None
        codes = [c for c in (setup, check, target) if c] + [t[2] for t in threads]
        codes += list(outcome.values()) if isinstance(outcome, dict) else [outcome]
        forcing = make_forcing(mode, Scope(codes, [case_dir]))
        return cls(variant, setup, threads, outcome, check, target, forcing)

    def run(self, index: int, seed: int) -> Trial:
        """One trial: fresh namespace, setup, all threads released together, join, outcome."""
        started = time.perf_counter()
        modules_before = set(sys.modules)
        out = _Tail()
        real_stdout, real_stderr = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        try:
            trial = self._run(index, seed)
        finally:
            sys.stdout, sys.stderr = real_stdout, real_stderr
            self._forget_case_modules(modules_before)
        trial.duration = time.perf_counter() - started
        if not trial.matches:
            trial.output = out.tail()  # what a failing trial printed helps explain it
        return trial

    def _run(self, index: int, seed: int) -> Trial:
        v = self.variant
        ns = self._namespace(seed)
        if self.setup is not None:
            try:
                exec(self.setup, ns)
            except BaseException as exc:  # noqa: BLE001 - anything the case raises is a result
                return _case_error(index, seed, "setup", exc)
        errors: list[tuple[float, BaseException, str]] = []
        barrier = threading.Barrier(len(self.threads))
        forcing = self.forcing

        def body(function: types.FunctionType, thread_index: int, name: str) -> None:
            with forcing.thread():
                try:
                    barrier.wait()
                    function(thread_index, name)
                except BaseException as exc:  # noqa: BLE001
                    errors.append((time.perf_counter(), exc, _format_exception(exc, name)))

        threads = [
            threading.Thread(
                target=body,
                args=(types.FunctionType(code, ns, name.replace("-", "_")), thread_index, name),
                name=name,
                daemon=True,
            )
            for name, thread_index, code in self.threads
        ]
        deadline = time.monotonic() + v.timeout
        with forcing.trial():
            for t in threads:
                t.start()
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
        hung = [t for t in threads if t.is_alive()]
        if hung:
            return Trial(index, seed, Status.DEADLOCK, "deadlock", detail=_stacks(hung, v.timeout))
        errors.sort(key=lambda e: e[0])
        formatted = [e[2] for e in errors[:MAX_ERRORS_KEPT]]
        if errors:
            first = errors[0][1]
            outcome_value: Any = error_outcome(first)
            case_bug = isinstance(first, CASE_BUG_ERRORS)
        else:
            case_bug = False
            try:
                outcome_value = self._outcome(ns)
            except BaseException as exc:  # noqa: BLE001
                return _case_error(index, seed, "outcome", exc)
        try:
            matched = self._match(outcome_value, ns)
        except BaseException as exc:  # noqa: BLE001
            return _case_error(index, seed, "expect.check", exc)
        return Trial(
            index, seed, Status.DONE, outcome_repr(outcome_value), matches=matched is not False,
            matched=matched if type(matched) is int else None,
            value=_number(outcome_value), target=self._target(ns), errors=formatted, case_bug=case_bug,
        )

    def _target(self, ns: dict[str, Any]) -> float | None:
        if self.target is None:
            return None
        try:
            return _number(eval(self.target, ns))
        except Exception:  # noqa: BLE001 - only a bonus figure; the check decides
            return None

    def _namespace(self, seed: int) -> dict[str, Any]:
        random.seed(seed)  # case code that uses `random` replays with the trial's seed
        ns: dict[str, Any] = {
            "__name__": "__racekit_case__",
            "__builtins__": builtins,
            "threading": threading,
            "queue": queue,
            "time": time,
        }
        ns.update(self.variant.params)
        return ns

    def _outcome(self, ns: dict[str, Any]) -> Any:
        if isinstance(self.outcome, dict):
            return {name: eval(code, ns) for name, code in self.outcome.items()}
        return eval(self.outcome, ns)

    def _match(self, outcome: Any, ns: dict[str, Any]) -> int | bool:
        """False, or what matched: the index of the expected value, or True for a check."""
        expect: Expectation = self.variant.expect
        if expect.kind == "check":
            assert self.check is not None
            bound = dict(ns)
            if isinstance(outcome, dict):
                bound.update(outcome)
            bound["outcome"] = outcome
            return bool(eval(self.check, bound))
        for index, expected in enumerate(expect.values):
            if same_outcome(outcome, expected):
                return index
        return False

    def _forget_case_modules(self, before: set[str]) -> None:
        """Modules the case imported from its own folder start fresh in the next trial."""
        for name in set(sys.modules) - before:
            module = sys.modules.get(name)
            file = getattr(module, "__file__", None)
            if file and self.forcing.scope.covers_file(file):
                del sys.modules[name]


def _renamed(code: types.CodeType, name: str) -> types.CodeType:
    if sys.version_info >= (3, 11):
        return code.replace(co_name=name, co_qualname=name)
    return code.replace(co_name=name)


def _compile_target(check: Source) -> types.CodeType | None:
    """For ``outcome == X`` (or ``X == outcome``), the code of X: the number the
    outcome should have been, so a check still yields a lost-update bound."""
    tree = check.parse("eval")
    body = tree.body  # type: ignore[attr-defined]
    if isinstance(body, ast.Compare) and len(body.ops) == 1 and isinstance(body.ops[0], ast.Eq):
        left, right = body.left, body.comparators[0]
        other = right if _is_outcome(left) else left if _is_outcome(right) else None
        if other is not None:
            return compile(ast.Expression(other), check.path, "eval", dont_inherit=True)
    return None


def _is_outcome(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "outcome"


def _compile(source: Source, mode: str) -> types.CodeType:
    return compile(source.parse(mode), source.path, mode, dont_inherit=True)  # type: ignore[arg-type]


def same_outcome(observed: Any, expected: Any) -> bool:
    """Equality as a case author means it: YAML lists match tuples, 1 matches 1.0."""
    try:
        if bool(observed == expected):
            return True
    except Exception:  # noqa: BLE001 - an __eq__ that cannot answer is a mismatch
        return False
    if isinstance(observed, (list, tuple)) and isinstance(expected, (list, tuple)):
        return len(observed) == len(expected) and all(same_outcome(o, e) for o, e in zip(observed, expected))
    if isinstance(observed, dict) and isinstance(expected, dict):
        return observed.keys() == expected.keys() and all(same_outcome(observed[k], expected[k]) for k in observed)
    if isinstance(observed, (set, frozenset)) and isinstance(expected, list):
        return observed == set(_hashable(e) for e in expected)
    return False


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def outcome_repr(value: Any) -> str:
    """The histogram key of an outcome: ``repr``, and ``a=1, b=2`` for named outcomes."""
    if isinstance(value, str) and value.startswith("error: "):
        return value
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return ", ".join(f"{k}={_safe_repr(v)}" for k, v in value.items())
    return _safe_repr(value)


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001
        text = f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
    return text if len(text) <= 200 else text[:197] + "..."


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def error_outcome(exc: BaseException) -> str:
    """``error: TypeName: message``, the outcome of a trial in which a thread raised."""
    message = str(exc)
    return f"error: {type(exc).__name__}: {message}" if message else f"error: {type(exc).__name__}"


def _case_error(index: int, seed: int, where: str, exc: BaseException) -> Trial:
    message = error_outcome(exc).replace("error: ", f"error in {where}: ", 1)
    return Trial(index, seed, Status.ERROR, message, detail=_format_exception(exc, where))


def _format_exception(exc: BaseException, where: str) -> str:
    """The traceback, without racekit's own frames (students see only their code)."""
    tb = exc.__traceback__
    frames = [f for f in traceback.extract_tb(tb) if not _is_racekit_frame(f.filename)]
    lines = [f"in {where}:\n"] + traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()


def _stacks(threads: list[threading.Thread], timeout: float) -> str:
    frames = sys._current_frames()
    parts = [f"still running after the {timeout:g} s timeout:"]
    for t in threads:
        frame = frames.get(t.ident or -1)
        if frame is None:
            continue
        stack = [f for f in traceback.extract_stack(frame) if not _is_racekit_frame(f.filename)]
        parts.append(f'Thread "{t.name}":\n' + "".join(traceback.format_list(stack)).rstrip())
    return "\n".join(parts)


_RACEKIT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_THREADING_FILE = os.path.abspath(threading.__file__)


def _is_racekit_frame(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(_RACEKIT_DIR + os.sep) or path == _THREADING_FILE


class _Tail(io.TextIOBase):
    """Where a trial's prints go: keeps only the last characters, thread-safely."""

    def __init__(self) -> None:
        self._chunks: list[str] = []
        self._size = 0
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._chunks.append(text)
            self._size += len(text)
            if self._size > 4 * OUTPUT_TAIL:
                joined = "".join(self._chunks)[-OUTPUT_TAIL:]
                self._chunks, self._size = [joined], len(joined)
        return len(text)

    def tail(self) -> str:
        return "".join(self._chunks)[-OUTPUT_TAIL:]
