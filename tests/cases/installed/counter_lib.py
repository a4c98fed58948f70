"""A module installed outside the project (tests put its folder on sys.path): not rewritten unless named."""
import threading


class Counter:
    def __init__(self):
        self.value = 0
        self.lock = threading.Lock()

    def increment(self):
        self.value += 1

    def increment_holding(self, box):
        with self.lock:
            box.v += 1
