"""The worker process: runs trials it is sent, one at a time, and reports them.

Started by :mod:`racekit.runtime.pool` as ``python -m racekit.runtime.worker
READ_FD WRITE_FD DUMPFILE MARKERFILE``. A worker is disposable: after a deadlock it reports the
stacks and exits (its stuck threads cannot be stopped), and the pool starts
another. The hard stop covers what Python code cannot: a trial that holds the
GIL forever is ended by the parent once its beat in the marker file outlasts
its budget (after faulthandler has dumped every stack on SIGUSR1), and a crash
still leaves its stacks in the dump file.

Results go back in small batches (a message per trial would cost more than a
short trial), so a crash could lose the results of finished trials; the marker
file therefore always names the trial running now, and the pool reads it to
blame the right one.

Protocol: the records of :mod:`racekit.runtime.protocol`, pickled over a
:class:`~racekit.runtime.channel.Channel`: parent -> worker ``Task | Cancel |
Stop``; worker -> parent ``Ready | Trials | Cancelled | Failed | Searched |
Explained``. Each side dispatches on the record's type with ``match``; anything
else on the channel ends the conversation (it cannot have come from racekit).
"""

from __future__ import annotations

import collections
import faulthandler
import mmap
import os
import shutil
import signal
import sys
import time
from typing import Any

from racekit.errors import RacekitError
from racekit.records import Search
from racekit.runtime import interpreter_state, protocol
from racekit.runtime.channel import Channel
from racekit.runtime.judging import racekit_failure
from racekit.runtime.protocol import (BATCH_DELAY, BATCH_SIZE, BEAT, HARD_STOP_GRACE, MARKER, MARKER_FILE_SIZE,
                                      TOKEN_VARIABLE)



HEARTBEAT = 0.25  # seconds between a controlled trial's beats


class Watchdog:
    """The worker's half of the hard stop: it tells the parent, through the
    shared marker, that a trial (or one schedule of a search) began and how
    long it may take. The parent, whose clock leaves out the time it was
    stopped, dumps every stack (SIGUSR1, faulthandler) and ends the worker when
    one beat lasts longer than its budget: also when the trial holds the GIL
    and no Python code of the worker can run. A timer in the worker itself
    would fire after a pause of the machine and kill healthy trials."""

    def __init__(self, marker: mmap.mmap):
        self._marker = marker
        self._beat = 0
        self._beating: tuple[float, Any] | None = None
        self._heart: Any = None

    def cover(self, budget: float) -> None:
        self._beat += 1
        BEAT.pack_into(self._marker, MARKER.size, self._beat, budget)

    def cancel(self) -> None:
        self._beating = None
        BEAT.pack_into(self._marker, MARKER.size, self._beat, 0.0)

    def keep_beating(self, budget: float, progressing: Any) -> None:
        """While ``progressing()`` (a controlled trial takes scheduling steps),
        beat every quarter second: the parent then stops only a trial that holds
        the interpreter in C code for ``budget`` seconds, or takes no step for
        long. A controlled trial is bounded by its steps, not by the clock: how
        long its work between steps takes depends on the machine's load."""
        import threading

        self._beating = (budget, progressing)
        if self._heart is None:
            def beat() -> None:
                while True:
                    time.sleep(HEARTBEAT)
                    current = self._beating
                    if current is not None and current[1]():
                        self.cover(current[0])

            self._heart = threading.Thread(target=beat, name="racekit-heartbeat", daemon=True)
            self._heart.start()

    def stop_beating(self) -> None:
        self._beating = None


def serve(conn: Channel, dump: Any, marker: mmap.mmap) -> None:
    from racekit.runtime.forcing import interpreter_info
    from racekit.runtime.programs import compile_program
    from racekit.records import Status
    from racekit.runtime.trial import Program

    programs: dict[int, Program] = {}
    queue: collections.deque[tuple[int, Any]] = collections.deque()
    unsent: list[tuple[int, Any]] = []
    oldest = 0.0
    watchdog = Watchdog(marker)

    def flush() -> None:
        if unsent:
            conn.send(protocol.Trials(list(unsent)))
            unsent.clear()

    conn.send(protocol.Ready(interpreter_info()))
    while True:
        if unsent and (not queue or len(unsent) >= BATCH_SIZE or time.monotonic() - oldest >= BATCH_DELAY):
            flush()
        if not queue or conn.poll():
            flush()  # answers must follow the results sent before them
            if not queue:
                watchdog.cancel()
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return  # the parent is gone
            match message:
                case protocol.Stop():
                    return
                case protocol.Cancel(key):
                    before = len(queue)
                    queue = collections.deque(item for item in queue if item[0] != key)
                    conn.send(protocol.Cancelled(key, before - len(queue)))
                case protocol.Task(key, variant, mode, roots, sys_path, plans):
                    sys.path.extend(p for p in sys_path if p not in sys.path)
                    if key not in programs:
                        try:
                            programs[key] = compile_program(variant, mode, roots)
                        except Exception as exc:  # noqa: BLE001 - reported, never fatal
                            # racekit's own errors say what is wrong; others need their type.
                            reason = str(exc) if isinstance(exc, RacekitError) else f"{type(exc).__name__}: {exc}"
                            conn.send(protocol.Failed(key, reason, len(plans)))
                            continue
                    queue.extend((key, plan) for plan in plans)
                case _:
                    return  # not a message of racekit's parent: nothing safe to do but end
            continue
        key, plan = queue.popleft()
        program = programs[key]
        watchdog.cover(_budget(program))
        progressing = program.mode.progress(program)
        if progressing is not None:
            watchdog.keep_beating(_budget(program), progressing)
        else:
            watchdog.stop_beating()
        dump.seek(0)
        dump.truncate()
        MARKER.pack_into(marker, 0, key, plan.index)
        if isinstance(plan, Search):
            flush()
            with interpreter_state.preserved():
                _search(conn, key, program, plan, watchdog)
            MARKER.pack_into(marker, 0, -1, -1)
            continue
        # What the case changes for the whole interpreter stays in its trial.
        with interpreter_state.preserved():
            try:
                trial = program.run_plan(plan)
            except Exception as exc:  # noqa: BLE001 - racekit's own machinery failed: said as racekit's
                trial = racekit_failure(plan.index, plan.seed, exc, "racekit's trial")
        MARKER.pack_into(marker, 0, -1, -1)
        if not unsent:
            oldest = time.monotonic()
        unsent.append((key, trial))
        if program.controlled.pending_shrink is not None:
            # Report the failure now; shrink its schedule after.
            from racekit.runtime.controlled.run import finish_shrink

            flush()
            MARKER.pack_into(marker, 0, key, plan.index)
            budget = _budget(program)
            with interpreter_state.preserved():
                try:
                    smaller = finish_shrink(program, lambda: watchdog.cover(budget))
                except Exception:  # noqa: BLE001 - the failure stands as found; only its shrinking failed
                    smaller = None
            MARKER.pack_into(marker, 0, -1, -1)
            conn.send(protocol.Explained(key, trial.index, smaller))
        if (trial.status is Status.DEADLOCK and not program.mode.sees_every_deadlock) or trial.left_running:
            # Its threads are stuck for good (or spin where no scheduler reaches
            # them); the pool replaces this process. (A controlled deadlock is
            # found at once and its threads unwound.)
            flush()
            os._exit(0)


def _budget(program: Any) -> float:
    """How long one beat may last: a trial's timeout; a controlled trial beats
    while it takes steps (Watchdog.keep_beating), so only C code that holds
    the interpreter, or no step for long, outlasts its beat."""
    return program.variant.timeout + HARD_STOP_GRACE


SEARCH_BATCH_DELAY = 1.0  # seconds a search's finished schedules may wait to be sent


def _search(conn: Channel, key: int, program: Any, plan: Any, watchdog: Watchdog) -> None:
    """An exhaustive search, run here from start to end; its trials stream back in batches."""
    from racekit.runtime.controlled.search import explore

    spec = program.forcing.spec
    batch: list[tuple[int, Any]] = []
    budget = _budget(program)

    last = [time.perf_counter()]
    sent = [time.monotonic()]

    def on_trial(trial: Any) -> None:
        # A searched execution's time is the time since the previous one ended (its shrinks
        # and reversals included), so that the variant's duration adds up to the search's.
        now = time.perf_counter()
        trial.duration = trial.duration or now - last[0]
        last[0] = now
        batch.append((key, trial))
        # Long schedules: a batch of them may take longer than the parent waits to
        # hear from a worker, so a batch also goes once it is a second old.
        if len(batch) >= BATCH_SIZE or time.monotonic() - sent[0] >= SEARCH_BATCH_DELAY:
            conn.send(protocol.Trials(list(batch)))
            batch.clear()
            sent[0] = time.monotonic()

    try:
        summary = explore(program, plan.seed, on_trial, max_schedules=plan.cap or 20_000, bound=spec.preemptions,
                          iterate=True, stop_on_failure=plan.stop_on_failure, each_run=lambda: watchdog.cover(budget),
                          max_steps=plan.step_cap, max_seconds=plan.time_cap)
    except Exception as exc:  # noqa: BLE001 - racekit's own machinery failed: said as racekit's
        from racekit.runtime.controlled.search import SearchSummary
        from racekit.runtime.judging import racekit_failure

        on_trial(racekit_failure(len(batch), plan.seed, exc, "racekit's search"))
        summary = SearchSummary(stopped="racekit_failed")
    if batch:
        conn.send(protocol.Trials(list(batch)))
    conn.send(protocol.Searched(key, summary.as_facts()))


def main(argv: list[str]) -> None:
    read_fd, write_fd, dump_path, marker_path = int(argv[0]), int(argv[1]), argv[2], argv[3]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    dump = open(dump_path, "w+")  # noqa: SIM115 - lives as long as the process
    faulthandler.enable(file=dump, all_threads=True)
    # The parent's hard stop asks for every thread's stack first.
    faulthandler.register(signal.SIGUSR1, file=dump, all_threads=True)
    with open(marker_path, "r+b") as f:
        marker = mmap.mmap(f.fileno(), MARKER_FILE_SIZE)
    conn = Channel(read_fd, write_fd)
    try:
        serve(conn, dump, marker)
    finally:
        conn.close()
        # Its folder is the parent's to remove; a parent killed outright (SIGKILL,
        # pytest stopped with SIGTERM) never will, so the worker does, as it leaves.
        folder = os.path.dirname(os.path.abspath(dump_path))
        if os.environ.get(TOKEN_VARIABLE) == os.path.basename(folder):  # the folder made for this worker
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
