import threading


class Pool:
    """Hands out connections. The check and the pop are two steps."""

    def __init__(self, size):
        self.free = list(range(size))
        self.handed = []

    def acquire(self):
        if self.free:
            connection = self.free[-1]
            self.free.pop()
            self.handed.append(connection)
            return connection
        return None


class LockedPool(Pool):
    def __init__(self, size):
        super().__init__(size)
        self._lock = threading.Lock()

    def acquire(self):
        with self._lock:
            return super().acquire()
