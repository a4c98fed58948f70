"""One trial on real threads, whatever built it: the machinery every program shares.

A program (a YAML case compiled by :mod:`racekit.runtime.programs.threads`, or a case
written in Python, :mod:`racekit.runtime.programs.python`) only has to *prepare* a
trial: the callables its threads run, how to read the outcome, how to judge
it. Running them is the same for both: threads released together by a
barrier, switch points forced, a deadline, errors and stacks collected, the
outcome judged, prints captured, interpreter state restored.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from racekit.case.model import Variant
from racekit.records import Replay, SeededTrial, SerialBaseline, Status, Tape, Trial, TrialPlan
from racekit.runtime import clock, import_hook, modes, peek
from racekit.runtime.controlled.state import ControlledState
from racekit.runtime.forcing import Forcing
from racekit.runtime.judging import OUTPUT_TAIL, CaseFailure, Prepared, _stacks, case_error, format_exception, judged

class Program:
    """A variant ready to run trials in this process."""

    def __init__(self, variant: Variant, forcing: Forcing):
        self.variant = variant
        self.forcing = forcing
        self.controlled = ControlledState()  # what its controlled trials learn across trials
        self._module_verdicts: dict[tuple[str, str], bool] = {}  # import_hook: which loaded modules are in scope

    @property
    def mode(self) -> modes.Mode:
        """The mode its trials run under."""
        return modes.mode(self.forcing.spec.name)

    def prepare(self, seed: int, modules: dict[str, Any] | None = None) -> Prepared:
        """Build one trial's shared state; raise CaseFailure if the case fails.

        ``modules`` replaces ``threading``/``queue``/``time`` for the case
        (controlled mode's scheduler-aware stand-ins)."""
        raise NotImplementedError

    def run_plan(self, plan: TrialPlan) -> Trial:
        """One plan a worker was sent, by its type (a whole :class:`Search` is the
        worker's own loop, not one trial). Only thread and process programs know
        serial baselines, and only thread programs tapes: the engine plans them
        for those alone."""
        match plan:
            case SerialBaseline():
                return self.run(plan.index, plan.seed, serial=True)  # type: ignore[call-arg]
            case Tape():
                return self.run(plan.index, plan.seed, plan.schedule, tape=plan.then)  # type: ignore[call-arg]
            case Replay():
                return self.run(plan.index, plan.seed, plan.schedule)
            case SeededTrial():
                return self.run(plan.index, plan.seed)
        raise TypeError(f"not a plan for one trial: {plan!r}")

    def run(self, index: int, seed: int, schedule: str | None = None, serial: bool = False,
            tape: str = "") -> Trial:
        """One trial: prepared afresh, all threads released together, joined, judged.

        In controlled mode ``schedule`` replays a recorded interleaving, and
        ``serial`` runs the threads one after another (order number ``index``);
        ``tape`` is lecture's and play's (controlled only: TrialPlan.tape)."""
        started = time.perf_counter()
        with self.isolated() as out:
            if tape:
                from racekit.runtime.controlled.run import run_controlled

                trial = run_controlled(self, index, seed, schedule, tape=tape)
            else:
                trial = self.mode.run_trial(self, index, seed, schedule, serial)
        trial.duration = time.perf_counter() - started
        if self.forcing.notes:
            trial.warnings = [*trial.warnings, *sorted(self.forcing.notes)]
            self.forcing.notes.clear()
        # print() in case code is shown, never lost (the report decides where); a
        # controlled execution captured its own (racekit.runtime.controlled.run).
        trial.output = trial.output or out.tail()
        return trial

    @contextmanager
    def isolated(self) -> Iterator[_Tail]:
        """One execution of the case: what it prints is kept (and yielded), and
        the modules it imported from its own folder are forgotten afterwards."""
        modules_before = set(sys.modules)
        out = _Tail()
        real_stdout, real_stderr = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        case_file = self.variant.target.path if self.variant.target is not None else self.variant.path
        session = (import_hook.Session(self.forcing.scope.covers_file, self.variant.instrument,
                                       os.path.dirname(os.path.abspath(case_file)), self._module_verdicts,
                                       import_hook.module_set((self.forcing.scope.key, self.variant.instrument)))
                   if self.forcing.spec.instrumented else contextlib.nullcontext())
        try:
            with session:  # instrumented modes: the user's modules imported rewritten
                yield out
        finally:
            sys.stdout, sys.stderr = real_stdout, real_stderr
            self._forget_case_modules(modules_before)
            peek.forget_classes()  # the classes this execution defined, and what they hold

    def run_threads(self, index: int, seed: int, hooks: Callable[[dict[str, Any]], Any] | None = None) -> Trial:
        """One trial on real threads; ``hooks(namespace)`` makes the object the
        rewritten case code calls at its shared accesses (yield mode)."""
        if hooks is not None:
            hooks = hooks({})
            session = import_hook.active()
            if session is not None:
                session.use(hooks.bound_to, {})  # the user's modules log into the same hooks
        try:
            prepared = self.prepare(seed)
        except CaseFailure as failure:
            return case_error(index, seed, failure.where, failure.error)
        if not prepared.threads:
            return case_error(index, seed, "setup", ValueError("the case starts no threads"))
        errors: list[tuple[float, BaseException, str]] = []
        barrier = threading.Barrier(len(prepared.threads))
        forcing = self.forcing
        problems: list[dict[str, Any]] = []
        if hooks is not None:
            if prepared.namespace is not None:
                hooks.ns = prepared.namespace
                prepared.namespace["__racekit__"] = hooks
            hooks.labels.learn(prepared.names or prepared.namespace or {})

        def body(function: Callable[[], Any], name: str, thread_index: int) -> None:
            with forcing.thread(problems):
                try:
                    if hooks is not None:
                        hooks.register(thread_index)
                    barrier.wait()
                    function()
                except BaseException as exc:  # noqa: BLE001 - anything the case raises is a result
                    errors.append((time.perf_counter(), exc, format_exception(exc, name)))

        threads = [threading.Thread(target=body, args=(fn, name, i), name=name, daemon=True)
                   for i, (name, fn) in enumerate(prepared.threads)]
        deadline = clock.now() + self.variant.timeout  # time the trial could run: pauses do not count
        with forcing.trial(problems):
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive() and clock.now() < deadline:
                    t.join(min(0.25, max(0.0, deadline - clock.now())))
        hung = [t for t in threads if t.is_alive()]
        if hung:
            return Trial(index, seed, Status.DEADLOCK, "deadlock", detail=_stacks(hung, self.variant.timeout))
        if problems and any(isinstance(e[1], RecursionError) for e in errors):
            problems = []  # the RecursionError took the tracer with it: the error is the finding
        if problems:
            # Self-check: a forcing mode that was switched off during the
            # trial proves nothing, whatever the outcome; say so loudly.
            return Trial(index, seed, Status.ERROR, "error: forcing was switched off during the trial",
                         why={"kind": "forcing_off", "problems": problems})
        trial = judged(index, seed, prepared, errors, self.variant.timeout)
        if hooks is not None:
            from racekit.analysis.accesses import count_lost, lost_updates

            losses = lost_updates(hooks.log)
            trial.lost = count_lost(losses)
            trial.lost_at = sorted({lost.write.what for lost in losses})
        return trial

    def _forget_case_modules(self, before: set[str]) -> None:
        """Python modules the case imported from its own folder (or project)
        start fresh in the next trial: no state leaks between trials."""
        for name in set(sys.modules) - before:
            module = sys.modules.get(name)
            file = getattr(module, "__file__", None)
            if file and file.endswith(".py") and self.forcing.scope.covers_file(file):
                del sys.modules[name]


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
