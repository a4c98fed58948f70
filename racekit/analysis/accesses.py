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
from typing import Iterable, Sequence

from racekit.runtime.controlled import Op

# Operations that publish a thread's history to a synchronisation object, and
# those that take it in.
_RELEASES = {"release", "put", "set", "arrive", "notify", "task-done", "start"}
_ACQUIRES = {"acquire", "get", "wait", "pass", "join", "be-notified"}


@dataclass(frozen=True)
class LostUpdate:
    read: Op  # T read the location …
    overwritten: tuple[Op, ...]  # … other threads wrote it …
    write: Op  # … and T wrote it back, erasing those writes


def lost_updates(log: Sequence[Op]) -> list[LostUpdate]:
    """One pass: for every thread with a read of a location still pending, the
    other threads' writes to it since (linear in the log, times the threads)."""
    unseen: dict[tuple, dict[int, tuple[Op, list[Op]]]] = {}  # location -> thread -> (its read, writes since)
    lost_already: set[int] = set()
    found: list[LostUpdate] = []
    for op in log:
        if op.location is None:
            continue
        pending = unseen.setdefault(op.location, {})
        if op.kind == "read":
            pending[op.thread] = (op, [])
        elif op.kind == "write":
            mine = pending.pop(op.thread, None)
            if mine is not None:
                erased = tuple(w for w in mine[1] if id(w) not in lost_already)
                if erased:
                    lost_already.update(id(w) for w in erased)
                    found.append(LostUpdate(mine[0], erased, op))
            for thread, (_read, writes) in pending.items():
                if thread != op.thread:
                    writes.append(op)
    return found


def count_lost(found: Iterable[LostUpdate]) -> int:
    return sum(len(lost.overwritten) for lost in found)


@dataclass(frozen=True)
class DataRace:
    first: Op
    second: Op


def data_races(log: Sequence[Op], threads: int) -> list[DataRace]:
    """Conflicting accesses unordered by happens-before, at most one per location."""
    clocks = [[0] * threads for _ in range(threads)]
    for t in range(threads):
        clocks[t][t] = 1
    published: dict[int, list[int]] = {}
    last_write: dict[tuple, tuple[Op, int]] = {}
    reads: dict[tuple, dict[int, tuple[Op, int]]] = {}
    races: dict[tuple, DataRace] = {}
    for op in log:
        if op.thread >= threads:
            continue  # a thread the case started itself: not tracked
        mine = clocks[op.thread]
        if op.sync is not None:
            if op.kind in _ACQUIRES:
                for t, c in enumerate(published.get(op.sync, ())):
                    mine[t] = max(mine[t], c)
            if op.kind in _RELEASES:
                seen = published.setdefault(op.sync, [0] * threads)
                for t in range(threads):
                    seen[t] = max(seen[t], mine[t])
                mine[op.thread] += 1
            continue
        if op.location is None or op.kind == "call" or op.location in races:  # calls are atomic steps
            continue
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


def lock_order(log: Sequence[Op]) -> set[tuple[str, str]]:
    """Pairs (held, acquired): a thread acquired the second while holding the first."""
    held: dict[int, list[str]] = {}
    pairs: set[tuple[str, str]] = set()
    for op in log:
        if op.kind == "acquire" and op.value != "timed out":
            for lock in held.get(op.thread, []):
                if lock != op.what:
                    pairs.add((lock, op.what))
            held.setdefault(op.thread, []).append(op.what)
        elif op.kind == "release" and op.what in held.get(op.thread, []):
            held[op.thread].remove(op.what)
    return pairs


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
