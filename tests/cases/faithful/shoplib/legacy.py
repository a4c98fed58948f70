"""Old-style code that starts its thread with the low-level ``_thread`` module, as some
C-extension bindings and legacy libraries do."""

import _thread


class Pump:
    def __init__(self):
        self.pumped = 0
        self._done = _thread.allocate_lock()

    def start(self):
        self._done.acquire()
        _thread.start_new_thread(self._pump_loop, ())

    def _pump_loop(self):
        try:
            self.pumped += 1
        finally:
            self._done.release()

    def wait(self):
        self._done.acquire()
        self._done.release()
