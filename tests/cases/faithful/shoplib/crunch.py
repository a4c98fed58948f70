"""CPU-heavy work between two shared accesses (a report generator, a hash)."""

import threading


def crunch(n):
    """Pure CPU work with no time reads: n loop iterations of arithmetic on locals."""
    x = 0
    for i in range(n):
        x = (x * 31 + i) % 1000003
    return x


class Ledger:
    def __init__(self):
        self.entries = 0
        self.lock = threading.Lock()

    def post(self, n):
        with self.lock:
            self.entries += 1
        crunch(n)
        with self.lock:
            self.entries += 1
