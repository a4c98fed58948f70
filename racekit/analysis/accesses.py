"""Exact analyses of an access log: lost updates, data races, lock order.

A controlled trial (and a ``yield`` trial) logs every visible operation in the
order it happened. From that order:

- a **lost update** is a write by T to a location whose value T read earlier,
  while other threads wrote it in between: each of those writes is lost;
- a **data race** is two accesses to one location from different threads, at
  least one a write, not ordered by happens-before (vector clocks advanced by
  lock release/acquire, queue put/get, event set/wait, barrier passes,
  thread start/join);
- the **lock order** is every pair (held, then acquired) by one thread; a
  cycle across trials is a potential deadlock even if none happened.

The worker summarises each trial's log with these functions (logs can hold
thousands of operations; their findings are small), so trial records stay
plain facts for the rest of the analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from racekit.records import Op, ambiguous

# Operations that publish a thread's history to a synchronisation object, and
# those that take it in.
_RELEASES = {"release", "put", "set", "arrive", "notify", "task-done", "start", "end"}
# A barrier's arrival takes in what the earlier arrivals published too: the last
# party to arrive never waits (no "pass"), yet goes on after every other arrived.
_ACQUIRES = {"acquire", "get", "wait", "pass", "join", "join-tasks", "be-notified", "begin", "arrive"}


@dataclass(frozen=True)
class LostUpdate:
    read: Op  # T read the location …
    overwritten: tuple[Op, ...]  # … other threads wrote it …
    write: Op  # … and T wrote it back, erasing those writes


def lost_updates(log: Sequence[Op]) -> list[LostUpdate]:
    """The updates (writes computed from the writer's own read, ``x += 1``) whose
    effect never reaches the location's final value.

    Per location, the writes form versions 1, 2, …; an update knows the version
    its read saw. The final value descends from the last write through those
    reads: a chain back to the initial value or to a plain assignment. Every
    update after that start and off the chain was overwritten by a write that
    never saw it: lost, and counted once (for a counter of ``+= 1``, the count
    is exactly the expected value minus the observed one). A plain write
    (``cache = make()``) is not an update, so a double initialisation or an
    overdraft computed from fresh reads is not called a lost update."""
    writes: dict[tuple, list[tuple[Op, tuple[int, Op] | None]]] = {}
    last_read: dict[tuple, tuple[int, Op]] = {}  # (thread, location) -> (version it saw, the read)
    for op in log:
        if op.location is None or ambiguous(op.location):
            continue  # two keys that may be one slot: nothing is counted
        versions = writes.setdefault(op.location, [])
        if op.kind == "read":
            last_read[(op.thread, op.location)] = (len(versions), op)
        elif op.kind == "write":
            source = last_read.pop((op.thread, op.location), None) if op.update else None
            versions.append((op, source))
    found: list[LostUpdate] = []
    for versions in writes.values():
        chain: set[int] = set()
        version = len(versions)
        while version > 0:
            chain.add(version)
            source = versions[version - 1][1]
            if source is None:
                break  # a plain write: the final value starts here
            version = source[0]
        start = version
        lost = {v for v in range(start + 1, len(versions) + 1) if v not in chain and versions[v - 1][1] is not None}
        blamed: set[int] = set()
        for number, (write, source) in enumerate(versions, 1):
            if source is None:
                continue
            erased = [v for v in range(source[0] + 1, number) if v in lost and v not in blamed]
            if erased:
                blamed.update(erased)
                found.append(LostUpdate(source[1], tuple(versions[v - 1][0] for v in erased), write))
    found.sort(key=lambda lost: lost.write.step)
    return found


def count_lost(found: Iterable[LostUpdate]) -> int:
    return sum(len(lost.overwritten) for lost in found)


@dataclass(frozen=True)
class DataRace:
    first: Op
    second: Op


def _clocked(log: Sequence[Op], threads: int, guest: Sequence[tuple[int, Any]],
             case_threads: Iterable[int] | None) -> Iterable[tuple[Op, list[int]]]:
    """Each access of ``log`` (not a synchronisation) with its thread's vector
    clock at that moment: what ``data_races`` and ``unordered_calls`` order by.

    ``guest``: what setup and the outcome did while threads ran, as (position
    in the log, event): an Op of theirs on a synchronisation object (a put, a
    start), ``FORK`` (setup ended: the case's threads start after everything it
    did) or ``JOIN`` (the outcome began: the case's threads, ``case_threads``,
    had ended). Setup's and the outcome's own accesses are not logged: they are
    ordered only through these."""
    clocks = [[0] * threads for _ in range(threads)]
    for t in range(threads):
        clocks[t][t] = 1
    published: dict[int, list[int]] = {}
    guest_clock: list[int] = []
    pending = sorted(guest, key=lambda entry: entry[0])
    cases = set(case_threads) if case_threads is not None else None
    g = 0
    for position, op in enumerate(log):
        while g < len(pending) and pending[g][0] <= position:
            guest_clock = _guest_event(pending[g][1], guest_clock, clocks, published, cases)
            g += 1
        while op.thread >= len(clocks):  # a thread the program started: its own clock from now
            for clock in clocks:
                clock.append(0)
            clocks.append([0] * (len(clocks) + 1))
            clocks[-1][len(clocks) - 1] = 1
            for seen in published.values():
                seen.append(0)
        mine = clocks[op.thread]
        if op.sync is not None:
            if op.kind in _ACQUIRES:
                for t, c in enumerate(published.get(op.sync, ())):
                    mine[t] = max(mine[t], c)
            if op.kind in _RELEASES:
                _publish(published, op.sync, mine)
                mine[op.thread] += 1
            continue
        yield op, mine


def data_races(log: Sequence[Op], threads: int, guest: Sequence[tuple[int, Any]] = (),
               case_threads: Iterable[int] | None = None) -> list[DataRace]:
    """Conflicting accesses unordered by happens-before, at most one per location
    (``guest``, ``case_threads``: see :func:`_clocked`)."""
    last_write: dict[tuple, tuple[Op, int]] = {}
    reads: dict[tuple, dict[int, tuple[Op, int]]] = {}
    races: dict[tuple, DataRace] = {}
    for op, mine in _clocked(log, threads, guest, case_threads):
        if op.location is None or op.kind == "call" or op.location in races or ambiguous(op.location):
            continue  # calls are atomic steps; keys that may be one slot are not claimed
        epoch = mine[op.thread]
        write = last_write.get(op.location)
        if write is not None and write[0].thread != op.thread and mine[write[0].thread] < write[1]:
            races[op.location] = DataRace(write[0], op)
            continue
        if op.kind == "write":
            for reader, (read, stamp) in reads.get(op.location, {}).items():
                if reader != op.thread and mine[reader] < stamp:
                    races[op.location] = DataRace(read, op)
                    break
            else:
                last_write[op.location] = (op, epoch)
                reads.pop(op.location, None)
        else:
            reads.setdefault(op.location, {})[op.thread] = (op, epoch)
    return list(races.values())


def unordered_calls(log: Sequence[Op], threads: int, guest: Sequence[tuple[int, Any]] = (),
                    case_threads: Iterable[int] | None = None) -> list[DataRace]:
    """Pairs that are no data race yet may decide an outcome: a call that
    changes a container (``items.pop()``, atomic under the GIL) and another
    thread's call on it, or its read that looked into it (``if items:``); a
    look at a whole container (a loop's next item) and another thread's write
    to one of its slots; with nothing ordering them. A check-then-act on a list is such a pair: each
    step is atomic, their order is not. Not claimed as races; a wrong run's
    explanation tries them (their reversal must change the outcome)."""
    touched: dict[int, dict[tuple[int, str], tuple[Op, int]]] = {}  # container -> (thread, kind) -> its last
    found: list[DataRace] = []
    seen: set[tuple[int, int, int]] = set()
    for op, mine in _clocked(log, threads, guest, case_threads):
        if op.kind == "call" and op.location is not None:
            container, kind = op.location[0], "call"
        elif op.kind == "read" and op.into is not None:
            container, kind = op.into, "look"  # `if items:` where `items` is a name the threads also assign
        elif op.kind == "read" and op.location is not None and op.location[1] == "*":
            container, kind = op.location[0], "look"  # a look into the container itself (`if items:`, `len(items)`)
        elif op.kind == "write" and op.location is not None and not ambiguous(op.location):
            container, kind = op.location[0], "write"  # one slot of it (`d[k] = v`), against a look at the whole
        else:
            continue
        earlier_steps = [(earlier, stamp) for (other, earlier_kind), (earlier, stamp) in touched.get(container, {}).items()
                         if other != op.thread and mine[other] < stamp and _steps_conflict(earlier_kind, kind)]
        for earlier, _ in sorted(earlier_steps, key=lambda entry: entry[0].step):
            key = (container, earlier.line, op.line)
            if key not in seen:  # one pair per pair of lines: a loop's repeats teach nothing new
                seen.add(key)
                found.append(DataRace(earlier, op))
        touched.setdefault(container, {})[(op.thread, kind)] = (op, mine[op.thread])
    return found


def _steps_conflict(first: str, second: str) -> bool:
    """A call changes the container, so it conflicts with any step on it; a
    look at the whole conflicts with a write to one slot (an iteration meeting
    an insert). Two slots' reads and writes are data races, found elsewhere."""
    kinds = {first, second}
    return "call" in kinds or kinds == {"look", "write"}


# Synchronisations a program writes itself (not a thread's start or end): what
# an explanation may point at as ordering something, just not the racing pair.
_VISIBLE_RELEASES = {"release", "put", "set", "notify", "arrive", "task-done"}
_VISIBLE_ACQUIRES = {"acquire", "get", "wait", "pass", "be-notified", "join-tasks"}


@dataclass(frozen=True)
class MissedOrdering:
    """A synchronisation between the two racing threads that orders something,
    only not the racing pair: the releasing thread's access came after its
    release (``after``), or the acquiring thread's before its acquire (``before``)."""
    release: Op
    acquire: Op
    gap: str
    access: Op  # the access on the wrong side of it


def missed_ordering(log: Sequence[Op], race: DataRace) -> MissedOrdering | None:
    """Why "nothing orders them" although, say, an event lies between them: the
    synchronisation between the two threads whose order does not cover the pair."""
    positions = {id(op): i for i, op in enumerate(log)}
    if id(race.first) not in positions or id(race.second) not in positions:
        return None
    found: list[tuple[int, MissedOrdering]] = []
    for mine, theirs in ((race.first, race.second), (race.second, race.first)):
        mine_at, theirs_at = positions[id(mine)], positions[id(theirs)]
        releases: dict[int, list[int]] = {}
        for i, op in enumerate(log):
            if op.sync is None:
                continue
            if op.thread == mine.thread and op.kind in _VISIBLE_RELEASES:
                releases.setdefault(op.sync, []).append(i)
            elif op.thread == theirs.thread and op.kind in _VISIBLE_ACQUIRES and releases.get(op.sync):
                release = releases[op.sync][-1]
                if mine_at > release and theirs_at > i:
                    found.append((i, MissedOrdering(log[release], op, "after", mine)))
                elif mine_at < release and theirs_at < i:
                    found.append((i, MissedOrdering(log[release], op, "before", theirs)))
    # The hand-over the code meant to order the pair by: a wait the acquiring
    # thread made before its access (`q.join()`, then count), the latest such;
    # else the acquire nearest after an access that came too early.
    after = [entry for entry in found if entry[1].gap == "after"]
    if after:
        return max(after, key=lambda entry: entry[0])[1]
    return min(found, key=lambda entry: entry[0])[1] if found else None


FORK, JOIN = "fork", "join"  # the guest's phase changes (see data_races)


def _guest_event(event: Any, clock: list[int], clocks: list[list[int]], published: dict[int, list[int]],
                 cases: set[int] | None) -> list[int]:
    """Setup or the outcome synchronised with the threads: its clock, and theirs, after it."""
    size = len(clocks)
    clock = clock + [0] * (size - len(clock))
    if event == FORK:
        for mine in clocks:  # everything setup did happens before every thread that starts now
            for t in range(size):
                mine[t] = max(mine[t], clock[t])
        return clock
    if event == JOIN:
        for index, theirs in enumerate(clocks):  # the outcome runs once the case's threads ended
            if cases is None or index in cases:
                clock = [max(a, b) for a, b in zip(clock, theirs)]
        return clock
    op: Op = event
    if op.sync is None:
        return clock
    if op.kind in _ACQUIRES:
        for t, c in enumerate(published.get(op.sync, ())):
            if t < len(clock):
                clock[t] = max(clock[t], c)
    if op.kind in _RELEASES:
        _publish(published, op.sync, clock)
    return clock


def _publish(published: dict[int, list[int]], sync: int, clock: list[int]) -> None:
    """A release: the synchronisation object now carries ``clock`` too."""
    seen = published.setdefault(sync, [0] * len(clock))
    seen.extend([0] * (len(clock) - len(seen)))
    for t in range(len(clock)):
        seen[t] = max(seen[t], clock[t])


def acquired(kind: str, value: str) -> bool:
    """Whether a logged operation took a lock or a semaphore: a timed-out
    acquire did not, nor a try-acquire (logged only when it found it busy)."""
    return kind == "acquire" and value != "timed out"


def lock_order(log: Sequence[Op]) -> set[tuple[str, str]]:
    """Pairs (held, acquired): a thread acquired the second while holding the first.

    Only objects used as locks count: one released by a thread other than the
    one that took it (a semaphore used as a signal, a pool's idle counter) is
    no mutex, and holding it orders nothing. An acquire that could not wait
    (``acquire(blocking=False)``, a zero timeout) cannot take part in a deadlock."""
    taker: dict[str, int] = {}
    signals: set[str] = set()
    for op in log:
        if acquired(op.kind, op.value):
            taker[op.what] = op.thread
        elif op.kind == "release" and taker.get(op.what, op.thread) != op.thread:
            signals.add(op.what)
    held: dict[int, list[str]] = {}
    pairs: set[tuple[str, str]] = set()
    for op in log:
        if op.what in signals:
            continue
        if acquired(op.kind, op.value):
            if op.value != TRIED:
                for lock in held.get(op.thread, []):
                    if lock != op.what:
                        pairs.add((lock, op.what))
            held.setdefault(op.thread, []).append(op.what)
        elif op.kind == "release" and op.what in held.get(op.thread, []):
            held[op.thread].remove(op.what)
    return pairs


TRIED = "try"  # the value of a logged acquire that did not wait (non-blocking, or a zero timeout)


def lock_cycles(pairs: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Cycles in the lock-order graph, each as the list of locks around it."""
    graph: dict[str, set[str]] = {}
    for a, b in pairs:
        graph.setdefault(a, set()).add(b)
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                key = frozenset(path)
                if key not in seen:
                    seen.add(key)
                    cycles.append(list(path))
            elif nxt not in path and nxt > path[0]:
                visit(nxt, path + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    return cycles
