"""racekit.analysis.walk: the moments of a tape, against what the operations say."""

from __future__ import annotations

from racekit.analysis.walk import walk


def op(step, thread, kind, what, value="", line=1, **marks):
    return {"step": step, "thread": thread, "kind": kind, "what": what, "value": value, "line": line, **marks}


TAPE = {
    "threads": ["a", "b"],
    "ops": [op(1, "a", "acquire", "r"), op(2, "a", "acquire", "r"), op(3, "a", "read", "x", "0"),
            op(4, "b", "read", "x", "0", preempted=True), op(5, "a", "release", "r"),
            op(6, "b", "write", "x", "1", lost=True), op(7, "a", "write", "x", "1", stale=True),
            op(8, "a", "release", "r")],
    "lost": [{"read": 3, "overwritten": [6], "write": 7, "what": "x"}],
}


def test_values_locks_and_places_follow_the_operations():
    w = walk(TAPE)
    assert w.last == 8 and len(w.moments) == 9
    assert w.moment(0).values == {} and w.moment(0).held == {}
    assert w.moment(1).places[0].can_move  # a takes r again: an RLock its holder may re-enter
    assert [p.kind for p in w.moment(0).places] == ["acquire", "read"]  # each thread's next operation
    # An RLock taken twice is still held after one release.
    assert w.moment(5).held == {"r": ["a"]} and w.moment(8).held == {}
    assert w.moment(6).values == {"x": "1"} and w.moment(7).values == {"x": "1"}
    assert w.moment(8).places[0].done and w.moment(8).places[1].done
    assert w.moment(3).loss_begins.write == 7 and w.moment(7).lost_here.overwritten == (6,)
    assert w.moment(4).preemptions == 1 and w.preemption_steps() == [4]
    assert w.next_preemption(0) == 4 and w.next_preemption(4) is None
    assert w.failure_step() == 7
    assert w.moment(99).index == 8 and w.moment(-5).index == 0


def test_a_paused_or_deadlocked_tape_says_what_each_thread_waits_to_do():
    paused = walk({**TAPE, "ops": TAPE["ops"][:3], "lost": [],
                   "paused": {"enabled": ["a"], "current": "a",
                              "next": [{"thread": "b", "kind": "read", "what": "x", "line": 9, "can_move": True}]}})
    place = paused.moment(3).places[1]
    assert (place.kind, place.line, place.done) == ("read", 9, False)
    stuck = walk({"threads": ["a", "b"], "ops": [op(1, "a", "acquire", "p"), op(2, "b", "acquire", "q")]},
                 waiting=[{"thread": "a", "kind": "acquire", "what": "q", "line": 4},
                          {"thread": "b", "kind": "acquire", "what": "p", "line": 5}])
    assert stuck.moment(1).places[1].can_move  # b's next is q, which nobody holds
    end = stuck.moment(2)
    assert [(p.what, p.can_move, p.line) for p in end.places] == [("q", False, 4), ("p", False, 5)]
    assert end.held == {"p": ["a"], "q": ["b"]} and stuck.failure_step() == 2


def test_who_waits_is_what_the_scheduler_recorded_not_a_guess_from_the_operations():
    # A semaphore of two: both threads hold it, neither waits; a queue's get waits
    # until the put, although no lock is involved.
    tape = {"threads": ["a", "b"],
            "ops": [op(1, "a", "acquire", "sem"), op(2, "b", "acquire", "sem"), op(3, "a", "put", "q"),
                    op(4, "b", "get", "q")],
            "waiting": {0: [], 1: [], 2: ["b"]}}
    w = walk(tape)
    assert w.moment(1).places[1].can_move and w.moment(2).held == {"sem": ["a", "b"]}
    assert not w.moment(2).places[1].can_move and w.moment(2).places[1].kind == "get"
    assert w.moment(3).places[1].can_move


def test_a_lock_is_held_only_by_an_acquire_that_took_it():
    # A try-acquire is logged when it found the lock busy, a timed-out acquire
    # with "timed out": neither holds the lock afterwards.
    tape = {"threads": ["a", "b"],
            "ops": [op(1, "a", "acquire", "l"), op(2, "b", "try-acquire", "l", "busy"),
                    op(3, "b", "acquire", "l", "timed out"), op(4, "a", "release", "l")]}
    w = walk(tape)
    assert w.moment(1).held == {"l": ["a"]} and w.moment(3).held == {"l": ["a"]} and w.moment(4).held == {}
