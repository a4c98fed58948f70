"""How one trial ends: its outcome read (with a deadline), judged against the
expectation, and turned into a plain :class:`~racekit.records.Trial`; what
failed, formatted without racekit's own frames. Shared by every way of running
a trial (real threads, the controlled scheduler, processes, scripts).
"""

from __future__ import annotations

import math
import os
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from racekit.records import ADDRESS, ADDRESS_MARK, Note, Status, Trial, outcome_repr

# Exceptions that no interleaving can cause: a bug in the case, not a race.
CASE_BUG_ERRORS = (NameError, SyntaxError, ImportError)
_CASE_BUG_NAMES = {"NameError", "UnboundLocalError", "SyntaxError", "ImportError", "ModuleNotFoundError"}
OUTPUT_TAIL = 2000
MAX_ERRORS_KEPT = 3


class CaseFailure(Exception):
    """The case itself failed while a trial was prepared or judged (``where`` says where)."""

    def __init__(self, where: str, error: BaseException):
        super().__init__(where)
        self.where = where
        self.error = error


@dataclass
class Prepared:
    """A trial ready to start."""

    threads: list[tuple[str, Callable[[], Any]]]  # (thread name, what it runs)
    outcome: Callable[[], Any]
    judge: Callable[[Any], int | bool]  # False, or the index of the matched value, or True
    target: Callable[[], Any] = lambda: None  # the number the outcome should have been
    namespace: dict[str, Any] | None = None  # a YAML case's globals (instrumented modes put their hooks there)
    names: dict[str, Any] | None = None  # what to call the trial's objects in traces (else the namespace's names)


def judged(index: int, seed: int, prepared: Prepared, errors: list[tuple[float, BaseException, str]],
           timeout: float | None = None) -> Trial:
    """The trial record once its threads ended: the first error, or the outcome, judged.

    With ``timeout``, the outcome is read in a thread of its own: an outcome
    that blocks (``q.get()`` on an empty queue, ``recv()`` on a pipe nobody
    closes) is then a deadlock found at the timeout, with its stack."""
    errors.sort(key=lambda e: e[0])
    formatted = [e[2] for e in errors[:MAX_ERRORS_KEPT]]
    fault = next((e for e in errors if racekit_fault(e[1])), None)
    if fault is not None:
        return racekit_failure(index, seed, fault[1], fault[2].split(":", 1)[0].removeprefix("in "))
    if errors:
        first = errors[0][1]
        outcome_value: Any = error_outcome(first)
        case_bug = (isinstance(first, CASE_BUG_ERRORS) or getattr(first, "kind", "") in _CASE_BUG_NAMES
                    or getattr(first, "case_bug", False))
    else:
        case_bug = False
        read = _read_outcome(prepared, timeout)
        if isinstance(read, Trial):
            read.index, read.seed = index, seed
            return read
        if isinstance(read, _Failed):
            return case_error(index, seed, "outcome", read.error)
        outcome_value = read
    try:
        matched = prepared.judge(outcome_value)
    except BaseException as exc:  # noqa: BLE001
        return case_error(index, seed, "expect", exc)
    shown = outcome_repr(outcome_value)
    return Trial(
        index, seed, Status.DONE, shown, matches=matched is not False,
        matched=matched if type(matched) is int else None,
        value=_number(outcome_value), target=_safe_number(prepared.target), errors=formatted,
        case_bug=case_bug and matched is False,
        warnings=[Note.of("addresses")] if ADDRESS_MARK in shown else [],
    )


@dataclass
class _Failed:
    error: BaseException


def _read_outcome(prepared: Prepared, timeout: float | None) -> Any:
    if timeout is None:
        try:
            return prepared.outcome()
        except BaseException as exc:  # noqa: BLE001
            return _Failed(exc)
    box: list[Any] = []

    def read() -> None:
        try:
            box.append(prepared.outcome())
        except BaseException as exc:  # noqa: BLE001
            box.append(_Failed(exc))

    reader = threading.Thread(target=read, name="outcome", daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        detail = _stacks([reader], timeout).replace("still running after", "the outcome was still being read after", 1)
        return Trial(0, 0, Status.DEADLOCK, "deadlock", detail=detail)
    return box[0]


def judge_against(values: tuple[Any, ...], outcome: Any) -> int | bool:
    """The index of the first expected value the outcome equals, or False."""
    for index, expected in enumerate(values):
        if same_outcome(outcome, expected):
            return index
    return False


def _safe_number(target: Callable[[], Any]) -> float | None:
    try:
        return _number(target())
    except Exception:  # noqa: BLE001 - only a bonus figure; the expectation decides
        return None


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


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def error_outcome(exc: BaseException) -> str:
    """``error: TypeName: message``, the outcome of a trial in which a thread raised.

    An exception reported from a child process keeps the child's type name
    (its ``kind``)."""
    try:
        message = ADDRESS.sub(ADDRESS_MARK, str(exc))
    except Exception:  # noqa: BLE001 - an exception whose str() raises
        message = "<unprintable message>"
    if len(message) > 200:
        message = message[:197] + "..."
    name = getattr(exc, "kind", None)
    if name == "":
        return f"error: {message}"
    name = name or type(exc).__name__
    return f"error: {name}: {message}" if message else f"error: {name}"


def case_error(index: int, seed: int, where: str, exc: BaseException) -> Trial:
    if isinstance(exc, CaseFailure):
        where, exc = exc.where, exc.error
    if racekit_fault(exc):
        return racekit_failure(index, seed, exc, where)
    message = error_outcome(exc).replace("error: ", f"error in {where}: ", 1)
    return Trial(index, seed, Status.ERROR, message, detail=format_exception(exc, where))


# The outcome of a trial racekit itself failed to run: never the program's result.
RACEKIT_FAILED = "error: racekit failed"


def yours(exc: BaseException) -> BaseException:
    """Note an exception racekit raises on the program's behalf, as the standard
    library would (``release unlocked lock``, ``queue.Empty``): the program's,
    not racekit's. Noted beside it, not on it: the exception stays as the
    program would have it (no attribute of racekit's in ``vars(exc)``)."""
    if len(_YOURS) > 10_000:
        _YOURS.clear()
    _YOURS[id(exc)] = _signature(exc)  # (not the exception itself: nothing of the program's is kept alive)
    return exc


def _signature(exc: BaseException) -> tuple[type, tuple]:
    return type(exc), tuple(id(a) for a in exc.args)


def forget_yours() -> None:
    """An execution ended: its exceptions are no longer asked about."""
    _YOURS.clear()


_YOURS: dict[int, tuple[type, tuple]] = {}


def racekit_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is racekit's own failure: raised in racekit's code (its
    innermost frame is racekit's), and not on the program's behalf (:func:`yours`)."""
    if _YOURS.get(id(exc)) == _signature(exc) or type(exc).__name__ == "Abort":
        return False
    if isinstance(exc, (RecursionError, MemoryError)):
        return False  # the program's recursion or memory ran out, wherever the last frame was
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return _is_racekit_code(tb.tb_frame.f_code.co_filename)


def racekit_failure(index: int, seed: int, exc: BaseException, where: str) -> Trial:
    """A trial racekit could not run because of a fault of its own: the whole
    traceback (racekit's frames too), for the bug report."""
    frames = traceback.extract_tb(exc.__traceback__)
    inner = next((f for f in reversed(frames) if _is_racekit_code(f.filename)), frames[-1] if frames else None)
    place = f"{os.path.relpath(inner.filename, os.path.dirname(_RACEKIT_DIR))}:{inner.lineno}" if inner else "?"
    error = error_outcome(exc).removeprefix("error: ")
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    return Trial(index, seed, Status.ERROR, f"{RACEKIT_FAILED}: {error}", detail=detail,
                 why={"kind": "racekit_fault", "error": error, "where": place, "during": where})


def _is_racekit_code(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(_RACEKIT_DIR + os.sep) and not path.endswith(os.sep + "_case.py")


def error_line(exc: BaseException) -> str:
    """``IndexError: pop from empty list``, as a traceback's last line says it."""
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def format_exception(exc: BaseException, where: str) -> str:
    """The traceback, without racekit's own frames (students see only their code)."""
    tb = exc.__traceback__
    frames = [f for f in traceback.extract_tb(tb) if not _is_racekit_frame(f.filename)]
    # "{where}:" (a thread, setup), not "in …": the text is shown as it is in every language.
    lines = [f"{where}:\n"] + traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
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


