"""A helper module with state of its own: each trial must import it afresh.

Its counter is locked: racekit rewrites this module (it is in the case's
folder), so an unlocked ``calls += 1`` would be a race it finds."""

import threading

calls = 0
_lock = threading.Lock()


def record():
    global calls
    with _lock:
        calls += 1
        return calls
