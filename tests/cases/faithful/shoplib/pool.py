"""Work handed to threads the library starts itself: a ThreadPoolExecutor, a Timer, a Thread
subclass."""

import threading
from concurrent.futures import ThreadPoolExecutor


class Accumulator:
    def __init__(self):
        self.total = 0
        self.lock = threading.Lock()

    def add(self):
        self.total += 1

    def add_locked(self):
        with self.lock:
            self.total += 1


def fan_out(acc, tasks=4, locked=False):
    """Run ``tasks`` increments on a pool of 4 workers and wait for all of them."""
    work = acc.add_locked if locked else acc.add
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(work) for _ in range(tasks)]
        for future in futures:
            future.result()
    return acc.total


class Reminder:
    """Counts the reminders it sent; one is sent by a Timer, others directly."""

    def __init__(self):
        self.sent = 0
        self.lock = threading.Lock()

    def fire(self):
        self.sent += 1

    def fire_locked(self):
        with self.lock:
            self.sent += 1

    def schedule(self, delay=0.05, locked=False):
        timer = threading.Timer(delay, self.fire_locked if locked else self.fire)
        timer.start()
        return timer


class Worker(threading.Thread):
    """A Thread subclass whose run() adds to an accumulator."""

    def __init__(self, acc, locked=False):
        super().__init__()
        self.acc = acc
        self.locked = locked

    def run(self):
        if self.locked:
            self.acc.add_locked()
        else:
            self.acc.add()
