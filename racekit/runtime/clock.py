"""Time a trial could run: monotonic time minus the time this process was stopped.

A trial's timeout must not expire while racekit was paused (Ctrl-Z and ``fg``,
a laptop asleep, a paused VM): on resume every deadline would have passed at
once, and healthy trials would be killed and reported as deadlocks. A ticker
thread wakes every TICK seconds; a wake-up much later than that means the
process did not run in between, and the gap is subtracted from :func:`now`.
Until the ticker has woken after a pause, :func:`now` already leaves out the
part of the gap it can see, so no deadline check ever sees the jump.
"""

from __future__ import annotations

import threading
import time

TICK = 0.1
JUMP = 1.0  # a wake-up this much later than due is a pause, not scheduling noise

_state = {"stopped": 0.0, "last": time.monotonic(), "ticker": None}
_lock = threading.Lock()


def now() -> float:
    """Monotonic seconds, not counting the time this process was stopped."""
    _ensure_ticker()
    moment = time.monotonic()
    with _lock:
        lag = moment - _state["last"]
        unseen = max(0.0, lag - TICK - JUMP)  # a pause the ticker has not woken up from yet
        return moment - _state["stopped"] - unseen


def stopped() -> float:
    """Seconds this process was seen stopped so far."""
    return _state["stopped"]


def _ensure_ticker() -> None:
    ticker = _state["ticker"]
    if ticker is not None and ticker.is_alive():
        return
    with _lock:
        if _state["ticker"] is not None and _state["ticker"].is_alive():
            return
        _state["last"] = time.monotonic()
        thread = threading.Thread(target=_tick, name="racekit-clock", daemon=True)
        _state["ticker"] = thread
        thread.start()


def _tick() -> None:
    while True:
        time.sleep(TICK)
        moment = time.monotonic()
        with _lock:
            gap = moment - _state["last"]
            if gap > TICK + JUMP:
                _state["stopped"] += gap - TICK
            _state["last"] = moment
