"""The worker process: runs trials it is sent, one at a time, and reports each.

Started by :mod:`racekit.runtime.pool` as ``python -m racekit.runtime.worker FD
DUMPFILE``. A worker is disposable: after a deadlock it reports the stacks and
exits (its stuck threads cannot be stopped), and the pool starts another. The
faulthandler watchdog covers what Python code cannot: a trial that holds the
GIL forever, or a crash, still leaves its stacks in the dump file.

Protocol (pickled tuples over one connection):
  parent -> worker  ("task", key, variant, mode, [TrialPlan]) | ("cancel", key) | ("stop",)
  worker -> parent  ("ready", info) | ("trial", key, Trial) | ("cancelled", key, n)
                    | ("failed", key, message)
"""

from __future__ import annotations

import collections
import faulthandler
import os
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any

# Seconds the faulthandler watchdog grants beyond a trial's own timeout before
# it dumps every stack and ends the process.
HARD_STOP_GRACE = 2.0


def serve(conn: Connection, dump: Any) -> None:
    from racekit.runtime.forcing import interpreter_info
    from racekit.runtime.program import Program
    from racekit.runtime.records import Status

    programs: dict[int, Program] = {}
    queue: collections.deque[tuple[int, Any]] = collections.deque()
    conn.send(("ready", interpreter_info()))
    while True:
        if not queue or conn.poll():
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return  # the parent is gone
            kind = message[0]
            if kind == "stop":
                return
            if kind == "cancel":
                before = len(queue)
                queue = collections.deque(item for item in queue if item[0] != message[1])
                conn.send(("cancelled", message[1], before - len(queue)))
            elif kind == "task":
                _, key, variant, mode, plans = message
                if key not in programs:
                    try:
                        programs[key] = Program.compile(variant, mode)
                    except Exception as exc:  # noqa: BLE001 - reported, never fatal
                        conn.send(("failed", key, f"{type(exc).__name__}: {exc}", len(plans)))
                        continue
                queue.extend((key, plan) for plan in plans)
            continue
        key, plan = queue.popleft()
        program = programs[key]
        dump.seek(0)
        dump.truncate()
        faulthandler.dump_traceback_later(program.variant.timeout + HARD_STOP_GRACE, exit=True, file=dump)
        try:
            trial = program.run(plan.index, plan.seed)
        finally:
            faulthandler.cancel_dump_traceback_later()
        conn.send(("trial", key, trial))
        if trial.status is Status.DEADLOCK:
            # Its threads are stuck for good; the pool replaces this process.
            os._exit(0)


def main(argv: list[str]) -> None:
    fd, dump_path = int(argv[0]), argv[1]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    dump = open(dump_path, "w+")  # noqa: SIM115 - lives as long as the process
    faulthandler.enable(file=dump, all_threads=True)
    conn = Connection(fd)
    try:
        serve(conn, dump)
    finally:
        conn.close()


if __name__ == "__main__":
    main(sys.argv[1:])
