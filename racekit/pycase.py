"""Cases written in Python, against the user's own code.

    import racekit

    @racekit.race_test(expect=0, runs=300)
    def test_account_is_thread_safe(race):
        account = Account()                       # fresh shared state, every trial
        race.thread(account.deposit, 1, repeat=1000)
        race.thread(account.withdraw, 1, repeat=1000)
        race.outcome(lambda: account.balance)

The decorated function is called once per trial, in a racekit worker process,
to build that trial: whatever it creates is the trial's shared state, each
``race.thread`` is one thread, ``race.outcome`` is read after they all ended.
The trials then run exactly like a YAML case's (same modes, forcing reaching
the user's code, reports, verdicts). Under pytest the racekit plugin supplies
the session's options (``--racekit-runs`` …); called directly, the test runs
with the decorator's own settings.
"""

from __future__ import annotations

import inspect
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from racekit.errors import UsageError

_SPEC = "__racekit_case__"


@dataclass(frozen=True)
class AnyOf:
    """``expect=racekit.any_of(0, 1)``: any of these outcomes is correct."""

    values: tuple[Any, ...]


def any_of(*values: Any) -> AnyOf:
    if not values:
        raise UsageError("any_of() needs at least one value")
    return AnyOf(tuple(values))


@dataclass
class Race:
    """What a case function describes for one trial: its threads and its outcome."""

    threads: list[tuple[str, Callable[[], Any]]] = field(default_factory=list)
    outcome_reader: Callable[[], Any] | None = None

    def thread(self, target: Callable[..., Any], *args: Any, name: str | None = None, count: int = 1,
               repeat: int = 1, **kwargs: Any) -> None:
        """Start ``target(*args, **kwargs)`` in a thread (``count`` copies), calling it ``repeat`` times."""
        if not callable(target):
            raise UsageError(f"race.thread() needs something to call, got {target!r} (type={type(target).__name__})")
        for what, value in (("count", count), ("repeat", repeat)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UsageError(f"race.thread() expects {what} >= 1, got {what}={value!r} (type={type(value).__name__})")
        base = name or getattr(target, "__name__", "thread")
        if base == "<lambda>":
            base = "thread"
        for copy in range(count):
            label = self._unique(base if count == 1 else f"{base}-{copy + 1}")
            self.threads.append((label, _repeated(target, args, kwargs, repeat)))

    def outcome(self, reader: Callable[[], Any] | None = None, **named: Callable[[], Any]) -> None:
        """How to read the result once every thread ended: a callable, or named callables."""
        if reader is not None and named:
            raise UsageError("race.outcome() takes one callable or named callables, not both")
        if named:
            self.outcome_reader = lambda: {key: read() for key, read in named.items()}
        elif callable(reader):
            self.outcome_reader = reader
        else:
            raise UsageError(f"race.outcome() needs a callable, got {reader!r} (type={type(reader).__name__})")

    def _unique(self, label: str) -> str:
        taken = {name for name, _ in self.threads}
        if label not in taken:
            return label
        number = 2
        while f"{label}-{number}" in taken:
            number += 1
        return f"{label}-{number}"


def _repeated(target: Callable[..., Any], args: tuple, kwargs: dict, repeat: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(repeat):
            target(*args, **kwargs)

    run.racekit_target = target  # type: ignore[attr-defined]  # what the thread runs, for the report
    return run


@dataclass(frozen=True)
class CaseSpec:
    """The decorator's settings, found again by worker processes on import."""

    builder: Callable[[Race], Any]
    expect: Any
    runs: int
    racy: bool
    timeout: float
    title: str
    mode: str | None = None
    instrument: tuple[str, ...] = ()

    def judge(self, outcome: Any) -> int | bool:
        from racekit.runtime.judging import judge_against

        if isinstance(self.expect, AnyOf):
            return judge_against(self.expect.values, outcome)
        if callable(self.expect):
            return bool(self.expect(outcome))
        return judge_against((self.expect,), outcome)


def race_test(*, expect: Any, runs: int = 100, racy: bool = False, timeout: float = 10.0,
              title: str | None = None, mode: str | None = None,
              instrument: tuple[str, ...] | list[str] = ()) -> Callable[[Callable[[Race], Any]], Callable[[], None]]:
    """Turn ``def test_x(race): ...`` into a racekit case that pytest runs as a test.

    ``expect``: the correct outcome (compared with ``==``), ``racekit.any_of(...)``,
    or a callable ``outcome -> bool``. ``racy=True`` marks a demonstration: the
    test passes when a failure is observed. ``mode``: the scheduler when the
    command line names none (default ``auto``). ``instrument``: more modules or
    packages, by name, whose code ``controlled`` and ``yield`` rewrite (the
    test's folder and the project always are).
    """
    from racekit.options import MODES

    if mode is not None and mode not in MODES:
        raise UsageError(f"race_test() got mode={mode!r}; choose from {', '.join(MODES)}")
    if isinstance(instrument, str) or not all(isinstance(n, str) and n for n in instrument):
        raise UsageError(f"race_test() expects instrument= a list of module names, got {instrument!r}")
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise UsageError(f"race_test() expects runs >= 1, got runs={runs!r} (type={type(runs).__name__})")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise UsageError(f"race_test() expects timeout > 0 seconds, got timeout={timeout!r} (type={type(timeout).__name__})")

    def decorate(builder: Callable[[Race], Any]) -> Callable[[], None]:
        parameters = list(inspect.signature(builder).parameters)
        if len(parameters) != 1:
            raise UsageError(f"@race_test function {builder.__qualname__} must take exactly one parameter "
                             f"(the race), got {len(parameters)}")
        doc = (builder.__doc__ or "").strip().splitlines()
        spec = CaseSpec(builder, expect, int(runs), racy, float(timeout), title or (doc[0] if doc else builder.__name__),
                        mode, tuple(instrument))

        def test() -> None:
            result = run_python_case(test)
            if not result.ok:
                raise AssertionError(failure_text(result))

        # Not functools.wraps: pytest would follow __wrapped__ and look for a
        # fixture named after the builder's parameter.
        test.__name__, test.__qualname__ = builder.__name__, builder.__qualname__
        test.__module__, test.__doc__ = builder.__module__, builder.__doc__
        setattr(test, _SPEC, spec)
        return test

    return decorate


def spec_of(function: Any) -> CaseSpec | None:
    return getattr(function, _SPEC, None)


def python_case(test: Callable[[], None]) -> Any:
    """The :class:`~racekit.case.model.Case` of a decorated function."""
    from racekit.case.model import Case, Expectation, PythonTarget, Variant

    spec = spec_of(test)
    if spec is None:
        raise UsageError(f"{test!r} is not a @racekit.race_test function")
    module = sys.modules.get(test.__module__)
    path = os.path.abspath(getattr(module, "__file__", "") or "<unknown>")
    if "<locals>" in test.__qualname__:
        raise UsageError(f"@race_test function {test.__qualname__} must be defined at module level, so that worker "
                         "processes can import it")
    if isinstance(spec.expect, AnyOf):
        expectation = Expectation("any_of", spec.expect.values)
    elif callable(spec.expect):
        expectation = Expectation("check", label=getattr(spec.expect, "__name__", repr(spec.expect)))
    else:
        expectation = Expectation("value", (spec.expect,))
    target = PythonTarget(path, test.__module__, test.__qualname__, tuple(p for p in sys.path if p))
    variant = Variant(
        case=test.__name__, name="default", path=_shown(path), kind="python", params={}, setup=None,
        threads=(), outcome=None, expect=expectation, timeout=spec.timeout, runs=spec.runs, racy=spec.racy,
        title=spec.title, target=target, modes=(spec.mode,) if spec.mode else (), instrument=spec.instrument,
    )
    return Case(name=test.__name__, path=_shown(path), kind="python", title=spec.title, description="",
                variants=(variant,))


def cases_in_file(path: str, only: str | None = None) -> list[Any]:
    """The ``@race_test`` cases of a Python file (``only``: the one of that name),
    imported as pytest's default import mode would: the first folder above the
    file that is not a package goes on ``sys.path``, the module takes its dotted
    name, so worker processes import it the same way."""
    import importlib
    import traceback

    from racekit.errors import CaseError, Problem

    file = os.path.abspath(path)
    folder, name = os.path.split(file)
    parts = [name[:-3]]
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder, package = os.path.split(folder)
        parts.insert(0, package)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # the project's own packages, as `python -m pytest` finds them
    module_name = ".".join(parts)
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:  # noqa: BLE001 - the user's module failed to import: said, exit 2
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) == file]
        line = getattr(exc, "lineno", None) or (frames[-1].lineno if frames else 1)
        raise CaseError([Problem(path, line or 1, getattr(exc, "offset", None) or 1,
                                 f"cannot import it: {type(exc).__name__}: {exc}")]) from None
    if os.path.abspath(getattr(module, "__file__", "") or "") != file:
        raise CaseError([Problem(path, 1, 1, f"importing it as {module_name!r} found another module "
                                             f"({getattr(module, '__file__', '?')})")])
    tests = [value for key, value in vars(module).items() if spec_of(value) is not None
             and getattr(value, "__module__", None) == module_name and (only is None or key == only)]
    if not tests:
        what = f"no @racekit.race_test function named {only!r}" if only else "no @racekit.race_test functions"
        raise CaseError([Problem(path, 1, 1, f"{what} in this file")])
    return [python_case(test) for test in tests]


def run_python_case(test: Callable[[], None], options: Any = None) -> Any:
    """Run a decorated function's trials; returns its VariantResult."""
    from racekit.engine import RunOptions, run

    result = run([python_case(test)], options or RunOptions())
    return result.variants[0]


def failure_text(result: Any) -> str:
    from io import StringIO

    from rich.console import Console

    from racekit.report.terminal import TerminalReport

    buffer = StringIO()
    TerminalReport(Console(file=buffer, width=100, no_color=True, highlight=False)).variant(result, show_mode=True)
    return buffer.getvalue().rstrip()


def _shown(path: str) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative
