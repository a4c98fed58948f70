import threading


class Cache:
    """Computes each key once... unless two threads ask at the same time."""

    def __init__(self, compute):
        self._compute = compute
        self._values = {}
        self.computed = 0

    def get(self, key):
        if key not in self._values:
            self.computed += 1
            self._values[key] = self._compute(key)
        return self._values[key]


class LockedCache(Cache):
    def __init__(self, compute):
        super().__init__(compute)
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            return super().get(key)
