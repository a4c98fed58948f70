"""Properties: a getter with a side effect (it records every call), and a plain getter that a
method reads twice while holding its lock."""

import threading


class Meter:
    def __init__(self):
        self.calls = []

    @property
    def reading(self):
        self.calls.append("read")  # every read of .reading runs this once
        return len(self.calls)


class Stock:
    def __init__(self):
        self._lock = threading.Lock()
        self._level = 0

    @property
    def level(self):
        return self._level

    def restock(self):
        with self._lock:
            before = self.level
            check = self.level  # a second read of the same property, still under the lock
            self._level = before + 1
        return check
