"""Controlled trials: one interleaving chosen by a strategy, run, logged and explained.

:func:`run_controlled` runs one trial under the :class:`Controller`; the first
failing trial of a variant is then *shrunk* (:func:`shrink`) to a schedule
with as few preemptions as a short search can find, and explained: a trace
of the operations around the failure, and the facts (who read, who wrote,
which update was lost) that a report turns into sentences.
"""

from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from racekit.analysis.accesses import count_lost, data_races, lock_order, lost_updates
from racekit.runtime import shims
from racekit.runtime.controlled import (
    Abort,
    Controller,
    Op,
    PCTStrategy,
    RandomStrategy,
    ReplayStrategy,
    Strategy,
    decode_schedule,
    encode_schedule,
)
from racekit.runtime.hooks import ControlledHooks, Labels
from racekit.runtime.records import Status, Trial
from racekit.runtime.trial import CaseFailure, case_error, format_exception, judged

if TYPE_CHECKING:
    from racekit.runtime.trial import Program

TRACE_CONTEXT = 3  # operations shown before and after the interesting ones
SHRINK_ATTEMPTS = 40  # random placements tried per preemption count


def strategy_for(program: Program, seed: int, schedule: str | None) -> Strategy:
    spec = program.forcing.spec
    if schedule is not None:
        _threads, choices = decode_schedule(schedule)
        return ReplayStrategy(choices)
    if spec.strategy == "pct":
        return PCTStrategy(seed, spec.depth, expected_steps=getattr(program, "expected_steps", 100))
    return RandomStrategy(seed)


def run_controlled(program: Program, index: int, seed: int, schedule: str | None = None,
                   strategy: Strategy | None = None, may_shrink: bool = True) -> Trial:
    """One controlled trial. The program's first failing trial (and any replay)
    is explained: a trace and the facts behind it; a random or PCT failure is
    first shrunk to fewer preemptions when ``may_shrink``."""
    if schedule is not None:
        try:
            declared, _ = decode_schedule(schedule)
        except ValueError as exc:
            return Trial(index, seed, Status.ERROR, "error: not a racekit schedule", detail=str(exc))
    strategy = strategy or strategy_for(program, seed, schedule)
    trial, controller = execute(program, index, seed, strategy)
    if schedule is not None and controller is not None:
        if declared != len(controller.threads):
            return Trial(index, seed, Status.ERROR, "error: the schedule does not fit this case",
                         detail=f"the schedule is for {declared} threads; this case starts {len(controller.threads)}")
        wanted = decode_schedule(schedule)[1]
        if controller.choices != wanted and trial.status is not Status.ERROR:
            return Trial(index, seed, Status.ERROR, "error: the schedule does not fit this case",
                         detail=f"the run made {len(controller.choices)} choices where the schedule has "
                                f"{len(wanted)}: was it recorded with other --param values, or another "
                                "version of the case?")
    failing = not trial.matches or trial.race is not None or trial.status is Status.DEADLOCK
    # Only a variant's first failure of each kind is shrunk and explained (a
    # replay always is): a wrong outcome or deadlock teaches more than a race
    # that happened to end right, so the report prefers it when both occur.
    kind = "race" if trial.matches and trial.status is Status.DONE else "wrong"
    explained: set[str] = program.__dict__.setdefault("explained", set())
    if failing and controller is not None and (kind not in explained or schedule is not None):
        explained.add(kind)
        _explain(trial, controller)
        if schedule is None and may_shrink and controller.preemptions > 1:
            # Shrinking takes more runs; the worker reports the failure first
            # and the smaller schedule after (see finish_shrink).
            program.pending_shrink = (index, seed, trial, controller)  # type: ignore[attr-defined]
            trial.shrinking = True
    return trial


def finish_shrink(program: Program, each_attempt: Callable[[], None] = lambda: None) -> dict[str, Any] | None:
    """Shrink the failure :func:`run_controlled` left pending; the fields that change."""
    pending = program.__dict__.pop("pending_shrink", None)
    if pending is None:
        return None
    index, seed, trial, controller = pending
    smaller = shrink(program, index, seed, trial, controller, each_attempt)
    if smaller is None:
        return None
    return {"schedule": smaller.schedule, "trace": smaller.trace, "story": smaller.story,
            "preemptions": smaller.preemptions, "shrunk_from": controller.preemptions}


def execute(program: Program, index: int, seed: int, strategy: Strategy) -> tuple[Trial, Controller | None]:
    """Run the trial's threads one at a time under ``strategy``; the trial and its controller."""
    controller = Controller(strategy, [])
    try:
        prepared = program.prepare(seed, shims.modules(controller))
    except CaseFailure as failure:
        return case_error(index, seed, failure.where, failure.error), None
    if not prepared.threads:
        return case_error(index, seed, "setup", ValueError("the case starts no threads")), None
    if prepared.namespace is not None:
        prepared.namespace["__racekit__"] = ControlledHooks(prepared.namespace, controller,
                                                            Labels(prepared.namespace))
    controller.set_threads([name for name, _ in prepared.threads])
    errors: list[tuple[float, BaseException, str]] = []

    def catching(function: Callable[[], Any], name: str) -> Callable[[], None]:
        def run() -> None:
            try:
                function()
            except Abort:
                raise
            except BaseException as exc:  # noqa: BLE001 - anything the case raises is a result
                errors.append((time.perf_counter(), exc, format_exception(exc, name)))

        return run

    runners = [threading.Thread(target=_quiet(controller.thread_body(i, catching(fn, name))), name=name, daemon=True)
               for i, (name, fn) in enumerate(prepared.threads)]
    for runner in runners:
        runner.start()
    controller.start()
    timeout = program.variant.timeout
    if not controller.finished.wait(timeout):
        controller.abandon("timeout")
        detail = (f"the trial did not finish within {timeout:g} s: a thread blocked where racekit's scheduler "
                  "cannot see (a real lock, I/O or a sleep in code racekit does not rewrite)")
        return Trial(index, seed, Status.DEADLOCK, "deadlock", detail=detail), None
    for runner in runners + controller.extra_threads:
        runner.join(1.0)
    outcome = controller.outcome()
    names = [t.name for t in controller.threads]
    if outcome.mismatch:
        return Trial(index, seed, Status.ERROR, "error: the schedule does not fit this case",
                     detail=outcome.mismatch), controller
    if outcome.deadlock or outcome.step_limit:
        label = "deadlock" if outcome.deadlock else "livelock"
        detail = outcome.deadlock or f"no end after {controller.step_limit} scheduling steps (a livelock?)"
        trial = Trial(index, seed, Status.DEADLOCK, label, detail=detail)
    else:
        trial = judged(index, seed, prepared, errors)
    losses = lost_updates(outcome.log)
    races = data_races(outcome.log, len(prepared.threads))
    trial.lost = count_lost(losses)
    if races:
        first = races[0]
        trial.race = (f"{names[first.first.thread]} {first.first.kind} {first.first.what} (line {first.first.line}) "
                      f"and {names[first.second.thread]} {first.second.kind} it (line {first.second.line}) "
                      "with nothing ordering them")
    trial.lock_pairs = sorted(lock_order(outcome.log))
    trial.steps = outcome.steps
    trial.preemptions = controller.preemptions
    return trial, controller


def _quiet(body: Callable[[], None]) -> Callable[[], None]:
    """Threads unwound with Abort end silently (threading would print the exception)."""

    def run() -> None:
        try:
            body()
        except Abort:
            pass

    return run


# -- shrinking ---------------------------------------------------------------------


class PreemptAt(Strategy):
    """No preemptions except at the given choice points, where another thread is chosen."""

    def __init__(self, points: set[int], seed: int):
        self.points = points
        self.rng = random.Random(seed)
        self.choice_point = 0

    def choose(self, step: int, enabled: list[int], current: int | None) -> int:
        self.choice_point += 1
        if self.choice_point in self.points:
            others = [t for t in enabled if t != current]
            if others:
                return self.rng.choice(others)
        return current if current in enabled else enabled[0]


def shrink(program: Program, index: int, seed: int, failing: Trial, controller: Controller,
           each_attempt: Callable[[], None] = lambda: None) -> Trial | None:
    """A schedule that fails the same way with fewer preemptions, if a short search finds one.

    Tries 0, 1, 2, … preemptions placed at random choice points (a lost update
    needs one: a thread preempted between its read and its write). Returns the
    explained trial, or None when nothing smaller fails."""
    kind = _failure_kind(failing)
    total_points = max(len(controller.choices), 1)
    best = controller.preemptions
    rng = random.Random(seed ^ 0x5EED)
    for count in range(0, best):
        attempts = 1 if count == 0 else SHRINK_ATTEMPTS
        for _ in range(attempts):
            each_attempt()
            points = set(rng.sample(range(1, total_points + 1), min(count, total_points)))
            trial, ctl = execute(program, index, seed, PreemptAt(points, rng.randrange(1 << 30)))
            if ctl is not None and _failure_kind(trial) == kind and ctl.preemptions < best:
                _explain(trial, ctl)
                return trial
    return None


def _failure_kind(trial: Trial) -> str:
    if trial.status is Status.DEADLOCK:
        return trial.outcome
    if trial.status is not Status.DONE:
        return "error"
    if not trial.matches:
        return "wrong"
    return "race" if trial.race else "fine"


# -- explaining --------------------------------------------------------------------


def _explain(trial: Trial, controller: Controller) -> None:
    """Attach the trace rows around what went wrong, and the facts behind it."""
    log = controller.log
    names = [t.name for t in controller.threads]
    losses = lost_updates(log)
    focus: list[Op] = []
    story: dict[str, Any] | None = None
    lost_steps: set[int] = set()
    stale: set[int] = set()
    if losses:
        lost = losses[0]
        focus = [lost.read, lost.overwritten[0], lost.overwritten[-1], lost.write]
        lost_steps = {id(op) for op in lost.overwritten}
        stale = {id(lost.write)}
        other = lost.overwritten[0]
        story = {"kind": "lost update", "reader": names[lost.read.thread], "what": lost.read.what,
                 "read_value": lost.read.value, "read_line": lost.read.line,
                 "writer": names[other.thread], "written_value": other.value, "write_line": other.line,
                 "overwrites": len(lost.overwritten), "final_value": lost.write.value, "final_line": lost.write.line}
    elif trial.status is Status.DEADLOCK and trial.outcome == "deadlock":
        focus = log[-2 * TRACE_CONTEXT:]
        story = {"kind": "deadlock", "detail": trial.detail}
    else:
        races = data_races(log, len(names))
        if races:
            race = races[0]
            focus = [race.first, race.second]
            story = {"kind": "data race", "first": names[race.first.thread], "first_kind": race.first.kind,
                     "what": race.first.what, "first_line": race.first.line,
                     "second": names[race.second.thread], "second_kind": race.second.kind,
                     "second_line": race.second.line, "right": trial.matches, "outcome": trial.outcome}
        else:
            focus = [op for op in log if op.preempted][:4] or log[-2 * TRACE_CONTEXT:]
            story = {"kind": "wrong outcome", "outcome": trial.outcome, "preemptions": controller.preemptions}
    trial.trace = trace_rows(log, names, focus, lost_steps, stale)
    trial.story = {**(story or {}), "threads": names}
    trial.preemptions = controller.preemptions
    trial.schedule = encode_schedule(controller.choices, len(names))


def trace_rows(log: list[Op], names: list[str], focus: list[Op], marked: set[int],
               stale: set[int] = frozenset()) -> list[dict[str, Any]]:
    """The operations from just before the first focus operation to just after the
    last, one row each; longer stretches in between are summarised."""
    if not log:
        return []
    positions = {id(op): i for i, op in enumerate(log)}
    wanted = sorted({positions[id(op)] for op in focus if id(op) in positions})
    if not wanted:
        wanted = [len(log) - 1]
    keep: set[int] = set()
    for position in wanted:
        keep.update(range(max(0, position - TRACE_CONTEXT), min(len(log), position + TRACE_CONTEXT + 1)))
    keep.update(i for i, op in enumerate(log) if op.preempted and wanted[0] <= i <= wanted[-1])
    rows: list[dict[str, Any]] = []
    previous = -1
    for i in sorted(keep):
        if i > previous + 1:
            skipped = log[previous + 1:i]
            by = sorted({names[op.thread] for op in skipped})
            rows.append({"skipped": len(skipped), "threads": by})
        op = log[i]
        rows.append({"step": i + 1, "thread": names[op.thread], "kind": op.kind, "what": op.what,
                     "value": op.value, "line": op.line, "preempted": op.preempted,
                     "lost": id(op) in marked, "stale": id(op) in stale})
        previous = i
    if previous < len(log) - 1:
        rows.append({"skipped": len(log) - 1 - previous, "threads": sorted({names[op.thread] for op in log[previous + 1:]})})
    return rows
