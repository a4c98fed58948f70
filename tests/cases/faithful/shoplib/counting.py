"""A counter whose update is a read in one method and a write in another (as a cache's
``inc`` that calls ``get`` then ``set``): no single statement reads and writes it."""

import threading


class Tally:
    def __init__(self):
        self.value = 0
        self.lock = threading.Lock()

    def get(self):
        return self.value

    def put(self, value):
        self.value = value

    def inc(self):
        self.put(self.get() + 1)
