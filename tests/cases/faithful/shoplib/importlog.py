"""A module with an import-time side effect: it appends a line to the file named by
$SHOPLIB_IMPORT_LOG each time it is imported (as a plugin registry or a config loader might)."""

import os
import threading

_log = os.environ.get("SHOPLIB_IMPORT_LOG")
if _log:
    with open(_log, "a") as f:
        f.write(f"imported in {os.getpid()}\n")


class Tally:
    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()

    def add(self):
        with self.lock:
            self.n += 1
