"""A tiny actor: its constructor starts a worker thread that handles messages from a queue."""

import queue
import threading


class CounterActor:
    def __init__(self, locked=True):
        self.count = 0
        self.locked = locked
        self._lock = threading.Lock()
        self._inbox = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="actor", daemon=True)
        self._thread.start()

    def _loop(self):
        while True:
            message, reply = self._inbox.get()
            if message == "add":
                self.bump()
            elif message == "ask":
                reply.put(self.count)
            elif message == "stop":
                reply.put(None)
                return

    def bump(self):
        """The handler's update; callers may also bump directly (the racy use)."""
        if self.locked:
            with self._lock:
                self.count += 1
        else:
            self.count += 1

    def send(self, message):
        self._inbox.put((message, None))

    def ask(self):
        reply = queue.Queue()
        self._inbox.put(("ask", reply))
        return reply.get()

    def stop(self):
        reply = queue.Queue()
        self._inbox.put(("stop", reply))
        reply.get()
        self._thread.join()

    def finish(self):
        """The final count, once every message sent before has been handled; then stop."""
        count = self.ask()
        self.stop()
        return count
