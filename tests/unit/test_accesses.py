"""The access-log analyses (racekit.analysis.accesses) on logs written by hand.

Each log is a story a student could tell with two threads and a counter; the
expected answers come from arithmetic on the story, not from racekit. The
lost-update count is also checked against an independent oracle: a brute-force
simulation of every interleaving of N threads doing `x += 1`, where the lost
updates are exactly `N - final value`.
"""

from __future__ import annotations

import itertools
import random

import pytest

from racekit.analysis.accesses import (count_lost, data_races, lock_cycles, lock_order, lost_updates, missed_ordering,
                                       unordered_calls)
from racekit.records import AMBIGUOUS_KEY, Op, ambiguous

X = (1, "x")  # one shared location: (object id, attribute)
Y = (1, "y")


class Log:
    """Builds a log step by step, numbering the steps as the scheduler does."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def _add(self, thread: int, kind: str, what: str, **fields) -> "Log":
        self.ops.append(Op(step=len(self.ops) + 1, thread=thread, kind=kind, what=what, **fields))
        return self

    def read(self, t: int, loc=X, value: str = "") -> "Log":
        return self._add(t, "read", loc[1], location=loc, value=value)

    def write(self, t: int, loc=X, update: bool = True, value: str = "") -> "Log":
        return self._add(t, "write", loc[1], location=loc, update=update, value=value)

    def increment(self, t: int, loc=X) -> "Log":
        return self.read(t, loc).write(t, loc)

    def sync(self, t: int, kind: str, obj: int = 99, what: str = "lock", **fields) -> "Log":
        return self._add(t, kind, what, sync=obj, **fields)


# -- lost updates ---------------------------------------------------------------------------

def test_serial_increments_lose_nothing():
    log = Log().increment(0).increment(1).increment(0)
    assert lost_updates(log.ops) == []


def test_the_classic_lost_update_names_its_read_the_overwritten_write_and_the_eraser():
    # T0 reads, T1 reads, T1 writes, T0 writes: T1's write is lost.
    log = Log().read(0).read(1).write(1).write(0)
    [lost] = lost_updates(log.ops)
    assert (lost.read.thread, lost.read.step) == (0, 1)
    assert [(op.thread, op.step) for op in lost.overwritten] == [(1, 3)]
    assert (lost.write.thread, lost.write.step) == (0, 4)
    assert count_lost([lost]) == 1


def test_a_plain_assignment_is_not_an_update_and_loses_nothing():
    # Double initialisation: both threads write a fresh value; nobody's update is erased.
    log = Log().read(0).read(1).write(1, update=False).write(0, update=False)
    assert lost_updates(log.ops) == []


def test_a_plain_write_restarts_the_chain_so_earlier_updates_are_not_blamed_on_it():
    # Two lost-free increments, then a reset: the increments did not "get lost"; they were replaced.
    log = Log().increment(0).increment(1).write(0, update=False)
    assert lost_updates(log.ops) == []


def test_each_lost_update_is_counted_once_even_when_two_writers_erase_it():
    # T0 and T1 both read version 0; T2 increments (version 1); T1 writes (erases v1);
    # T0 writes (erases v1 and T1's write). Final = 1 from 3 increments: 2 lost.
    log = Log().read(0).read(1).increment(2).write(1).write(0)
    found = lost_updates(log.ops)
    assert count_lost(found) == 2
    erased = sorted(op.step for lost in found for op in lost.overwritten)
    assert erased == sorted(set(erased))  # no write is blamed twice


def test_locations_are_kept_apart():
    log = Log().read(0, X).read(1, Y).write(1, Y).write(0, X)
    assert lost_updates(log.ops) == []


def _simulate(order: list[int]) -> tuple[list[Op], int]:
    """Threads doing `x += 1` as read-then-write, in the given order of steps
    (a thread's appearances alternate: its read, then its write). Returns the log and
    the final value, computed by actually running the story."""
    log = Log()
    x = 0
    local: dict[int, int] = {}
    for t in order:
        if t not in local:
            local[t] = x
            log.read(t)
        else:
            x = local.pop(t) + 1
            log.write(t)
    return log.ops, x


def _all_orders(threads: int) -> set[tuple[int, ...]]:
    return set(itertools.permutations([t for t in range(threads) for _ in range(2)]))


@pytest.mark.parametrize("threads", [2, 3])
def test_lost_updates_equal_the_arithmetic_in_every_interleaving(threads):
    orders = _all_orders(threads)
    assert len(orders) == {2: 6, 3: 90}[threads]  # (2n)! / 2^n
    for order in orders:
        log, final = _simulate(list(order))
        assert count_lost(lost_updates(log)) == threads - final, order


def test_lost_updates_equal_the_arithmetic_with_repeated_increments():
    # 3 threads × 3 increments each (6 steps per thread), 500 random interleavings (seeded): exact every time.
    rng = random.Random(7)
    for _ in range(500):
        order = [t for t in range(3) for _ in range(6)]
        rng.shuffle(order)
        log, final = _simulate(order)
        assert count_lost(lost_updates(log)) == 9 - final, order


# -- data races -----------------------------------------------------------------------------

def test_unordered_conflicting_accesses_are_a_data_race():
    log = Log().read(0).write(1)
    [race] = data_races(log.ops, threads=2)
    assert (race.first.thread, race.first.kind, race.second.thread, race.second.kind) == (0, "read", 1, "write")


def test_two_reads_never_race():
    assert data_races(Log().read(0).read(1).ops, threads=2) == []


def test_accesses_ordered_by_a_lock_do_not_race():
    log = (Log().sync(0, "acquire").increment(0).sync(0, "release")
           .sync(1, "acquire").increment(1).sync(1, "release"))
    assert data_races(log.ops, threads=2) == []


def test_a_lock_on_one_side_only_orders_nothing():
    log = Log().sync(0, "acquire").increment(0).sync(0, "release").increment(1)
    [race] = data_races(log.ops, threads=2)
    assert race.second.thread == 1


def test_two_different_locks_order_nothing():
    log = (Log().sync(0, "acquire", obj=1).write(0).sync(0, "release", obj=1)
           .sync(1, "acquire", obj=2).write(1).sync(1, "release", obj=2))
    assert len(data_races(log.ops, threads=2)) == 1


@pytest.mark.parametrize("publish, take", [("put", "get"), ("set", "wait"), ("start", "join")])
def test_hand_offs_order_what_came_before_them(publish, take):
    # T0 writes, then hands off; T1 takes it, then reads: ordered, no race.
    log = Log().write(0, update=False).sync(0, publish, what="q").sync(1, take, what="q").read(1)
    assert data_races(log.ops, threads=2) == []
    # The same accesses without the hand-off race.
    assert len(data_races(Log().write(0, update=False).read(1).ops, threads=2)) == 1


def test_a_write_after_another_threads_unordered_read_is_a_race():
    log = Log().read(1).sync(0, "acquire").write(0).sync(0, "release")
    [race] = data_races(log.ops, threads=2)
    assert (race.first.kind, race.second.kind) == ("read", "write")


def test_at_most_one_race_per_location_and_threads_the_program_started_are_tracked_too():
    log = Log().write(0).write(1).write(0).write(1).write(0, Y).write(5, Y)
    races = data_races(log.ops, threads=2)
    # Y's other writer is thread 5, one the program started itself: as much a thread as the case's.
    assert [r.first.location for r in races] == [X, Y]


def test_calls_are_atomic_steps_and_never_race():
    log = Log()._add(0, "call", "list.append", location=X)._add(1, "call", "list.append", location=X)
    assert data_races(log.ops, threads=2) == []


ITEMS = (7, "*")  # a list, as a whole: a look into it (`if items:`) or a call on it (`items.pop()`)


def check_then_act(log: Log, t: int) -> Log:
    return log._add(t, "read", "items", location=ITEMS, value="[1]", line=10 + 10 * t)  # each thread its own line


def pop(log: Log, t: int) -> Log:
    return log._add(t, "call", "items.pop()", location=ITEMS, line=11 + 10 * t)


def test_a_look_into_a_list_and_another_threads_pop_are_an_unordered_pair_though_no_data_race():
    # T0 checks `if items:`, T1 checks and pops, T0 pops: each step atomic, their order not fixed.
    log = pop(pop(check_then_act(check_then_act(Log(), 0), 1), 1), 0)
    assert data_races(log.ops, threads=2) == []
    pairs = [(p.first.step, p.second.step) for p in unordered_calls(log.ops, threads=2)]
    # T0's look (1) before T1's pop (3), T1's look (2) before T0's pop (4), the two pops; never two looks.
    assert pairs == [(1, 3), (2, 4), (3, 4)]


def test_steps_on_a_list_ordered_by_a_lock_are_no_unordered_pair():
    log = Log().sync(0, "acquire")
    pop(check_then_act(log, 0), 0).sync(0, "release").sync(1, "acquire")
    pop(check_then_act(log, 1), 1).sync(1, "release")
    assert unordered_calls(log.ops, threads=2) == []


def test_a_loop_repeating_the_same_two_lines_gives_one_pair():
    log = Log()
    for _ in range(3):
        pop(log, 0)
        pop(log, 1)
    assert [(p.first.step, p.second.step) for p in unordered_calls(log.ops, threads=2)] == [(1, 2), (2, 3)]


# -- lock order -----------------------------------------------------------------------------

def test_lock_order_records_held_then_acquired_pairs():
    log = (Log().sync(0, "acquire", what="a").sync(0, "acquire", what="b")
           .sync(0, "release", what="b").sync(0, "release", what="a")
           .sync(1, "acquire", what="b").sync(1, "acquire", what="a"))
    assert lock_order(log.ops) == {("a", "b"), ("b", "a")}


def test_a_timed_out_acquire_holds_nothing_and_a_released_lock_is_not_held():
    log = (Log().sync(0, "acquire", what="a", value="timed out").sync(0, "acquire", what="b")
           .sync(0, "release", what="b").sync(0, "acquire", what="c"))
    assert lock_order(log.ops) == set()


def test_a_reentrant_acquire_is_no_pair_with_itself():
    log = Log().sync(0, "acquire", what="r").sync(0, "acquire", what="r")
    assert lock_order(log.ops) == set()


def test_lock_cycles_finds_each_cycle_once():
    assert lock_cycles({("a", "b"), ("b", "a")}) == [["a", "b"]]
    assert lock_cycles({("a", "b"), ("b", "c"), ("c", "a")}) == [["a", "b", "c"]]
    assert lock_cycles({("a", "b"), ("b", "c")}) == []
    assert sorted(lock_cycles({("a", "b"), ("b", "a"), ("c", "d"), ("d", "c")})) == [["a", "b"], ["c", "d"]]


# -- keys that may or may not be one slot -----------------------------------------------------

AMBIGUOUS = (1, "<Point>" + AMBIGUOUS_KEY)  # a key whose __eq__ is the program's: maybe one slot, maybe two


def test_updates_of_a_key_racekit_cannot_tell_apart_are_never_counted_or_called_a_race():
    """Interleaved updates that would lose one on one location claim nothing on an ambiguous
    one: the two keys may be different slots (racekit never runs the program's __eq__)."""
    log = Log().read(0, AMBIGUOUS).read(1, AMBIGUOUS).write(0, AMBIGUOUS).write(1, AMBIGUOUS)
    assert lost_updates(log.ops) == []
    assert data_races(log.ops, 2) == []
    same = Log().read(0).read(1).write(0).write(1)  # the same story on a location it can tell
    assert count_lost(lost_updates(same.ops)) == 1 and len(data_races(same.ops, 2)) == 1


def test_a_key_is_one_location_exactly_when_it_is_one_slot():
    """How hooks name a key: values by themselves, identity-compared objects by identity,
    C-compared objects by their C hash, and the program's own __eq__ as ambiguous."""
    import dataclasses
    import datetime

    from racekit.runtime.hooks import _key

    class Key:
        pass

    @dataclasses.dataclass(frozen=True)
    class Point:
        x: int

    a, b = Key(), Key()
    assert _key("a") == _key("a") and _key((1, "b")) == "(1, 'b')"
    assert _key(a) == _key(a) != _key(b)  # two instances: two slots
    assert _key(Key) != _key(Point)  # classes as keys (injector's bindings)
    assert _key(datetime.date(2026, 1, 1)) == _key(datetime.date(2026, 1, 1)) != _key(datetime.date(2026, 1, 2))
    assert ambiguous((1, _key(Point(1)))) and ambiguous((1, _key((a, 1))))
    assert not ambiguous((1, _key(a))) and not ambiguous((1, _key("a")))


# -- what a synchronisation between racing threads does order -----------------------------

def test_an_event_set_before_the_write_orders_the_set_not_the_write():
    # writer: ready.set(); x = 1      reader: ready.wait(); read x
    log = Log().sync(0, "set", what="ready").sync(1, "wait", what="ready").read(1).write(0, update=False)
    [race] = data_races(log.ops, 2)
    missed = missed_ordering(log.ops, race)
    assert (missed.release.kind, missed.acquire.kind, missed.gap) == ("set", "wait", "after")
    assert missed.access is race.second  # the writer's write, after its set


def test_a_read_before_the_wait_is_the_access_on_the_wrong_side():
    # reader reads x before it waits; the writer wrote before it set: only the read is uncovered.
    log = Log().write(0, update=False).read(1).sync(0, "set", what="ready").sync(1, "wait", what="ready")
    [race] = data_races(log.ops, 2)
    missed = missed_ordering(log.ops, race)
    assert missed.gap == "before" and missed.access is race.second


def test_no_synchronisation_between_the_threads_means_nothing_to_point_at():
    log = Log().read(1).write(0, update=False)
    [race] = data_races(log.ops, 2)
    assert missed_ordering(log.ops, race) is None


def test_a_synchronisation_that_does_order_the_pair_leaves_no_race_to_explain():
    log = Log().write(0, update=False).sync(0, "set", what="ready").sync(1, "wait", what="ready").read(1)
    assert data_races(log.ops, 2) == []


def test_a_barrier_orders_a_write_before_it_with_a_read_after_it_even_for_the_last_to_arrive():
    # T0 writes x, arrives and waits (passes once T1 arrived); T1 arrives last, never
    # waits, and reads x: the barrier ordered them.
    log = (Log().write(0, update=False).sync(0, "arrive", what="barrier")
           .sync(1, "arrive", what="barrier").read(1).sync(0, "pass", what="barrier"))
    assert data_races(log.ops, 2) == []
    unordered = Log().write(0, update=False).read(1).sync(0, "arrive", what="barrier").sync(1, "arrive", what="barrier")
    assert len(data_races(unordered.ops, 2)) == 1
