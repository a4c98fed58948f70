"""Controlled trials: executions chosen by a strategy, run, logged and explained.

:func:`drive` is the one loop every use of the controlled engine goes through:
it asks a strategy for executions until it has none, and runs each. A trial
(:func:`run_controlled`) is one execution of a seeded strategy; an exhaustive
search (:mod:`racekit.runtime.controlled.search`) is every execution of a
depth-first one; shrinking is the executions of :class:`Shrink` up to the
first that fails the same way; race reversal is one execution of
:class:`ReverseRace`. The first failing trial of a variant is shrunk and
explained (:mod:`racekit.runtime.controlled.explain`).
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

from racekit.analysis.accesses import DataRace, count_lost, data_races, lock_order, lost_updates, unordered_calls
from racekit.records import Note, Shrunk, Status, Trial
from racekit.runtime import clock, interpreter_state
from racekit.runtime.controlled import controller as _controller_module
from racekit.runtime import import_hook
from racekit.runtime.controlled import patches
from racekit.runtime.controlled.controller import DEFAULT_STEP_LIMIT, Abort, Controller, raised_at, shown_file
from racekit.runtime.controlled.explain import explain, race_facts, tape_facts
from racekit.runtime.controlled.schedule import decode_schedule, encode_schedule
from racekit.runtime.controlled.state import PendingShrink
from racekit.runtime.controlled.strategies import Strategy, strategy_class
from racekit.runtime.controlled.strategies.replay import SLACK, SLACK_FROM, ReplayStrategy
from racekit.runtime.controlled.strategies.reverse import ReverseRace
from racekit.runtime.controlled.strategies.serial import UNKNOWN_COUNT_ORDERS, SerialStrategy, serial_orders
from racekit.runtime.controlled.strategies.shrink import Shrink
from racekit.runtime.hooks import ControlledHooks, Labels
from racekit.runtime.judging import CaseFailure, case_error, error_line, forget_yours, format_exception, judged

if TYPE_CHECKING:
    from racekit.runtime.trial import Program

_CONTROLLER_FILE = _controller_module.__file__
CAUSES_TRIED = 3  # unordered pairs of a wrong run tried, in log order, for the one whose reversal makes it right
MAX_REVERSALS = 24  # race reversals a program tries (each one more run), per kind of race at most 3
BLOCKED_AFTER = 0.3  # seconds the running thread may sleep outside the scheduler before racekit says so
POLL = 0.05
BUDGET_FACTOR = 20  # a trial's step budget: this many times its serial run's steps, at least the default
# Every step of an execution is kept (the log that explains a failure), so
# steps are memory: no execution, serial ones included, takes more than this
# (nor more than controller.LOG_BUDGET bytes of log); a run that needs more is
# inconclusive ("over its budget") and fewer iterations fit.
MAX_STEPS = 2_000_000
UNLIMITED = MAX_STEPS  # a serial run: "unlimited" up to the memory bound
MISFIT = "error: the schedule does not fit this case"  # the outcome of a schedule replayed on other code
PAUSED = "paused"  # a paused replay (racekit play) stopped where the student chooses next


def strategy_for(program: Program, seed: int, schedule: str | None, serial: bool = False,
                 index: int = 0, tape: str = "") -> Strategy:
    """The strategy of one trial: a replay, a serial order, or the mode's (seeded)."""
    spec = program.forcing.spec
    if schedule is not None:
        _threads, choices = decode_schedule(schedule)
        return ReplayStrategy(choices, pause=tape == "pause")
    if serial:
        if not hasattr(program, "threads"):  # a @race_test: its threads are made as it runs
            return SerialStrategy([], reverse=index % UNKNOWN_COUNT_ORDERS == 1)
        orders = serial_orders(len(program.threads) or 1)
        return SerialStrategy(orders[index % len(orders)])
    settings: dict[str, Any] = {"depth": spec.depth, "preemptions": spec.preemptions}
    if spec.strategy == "pct":
        settings["expected_steps"] = _run_length(program, seed)
    return strategy_class(spec.strategy).for_trial(seed, **settings)


def _run_length(program: Program, seed: int) -> int:
    """How many steps a run of this program takes, for PCT's change points: learnt
    from a serial run first, then from every trial (the longest seen)."""
    state = program.controlled
    if state.run_length is None:
        trial, _ = execute(program, -1, seed, SerialStrategy([]), step_limit=UNLIMITED)
        state.run_length = max(trial.steps or 1, 1)
    return state.run_length


def step_budget(program: Program) -> int:
    """Scheduling steps a trial may take: the mode's, else the default raised to
    fit the case (BUDGET_FACTOR times its serial run), so that a long correct
    case is never cut short; a run that still overruns it is inconclusive."""
    spec = program.forcing.spec
    if spec.step_limit:
        return min(spec.step_limit, MAX_STEPS)
    return min(max(DEFAULT_STEP_LIMIT, BUDGET_FACTOR * (program.controlled.run_length or 0)), MAX_STEPS)


def drive(program: Program, index: int, seed: int, strategy: Strategy, step_limit: int | None = None,
          before_each: Callable[[], None] = lambda: None) -> Iterator[tuple[Trial, Controller | None]]:
    """Every execution ``strategy`` asks for, in order (the caller may stop early)."""
    while True:
        before_each()
        if not strategy.new_execution():
            return
        yield execute(program, index, seed, strategy, step_limit)


def step_budget_known(program: Program, seed: int) -> None:
    """Measure the program's run length once, so that every trial's step budget fits the case."""
    _run_length(program, seed)


def run_controlled(program: Program, index: int, seed: int, schedule: str | None = None,
                   strategy: Strategy | None = None, may_shrink: bool = True, serial: bool = False,
                   tape: str = "") -> Trial:
    """One controlled trial. The program's first failing trial (and any replay)
    is explained: a trace and the facts behind it; a random or PCT failure is
    first shrunk to fewer preemptions when ``may_shrink``. A trial that ends
    right with a data race is run once more with the racing pair reversed
    (when ``may_shrink``: not within an exhaustive search, which runs every
    order anyway): a wrong end is the witness that makes the race real.

    ``tape`` (lecture and play) keeps every operation of the run; past the
    schedule's choices it says what to do (TrialPlan.tape)."""
    if schedule is not None:
        try:
            decode_schedule(schedule)
        except ValueError as exc:
            return Trial(index, seed, Status.ERROR, "error: not a racekit schedule", detail=str(exc),
                         why={"kind": "not_a_schedule"})
    strategy = strategy or strategy_for(program, seed, schedule, serial, index, tape)
    if tape:
        strategy.keep_frames = True  # where each thread waits (lecture, play), whatever the strategy
    if not serial:
        step_budget_known(program, seed)
    trial, controller = next(drive(program, index, seed, strategy, step_limit=UNLIMITED if serial else None))
    trial = conclude(program, trial, controller, strategy, schedule, may_shrink and not tape, serial, tape)
    if tape and controller is not None:
        trial.tape = tape_facts(controller)
    return trial


def conclude(program: Program, trial: Trial, controller: Controller | None, strategy: Strategy,
             schedule: str | None = None, may_shrink: bool = True, serial: bool = False,
             tape: str = "") -> Trial:
    """What one execution's trial means: a replay that did not fit, a race
    reversed, the first failure of its kind explained (and queued for shrinking).
    With a ``tape`` of "pause" or "go on" the schedule is the start of the run
    (lecture and play), not all of it."""
    index, seed = trial.index, trial.seed
    state = program.controlled
    if serial and controller is not None and not controller.gave_way:
        # Truly one after another: no thread had to wait for another one.
        order = strategy.full_order(len(controller.threads))  # type: ignore[attr-defined]
        trial.serial_order = [controller.threads[t].name for t in order]
    if controller is not None and trial.steps:
        state.run_length = max(state.run_length or 0, trial.steps)
    if schedule is not None and controller is not None:
        declared, wanted = decode_schedule(schedule)
        # The start of a run (play) may end before the case's own code has started all
        # its threads, and a run that went on from it may have started more.
        fits = declared == len(controller.threads) or tape == "pause" or (
            tape == "go on" and declared <= len(controller.threads))
        if not fits:
            return Trial(index, seed, Status.ERROR, MISFIT,
                         why={"kind": "schedule_threads", "declared": declared, "threads": len(controller.threads)})
        made = controller.choices
        if tape in ("pause", "go on"):
            made = made[:len(wanted)]
        common = min(len(made), len(wanted))
        # Every choice the run made up to the shorter end is the schedule's; the
        # program's own order may still vary at the end (a set of threads, or of
        # futures, iterates by address), which shows as a choice or two more or
        # fewer there: tolerated and said. More than that is another program
        # (other --param values, other code).
        slack = SLACK if len(wanted) >= SLACK_FROM else 0
        settled = max(common - slack, 0)  # the choices that must be the schedule's, whatever the end does
        if trial.status is not Status.ERROR and (made[:settled] != wanted[:settled]
                                                 or abs(len(made) - len(wanted)) > slack):
            return Trial(index, seed, Status.ERROR, MISFIT,
                         why={"kind": "schedule_choices", "made": len(controller.choices), "recorded": len(wanted)})
        if made != wanted and not tape:
            trial.warnings = [*trial.warnings, Note.of("replay_end_varied")]
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
        if "witness" not in state.explained:
            state.explained.add("witness")
            explain(witness, witness_controller, reversed_from=controller)
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
    if failing and controller is not None and (kind not in state.explained or schedule is not None):
        state.explained.add(kind)
        explain(trial, controller)
        if trial.story and trial.story.get("kind") == "data race":
            trial.story["reversal"] = "harmless" if trial.race_harmless else "untried"
        if trial.story and trial.story.get("kind") in ("data race", "wrong outcome"):
            _test_cause(program, trial, controller)
        if schedule is None and may_shrink and controller.preemptions > 1:
            # Shrinking takes more runs; the worker reports the failure first
            # and the smaller schedule after (see finish_shrink).
            # What shrinking needs, not the controller: its log would stay alive
            # beside every execution of the shrink.
            state.pending_shrink = PendingShrink(index, seed, _failure_kind(trial), controller.preemptions,
                                                 len(controller.choices))
            trial.shrinking = True
    return trial


def _reverse_race(program: Program, index: int, seed: int,
                  controller: Controller) -> tuple[Trial, Controller] | str | None:
    """Race reversal: run the trial again with its first data race's two accesses
    in the other order. The wrong run it may end in is the witness; "harmless"
    when it ended right too; None when no reversal was tried (the budget of
    reversals is spent, or the other thread could not have moved first)."""
    races = controller.races
    if not races:
        return None
    race = races[0]
    tried = program.controlled.reversals
    key = (race.first.line, race.second.line, race.first.kind, race.second.kind)
    if sum(tried.values()) >= MAX_REVERSALS or tried.get(key, 0) >= 3:
        return None
    tried[key] = tried.get(key, 0) + 1
    reversed_run = _run_reversed(program, index, seed, controller, race)
    if reversed_run is None:
        return None
    trial, reversed_controller = reversed_run
    if trial.matches and trial.status is Status.DONE:
        return "harmless"
    return trial, reversed_controller


def _run_reversed(program: Program, index: int, seed: int, controller: Controller,
                  race: DataRace) -> tuple[Trial, Controller] | None:
    """The trial run again with ``race``'s second access moved before its first;
    None when the other thread could not have moved first, or the run could
    not be judged."""
    runner = race.second.thread
    at = next((k for k in range(min(race.first.choice, len(controller.enabled_at)) - 1, -1, -1)
               if runner in controller.enabled_at[k]), None)
    if at is None:
        return None
    trial, reversed_controller = next(drive(program, index, seed, ReverseRace(controller.choices, at, runner,
                                                                               race.second.nth)))
    if reversed_controller is None or trial.status is Status.INCONCLUSIVE:
        return None
    return trial, reversed_controller


def finish_shrink(program: Program, each_attempt: Callable[[], None] = lambda: None) -> Shrunk | None:
    """Shrink the failure :func:`run_controlled` left pending; the fields that change."""
    pending, program.controlled.pending_shrink = program.controlled.pending_shrink, None
    if pending is None:
        return None
    smaller = shrink(program, pending, each_attempt)
    if smaller is None:
        return None
    return Shrunk(smaller.schedule, smaller.trace, smaller.story, smaller.preemptions, pending.preemptions)


def shrink(program: Program, failing: PendingShrink,
           each_attempt: Callable[[], None] = lambda: None) -> Trial | None:
    """A schedule that fails the same way with fewer preemptions, if a short search
    finds one: the explained trial, or None when nothing smaller fails."""
    strategy = Shrink(failing.seed, failing.choices, fewer_than=failing.preemptions)
    for trial, ctl in drive(program, failing.index, failing.seed, strategy, before_each=each_attempt):
        if ctl is not None and _failure_kind(trial) == failing.kind and ctl.preemptions < failing.preemptions:
            break
        ctl = None  # an attempt's log is not kept beside the next attempt's
    else:
        return None
    explain(trial, ctl)
    _test_cause(program, trial, ctl)
    return trial


def _test_cause(program: Program, trial: Trial, controller: Controller) -> None:
    """Which unordered pair made a wrong trial wrong, shown by reversing it.

    The race the story names is the first unordered pair in the log, which
    need not be the one the outcome depends on: a harmless counter beside a
    check-then-act on a list, whose ``if items:`` and ``items.pop()`` are
    atomic steps and no data race. The trial runs again with a pair the other
    way round, the data races first, then such steps on a container: the
    first pair whose reversal ends right is the one explained (``cause``:
    ``shown``); else the first data race's ``not shown``, ``masked`` or
    ``untried`` (the other thread could not have moved first). A wrong run with
    neither keeps its plain story."""
    story = trial.story
    if not story or story.get("kind") not in ("data race", "wrong outcome") or trial.matches:
        return
    facts = (controller.log, len(controller.threads), controller.guest_log, controller.case_threads())
    races = data_races(*facts)
    candidates = races[:CAUSES_TRIED] + unordered_calls(*facts)[:CAUSES_TRIED]
    causes = []
    for race in candidates:
        cause = _reversal_cause(program, trial, controller, race)
        causes.append(cause)
        if cause == "shown":
            if not races or race is not races[0]:
                # A later pair decides the outcome (both threads read `cache.value`
                # → None), the first only hides it (a counter whose lost update
                # would make a double build look right): explain that pair.
                reversal = story.get("reversal")
                explain(trial, controller, race=race)
                if reversal is not None and trial.story.get("kind") == "data race":
                    trial.story["reversal"] = reversal
            trial.story["cause"] = "shown"
            return
    if races and causes:
        story["cause"] = causes[0]


def _reversal_cause(program: Program, trial: Trial, controller: Controller, race: DataRace) -> str:
    """What the same run with ``race`` the other way round shows: ``shown`` (it
    ends right), ``masked`` (right only because that run lost an update of its
    own), ``not shown`` (still wrong), ``untried`` (the other thread could not
    have moved first)."""
    reversed_run = _run_reversed(program, trial.index, trial.seed, controller, race)
    if reversed_run is None:
        return "untried"
    reversed_trial, reversed_controller = reversed_run
    if not (reversed_trial.matches and reversed_trial.status is Status.DONE):
        return "not shown"
    return "masked" if lost_updates(reversed_controller.log) else "shown"


def _failure_kind(trial: Trial) -> str:
    if trial.status is Status.DEADLOCK:
        return trial.outcome
    if trial.status is not Status.DONE:
        return "error"
    if not trial.matches:
        return "wrong"
    return "race" if trial.race else "fine"


def execute(program: Program, index: int, seed: int, strategy: Strategy,
            step_limit: int | None = None) -> tuple[Trial, Controller | None]:
    """Run the trial's threads one at a time under ``strategy``; the trial and its controller.

    Each execution is a trial of its own, whoever asked for it (a search, a
    shrink, a race reversal): its prints are kept, and the interpreter state
    it changed does not reach the next execution (nor, for modules racekit
    rewrites, the names their code rebound: import_hook)."""
    stuck = program.controlled.stuck
    if stuck is not None:
        # A thread of an earlier execution still runs where no scheduler reaches it.
        return replace(stuck, index=index, seed=seed), None
    _DEAD_LOGS.before_next()
    with program.isolated() as out, interpreter_state.preserved():
        trial, controller = _execute(program, index, seed, strategy, step_limit, out)
    if trial.left_running:
        program.controlled.stuck = trial
    _DEAD_LOGS.ended(trial.steps or 0)
    return trial, controller


class _DeadLogs:
    """Frees the logs of executions nobody needs any more, before the next one.

    An execution's namespace (its functions and their globals), its hooks, its
    stand-ins and its watcher all refer to its controller, and so to its whole
    log: cyclic garbage, which only the cycle collector frees. Executions run
    with the collector off, so it seldom gets to a full collection, and dead
    logs piled up beside the running one. A full collection before an
    execution, once the executions since the last one took ``COLLECT_AFTER``
    steps between them, keeps that much dead log at most, for one collection
    per that many steps (milliseconds, against the seconds those steps took)."""

    COLLECT_AFTER = 50_000

    def __init__(self) -> None:
        self.steps = 0

    def ended(self, steps: int) -> None:
        self.steps += steps

    def before_next(self) -> None:
        if self.steps >= self.COLLECT_AFTER and gc.isenabled():
            self.steps = 0
            gc.collect()


_DEAD_LOGS = _DeadLogs()


def _execute(program: Program, index: int, seed: int, strategy: Strategy,
             step_limit: int | None, out: Any) -> tuple[Trial, Controller | None]:
    forget_yours()
    controller = Controller(strategy, [], step_limit=step_limit or step_budget(program))
    session = import_hook.active()
    labels = Labels()
    hooks = ControlledHooks({}, controller, labels, session.files if session else {}, program.variant.path)
    controller.case_file = program.variant.path
    if session is not None:
        # The user's rewritten modules announce to this trial's scheduler.
        session.use(hooks.bound_to)
        controller.module_files = session.files
    watcher = _Watcher(controller, program.variant.timeout, program.variant.stall)
    controller.watch = watcher.check
    PROGRESS.begin(controller)
    # No cyclic garbage collection during the execution: a collection runs
    # finalizers and weakref callbacks of whatever the earlier executions left
    # (a pool's `q.put(None)`), in whichever thread it strikes, at a moment set
    # by the allocator: a replay would not replay. (Reference counting still
    # frees everything that is not in a cycle, at the same moments every time.)
    collecting = gc.isenabled()
    gc.disable()
    try:
        with patches.installed(controller):
            try:
                trial, explains = _scheduled(program, index, seed, controller, hooks, labels, watcher)
            finally:
                # What left-over threads print as they unwind is not the trial's.
                output = out.tail()
                _unwind(controller, watcher.blocked)
        trial.output = output
    finally:
        PROGRESS.end()
    # A trial that never got going, or was cut off, has no trace to explain.
    return trial, controller if explains else None


def _scheduled(program: Program, index: int, seed: int, controller: Controller, hooks: ControlledHooks,
               labels: Labels, watcher: _Watcher) -> tuple[Trial, bool]:
    """The execution, from setup to the outcome: the trial, and whether its controller explains it."""
    controller.enter(None)  # setup runs as the guest: it may wait for threads it started
    try:
        prepared = program.prepare(seed)
    except CaseFailure as failure:
        cut = _cut_short(index, seed, controller, watcher, hooks)
        if cut is not None:
            return cut, watcher.stuck is None
        return case_error(index, seed, failure.where, failure.error), False
    finally:
        controller.leave()
    if not prepared.threads:
        return case_error(index, seed, "setup", ValueError("the case starts no threads")), False
    if prepared.namespace is not None:
        hooks.ns = prepared.namespace
        prepared.namespace["__racekit__"] = hooks
    labels.learn(prepared.names or prepared.namespace or {})
    errors: list[tuple[float, BaseException, str]] = []

    def catching(function: Callable[[], Any], name: str) -> Callable[[], None]:
        def run() -> None:
            try:
                function()
            except Abort:
                raise
            except BaseException as exc:  # noqa: BLE001 - anything the case raises is a result
                text = format_exception(exc, name)
                errors.append((time.perf_counter(), exc, text))
                line, where = raised_at(exc)
                controller.raised.append({"thread": name, "error": error_line(exc), "line": line, "traceback": text,
                                          **({"file": controller.module_files.get(where) or shown_file(where)}
                                             if where and where != controller.case_file else {})})

        return run

    for name, function in prepared.threads:
        hooks.thread_target(getattr(function, "racekit_target", function))
        thread = controller.add_thread(name, case=True)
        runner = threading.Thread(target=_quiet(controller.thread_body(thread, catching(function, name))), name=name,
                                  daemon=True)
        OWN_THREADS.add(runner)
        runner.start()
    controller.start()
    stuck = _wait(controller, watcher)
    if stuck is not None:
        stuck.index, stuck.seed = index, seed
        return stuck, False
    outcome = controller.outcome()
    if outcome.mismatch:
        return Trial(index, seed, Status.ERROR, MISFIT, why={"kind": "mismatch", **outcome.mismatch}), True
    if outcome.paused:
        return Trial(index, seed, Status.INCONCLUSIVE, PAUSED, why={"kind": "paused"}), True
    if outcome.deadlock or outcome.livelock or outcome.step_limit:
        trial = _stopped(index, seed, controller)
    else:
        # The outcome is read as the guest too (an actor's reply, a future's result).
        controller.begin_outcome()
        controller.enter(None)
        try:
            trial = judged(index, seed, prepared, errors)
        finally:
            controller.leave()
        cut = _cut_short(index, seed, controller, watcher, hooks)
        if cut is not None and watcher.stuck is not None:
            return cut, False
        trial = cut or trial
    return _analysed(trial, controller, hooks), True


def _cut_short(index: int, seed: int, controller: Controller, watcher: _Watcher,
               hooks: ControlledHooks) -> Trial | None:
    """The trial as racekit stopped it while setup or the outcome ran (they
    waited for threads that never let them go on), or None."""
    if watcher.stuck is not None:
        watcher.stuck.index, watcher.stuck.seed = index, seed
        return watcher.stuck
    if controller.deadlock or controller.livelock or controller.aborted == "step limit":
        return _stopped(index, seed, controller)
    return None


def _stopped(index: int, seed: int, controller: Controller) -> Trial:
    if controller.deadlock:
        return Trial(index, seed, Status.DEADLOCK, "deadlock", why={"kind": "deadlock", **controller.deadlock})
    if controller.livelock:
        return Trial(index, seed, Status.DEADLOCK, "livelock", why={"kind": "livelock", **controller.livelock})
    if controller.over_memory:
        return Trial(index, seed, Status.INCONCLUSIVE, "inconclusive: memory budget",
                     why={"kind": "memory_budget", "megabytes": _controller_module.LOG_BUDGET >> 20,
                          "steps": controller.steps})
    return Trial(index, seed, Status.INCONCLUSIVE, "inconclusive: step budget",
                 why={"kind": "step_budget", "steps": controller.step_limit, "factor": BUDGET_FACTOR,
                      "minimum": DEFAULT_STEP_LIMIT})


def _analysed(trial: Trial, controller: Controller, hooks: ControlledHooks) -> Trial:
    """The access log's findings, and what racekit could not schedule."""
    outcome = controller.outcome()
    names = [t.name for t in controller.threads]
    trial.shared_ops = sum(1 for op in outcome.log if op.kind not in ("sleep", "begin", "end"))
    trial.unseen = list(hooks.unseen)
    losses = lost_updates(outcome.log)
    races = data_races(outcome.log, len(controller.threads), controller.guest_log, controller.case_threads())
    controller.races = races
    trial.lost = count_lost(losses)
    trial.lost_at = sorted({lost.write.what for lost in losses})
    if races:
        trial.race = race_facts(races[0], names)
    trial.lock_pairs = sorted(lock_order(outcome.log))
    trial.steps = outcome.steps
    trial.preemptions = controller.preemptions
    if controller.guest_waits:
        trial.guest_waits = list(controller.guest_waits)
    for died in controller.unhandled[:3]:
        trial.warnings = [*trial.warnings, Note.of("thread_died", **died)]
    unscheduled = _unscheduled(controller)
    if unscheduled:
        trial.unscheduled = unscheduled
        if trial.status is Status.DONE and trial.matches:
            # Ended right, but a thread ran where racekit chose nothing: no claim can be made.
            trial.status, trial.outcome = Status.INCONCLUSIVE, UNSCHEDULED
            trial.why = {"kind": "unscheduled", "threads": unscheduled}
    return trial


UNSCHEDULED = "inconclusive: a thread ran outside racekit's scheduler"


def _unscheduled(controller: Controller) -> list[str]:
    """Threads that ran Python code during the trial but were never the scheduler's
    (started from C, or by ``_thread`` before racekit could see them), by name."""
    known = {t.os_thread.ident for t in controller.threads if t.os_thread is not None}
    found = []
    for ident in controller.foreign - known:
        found.append(controller.foreign_names.get(ident, f"thread {ident}"))
    return sorted(set(found))


def _unwind(controller: Controller, blocked: threading.Thread | None) -> None:
    """End the execution: threads the program started that still wait (a pool's
    idle workers, an actor) are unwound with Abort, and their OS threads joined
    (briefly: one blocked for real outside racekit is left to the interpreter)."""
    controller.abandon(controller.aborted or "over")
    deadline = time.monotonic() + 2.0
    for state in controller.threads:
        thread = state.os_thread
        if (thread is not None and thread is not threading.current_thread()
                and not isinstance(thread, threading._DummyThread)):  # type: ignore[attr-defined]  # (_thread's: not joinable)
            if thread is not blocked:  # asleep in the kernel (what stopped the trial): no Abort reaches it
                thread.join(max(0.0, deadline - time.monotonic()))


class _Watcher:
    """Watches a running execution from the thread that runs it: a thread that
    sleeps in the kernel outside racekit (a real lock, I/O), one that runs for
    long without reaching an operation racekit schedules, and threads racekit
    did not start."""

    def __init__(self, controller: Controller, timeout: float, stall: float | None = None):
        self.controller = controller
        # A long computation between two steps is no hang: a minute, unless the
        # user asked for less (--timeout, a lecture's few seconds).
        self.stall = stall if stall is not None else max(timeout, STALL_LIMIT)
        self.stuck: Trial | None = None
        self.blocked: threading.Thread | None = None  # the thread that stopped the trial, asleep in the kernel
        self._asleep_since: float | None = None
        self._watched: int | None = None
        self._progress = (-1, -1)
        self._progress_at = clock.now()
        self._before = set(sys._current_frames())

    def check(self) -> Trial | None:
        """One look (about every POLL seconds); the inconclusive trial once stuck."""
        if self.stuck is not None:
            return self.stuck
        controller = self.controller
        self._look_for_foreign_threads()
        now = clock.now()
        progress = (controller.steps, len(controller.log))
        if progress != self._progress:
            self._progress, self._progress_at = progress, now
        holder = controller.current
        thread = _os_thread(controller, holder)
        if now - self._progress_at > self.stall:
            self.blocked = thread  # it runs on where no Abort reaches it: not waited for
            self._stop(("inconclusive: did not finish in time", {"kind": "no_next_access", "timeout": self.stall},
                        _stack_of(thread)))
        elif holder != self._watched or thread is None or not _sleeping(thread):
            self._watched, self._asleep_since = holder, None
        else:
            self._asleep_since = self._asleep_since or now
            if now - self._asleep_since >= BLOCKED_AFTER:
                name = controller.threads[holder].name if holder is not None and holder >= 0 else "?"
                self.blocked = thread
                self._stop(("inconclusive: blocked outside the scheduler", {"kind": "blocked_outside", "thread": name},
                            _stack_of(thread)))
        return self.stuck

    def _stop(self, found: tuple[str, dict[str, Any], str]) -> None:
        outcome_text, why, stack = found
        self.stuck = Trial(0, 0, Status.INCONCLUSIVE, outcome_text, detail=stack, why=why,
                           unseen=list(getattr(self.controller, "unseen", [])))
        self.controller.abandon("stuck")

    def _look_for_foreign_threads(self) -> None:
        controller = self.controller
        known = {t.os_thread.ident for t in controller.threads if t.os_thread is not None}
        for ident, frame in sys._current_frames().items():
            if ident in self._before or ident in known or ident == threading.get_ident():
                continue
            thread = threading._active.get(ident)  # type: ignore[attr-defined]
            if thread is not None and (thread in OWN_THREADS or thread.name.startswith("racekit")):
                continue
            if ident not in controller.foreign:
                controller.foreign.add(ident)
                controller.foreign_names[ident] = _thread_name(thread, frame)


def _thread_name(thread: Any, frame: Any) -> str:
    """A thread as the report names it: its name, and the function it began in."""
    while frame is not None and frame.f_back is not None:
        frame = frame.f_back
    where = f"{frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_code.co_firstlineno})" if frame else ""
    name = thread.name if thread is not None and not isinstance(thread, threading._DummyThread) else ""  # type: ignore[attr-defined]
    return f"{name}: {where}" if name and where else name or where or "a thread"


def _wait(controller: Controller, watcher: _Watcher) -> Trial | None:
    """Wait for the trial's threads to end. Only the thread holding the token
    runs; when it sleeps in the kernel for a while (a real lock, I/O, a real
    sleep: code the scheduler does not see), no choice of racekit's can help,
    so that is said at once. A controlled trial is bounded by its steps, not by
    the clock: only a thread that makes no scheduled operation for
    STALL_LIMIT seconds (or the case's timeout, if longer) ends it."""
    while not controller.finished.wait(POLL):
        stuck = watcher.check()
        if stuck is not None:
            return stuck
    return None


def _os_thread(controller: Controller, index: int | None) -> threading.Thread | None:
    if index is None or index < 0 or index >= len(controller.threads):
        return threading.main_thread() if index is not None and index < 0 else None
    return controller.threads[index].os_thread


class _Progress:
    """Whether the execution under way is progressing (its scheduler takes steps):
    the worker's heartbeat beats only then, so its parent stops a worker whose
    trial holds the interpreter in C code, or makes no step for STALL_LIMIT seconds."""

    def __init__(self) -> None:
        self._controller: Controller | None = None
        self._seen = (-1, -1)
        self._since = 0.0

    def begin(self, controller: Controller) -> None:
        self._controller, self._seen, self._since = controller, (-1, -1), clock.now()

    def end(self) -> None:
        self._controller = None

    def progressing(self, limit: float) -> bool:
        controller = self._controller
        if controller is None:
            return True
        seen = (controller.steps, len(controller.log))
        now = clock.now()
        if seen != self._seen:
            self._seen, self._since = seen, now
        return now - self._since <= limit


PROGRESS = _Progress()
STALL_LIMIT = 60.0  # seconds a controlled trial may run without a scheduling step (at least its timeout)
OWN_THREADS: "weakref.WeakSet[threading.Thread]" = weakref.WeakSet()  # racekit's runners of case threads


def _sleeping(thread: threading.Thread) -> bool:
    """Whether a thread sleeps in the kernel outside racekit (Linux: /proc)."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None and frame.f_code.co_filename == threading.__file__:
        frame = frame.f_back
    if frame is None or frame.f_code.co_filename == _CONTROLLER_FILE:
        return False  # waiting for the token: racekit's own wait
    try:
        with open(f"/proc/self/task/{thread.native_id}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("S", "D")
    except (OSError, IndexError):
        return False


def _stack_of(thread: threading.Thread | None) -> str:
    frame = sys._current_frames().get(thread.ident or -1) if thread is not None else None
    if frame is None:
        return ""
    frames = [f for f in traceback.extract_stack(frame) if "/racekit/runtime/" not in f.filename
              and "threading.py" not in f.filename]
    return "".join(traceback.format_list(frames[-8:])).rstrip()


def _quiet(body: Callable[[], None]) -> Callable[[], None]:
    """Threads unwound with Abort end silently (threading would print the exception)."""

    def run() -> None:
        try:
            body()
        except Abort:
            pass

    return run
