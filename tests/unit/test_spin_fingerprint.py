"""The state a spinning thread is recognised by (controller._state_fingerprint).

A thread that repeats a read in a state it was already in is held back while
another can move; a thread whose state differs never is. The fingerprint walks
only the innermost frames (a deep recursion was quadratic), so what it must
still tell apart is a loop (the same state again) from a recursion (the same
innermost frames, one level deeper each time)."""

from __future__ import annotations

import sys

from racekit.runtime.controlled.controller import FINGERPRINT_FRAMES, _state_fingerprint


PRINTS: list[int] = []
LEFT = {"levels": 0}


def _fingerprint_here() -> None:
    PRINTS.append(_state_fingerprint())


def _spin(times: int) -> list[int]:
    PRINTS.clear()
    for _ in [None] * times:  # the same locals each time round
        _fingerprint_here()
    return list(PRINTS)


def test_a_loop_round_the_same_state_has_the_same_fingerprint_each_time() -> None:
    first, second = _spin(2)
    assert first == second


def test_a_changed_local_changes_the_fingerprint() -> None:
    PRINTS.clear()
    for attempt in range(2):  # a retry counter: the thread may leave the loop by itself
        _fingerprint_here()
    assert PRINTS[0] != PRINTS[1]


def _down() -> None:
    _fingerprint_here()
    if LEFT["levels"]:
        LEFT["levels"] -= 1
        _down()


def test_each_level_of_a_recursion_deeper_than_the_walk_is_a_new_state() -> None:
    # The frames hold no locals and stand at the same positions: deeper than
    # FINGERPRINT_FRAMES, two levels' innermost frames are alike, and only the
    # identity of the frames below them tells the levels apart.
    assert sys.getrecursionlimit() > 3 * FINGERPRINT_FRAMES + 100
    PRINTS.clear()
    LEFT["levels"] = 3 * FINGERPRINT_FRAMES
    _down()
    assert len(PRINTS) == 3 * FINGERPRINT_FRAMES + 1
    assert len(set(PRINTS)) == len(PRINTS)

