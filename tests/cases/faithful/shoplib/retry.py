"""Polling with a deadline, as retry and connection-pool libraries do."""

import threading
import time


class Gate:
    def __init__(self):
        self.opened = False
        self.lock = threading.Lock()

    def open(self):
        with self.lock:
            self.opened = True

    def wait_open(self, timeout=0.05):
        """Poll the flag until the gate is open or the deadline has passed; True if it opened."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.opened:
                return True
        return False
