import threading


class Hits:
    """Counts page hits. Not thread-safe: `+=` is a read and a write."""

    def __init__(self):
        self.total = 0

    def record(self, n=1):
        self.total += n


class LockedHits(Hits):
    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()

    def record(self, n=1):
        with self._lock:
            self.total += n
