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

import sys
import threading
import time
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable

from racekit.analysis.accesses import DataRace, count_lost, data_races, lock_order, lost_updates
from racekit.records import Status, Trial
from racekit.runtime import clock, interpreter_state
from racekit.runtime.controlled import controller as _controller_module
from racekit.runtime import import_hook
from racekit.runtime.controlled import standins
from racekit.runtime.controlled.controller import DEFAULT_STEP_LIMIT, Abort, Controller
from racekit.runtime.controlled.explain import explain, race_facts, tape_facts
from racekit.runtime.controlled.schedule import decode_schedule, encode_schedule
from racekit.runtime.controlled.strategies import Strategy, strategy_class
from racekit.runtime.controlled.strategies.replay import ReplayStrategy
from racekit.runtime.controlled.strategies.reverse import ReverseRace
from racekit.runtime.controlled.strategies.serial import UNKNOWN_COUNT_ORDERS, SerialStrategy, serial_orders
from racekit.runtime.controlled.strategies.shrink import Shrink
from racekit.runtime.hooks import ControlledHooks, Labels
from racekit.runtime.judging import CaseFailure, case_error, format_exception, judged

if TYPE_CHECKING:
    from racekit.runtime.trial import Program

_CONTROLLER_FILE = _controller_module.__file__
MAX_REVERSALS = 24  # race reversals a program tries (each one more run), per kind of race at most 3
BLOCKED_AFTER = 0.3  # seconds the running thread may sleep outside the scheduler before racekit says so
POLL = 0.05
BUDGET_FACTOR = 20  # a trial's step budget: this many times its serial run's steps, at least the default
UNLIMITED = 10**12
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
        return spec.step_limit
    return max(DEFAULT_STEP_LIMIT, BUDGET_FACTOR * (program.controlled.run_length or 0))


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
        made = controller.choices[:len(wanted)] if tape in ("pause", "go on") else controller.choices
        if made != wanted and trial.status is not Status.ERROR:
            return Trial(index, seed, Status.ERROR, MISFIT,
                         why={"kind": "schedule_choices", "made": len(controller.choices), "recorded": len(wanted)})
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
            _test_cause(program, trial, controller)
        if schedule is None and may_shrink and controller.preemptions > 1:
            # Shrinking takes more runs; the worker reports the failure first
            # and the smaller schedule after (see finish_shrink).
            state.pending_shrink = (index, seed, trial, controller)
            trial.shrinking = True
    return trial


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


def finish_shrink(program: Program, each_attempt: Callable[[], None] = lambda: None) -> dict[str, Any] | None:
    """Shrink the failure :func:`run_controlled` left pending; the fields that change."""
    pending, program.controlled.pending_shrink = program.controlled.pending_shrink, None
    if pending is None:
        return None
    index, seed, trial, controller = pending
    smaller = shrink(program, index, seed, trial, controller, each_attempt)
    if smaller is None:
        return None
    return {"schedule": smaller.schedule, "trace": smaller.trace, "story": smaller.story,
            "preemptions": smaller.preemptions, "shrunk_from": controller.preemptions}


def shrink(program: Program, index: int, seed: int, failing: Trial, controller: Controller,
           each_attempt: Callable[[], None] = lambda: None) -> Trial | None:
    """A schedule that fails the same way with fewer preemptions, if a short search
    finds one: the explained trial, or None when nothing smaller fails."""
    kind = _failure_kind(failing)
    best = controller.preemptions
    strategy = Shrink(seed, len(controller.choices), fewer_than=best)
    for trial, ctl in drive(program, index, seed, strategy, before_each=each_attempt):
        if ctl is not None and _failure_kind(trial) == kind and ctl.preemptions < best:
            break
    else:
        return None
    explain(trial, ctl)
    _test_cause(program, trial, ctl)
    return trial


def _test_cause(program: Program, trial: Trial, controller: Controller) -> None:
    """Whether the data race a wrong trial is explained by made it wrong.

    The race the story names is the first unordered pair in the log, which
    need not be the one the outcome depends on (a check-then-act on a list,
    whose ``len``/``append`` are calls and no data race, beside a harmless
    unordered counter). The trial runs again with that pair the other way
    round: only if it then ends right does the report say the gap made the
    outcome wrong (``cause``: ``shown``, ``not shown``, or ``untried`` when the
    other thread could not have moved first)."""
    story = trial.story
    if not story or story.get("kind") != "data race" or trial.matches:
        return
    races = data_races(controller.log, len(controller.threads))
    if not races:
        return
    reversed_run = _run_reversed(program, trial.index, trial.seed, controller, races[0])
    if reversed_run is None:
        story["cause"] = "untried"
    else:
        reversed_trial = reversed_run[0]
        story["cause"] = "shown" if reversed_trial.matches and reversed_trial.status is Status.DONE else "not shown"


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
    shrink, a race reversal): its prints are kept, and the modules it imported
    and the interpreter state it changed do not reach the next execution."""
    with program.isolated() as out, interpreter_state.preserved():
        trial, controller = _execute(program, index, seed, strategy, step_limit)
    trial.output = out.tail()
    return trial, controller


def _execute(program: Program, index: int, seed: int, strategy: Strategy,
             step_limit: int | None) -> tuple[Trial, Controller | None]:
    controller = Controller(strategy, [], step_limit=step_limit or step_budget(program))
    stand_ins = standins.modules(controller)
    session = import_hook.active()
    labels = Labels()
    hooks = ControlledHooks({}, controller, labels, session.files if session else {}, program.variant.path)
    controller.case_file = program.variant.path
    if session is not None:
        # The user's modules this trial imports run with its scheduler and stand-ins.
        session.use(hooks.bound_to, stand_ins)
        controller.module_files = session.files
    try:
        prepared = program.prepare(seed, stand_ins)
    except CaseFailure as failure:
        return case_error(index, seed, failure.where, failure.error), None
    if not prepared.threads:
        return case_error(index, seed, "setup", ValueError("the case starts no threads")), None
    if prepared.namespace is not None:
        hooks.ns = prepared.namespace
        prepared.namespace["__racekit__"] = hooks
    labels.learn(prepared.names or prepared.namespace or {})
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
        outcome_text, why, stack = stuck
        unseen = list(hooks.unseen)
        return Trial(index, seed, Status.INCONCLUSIVE, outcome_text, detail=stack, why=why, unseen=unseen), None
    for runner in runners + controller.extra_threads:
        runner.join(1.0)
    outcome = controller.outcome()
    names = [t.name for t in controller.threads]
    if outcome.mismatch:
        return Trial(index, seed, Status.ERROR, MISFIT, why={"kind": "mismatch", **outcome.mismatch}), controller
    if outcome.paused:
        return Trial(index, seed, Status.INCONCLUSIVE, PAUSED, why={"kind": "paused"}), controller
    if outcome.deadlock:
        trial = Trial(index, seed, Status.DEADLOCK, "deadlock", why={"kind": "deadlock", **outcome.deadlock})
    elif outcome.livelock:
        trial = Trial(index, seed, Status.DEADLOCK, "livelock", why={"kind": "livelock", **outcome.livelock})
    elif outcome.step_limit:
        trial = Trial(index, seed, Status.INCONCLUSIVE, "inconclusive: step budget",
                      why={"kind": "step_budget", "steps": controller.step_limit, "factor": BUDGET_FACTOR,
                           "minimum": DEFAULT_STEP_LIMIT})
    else:
        trial = judged(index, seed, prepared, errors)
    trial.shared_ops = sum(1 for op in outcome.log if op.kind != "sleep")
    trial.unseen = list(hooks.unseen)
    losses = lost_updates(outcome.log)
    races = data_races(outcome.log, len(prepared.threads))
    controller.races = races  # type: ignore[attr-defined]  # for race reversal
    trial.lost = count_lost(losses)
    trial.lost_at = sorted({lost.write.what for lost in losses})
    if races:
        trial.race = race_facts(races[0], names)
    trial.lock_pairs = sorted(lock_order(outcome.log))
    trial.steps = outcome.steps
    trial.preemptions = controller.preemptions
    return trial, controller


def _wait(controller: Controller, runners: list[threading.Thread],
          timeout: float) -> tuple[str, dict[str, Any], str] | None:
    """Wait for the trial to end. Only the thread holding the token runs; when it
    sleeps in the kernel for a while (a real lock, I/O, a real sleep: code the
    scheduler does not see), no choice of racekit's can help, so that is said
    at once instead of waiting out the timeout. Returns (outcome, why, stack)."""
    deadline = clock.now() + timeout  # pauses of the process (Ctrl-Z, a VM) do not count
    asleep_since: float | None = None
    watched: int | None = None
    while not controller.finished.wait(POLL):
        now = clock.now()
        if now > deadline:
            return ("inconclusive: did not finish in time", {"kind": "no_next_access", "timeout": timeout},
                    _stack_of(_runner(controller, runners, controller.current)))
        holder = controller.current
        thread = _runner(controller, runners, holder)
        if holder != watched or thread is None or not _sleeping(thread):
            watched, asleep_since = holder, None
            continue
        asleep_since = asleep_since or now
        if now - asleep_since >= BLOCKED_AFTER:
            name = controller.threads[holder].name if holder is not None else "?"
            return ("inconclusive: blocked outside the scheduler", {"kind": "blocked_outside", "thread": name},
                    _stack_of(thread))
    return None


def _runner(controller: Controller, runners: list[threading.Thread], index: int | None) -> threading.Thread | None:
    every = runners + controller.extra_threads
    return every[index] if index is not None and 0 <= index < len(every) else None


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
