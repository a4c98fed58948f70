"""Controlled trials: one interleaving chosen by a strategy, run, logged and explained.

:func:`run_controlled` runs one trial under the :class:`Controller`; the first
failing trial of a variant is then *shrunk* (:func:`shrink`) to a schedule
with as few preemptions as a short search can find, and explained: a trace
of the operations around the failure, and the facts (who read, who wrote,
which update was lost) that a report turns into sentences.
"""

from __future__ import annotations

import random
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable

from racekit.analysis.accesses import count_lost, data_races, lock_order, lost_updates
from racekit.runtime import shims
from racekit.runtime import clock
from racekit.runtime import controlled as _controlled
from racekit.runtime.controlled import (
    DEFAULT_STEP_LIMIT,
    Abort,
    Controller,
    Op,
    PCTStrategy,
    RandomStrategy,
    ReplayStrategy,
    SerialStrategy,
    Strategy,
    decode_schedule,
    encode_schedule,
    serial_orders,
)
from racekit.runtime.hooks import ControlledHooks, Labels
from racekit.records import Status, Trial
from racekit.runtime.judging import CaseFailure, case_error, format_exception, judged

if TYPE_CHECKING:
    from racekit.runtime.trial import Program

_CONTROLLED_FILE = _controlled.__file__
TRACE_CONTEXT = 3  # operations shown before and after the interesting ones
SHRINK_ATTEMPTS = 40  # random placements tried per preemption count
MAX_REVERSALS = 24  # race reversals a program tries (each one more run), per kind of race at most 3
BLOCKED_AFTER = 0.3  # seconds the running thread may sleep outside the scheduler before racekit says so
POLL = 0.05
BUDGET_FACTOR = 20  # a trial's step budget: this many times its serial run's steps, at least the default
UNLIMITED = 10**12


def strategy_for(program: Program, seed: int, schedule: str | None, serial: bool = False,
                 index: int = 0) -> Strategy:
    spec = program.forcing.spec
    if schedule is not None:
        _threads, choices = decode_schedule(schedule)
        return ReplayStrategy(choices)
    if serial:
        threads = len(program.threads) if hasattr(program, "threads") else 1
        orders = serial_orders(threads)
        return SerialStrategy(orders[index % len(orders)])
    if spec.strategy == "pct":
        return PCTStrategy(seed, spec.depth, expected_steps=_run_length(program, seed))
    return RandomStrategy(seed)


def _run_length(program: Program, seed: int) -> int:
    """How many steps a run of this program takes, for PCT's change points: learnt
    from a serial run first, then from every trial (the longest seen)."""
    known = program.__dict__.get("run_length")
    if known is None:
        trial, _ = execute(program, -1, seed, SerialStrategy([]), step_limit=UNLIMITED)
        known = program.__dict__["run_length"] = max(trial.steps or 1, 1)
    return known


def step_budget(program: Program) -> int:
    """Scheduling steps a trial may take: the mode's, else the default raised to
    fit the case (BUDGET_FACTOR times its serial run), so that a long correct
    case is never cut short; a run that still overruns it is inconclusive."""
    spec = program.forcing.spec
    if spec.step_limit:
        return spec.step_limit
    return max(DEFAULT_STEP_LIMIT, BUDGET_FACTOR * (program.__dict__.get("run_length") or 0))


def run_controlled(program: Program, index: int, seed: int, schedule: str | None = None,
                   strategy: Strategy | None = None, may_shrink: bool = True, serial: bool = False) -> Trial:
    """One controlled trial. The program's first failing trial (and any replay)
    is explained: a trace and the facts behind it; a random or PCT failure is
    first shrunk to fewer preemptions when ``may_shrink``. A trial that ends
    right with a data race is run once more with the racing pair reversed
    (when ``may_shrink``: not within an exhaustive search, which runs every
    order anyway): a wrong end is the witness that makes the race real."""
    if schedule is not None:
        try:
            declared, _ = decode_schedule(schedule)
        except ValueError as exc:
            return Trial(index, seed, Status.ERROR, "error: not a racekit schedule", detail=str(exc))
    strategy = strategy or strategy_for(program, seed, schedule, serial, index)
    if not serial:
        _run_length(program, seed)  # measured once: the step budget fits the case
    trial, controller = execute(program, index, seed, strategy, step_limit=UNLIMITED if serial else None)
    if serial and controller is not None and not controller.gave_way:
        # Truly one after another: no thread had to wait for another one.
        trial.serial_order = [controller.threads[t].name for t in strategy.order]  # type: ignore[attr-defined]
    if controller is not None and trial.steps:
        known = program.__dict__.get("run_length") or 0
        program.__dict__["run_length"] = max(known, trial.steps)
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
    explained: set[str] = program.__dict__.setdefault("explained", set())
    reversed_run = None
    if (controller is not None and may_shrink and schedule is None and not serial and trial.race is not None
            and trial.matches and trial.status is Status.DONE):
        reversed_run = _reverse_race(program, index, seed, controller)
        if reversed_run == "harmless":
            trial.race_harmless, reversed_run = True, None
    if isinstance(reversed_run, tuple):
        witness, witness_controller = reversed_run
        trial.witness, trial.witness_outcome = encode_schedule(witness_controller.choices,
                                                               len(witness_controller.threads)), witness.outcome
        if "witness" not in explained:
            explained.add("witness")
            _explain(witness, witness_controller, reversed_from=controller)
            for name in ("trace", "story", "schedule", "preemptions"):
                setattr(trial, name, getattr(witness, name))
        return trial
    failing = not trial.matches or trial.status is Status.DEADLOCK or (
        trial.race is not None and trial.status is Status.DONE)
    # Only a variant's first failure of each kind is shrunk and explained (a
    # replay always is): a wrong outcome or deadlock teaches more than a race
    # that did no harm, so the report prefers it when both occur.
    kind = "race" if trial.matches and trial.status is Status.DONE else "wrong"
    if trial.status is Status.INCONCLUSIVE:
        failing = False
    if failing and controller is not None and (kind not in explained or schedule is not None):
        explained.add(kind)
        _explain(trial, controller)
        if trial.story and trial.story.get("kind") == "data race":
            trial.story["reversal"] = "harmless" if trial.race_harmless else "untried"
        if schedule is None and may_shrink and controller.preemptions > 1:
            # Shrinking takes more runs; the worker reports the failure first
            # and the smaller schedule after (see finish_shrink).
            program.pending_shrink = (index, seed, trial, controller)  # type: ignore[attr-defined]
            trial.shrinking = True
    return trial


class ReverseRace(Strategy):
    """The recorded choices up to choice ``at``; from there the thread that made
    the second access of a racing pair runs until it has made it (so it comes
    before the first), then no more preemptions."""

    def __init__(self, choices: list[int], at: int, runner: int, target_ops: int):
        self.choices, self.at, self.runner, self.target = choices, at, runner, target_ops
        self.position = 0
        self.controller: Controller | None = None
        self.reached = False  # the runner made the access before the other thread made its own

    def bind(self, controller: Controller) -> None:
        self.controller = controller

    def choose(self, step: int, enabled: list[int], current: int | None) -> int:
        position, self.position = self.position, self.position + 1
        if position < self.at:
            wanted = self.choices[position]
            return wanted if wanted in enabled else current if current in enabled else enabled[0]
        assert self.controller is not None
        if self.controller.threads[self.runner].ops < self.target:
            if self.runner in enabled:
                return self.runner
        else:
            self.reached = True
        return current if current in enabled else enabled[0]


def _reverse_race(program: Program, index: int, seed: int,
                  controller: Controller) -> tuple[Trial, Controller] | str | None:
    """Race reversal: run the trial again with its first data race's two accesses
    in the other order. The wrong run it may end in is the witness; "harmless"
    when it ended right too; None when no reversal was tried (the budget of
    reversals is spent, or the other thread could not have moved first)."""
    races = getattr(controller, "races", [])
    if not races:
        return None
    race = races[0]
    tried: dict[tuple, int] = program.__dict__.setdefault("reversals", {})
    key = (race.first.line, race.second.line, race.first.kind, race.second.kind)
    if sum(tried.values()) >= MAX_REVERSALS or tried.get(key, 0) >= 3:
        return None
    tried[key] = tried.get(key, 0) + 1
    runner = race.second.thread
    at = next((k for k in range(min(race.first.choice, len(controller.enabled_at)) - 1, -1, -1)
               if runner in controller.enabled_at[k]), None)
    if at is None:
        return None
    strategy = ReverseRace(controller.choices, at, runner, race.second.nth)
    trial, reversed_controller = execute(program, index, seed, strategy)
    if reversed_controller is None or trial.status is Status.INCONCLUSIVE:
        return None
    if trial.matches and trial.status is Status.DONE:
        return "harmless"
    return trial, reversed_controller


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


def execute(program: Program, index: int, seed: int, strategy: Strategy,
            step_limit: int | None = None) -> tuple[Trial, Controller | None]:
    """Run the trial's threads one at a time under ``strategy``; the trial and its controller."""
    controller = Controller(strategy, [], step_limit=step_limit or step_budget(program))
    try:
        prepared = program.prepare(seed, shims.modules(controller))
    except CaseFailure as failure:
        return case_error(index, seed, failure.where, failure.error), None
    if not prepared.threads:
        return case_error(index, seed, "setup", ValueError("the case starts no threads")), None
    hooks = None
    if prepared.namespace is not None:
        hooks = ControlledHooks(prepared.namespace, controller, Labels(prepared.namespace),
                                frozenset({program.variant.path}))
        prepared.namespace["__racekit__"] = hooks
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
    stuck = _wait(controller, runners, program.variant.timeout)
    if stuck is not None:
        controller.abandon("stuck")
        unseen = list(hooks.unseen) if hooks is not None else []
        return Trial(index, seed, Status.INCONCLUSIVE, stuck[0], detail=stuck[1], unseen=unseen), None
    for runner in runners + controller.extra_threads:
        runner.join(1.0)
    outcome = controller.outcome()
    names = [t.name for t in controller.threads]
    if outcome.mismatch:
        return Trial(index, seed, Status.ERROR, "error: the schedule does not fit this case",
                     detail=outcome.mismatch), controller
    if outcome.deadlock:
        trial = Trial(index, seed, Status.DEADLOCK, "deadlock", detail=outcome.deadlock)
    elif outcome.livelock:
        trial = Trial(index, seed, Status.DEADLOCK, "livelock", detail=outcome.livelock)
    elif outcome.step_limit:
        trial = Trial(index, seed, Status.INCONCLUSIVE, "inconclusive: step budget",
                      detail=f"the run did not end within its budget of {controller.step_limit:,} scheduling steps "
                             f"({BUDGET_FACTOR} times a serial run's, at least {DEFAULT_STEP_LIMIT:,})")
    else:
        trial = judged(index, seed, prepared, errors)
    trial.shared_ops = sum(1 for op in outcome.log if op.kind != "sleep")
    trial.unseen = list(hooks.unseen) if hooks is not None else []
    losses = lost_updates(outcome.log)
    races = data_races(outcome.log, len(prepared.threads))
    controller.races = races  # type: ignore[attr-defined]  # for race reversal
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


def _wait(controller: Controller, runners: list[threading.Thread], timeout: float) -> tuple[str, str] | None:
    """Wait for the trial to end. Only the thread holding the token runs; when it
    sleeps in the kernel for a while (a real lock, I/O, a real sleep: code the
    scheduler does not see), no choice of racekit's can help, so that is said
    at once instead of waiting out the timeout."""
    deadline = clock.now() + timeout  # pauses of the process (Ctrl-Z, a VM) do not count
    asleep_since: float | None = None
    watched: int | None = None
    while not controller.finished.wait(POLL):
        now = clock.now()
        if now > deadline:
            return ("inconclusive: did not finish in time",
                    f"the trial did not finish within {timeout:g} s; the running thread never reached its next "
                    f"shared access:\n{_stack_of(_runner(controller, runners, controller.current))}")
        holder = controller.current
        thread = _runner(controller, runners, holder)
        if holder != watched or thread is None or not _sleeping(thread):
            watched, asleep_since = holder, None
            continue
        asleep_since = asleep_since or now
        if now - asleep_since >= BLOCKED_AFTER:
            name = controller.threads[holder].name if holder is not None else "?"
            return ("inconclusive: blocked outside the scheduler",
                    f"{name} blocked where racekit's scheduler cannot see it (a real lock, I/O or a sleep in code "
                    f"racekit does not rewrite), so no other thread could be given a turn:\n{_stack_of(thread)}")
    return None


def _runner(controller: Controller, runners: list[threading.Thread], index: int | None) -> threading.Thread | None:
    every = runners + controller.extra_threads
    return every[index] if index is not None and 0 <= index < len(every) else None


def _sleeping(thread: threading.Thread) -> bool:
    """Whether a thread sleeps in the kernel outside racekit (Linux: /proc)."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None and frame.f_code.co_filename == threading.__file__:
        frame = frame.f_back
    if frame is None or frame.f_code.co_filename == _CONTROLLED_FILE:
        return False  # waiting for the token: racekit's own wait
    try:
        with open(f"/proc/self/task/{thread.native_id}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("S", "D")
    except (OSError, IndexError):
        return False


def _stack_of(thread: threading.Thread | None) -> str:
    frame = sys._current_frames().get(thread.ident or -1) if thread is not None else None
    if frame is None:
        return "(no stack)"
    frames = [f for f in traceback.extract_stack(frame) if "/racekit/runtime/" not in f.filename
              and "threading.py" not in f.filename]
    return "".join(traceback.format_list(frames[-8:])).rstrip() or "(no case code on its stack)"


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


def _explain(trial: Trial, controller: Controller, reversed_from: Controller | None = None) -> None:
    """Attach the trace rows around what went wrong, and the facts behind it;
    for the witness of a race reversal, also which pair was reversed."""
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
    elif trial.status is Status.DEADLOCK:
        focus = log[-2 * TRACE_CONTEXT:]
        story = {"kind": trial.outcome, "detail": trial.detail}  # a deadlock or a livelock
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
    races = getattr(reversed_from, "races", None)
    if races:
        race = races[0]
        trial.story["reversed"] = {"first": names[race.first.thread], "first_kind": race.first.kind,
                                   "what": race.first.what, "first_line": race.first.line,
                                   "second": names[race.second.thread], "second_kind": race.second.kind,
                                   "second_line": race.second.line}
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
