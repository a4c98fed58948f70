"""Dynamic partial-order reduction: one execution per class of equivalent interleavings.

Two interleavings that differ only in the order of independent operations
(reads of the same value, accesses to different locations, operations on
different locks) end the same way: they are one Mazurkiewicz trace. A plain
depth-first search runs every interleaving: 1,680 for three threads doing two
``x.v += 1`` each. DPOR (Flanagan and Godefroid, POPL 2005) runs one
execution, and at every step looks back for the last operation of another
thread that conflicts with what a thread is about to do and is not already
ordered before it (happens-before, kept with vector clocks); only there does
it plan to try the other order, at the state before that operation. Sleep
sets (Godefroid 1996) keep it from running a reordering it has already run.
An execution whose every runnable thread sleeps adds nothing new: it is run
to its end (racekit cannot rewind a real execution) and marked ``redundant``.

Conflicts, from each thread's announced next operation (``PendingOp``):

- reads and writes (and container calls, which count as writes) conflict
  when they touch the same location of the same object, one of them not a
  read; an operation on a whole container (``len``, iteration, ``append``:
  key ``*``) touches all its locations;
- operations on one lock, semaphore or queue conflict with each other (they
  carry its ``sync`` id);
- anything else (a join, a sleep, a condition or event wait, a wait that may
  time out, whose enabling depends on every thread) conflicts with
  everything: the reduction stays sound where it cannot tell.

The search is complete when no planned reordering is left: every trace has
then been run. It has no preemption bound; ``racekit.runtime.controlled.search``
runs the small bounds first with plain DFS (their failures need the fewest
preemptions) and then this search for completeness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from racekit.records import PendingOp
from racekit.runtime.controlled.strategies import Strategy, go_on, is_preemption

READ_KINDS = frozenset({"read"})
DATA_KINDS = frozenset({"read", "write", "delete", "call"})


@dataclass
class _State:
    """A choice point of the search: what could run there, and what is left to try."""

    enabled: list[int]
    current: int | None
    chosen: int
    pending: dict[int, PendingOp]
    backtrack: set[int]
    done: set[int]
    sleep: dict[int, PendingOp]
    redundant: bool = False  # every runnable thread slept here: nothing below is new


@dataclass
class _Event:
    thread: int
    op: PendingOp | None
    clock: list[int]  # vector clock: per thread, how many of its operations happen before (or are) this one
    position: int | None  # its choice point, None for a step no other thread could take
    seq: int = 0  # its place in the execution


@dataclass
class _History:
    """One execution's operations, indexed by what they touch, with their vector clocks.

    A clock is joined only with the events that can still add to it: an event
    that conflicts with all earlier ones of a list (a write to one location, an
    operation on a lock, a whole-container write, a global operation) happens
    after each of them, so its clock already holds theirs and the scan stops."""

    threads: int
    events: list[_Event] = field(default_factory=list)
    last_of_thread: dict[int, _Event] = field(default_factory=dict)
    by_location: dict[tuple[int, str], list[_Event]] = field(default_factory=dict)
    by_object: dict[int, list[_Event]] = field(default_factory=dict)
    by_sync: dict[int, list[_Event]] = field(default_factory=dict)
    global_events: list[_Event] = field(default_factory=list)
    all_clock: list[int] = field(default_factory=list)  # the join of every event's clock

    def clock_of(self, thread: int) -> list[int]:
        event = self.last_of_thread.get(thread)
        return _grown(event.clock if event is not None else [], max(self.threads, thread + 1))

    def candidates(self, op: PendingOp | None) -> list[tuple[list[_Event], bool]]:
        """The lists of earlier events that may conflict with ``op``, each with
        whether an event of it that conflicts with ``op`` and writes ends the scan."""
        if _is_global(op):
            return [(self.events, False)]
        assert op is not None
        lists: list[tuple[list[_Event], bool]] = [(self.global_events, True)]
        if op.sync is not None:
            lists.append((self.by_sync.get(op.sync, []), True))
        if op.location is not None and op.kind in DATA_KINDS:
            obj, key = op.location
            if key == "*":
                lists.append((self.by_object.get(obj, []), False))
            else:
                lists.append((self.by_location.get((obj, key), []), True))
                lists.append((self.by_location.get((obj, "*"), []), True))
        return lists

    def add(self, thread: int, op: PendingOp | None, position: int | None) -> None:
        self.threads = max(self.threads, thread + 1)
        clock = self.clock_for(thread, op)
        clock[thread] += 1
        event = _Event(thread, op, clock, position, len(self.events))
        self.events.append(event)
        self.last_of_thread[thread] = event
        self.all_clock = _join(self.all_clock, clock)
        if _is_global(op):
            self.global_events.append(event)
            return
        assert op is not None
        if op.sync is not None:
            self.by_sync.setdefault(op.sync, []).append(event)
        if op.location is not None and op.kind in DATA_KINDS:
            self.by_location.setdefault(op.location, []).append(event)
            self.by_object.setdefault(op.location[0], []).append(event)

    def clock_for(self, thread: int, op: PendingOp | None) -> list[int]:
        """What happens before ``thread`` performing ``op`` next (its own count not yet raised)."""
        clock = self.clock_of(thread)
        if _is_global(op):
            clock = _join(clock, self.all_clock)  # it conflicts with everything before it
        else:
            for events, dominated in self.candidates(op):
                for event in reversed(events):
                    if event.thread == thread or not conflict(event.op, op):
                        continue
                    clock = _join(clock, event.clock)
                    if dominated and _writes(event.op) or _is_global(event.op) or _whole_write(event.op):
                        break  # every earlier event of this list happens before this one
        return _grown(clock, max(self.threads, thread + 1))

    def initials_after(self, race: _Event, thread: int, op: PendingOp | None) -> set[int]:
        """The threads that can start the reordering (source-DPOR's initials): of the
        events after ``race`` that do not happen after it, followed by ``thread``'s
        next operation ``op``, those whose first event there nothing else there
        happens before."""
        after = [f for f in self.events[race.seq + 1:] if _at(f.clock, race.thread) < race.clock[race.thread]]
        firsts: dict[int, list[int]] = {}
        for f in after:
            firsts.setdefault(f.thread, f.clock)
        if thread not in firsts:
            firsts[thread] = self.clock_for(thread, op)
            firsts[thread][thread] += 1
        initials = set()
        for candidate, clock in firsts.items():
            if not any(g.thread != candidate and _at(clock, g.thread) >= g.clock[g.thread] for g in after
                       if g.thread != candidate):
                initials.add(candidate)
        return initials

    def races(self, thread: int, op: PendingOp | None) -> list[_Event]:
        """The events of other threads in a race with ``thread``'s next operation
        ``op``: conflicting with it, not ordered before the thread already, and not
        ordered before another such event (then that one is the race, this one
        only happens before it)."""
        seen = self.clock_of(thread)
        unordered: dict[int, _Event] = {}
        for events, dominated in self.candidates(op):
            for event in reversed(events):
                if event.thread == thread or not conflict(event.op, op):
                    continue
                if event.clock[event.thread] > _at(seen, event.thread):
                    unordered[event.seq] = event
                if dominated and _writes(event.op) or _is_global(event.op) or _whole_write(event.op):
                    break  # every earlier event of this list happens before this one
        found = list(unordered.values())
        return [e for e in found if not any(other is not e and _at(other.clock, e.thread) >= e.clock[e.thread]
                                            for other in found)]


def _join(a: list[int], b: list[int]) -> list[int]:
    if len(a) < len(b):
        a, b = b, a
    return [max(x, y) for x, y in zip(a, b)] + a[len(b):]


def _grown(clock: list[int], size: int) -> list[int]:
    return list(clock) + [0] * (size - len(clock))


def _at(clock: list[int], thread: int) -> int:
    return clock[thread] if thread < len(clock) else 0


def _writes(op: PendingOp | None) -> bool:
    return op is None or op.sync is not None or op.kind not in READ_KINDS


def _whole_write(op: PendingOp | None) -> bool:
    return op is not None and op.location is not None and op.location[1] == "*" and op.kind in DATA_KINDS \
        and op.kind not in READ_KINDS


def conflict(a: PendingOp | None, b: PendingOp | None) -> bool:
    """Whether two operations may not commute (see the module's docstring)."""
    if _is_global(a) or _is_global(b):
        return True
    assert a is not None and b is not None
    if a.sync is not None and a.sync == b.sync:
        return True
    if a.location is None or b.location is None or a.kind not in DATA_KINDS or b.kind not in DATA_KINDS:
        return False
    (object_a, key_a), (object_b, key_b) = a.location, b.location
    if object_a != object_b or (key_a != key_b and "*" not in (key_a, key_b)):
        return False
    return not (a.kind in READ_KINDS and b.kind in READ_KINDS)


def _is_global(op: PendingOp | None) -> bool:
    return op is None or (op.sync is None and (op.location is None or op.kind not in DATA_KINDS))


class PartialOrder(Strategy):
    """Stateless DPOR with sleep sets over the controller's announced operations.

    :meth:`next_task` decides at the choice points (more than one thread can
    move); :meth:`stepped` sees every step, choices and forced steps alike: the
    race analysis and the sleep set need all of them."""

    search = True
    reduction = "dpor"

    def __init__(self) -> None:
        self.path: list[_State] = []
        self.position = 0
        self.preemptions = 0
        self.pruned = False  # no bound: nothing is ever left out
        self.redundant = False  # the execution under way adds no new trace
        self._started = False
        self._controller: Any = None
        self._history = _History(0)
        self._sleep: dict[int, PendingOp] = {}
        self._analysing = True  # the states reached now are new: look back for races there
        self._analyse_after_step = False
        self._choice: int | None = None  # the choice point of the step under way

    @classmethod
    def for_trial(cls, seed: int, **_settings: object) -> PartialOrder:
        return cls()

    def bind(self, controller: Any) -> None:
        self._controller = controller

    def begin(self, threads: int) -> None:
        self._history = _History(threads)

    def new_execution(self) -> bool:
        if self._started:
            while self.path and not self._left(self.path[-1]):
                self.path.pop()
            if not self.path:
                return False  # no reordering left to try: every trace has run
            state = self.path[-1]
            state.chosen = min(self._left(state))
            state.done.add(state.chosen)
            self._analysing = False  # the prefix up to that state was analysed when first run
        self._started = True
        self.position = 0
        self.preemptions = 0
        self.redundant = False
        self._sleep = {}
        self._choice = None
        return True

    def schedule(self) -> tuple[int, ...]:
        return tuple(s.chosen for s in self.path)

    def next_task(self, enabled: Sequence[int], current: int | None, step: int) -> int:
        if self.position < len(self.path):
            state = self.path[self.position]
            chosen = state.chosen if state.chosen in enabled else enabled[0]
            if self.position == len(self.path) - 1 and not self._analysing:
                self._analyse_after_step = True  # the backtracked state: new states follow its new choice
        else:
            pending = self._controller.pending_ops() if self._controller is not None else {}
            sleep = dict(self._sleep)
            awake = [t for t in enabled if t not in sleep]
            redundant = self.redundant or not awake
            chosen = go_on(awake or list(enabled), current)
            state = _State(list(enabled), current, chosen, pending, {chosen}, {chosen}, sleep, redundant)
            self.path.append(state)
        self.redundant = self.redundant or state.redundant
        for thread in state.done:  # choices explored before this one sleep until something conflicts
            if thread != chosen and thread in state.pending:
                self._sleep[thread] = state.pending[thread]
        self._choice = self.position
        self.position += 1
        self.preemptions += is_preemption(chosen, enabled, current, self.timing)
        return chosen

    def stepped(self, chosen: int) -> None:
        pending = self._controller.pending_ops() if self._controller is not None else {}
        op = pending.get(chosen)
        if self._analysing and not self.redundant:
            self._plan_reorderings(pending)
        self._history.add(chosen, op, self._choice)
        self._choice = None
        self._sleep = {t: other for t, other in self._sleep.items() if t != chosen and not conflict(other, op)}
        if self._analyse_after_step:
            self._analysing, self._analyse_after_step = True, False

    def _plan_reorderings(self, pending: dict[int, PendingOp]) -> None:
        """Every thread's next operation, against the latest conflicting event
        not ordered before it: plan the other order at the state before that event."""
        for thread, op in pending.items():  # threads that ended, or have not started, announce nothing
            for race in self._history.races(thread, op):
                if race.position is None:
                    continue  # taken where no other thread could move: no other order there
                before = self.path[race.position]
                initials = self._history.initials_after(race, thread, op)
                if initials & before.backtrack:
                    continue  # a reordering that starts this way is already planned (or run)
                startable = sorted(initials & set(before.enabled))
                if startable:
                    before.backtrack.add(startable[0])
                else:
                    before.backtrack.update(before.enabled)  # none can start there: try them all

    @staticmethod
    def _left(state: _State) -> set[int]:
        return {t for t in state.backtrack - state.done if t in state.enabled and t not in state.sleep}
