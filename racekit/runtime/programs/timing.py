"""``kind: timing``: the GIL lesson, measured on this machine, not quoted from a book.

Each named piece of ``work`` (a function body) is timed three ways: run N
times one after another in one thread, once in each of N threads, and once in
each of N processes. A trial's outcome is the two speed-ups per piece of work
(sequential time / parallel time), rounded to tenths so that repeated trials
fall into a few histogram rows; the report shows the median times.

Processes get the work as source text and compile it themselves, so every
start method works.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
import types
from typing import Any

from racekit.case.model import THREAD_FUNCTION, Source, Variant, thread_function
from racekit.options import ModeSpec
from racekit.runtime.forcing import Forcing, Scope
from racekit.records import Note, Status, Trial
from racekit.records import outcome_repr
from racekit.runtime.judging import CaseFailure, case_error
from racekit.runtime.trial import Program


class TimingProgram(Program):
    @classmethod
    def compile(cls, variant: Variant, mode: ModeSpec, roots: tuple[str, ...] = ()) -> TimingProgram:
        # Measures real threads and processes; a mode asked for (mode.ignored) is only noted.
        return cls(variant, Forcing(ModeSpec("native", mode.switch_interval, ignored=mode.ignored), Scope([], [])))

    def run(self, index: int, seed: int, schedule: str | None = None) -> Trial:
        v = self.variant
        started = time.perf_counter()
        timings: dict[str, dict[str, float]] = {}
        for name, source in v.work.items():
            try:
                function = _function(source, v.params, seed)
            except CaseFailure as failure:
                return case_error(index, seed, failure.where, failure.error)
            try:
                function()  # once, untimed: the first call pays for warming up
                timings[name] = {
                    "sequential": _sequential(function, v.workers),
                    "threads": _threads(function, v.workers),
                    "processes": _processes(source, v.params, seed, v.workers, v.timeout),
                }
            except _Hung as hung:
                return Trial(index, seed, Status.DEADLOCK, "deadlock",
                             detail=f"work.{name}: {hung} after the {v.timeout:g} s timeout and were killed")
            except BaseException as exc:  # noqa: BLE001 - anything the work raises is a result
                return case_error(index, seed, f"work.{name}", exc)
        speedup = {name: {how: round(t["sequential"] / max(t[how], 1e-9), 1) for how in ("threads", "processes")}
                   for name, t in timings.items()}
        try:
            matched = self._judge(speedup)
        except BaseException as exc:  # noqa: BLE001 - a check that raises is the case's mistake
            return case_error(index, seed, "expect", exc)
        text = "; ".join(f"{name}: threads {s['threads']:.1f}x, processes {s['processes']:.1f}x"
                         for name, s in speedup.items())
        trial = Trial(index, seed, Status.DONE, text if text else outcome_repr(speedup), matches=matched)
        trial.timing = timings
        trial.duration = time.perf_counter() - started
        if self.forcing.spec.ignored:
            trial.warnings = [Note.of("timing", mode=self.forcing.spec.ignored)]
        return trial

    def _judge(self, speedup: dict[str, dict[str, float]]) -> bool:
        check = self.variant.expect.check
        if check is None:
            return True  # a measurement with no claim attached
        code = compile(check.parse("eval"), check.path, "eval")
        return bool(eval(code, {"outcome": speedup, "speedup": speedup, **self.variant.params}))


def _function(source: Source, params: dict[str, Any], seed: int) -> types.FunctionType:
    module = compile(thread_function(source), source.path, "exec", dont_inherit=True)
    code = next(c for c in module.co_consts if isinstance(c, types.CodeType) and c.co_name == THREAD_FUNCTION)
    namespace: dict[str, Any] = {"__builtins__": __builtins__, "time": time, "threading": threading,
                                 "random": random.Random(seed), **params}
    return types.FunctionType(code, namespace, "work", (0, ""))


def _sequential(function: Any, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        function()
    return time.perf_counter() - started


class _Hung(Exception):
    """Work processes still running at the timeout."""


def _threads(function: Any, n: int) -> float:
    # Timed from the moment all are ready, as the processes are: the work,
    # not the start-up, on both sides.
    ready = threading.Barrier(n + 1)

    def work() -> None:
        ready.wait()
        function()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    ready.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def _processes(source: Source, params: dict[str, Any], seed: int, n: int, timeout: float) -> float:
    context = multiprocessing.get_context()
    ready = context.Barrier(n + 1)
    children = [context.Process(target=_child, args=(source, params, seed, ready)) for _ in range(n)]
    for child in children:
        child.start()
    ready.wait()  # time the work, not the start-up of the processes
    started = time.perf_counter()
    for child in children:
        child.join(max(0.0, started + timeout - time.perf_counter()))
    hung = [c for c in children if c.is_alive()]
    for child in hung:
        child.kill()
        child.join()
    if hung:
        raise _Hung(f"{len(hung)} of {n} work processes were still running")
    elapsed = time.perf_counter() - started
    failed = [c.exitcode for c in children if c.exitcode]
    if failed:
        raise RuntimeError(f"{len(failed)} of {n} work processes failed (exit codes {failed})")
    return elapsed


def _child(source: Source, params: dict[str, Any], seed: int, ready: Any) -> None:
    function = _function(source, params, seed)
    ready.wait()
    function()
