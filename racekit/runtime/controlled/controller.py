"""The controlled scheduler: real threads, exactly one running, every choice recorded.

Each case thread runs until it is about to perform a *visible operation* (a
shared read or write, a lock or queue operation), announces it, and waits. The
scheduler then picks one thread among those whose announced operation can
proceed (an ``acquire`` of a held lock cannot), lets it perform that operation
and run on to its next one, and so on. One decision per operation: two threads
of four operations each have exactly C(8, 4) = 70 schedules.

Decisions are made by a *strategy* (seeded random, PCT, or replay of a
recorded schedule); the choices where more than one thread could move form
the trial's schedule, replayable on any CPython because operations come from
the case's source, not its bytecode. When no thread can move the trial is a
deadlock, reported at once with who holds and who waits for what.

Hand-offs use one semaphore per thread, so exactly one thread holds the
"token" at any time; a run that must be abandoned (deadlock, step bound,
a schedule that does not fit) unwinds every thread with :class:`Abort`.
"""

from __future__ import annotations

import collections
import enum
import itertools
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from racekit.analysis.waits import deadlock_cause
from racekit.records import AMBIGUOUS_KEY, Op, PendingOp
from racekit.runtime import peek
from racekit.runtime.controlled.strategies.replay import ScheduleEnd, ScheduleMismatch
from racekit.runtime.controlled.strategies import Strategy

# The standard library's own, whatever the patches of a trial put in `threading` later.
_Semaphore = threading.Semaphore
_Event = threading.Event
DEFAULT_STEP_LIMIT = 1_000_000  # scheduling steps per trial; the engine raises it to fit long cases
# Every step of an execution is kept (the log that explains a failure), so the
# log is memory, and an execution whose log passes LOG_BUDGET bytes ends there,
# inconclusive. It is counted as it grows: STEP_BYTES a step (its Op and the
# numbers in it, measured with tracemalloc on 40,000 steps of `x += 1`) and the
# lengths of the texts the step shows (a value, a container as a call left it).
LOG_BUDGET = 512 * 2**20
STEP_BYTES = 340
# Operations that change nothing another thread could see: a thread that does
# only these, in a state it was already in, is spinning (see Controller._observe).
PASSIVE = {"read", "sleep", "try-acquire", "check"}
NOBODY_WAITING = "nobody waiting"  # a notify's logged value when it woke no thread
FINGERPRINT_FRAMES = 64  # the innermost frames a spinning thread's state is read from
GUEST = -1  # the thread that runs setup and reads the outcome, while it waits for the trial's threads
FIRST_QUANTUM = 0.001  # seconds the virtual clock moves when only threads watching it can move
OVERSHOOT = 1e-6  # seconds a timed wait lasts past its deadline


class Abort(BaseException):
    """Unwinds a case thread when its trial is abandoned; never caught by case code
    written as ``except Exception``."""


# The controller of the calling thread: set for the trial's threads while they
# run, and for the thread running setup or the outcome. racekit's stand-ins and
# patches (racekit.runtime.controlled.patches) ask it; None means "not in a
# controlled trial": everything then behaves as the standard library does.
ACTIVE = threading.local()


def active() -> Controller | None:
    return getattr(ACTIVE, "controller", None)


@dataclass
class _Thread:
    index: int
    name: str
    semaphore: threading.Semaphore = field(default_factory=lambda: _Semaphore(0))
    started: bool = False
    done: bool = False
    case: bool = True  # one of the case's own threads (the trial ends when they have); else started by the program
    pending: Callable[[], bool] | None = None  # can the announced operation proceed now?
    # What it announced: a PendingOp's fields as a plain tuple, made into one
    # only when asked for (pending_ops); a tuple is the cheapest record per step.
    announced: tuple | None = None
    deadline: float | None = None  # a wait with a timeout: when (virtual clock) it gives up
    sleeping: bool = False  # its wait is a sleep (time.sleep, a Timer): time may end it at any point
    timeout_result: bool = False  # its wait gave up: the time ran out
    preempting: bool = False  # it was chosen while the running thread could have gone on
    ops: int = 0  # operations it has performed
    # Spin detection: what it observed since anything last changed, and the
    # states (frames, locals) in which it observed each thing.
    window: dict = field(default_factory=dict)
    timed: bool = False  # it read a clock since: a loop that may end by time
    spinning: bool = False  # it came back to a state it was in, with nothing changed
    frame: Any = None  # where it announced its operation (kept only for lecture and play: keep_frames)
    completed: bool = False  # it ran to its end
    # A write logged as it was announced, whose value is read once it happened
    # (the thread's next operation or its end): (the op, how to read the value).
    unsettled: tuple[Op, Callable[[], str], str] | None = None
    os_thread: Any = None  # the threading.Thread it runs in


@dataclass
class _Guest:
    """Setup (or the outcome) waiting for something the trial's threads must do first."""

    kind: str
    what: str
    enabled: Callable[[], bool]
    deadline: float | None
    phase: str
    semaphore: threading.Semaphore = field(default_factory=lambda: _Semaphore(0))
    timed_out: bool = False


@dataclass
class Outcome:
    """How a controlled trial's scheduling ended."""

    choices: list[int]
    log: list[Op]
    steps: int
    deadlock: dict[str, Any] | None = None  # who holds and who waits, when no thread could move
    step_limit: bool = False
    mismatch: dict[str, Any] | None = None
    livelock: dict[str, Any] | None = None  # who spins on what, when nothing can ever change it
    paused: dict[str, Any] | None = None  # a paused replay: who could move, and what each thread does next


class Controller:
    """One trial's scheduler. Program code reaches it through the stand-ins and the hooks.

    Every scheduling decision is made here, in :meth:`_next`: who may move
    (not done, not blocked, not spinning while others can move), and, when
    more than one may, the strategy's choice. Threads first run, one at a
    time, to their first visible operation: what they do before it touches no
    shared state (every access to shared state is visible), so the first
    decision, among every thread's first operation, is the start of each
    thread; passing over a thread that has not made any operation yet is not
    a preemption.

    Every thread the program starts (in setup, in its threads, in library
    code: a pool's workers, a Timer) is one of the scheduler's threads. The
    trial ends when the case's own threads have; threads the program started
    are then left where they are (as a program's background threads are when
    its main work is done), and unwound once the outcome is read. Setup and
    the outcome run without preemption; when they wait for something only a
    thread can do (a future's result, an actor's reply), they are the
    *guest*: the threads run until it can go on, and it goes on at once.

    Time is virtual (:attr:`now`): it moves only when a sleep or a timeout
    ends, or when the only threads that can move are watching the clock.
    A sleep (``time.sleep``, a ``Timer``'s delay) may end at any decision,
    as real time may pass during any amount of work; a timeout of a wait
    (``acquire(timeout=…)``, ``get(timeout=…)``) ends only when no thread can
    move: racekit takes the other threads' work to take no time.
    """

    def __init__(self, strategy: Strategy, names: list[str], step_limit: int = DEFAULT_STEP_LIMIT):
        self.strategy = strategy
        self.threads = [_Thread(i, name) for i, name in enumerate(names)]
        self.step_limit = step_limit
        self.current: int | None = None
        self.choices: list[int] = []
        self.enabled_at: list[tuple[int, ...]] = []  # who could move at each choice
        self._enabled_sets: dict[tuple[int, ...], tuple[int, ...]] = {}  # one tuple per set (a run keeps them all)
        self.log: list[Op] = []
        self.log_bytes = 0  # what the log takes, as counted (LOG_BUDGET)
        self.over_memory = False  # it ended because its log outgrew LOG_BUDGET
        self.steps = 0
        self.aborted: str | None = None
        self.deadlock: dict[str, Any] | None = None  # who waits, who holds (facts)
        self.livelock: dict[str, Any] | None = None  # who spins on what (facts)
        self.mismatch: dict[str, Any] | None = None  # where a replayed schedule stopped fitting
        self.paused: dict[str, Any] | None = None  # where a paused replay stopped (racekit play)
        # Lecture and play show the line each thread waits at: it announces its
        # frame (its own, from sys._getframe; another thread's frames are never read).
        self.keep_frames = strategy.keep_frames
        self.waiting_at: dict[int, list[int]] = {}  # operations done -> threads that could not move then
        self.finished = _Event()
        self.holders: dict[int, tuple[str, int]] = {}  # sync object id -> (label, holding thread)
        self._local = threading.local()
        self.preemptions = 0
        self.spin_blocks = 0  # times a spinning thread was held back while another could move
        self.gave_way = 0  # times a running thread could not go on (it blocked or spun) and another ran
        self._numbers: dict[int, tuple[int, object]] = {}
        self.module_files: dict[str, str] = {}  # rewritten modules' files, as traces show them (import_hook)
        self.races: list[Any] = []  # the log's data races, once analysed (run._analysed): race reversal tries them
        # Threads seen running Python code during the execution that the scheduler
        # never started (from C, or by `_thread` before racekit could see): the watcher's.
        self.foreign: set[int] = set()
        self.foreign_names: dict[int, str] = {}
        self.case_file = ""  # the case's own file, whose lines an op without a file refers to
        self.phase = "setup"  # setup -> threads -> outcome
        self.guest: _Guest | None = None
        self.guest_waits: list[dict[str, Any]] = []  # each time setup or the outcome waited for the threads
        # What setup and the outcome did that orders the threads' accesses: (log position, Op or phase change).
        self.guest_log: list[tuple[int, Any]] = []
        self.raised: list[dict[str, Any]] = []  # the case threads' exceptions: who, what, where (see raised_at)
        self.unhandled: list[dict[str, str]] = []  # exceptions that ended threads the program started
        self.watch: Callable[[], None] = lambda: None  # run.py: called while the guest waits (a stuck thread)
        self.now = 0.0  # the virtual clock, in seconds since the trial began
        self._quantum = FIRST_QUANTUM
        self.unscheduled: dict[str, str] = {}  # what racekit could not schedule (a thread's name -> how it began)
        # A partial-order reduction compares operations across executions: objects by a number, not an id.
        self._identities: dict[int, tuple[int, object]] | None = {} if getattr(strategy, "reduction", None) else None
        self._key_numbers: dict[int, int] = {}  # a key's address -> its number (an address reused counts as one key)
        self._begun = False  # the strategy was told how many threads there are (at the first step)
        strategy.bind(self)

    def _identified(self, subject: object, location: tuple[int, str] | None,
                    sync: int | None) -> tuple[tuple[int, str] | None, int | None]:
        """An announced operation with the object it touches named by the order in
        which the execution first announced it: ids change from one execution to
        the next, a partial-order reduction compares operations across them. The
        object is kept, so its id is not reused within the execution; a key shown
        by address (an object without its own repr) stands for the whole object."""
        entry = self._identities.get(id(subject))  # type: ignore[union-attr]
        if entry is None:
            entry = (len(self._identities) + 1, subject)  # type: ignore[arg-type]
            self._identities[id(subject)] = entry  # type: ignore[index]
        number = entry[0]
        if location is not None:
            key = location[1]
            if " at 0x" in key:  # a key compared by identity (hooks._key): numbered like objects
                address = int(key.rsplit(" at ", 1)[1], 16)
                key = f"#{self._key_numbers.setdefault(address, len(self._key_numbers) + 1)}"
            elif key.startswith("<") or key.endswith(AMBIGUOUS_KEY):
                key = "*"  # a key known only by its type: it stands for the whole object
            location = (number, key)
        return location, number if sync is not None else None

    def number(self, obj: object) -> int:
        """A small number for an unnamed object, stable within this trial."""
        entry = self._numbers.get(id(obj))
        if entry is None or entry[1] is not obj:
            entry = (len(self._numbers) + 1, obj)
            self._numbers[id(obj)] = entry
        return entry[0]

    def abandon(self, reason: str) -> None:
        """Stop a trial from outside (it overran its time, or it is over and its
        left-over threads must go): unwind every thread that still waits."""
        if not self.aborted:
            self.aborted = reason
        for state in self.threads:
            state.semaphore.release()
        if self.guest is not None:
            self.guest.semaphore.release()
        self.finished.set()

    # -- entering and leaving threads ----------------------------------------

    def me(self) -> int:
        """The calling trial thread's index; -1 for the thread running setup or the outcome."""
        index = getattr(self._local, "index", None)
        return -1 if index is None else index

    def add_thread(self, name: str, case: bool = False) -> int:
        """A thread the trial will run: one of the case's (``case``) or one the program starts."""
        index = len(self.threads)
        self.threads.append(_Thread(index, name, case=case))
        return index

    def thread_body(self, index: int, body: Callable[[], Any],
                    parked: Callable[[], Any] = lambda: None) -> Callable[[], None]:
        """Wrap a thread's callable: wait for the token, run, hand the token on.
        ``parked`` is called once the thread is about to wait for its first turn."""

        def run() -> None:
            self.enter(index)
            state = self.threads[index]
            state.os_thread = threading.current_thread()
            parked()
            state.semaphore.acquire()
            try:
                if self.aborted:
                    raise Abort(self.aborted)
                body()
            finally:
                self._settle(state)
                state.done = True
                state.completed = not self.aborted  # it ran to its end (not unwound from an abandoned trial)
                state.pending = None
                ACTIVE.controller = None
                if not self.aborted:
                    self._next(index, finished=True)

        return run

    def enter(self, index: int | None) -> None:
        """The calling OS thread is trial thread ``index`` (None: the guest, setup or the outcome)."""
        self._local.index = index
        ACTIVE.controller = self

    def leave(self) -> None:
        self._local.index = None
        ACTIVE.controller = None

    def start(self) -> None:
        """The case's threads are added: let the trial run (called by the guest, which then waits)."""
        self.phase = "threads"
        self.guest_log.append((len(self.log), "fork"))
        if not any(t.case and not t.done for t in self.threads):
            self.finished.set()
            return
        self._next(None, finished=True)

    # -- the heart: announcing an operation ----------------------------------------

    def point(self, kind: str, what: str, enabled: Callable[[], bool] | None = None, timeout: float | None = None,
              location: tuple[int, str] | None = None, sync: int | None = None, subject: object = None,
              wide: bool = False, sleep: bool = False, unwinding: bool = False) -> bool:
        """Announce the calling thread's next visible operation and wait until it
        is chosen. ``timeout`` (seconds): the wait may give up, and then this
        returns False; ``sleep``: it is a sleep, which time may end at any point.
        ``unwinding``: an operation that releases (a lock's release, an event's
        set) still happens in a trial that was abandoned, so that a thread
        unwinding through ``with lock:`` leaves the lock free."""
        me = self.me()
        if me < 0:
            return self._guest_point(kind, what, enabled, timeout, sleep)
        if self.aborted:
            # A thread unwinding from an abandoned trial: nothing more is
            # scheduled, and what was recorded stands.
            if unwinding:
                return True
            raise Abort(self.aborted)
        state = self.threads[me]
        if state.unsettled is not None:
            self._settle(state)
        if self.keep_frames:
            state.frame = sys._getframe(1)
        state.pending = enabled or _always
        state.deadline = None if timeout is None else self.now + max(timeout, 0.0)
        state.sleeping = sleep
        if self._identities is not None and subject is not None:
            # A wide step may touch more than it names: a reduction must take it to conflict with anything.
            location, sync = self._identified(subject, location, sync) if not wide else (None, None)
        state.announced = (me, kind, what, location, sync)
        state.timeout_result = False
        self._next(me)
        if self.aborted:
            if unwinding:
                return True
            raise Abort(self.aborted)
        state.pending = None
        state.deadline = None
        return not state.timeout_result

    def _guest_point(self, kind: str, what: str, enabled: Callable[[], bool] | None, timeout: float | None,
                     sleep: bool) -> bool:
        """Setup or the outcome at an operation: it simply happens, unless it must
        wait for the trial's threads; then they run until it can go on."""
        if self.aborted:
            raise Abort(self.aborted)
        if sleep and timeout is not None:
            self._reach(self.now + max(timeout, 0.0))  # setup sleeping: nothing else runs meanwhile
            return False
        if enabled is None or enabled():
            return True
        deadline = None if timeout is None else self.now + max(timeout, 0.0)
        guest = _Guest(kind, what, enabled, deadline, self.phase)
        self.guest = guest
        self.guest_waits.append({"phase": self.phase, "kind": kind, "what": what})
        self._next(None, finished=True)
        while not guest.semaphore.acquire(timeout=0.05):
            self.watch()
        self.guest = None
        if self.aborted:
            raise Abort(self.aborted)
        return not guest.timed_out

    def record(self, kind: str, what: str, *, location: tuple[int, str] | None = None, value: str = "",
               line: int = 0, sync: int | None = None, update: bool = False, file: str = "") -> Op | None:
        """Log the calling thread's operation; the logged op (None outside the trial's threads)."""
        me = self.me()
        if me < 0 or self.aborted:
            if me < 0 and sync is not None and not self.aborted and self.threads:
                # Setup or the outcome synchronised with threads that exist: a fact for happens-before.
                self.guest_log.append((len(self.log), Op(self.steps, -1, kind, what, None, value, line, sync=sync)))
            return None  # not part of any interleaving (or after the trial was abandoned)
        if not line:
            line, where = _case_place()
            file = "" if where == self.case_file else self.module_files.get(where) or shown_file(where)
        state = self.threads[me]
        if state.unsettled is not None:
            self._settle(state)
        state.ops += 1
        op = Op(self.steps, state.index, kind, what, location, value, line, state.preempting, sync,
                len(self.choices), state.ops, update, file)
        self.log.append(op)
        self.log_bytes += STEP_BYTES + len(what) + len(value)
        state.preempting = False
        self._observe(state, kind, location, value)
        return op

    def settle(self, op: Op | None, value: Callable[[], str], field: str = "value") -> None:
        """``op`` (a write, logged as announced) gets its value once it happened:
        at the thread's next operation or at its end, before any other thread runs
        (``field``: ``after``, a container as a call left it)."""
        if op is not None:
            self.threads[op.thread].unsettled = (op, value, field)

    def _settle(self, state: _Thread) -> None:
        if state.unsettled is not None:
            op, value, field = state.unsettled
            state.unsettled = None
            text = value()
            setattr(op, field, text)
            self.log_bytes += len(text)

    def pending_ops(self) -> dict[int, PendingOp]:
        """Every live thread's announced next operation, by thread index."""
        return {t.index: PendingOp(*t.announced) for t in self.threads
                if not t.done and t.pending is not None and t.announced is not None}

    def clock(self) -> float:
        """The virtual time, as the calling thread reads it (``time.monotonic()``…):
        its loop may end by time (spin detection lets the clock move for it)."""
        me = self.me()
        if me >= 0:
            self.threads[me].timed = True
        return self.now

    # -- spinning ------------------------------------------------------------------

    def _observe(self, state: _Thread, kind: str, location: tuple[int, str] | None, value: str) -> None:
        """Fair scheduling without losing behaviours: a thread whose whole state
        (its frames' positions and locals, what it just read, the random
        generator) repeats while no thread changed anything is in a cycle it
        cannot leave by itself. It is held back until some thread changes
        something; a thread whose state differs (a retry counter) never is."""
        if kind not in PASSIVE:
            for other in self.threads:  # anything may have changed: everyone looks afresh
                if other.window:
                    other.window.clear()
                other.spinning = other.timed = False
            self._quantum = FIRST_QUANTUM
            return
        key = (location, value, kind)
        states = state.window.get(key)
        if states is None:
            state.window[key] = set()  # first look: cheap, most reads are never repeated
            return
        fingerprint = _state_fingerprint()
        if fingerprint in states:
            state.spinning = True
        else:
            states.add(fingerprint)

    # -- choosing --------------------------------------------------------------

    def _next(self, me: int | None, finished: bool = False) -> None:
        """Choose who performs the next operation, and hand over the token."""
        guest = self.guest
        if guest is not None and guest.enabled():
            self._switch(me, GUEST, finished)  # setup or the outcome goes on as soon as it can
            return
        # First let every thread that has not started run to its first operation.
        for state in self.threads:
            if not state.started and not state.done and (self.phase != "setup" or guest is not None):
                self._switch(me, state.index, finished)
                return
        if self.phase == "threads" and not any(t.case and not t.done for t in self.threads):
            # The case's threads are done: the trial ends; threads the program
            # started stay where they are (the outcome may still need them).
            self.current = None
            self.finished.set()
            if not finished and me is not None:
                self.threads[me].semaphore.acquire()  # parked until the outcome needs it, or unwound
            return
        live = [t for t in self.threads if not t.done and t.pending is not None]
        ready = [t for t in live if t.pending()]
        sleepers = [t for t in live if t.sleeping and t.deadline is not None and t not in ready]
        if self.keep_frames:
            # Lecture and play: who waits (a held lock, an empty queue, a condition) after this many operations.
            self.waiting_at[len(self.log)] = [t.index for t in live if t not in ready]
        if not ready and not sleepers:
            self._nobody_can_move(me, live, finished)
            return
        # A spinning thread waits while another can move (a sleeper that may
        # wake is one); when only spinners can, the clock moves for those that
        # watch it, or none of them will ever leave its cycle.
        progressing = [t for t in ready if not t.spinning]
        if progressing:
            self.spin_blocks += len(ready) - len(progressing)
            ready = progressing
        elif ready and sleepers:
            self.spin_blocks += len(ready)
            ready = []
        elif ready:
            if not any(t.timed for t in ready):
                self._abort(me, livelock=self._describe_livelock(ready), finished=finished)
                return
            self._let_time_pass(ready)
        enabled = [t.index for t in ready] + [t.index for t in sleepers]
        self._begin()
        self.steps += 1
        if self.steps > self.step_limit or self.log_bytes > LOG_BUDGET:
            self.over_memory = self.log_bytes > LOG_BUDGET
            self._abort(me, step_limit=True, finished=finished)
            return
        # A thread that has made no operation yet is not interrupted by a choice of another.
        current = None if finished or me is None or not self.threads[me].ops else me
        ready_indices = {t.index for t in ready}
        if current is not None and current not in ready_indices:
            self.gave_way += 1
            current = None
        self.strategy.timing = frozenset(t.index for t in sleepers)
        try:
            chosen = self.strategy.next_task(enabled, current, self.steps) if len(enabled) > 1 else enabled[0]
        except ScheduleMismatch as exc:
            self.mismatch = {"wanted": exc.wanted, "position": exc.position, "enabled": exc.enabled}
            self._abort(me, finished=finished)
            return
        except ScheduleEnd as end:
            self.steps -= 1  # the step it stopped before is not taken
            self.paused = {"enabled": end.enabled, "current": end.current, "next": self._next_operations()}
            self._abort(me, finished=finished)
            return
        self.strategy.stepped(chosen)
        chosen_state = self.threads[chosen]
        if chosen not in ready_indices:  # a sleep that time ends here
            chosen_state.timeout_result = True
            self._reach(chosen_state.deadline)
        if len(enabled) > 1:
            self.choices.append(chosen)
            enabled_set = tuple(enabled)
            self.enabled_at.append(self._enabled_sets.setdefault(enabled_set, enabled_set))
            # A preemption: the thread that was running could have gone on (or a
            # sleep ended while a thread was ready to run).
            preempting = (current is not None and chosen != current) or (
                chosen not in ready_indices and bool(ready_indices))
            chosen_state.preempting = preempting
            self.preemptions += preempting
        if chosen != me or finished:
            self._switch(me, chosen, finished)

    def _nobody_can_move(self, me: int | None, live: list[_Thread], finished: bool) -> None:
        """No thread can move: a wait gives up (its timeout, the earliest first),
        setup or the outcome waits for ever, or the trial is a deadlock."""
        guest = self.guest
        timed = [t for t in live if t.deadline is not None]
        if guest is not None and guest.deadline is not None and all(guest.deadline <= t.deadline for t in timed):
            guest.timed_out = True
            self._reach(guest.deadline)
            self._switch(me, GUEST, finished)
            return
        if timed:
            chosen = min(timed, key=lambda t: (t.deadline, t.index))
            chosen.timeout_result = True
            self._reach(chosen.deadline)
            self._begin()
            self.steps += 1
            self.strategy.stepped(chosen.index)
            self._switch(me, chosen.index, finished)
            return
        if guest is None and not live:
            self.current = None
            self.finished.set()
            return
        if guest is None and self.phase == "threads" and not any(t.case and not t.done for t in self.threads):
            self.current = None
            self.finished.set()
            return
        self._abort(me, deadlock=self._describe_deadlock(live), finished=finished)

    def _reach(self, deadline: float | None) -> None:
        """Virtual time passes to a wait's deadline, and a microsecond past it:
        a real wait always overshoots, and a program that compares clock
        readings across it (``after - before >= timeout``) must see it has."""
        if deadline is not None:
            self.now = max(self.now, deadline + OVERSHOOT)

    def _begin(self) -> None:
        if not self._begun:
            self._begun = True
            self.strategy.begin(len(self.threads))

    def _let_time_pass(self, watching: list[_Thread]) -> None:
        """Every thread that can move spins on the clock: let virtual time pass
        (doubling each time, from a millisecond), so that its deadline comes."""
        self.now += self._quantum
        self._quantum *= 2
        for state in watching:
            state.spinning = False
            state.window.clear()

    def _switch(self, me: int | None, target: int, finished: bool) -> None:
        if target == GUEST:
            self.current = GUEST
            assert self.guest is not None
            self.guest.semaphore.release()
        else:
            state = self.threads[target]
            state.started = True
            self.current = target
            state.semaphore.release()
        if not finished and me is not None and me >= 0:
            self.threads[me].semaphore.acquire()

    def _abort(self, me: int | None, deadlock: dict | None = None, step_limit: bool = False,
               livelock: dict | None = None, finished: bool = False) -> None:
        self.deadlock = deadlock
        self.livelock = livelock
        self.aborted = ("deadlock" if deadlock else "livelock" if livelock else "step limit" if step_limit else
                        "schedule mismatch" if self.mismatch else "paused" if self.paused else "aborted")
        for state in self.threads:
            if not state.done and state.index != me:
                state.semaphore.release()
        if self.guest is not None:
            self.guest.semaphore.release()
        self.finished.set()
        if not finished and me is not None and me >= 0:
            raise Abort(self.aborted)

    def _describe_deadlock(self, waiting: list[_Thread]) -> dict[str, Any]:
        """Who waits for what, and who holds what: facts the report words."""
        facts: dict[str, Any] = {
            "waiting": [self._waits_for(t) for t in waiting],
            "held": [{"what": label, "by": self._name_of(holder)} for label, holder in self.holders.values()],
            "finished": [t.name for t in self.threads if t.completed]}
        if self.guest is not None:
            facts["waiting"].insert(0, {"thread": self.guest_name(), "kind": self.guest.kind, "what": self.guest.what})
        facts["cause"] = deadlock_cause(facts["waiting"], facts["finished"])
        return facts

    def _name_of(self, index: int) -> str:
        return self.threads[index].name if index >= 0 else self.guest_name()

    def _waits_for(self, state: _Thread) -> dict[str, Any]:
        """What one stuck thread waits to do, and what the log says about it:
        who holds the lock, whose notification came before the wait and woke
        nobody, how many of a barrier's parties arrived."""
        if state.announced is None:
            return {"thread": state.name, "kind": "?", "what": "?"}
        _, kind, what, _, sync = state.announced
        entry: dict[str, Any] = {"thread": state.name, "kind": kind, "what": what}
        frame = state.frame
        if frame is None and state.os_thread is not None:
            frame = (sys._getframe() if state.os_thread is threading.current_thread()
                     else sys._current_frames().get(state.os_thread.ident))
        if frame is not None:
            line, where = _place_of(frame)
            entry["line"] = line
            if where != self.case_file and where:
                entry["file"] = self.module_files.get(where) or shown_file(where)
        if sync is None:
            return entry
        if kind == "acquire" and sync in self.holders:
            entry["holder"] = self._name_of(self.holders[sync][1])
        elif kind == "be-notified":
            began = max((i for i, op in enumerate(self.log)
                         if op.thread == state.index and op.kind == "cond-wait" and op.sync == sync), default=0)
            given = [self.threads[op.thread].name for op in self.log[:began]
                     if op.kind == "notify" and op.sync == sync and op.value == NOBODY_WAITING]
            if given:
                entry["notified_before"] = list(dict.fromkeys(given))
            # Notifications while it waited that woke another waiter (notify() wakes one).
            others = [self.threads[op.thread].name for op in self.log[began:]
                      if op.kind == "notify" and op.sync == sync and op.value != NOBODY_WAITING]
            if others:
                entry["notified_others"] = list(dict.fromkeys(others))
        elif kind == "pass":
            arrivals = [op.value for op in self.log if op.kind == "arrive" and op.sync == sync]
            if arrivals and "/" in arrivals[-1]:
                arrived, parties = arrivals[-1].split("/", 1)
                entry["arrived"], entry["parties"] = int(arrived), int(parties)
        return entry

    def begin_outcome(self) -> None:
        """The case's threads have ended: the outcome is read (as the guest)."""
        self.phase = "outcome"
        self.guest_log.append((len(self.log), "join"))

    def case_threads(self) -> list[int]:
        return [t.index for t in self.threads if t.case]

    def guest_name(self) -> str:
        return "outcome" if self.phase == "outcome" else "setup"

    def _next_operations(self) -> list[dict[str, Any]]:
        """Every live thread's announced operation and the line it waits at: what
        ``racekit play`` offers the student to choose from (facts; each thread
        is stopped in :meth:`point` at the frame it announced from)."""
        found = []
        for t in self.threads:
            if t.done or t.pending is None or t.announced is None:
                continue
            line, where = _place_of(t.frame)
            found.append({"thread": t.index, "kind": t.announced[1], "what": t.announced[2], "line": line,
                          "file": self.module_files.get(where, ""), "can_move": bool(t.pending())})
        return found

    def _describe_livelock(self, spinning: list[_Thread]) -> dict[str, Any]:
        """Who keeps re-reading what, in a state it was already in."""
        return {"spinning": [{"thread": t.name, "reads": sorted((self._location_facts(key) for key in t.window),
                                                                 key=lambda f: (f["what"], f["value"]))[:4]}
                             for t in spinning]}

    def _location_facts(self, key: tuple) -> dict[str, str]:
        location, value, kind = key
        if kind == "sleep":
            return {"what": "", "value": "", "clock": "sleep"}
        for op in reversed(self.log):
            if op.location == location:
                return {"what": op.what, "value": value}
        return {"what": "", "value": value}

    def outcome(self) -> Outcome:
        for state in self.threads:
            self._settle(state)
        return Outcome(self.choices, self.log, self.steps, self.deadlock,
                       self.aborted == "step limit", self.mismatch, self.livelock, self.paused)


def _state_fingerprint() -> int:
    """The calling case thread's state, as far as Python can see it: every case
    frame's position and locals, and the random generator. Equal fingerprints
    with nothing changed in between mean the thread is going round in a cycle."""
    import random as _random

    parts: list[object] = [hash(_random.getstate())]
    frame: Any = sys._getframe(1)
    for _ in range(FINGERPRINT_FRAMES):
        if frame is None:
            break
        filename = frame.f_code.co_filename
        if not filename.startswith(_RACEKIT_DIR) and filename != _THREADING:
            # By name: on 3.10 a frame's f_locals dict keeps the order its names were first bound in
            # while it was being read, so the same state can list them in another order.
            parts.append((id(frame.f_code), frame.f_lasti,
                          tuple((k, _fingerprint(v)) for k, v in sorted(frame.f_locals.items(), key=_name))))
        frame = frame.f_back
    else:
        # Deeper frames stand for themselves: a live frame keeps its identity, so a
        # loop finds the same one below it each time round, while each level of a
        # recursion has its own. Walking the whole stack at every repeated read made
        # a deep recursion quadratic (seconds at the default recursion limit).
        parts.append(id(frame))
    return hash(tuple(parts))


def _name(item: tuple[str, Any]) -> str:
    return item[0]


def _fingerprint(value: Any) -> object:
    """A cheap, bounded stand-in for a local's value (never a full repr of a big
    list, never the program's own ``__repr__`` or ``__eq__``)."""
    kind = type(value)
    if value is None or kind in (bool, int, float, complex, str, bytes):
        return value if kind not in (str, bytes) or len(value) <= 200 else (len(value), hash(value))
    if kind in (list, tuple, dict, set, frozenset):
        items = list(dict.items(value))[-3:] if kind is dict else list(value)[-3:] if kind not in (
            set, frozenset) else sorted(short_value(v) for v in value)[:3]
        return (kind.__name__, len(value), tuple(_fingerprint(i) if type(i) is not tuple else short_value(i)
                                                 for i in items))
    state = peek.instance_dict(value)
    if state is not None and not issubclass(kind, type):
        return (kind.__name__, id(value), tuple((k, _shallow(v)) for k, v in list(state.items())[:8]))
    return (kind.__name__, id(value))


def _shallow(value: Any) -> object:
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if kind in (list, tuple, dict, set):
        return (kind.__name__, len(value))
    return id(value)


_RACEKIT_DIR = __file__.rsplit("/runtime/", 1)[0]
_THREADING = threading.__file__


def short_value(value: Any, whole: bool = False) -> str:
    """A value as a trace row shows it, cut to 40 characters (``whole``: not cut).

    Only values whose ``repr`` is CPython's own are spelled out (numbers,
    strings, built-in containers of them); any other object is shown by its
    type, ``<Account>``: its ``__repr__`` is the program's code, which racekit
    never runs (it could touch shared state, or do anything else)."""
    try:
        text = _plain_repr(value, 2)
    except RecursionError:  # the program is near the recursion limit: show less, never fail
        text = f"<{type(value).__name__}>"
    if whole:
        return text
    size = len(value) if type(value) in _SIZED else None
    if size is not None and (len(text) > 40 or size > _SHOWN_ITEMS and type(value) not in (str, bytes)):
        # Cut, but with its length: a list of 20 and one of 21 must not look the same.
        suffix = f" len={size}"
        return (text if len(text) + len(suffix) <= 48 else text[:45 - len(suffix)] + "...") + suffix
    return text if len(text) <= 40 else text[:37] + "..."


_PLAIN_TYPES = frozenset({int, float, complex, bool, str, bytes, type(None), type(Ellipsis), range})
_SHOWN_ITEMS = 8
_SIZED = frozenset({str, bytes, list, tuple, set, frozenset, collections.deque, dict, collections.OrderedDict,
                    collections.defaultdict, collections.Counter})


def _plain_repr(value: Any, depth: int) -> str:
    kind = type(value)
    if kind in _PLAIN_TYPES:
        if kind is int and value.bit_length() > 256:
            return f"<int of {len(str(abs(value) >> 0)) if value.bit_length() < 10000 else 'many'} digits>"
        try:
            return repr(value) if kind not in (str, bytes) or len(value) <= 200 else repr(value[:200]) + "..."
        except (ValueError, RecursionError):  # an int too long to print, no room left on the stack
            return f"<{kind.__name__}>"
    if kind in (list, tuple, set, frozenset, collections.deque) and depth > 0:
        items = [_plain_repr(v, depth - 1) for v in itertools.islice(value, _SHOWN_ITEMS)]
        if len(value) > _SHOWN_ITEMS:
            items.append("...")
        if kind is list:
            return f"[{', '.join(items)}]"
        if kind is tuple:
            return f"({', '.join(items)}{',' if len(value) == 1 else ''})"
        if kind is collections.deque:
            return f"deque([{', '.join(items)}])"
        if not value:
            return f"{kind.__name__}()"
        inner = f"{{{', '.join(items)}}}"
        return inner if kind is set else f"frozenset({inner})"
    if kind in (dict, collections.OrderedDict, collections.defaultdict, collections.Counter) and depth > 0:
        pairs = [f"{_plain_repr(k, depth - 1)}: {_plain_repr(v, depth - 1)}"
                 for k, v in itertools.islice(dict.items(value), _SHOWN_ITEMS)]
        if len(value) > _SHOWN_ITEMS:
            pairs.append("...")
        return f"{{{', '.join(pairs)}}}"
    if issubclass(kind, enum.Enum):
        name = (peek.instance_dict(value) or {}).get("_name_")
        return f"{kind.__name__}.{name}" if type(name) is str else f"<{kind.__name__}>"
    if kind in (list, tuple, set, frozenset, collections.deque, dict):
        return f"{kind.__name__}(...)"
    return f"<{kind.__name__}>"


def _case_place() -> tuple[int, str]:
    """The line and file of the program's code that called into racekit (a lock or queue operation)."""
    return _place_of(sys._getframe(2))


def raised_at(exc: BaseException) -> tuple[int, str]:
    """The line and file of the program's own code where ``exc`` was raised (the
    innermost such frame of its traceback: not racekit's, not threading's)."""
    found = (0, "")
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith(_RACEKIT_DIR) and filename != _THREADING:
            found = (tb.tb_lineno, filename)
        tb = tb.tb_next
    return found


def _place_of(frame: Any) -> tuple[int, str]:
    """The line and file of the innermost frame of the program's own code at or
    above ``frame`` (not racekit's, not the standard library's: ``future.result()``
    in the user's module, not the line of ``concurrent/futures`` that waits); the
    innermost library frame when the thread runs no code of the program's (a pool's worker)."""
    fallback: tuple[int, str] | None = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_RACEKIT_DIR) and filename != _THREADING:
            if not filename.startswith(_STDLIB) or "site-packages" in filename:
                return frame.f_lineno, filename
            if fallback is None:
                fallback = (frame.f_lineno, filename)
        frame = frame.f_back
    return fallback or (0, "")


_STDLIB = os.path.dirname(os.__file__) + os.sep


def shown_file(path: str) -> str:
    """A file racekit does not rewrite, as a trace names it: the standard
    library's and site-packages' relative to their folder, others as they are."""
    if not path:
        return ""
    if "site-packages" + os.sep in path:
        return path.rsplit("site-packages" + os.sep, 1)[1]
    if path.startswith(_STDLIB):
        return path[len(_STDLIB):]
    return path


def _always() -> bool:
    return True
