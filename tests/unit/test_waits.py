"""A deadlock's cause is read off the wait-for facts (racekit.analysis.waits)."""

from __future__ import annotations

from racekit.analysis.waits import deadlock_cause


def acquire(thread: str, lock: str, holder: str | None = None) -> dict:
    return {"thread": thread, "kind": "acquire", "what": lock, **({"holder": holder} if holder else {})}


def test_a_thread_waiting_for_a_lock_it_holds_waits_for_itself():
    assert deadlock_cause([acquire("a", "lock", "a")], []) == {"kind": "self", "thread": "a", "lock": "lock"}


def test_two_threads_holding_what_the_other_waits_for_are_a_cycle():
    cause = deadlock_cause([acquire("alice", "b.lock", "bob"), acquire("bob", "a.lock", "alice")], [])
    assert cause == {"kind": "cycle", "links": [{"thread": "alice", "lock": "b.lock", "holder": "bob"},
                                                {"thread": "bob", "lock": "a.lock", "holder": "alice"}]}


def test_a_cycle_of_three_is_named_round_from_where_it_closes():
    waiting = [acquire("t0", "l1", "t1"), acquire("t1", "l2", "t2"), acquire("t2", "l0", "t0")]
    assert [link["thread"] for link in deadlock_cause(waiting, [])["links"]] == ["t0", "t1", "t2"]


def test_a_thread_waiting_behind_a_cycle_is_not_part_of_it():
    waiting = [acquire("c", "l1", "a"), acquire("a", "l2", "b"), acquire("b", "l1", "a")]
    assert [link["thread"] for link in deadlock_cause(waiting, [])["links"]] == ["a", "b"]


def test_a_lock_a_finished_thread_never_released():
    cause = deadlock_cause([acquire("b", "lock", "a")], ["a"])
    assert cause == {"kind": "held_by_finished", "thread": "b", "lock": "lock", "holder": "a"}


def test_a_notification_given_before_the_wait_is_a_lost_wakeup():
    waiting = [{"thread": "consumer", "kind": "be-notified", "what": "cond", "notified_before": ["producer"]}]
    cause = deadlock_cause(waiting, ["producer"])
    assert cause == {"kind": "notified_before", "thread": "consumer", "condition": "cond",
                     "notifiers": ["producer"], "finished": ["producer"]}


def test_a_wait_for_a_notification_nobody_gave_is_not_called_a_lost_one():
    waiting = [{"thread": "consumer", "kind": "be-notified", "what": "cond"}]
    assert deadlock_cause(waiting, ["producer"])["kind"] == "nobody_left"


def test_a_barrier_short_of_parties_counts_who_arrived():
    waiting = [{"thread": t, "kind": "pass", "what": "barrier", "arrived": 2, "parties": 3} for t in ("a", "b")]
    assert deadlock_cause(waiting, []) == {"kind": "missing_party", "barrier": "barrier", "parties": 3,
                                           "arrived": 2, "threads": ["a", "b"]}


def test_waits_no_fact_explains_say_only_that_nobody_left_will_end_them():
    waiting = [{"thread": "a", "kind": "get", "what": "jobs"}, {"thread": "b", "kind": "join", "what": "a"}]
    assert deadlock_cause(waiting, ["c"]) == {"kind": "nobody_left", "threads": ["a", "b"], "finished": ["c"]}


def test_a_notify_that_woke_another_waiter_is_named_as_such():
    waiting = [{"thread": "b", "kind": "be-notified", "what": "cond", "notified_others": ["c"]}]
    assert deadlock_cause(waiting, ["a", "c"]) == {"kind": "notified_other", "thread": "b", "condition": "cond",
                                                   "notifiers": ["c"]}
