"""Worker processes and the loop that feeds them trials.

Trials run in separate processes so that whatever a case does (deadlock, spin
holding the GIL, ``os._exit``, segfault) the run goes on: the pool records what
happened, replaces the worker, and hands its unfinished trials to another.
Workers are plain ``python -m racekit.runtime.worker`` subprocesses rather than
``multiprocessing`` children: they start clean, in their own session (Ctrl-C
is the parent's), and a case may itself use ``multiprocessing`` inside them.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from collections.abc import Callable, Iterable

from racekit.case.model import Variant
from racekit.runtime.channel import ChannelError, Channel, channel_pair
from racekit.options import ModeSpec
from racekit.records import PlanQueue, Search, Status, StopReason, Trial, TrialPlan
from racekit.errors import RacekitError
from racekit.runtime import clock, modes
from racekit.runtime import protocol
from racekit.runtime.protocol import BEAT, HARD_STOP_GRACE, MARKER, TOKEN_VARIABLE

# Beyond the faulthandler watchdog: if a worker sends nothing for this long past
# a trial's timeout, it is killed from outside.
UNRESPONSIVE_GRACE = 8.0
STARTUP_TIMEOUT = 60.0
START_ATTEMPTS = 3  # workers in a row that die before their first message: racekit gives up (exit 2)
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def default_workers() -> int:
    """One worker per core (each trial keeps about one core busy under the GIL);
    one inside a pytest-xdist worker, whose siblings already fill the cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass
class Job:
    """The trials of one variant under one mode."""

    key: int
    variant: Variant
    mode: ModeSpec
    pending: PlanQueue
    roots: tuple[str, ...] = ()  # folders whose code the forcing modes instrument
    sys_path: tuple[str, ...] = ()  # the parent's import path, added to the worker's
    trials: list[Trial] = field(default_factory=list)
    stop_reason: StopReason | None = None  # why remaining trials were not run
    failure: str | None = None  # the variant could not even be compiled in a worker
    search: dict | None = None  # an exhaustive search's summary

    @property
    def finished(self) -> bool:
        return not self.pending


TrialCallback = Callable[[Job, Trial], None]


def session_members(sid: int, token: str | None = None) -> list[int]:
    """The processes of session ``sid``, and with ``token`` also every process
    that carries the worker's token in its environment: a process a case
    started in a session of its own (``setsid``) left the worker's session but
    kept its environment (Linux /proc; elsewhere none are found)."""
    members = []
    marker = f"{TOKEN_VARIABLE}={token}".encode() if token else None
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for name in entries:
        if not name.isdigit() or int(name) in (sid, os.getpid()):
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2:].split()  # state, ppid, pgrp, session, ...
            if int(fields[3]) == sid:
                members.append(int(name))
                continue
            if marker is not None:
                with open(f"/proc/{name}/environ", "rb") as f:
                    if marker in f.read().split(b"\0"):
                        members.append(int(name))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or unreadable
    return members


# How a worker starts: not `-m`, which puts the working folder first on the
# path, so that a student's `threading.py` or `random.py` there (a first
# experiment's name) shadows neither the standard library nor racekit; the
# folder still comes last, for the case's own imports. (`sys` and `os` are
# loaded before any folder is searched.)
WORKER_PATH = ("import os, sys; sys.path[:1] = [] if sys.path[:1] == [''] else sys.path[:1]; "
               "sys.path.append(os.getcwd()); ")
WORKER_BOOT = WORKER_PATH + "from racekit.runtime.worker import main; main(sys.argv[1:])"


def worker_pythonpath(env: dict[str, str]) -> str:
    """A worker's PYTHONPATH: racekit's own package first (whatever the user's
    is: an editable install, a checkout), then the user's."""
    return os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)

# A variant whose first this-many trials all crashed the worker process stops there.
CRASH_LIMIT = 20


class WorkerStartError(RacekitError):
    """Not even one worker process could be started."""


class _Worker:
    def __init__(self) -> None:
        parent_end, child_fds = channel_pair()
        # One directory per worker, its TMPDIR too: whatever the worker and the
        # cases it runs leave there (a trial's fault dumps when the worker is
        # killed mid-trial) goes when the worker does.
        self.tmpdir = tempfile.mkdtemp(prefix="racekit-worker-")
        self.dump_path = os.path.join(self.tmpdir, "stderr.dump")
        self.marker_path = os.path.join(self.tmpdir, "trial.marker")
        with open(self.marker_path, "wb") as f:
            f.write(MARKER.pack(-1, -1) + BEAT.pack(0, 0.0))
        env = dict(os.environ)
        env["TMPDIR"] = self.tmpdir
        self.token = os.path.basename(self.tmpdir)
        env[TOKEN_VARIABLE] = self.token
        env["PYTHONPATH"] = worker_pythonpath(env)
        env.pop("PYTHONFAULTHANDLER", None)
        with open(self.dump_path, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-c", WORKER_BOOT, *map(str, child_fds), self.dump_path, self.marker_path],
                pass_fds=child_fds,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=env,
                start_new_session=True,
            )
        for fd in child_fds:
            os.close(fd)
        self.conn: Channel = parent_end
        self.ready = False
        self.retiring = False
        self.awaiting = 0  # "explained" messages still to come
        self.info: dict[str, object] = {}
        self.started = clock.now()
        self.last_heard = self.started
        self.beat = (0, 0.0, self.started)
        self.garbled: str | None = None  # it sent something that is no racekit message  # the worker's last beat, its budget, and when it was seen
        # Plans sent and not yet answered, in the order the worker runs them.
        self.outstanding: deque[tuple[Job, TrialPlan]] = deque()

    def send(self, message: protocol.Task | protocol.Cancel | protocol.Stop) -> bool:
        try:
            self.conn.send(message)
            return True
        except (OSError, EOFError):
            return False

    def dump_text(self) -> str:
        try:
            with open(self.dump_path, errors="replace") as f:
                return f.read()[-20_000:]
        except OSError:
            return ""

    def running(self) -> tuple[int, int] | None:
        """``(job key, trial index)`` of the trial the worker was running, if any."""
        try:
            with open(self.marker_path, "rb") as f:
                key, index = MARKER.unpack(f.read(MARKER.size))
        except (OSError, ValueError):  # struct.error is a ValueError
            return None
        return None if key < 0 else (key, index)

    def beat_overdue(self, now: float) -> bool:
        """Whether the trial the worker runs has outlasted its budget (its beat did not change)."""
        try:
            with open(self.marker_path, "rb") as f:
                f.seek(MARKER.size)
                beat, budget = BEAT.unpack(f.read(BEAT.size))
        except (OSError, ValueError):
            return False
        if beat != self.beat[0] or budget != self.beat[1]:
            self.beat = (beat, budget, now)
            return False
        return budget > 0 and now - self.beat[2] > budget

    def dump_stacks(self) -> None:
        """Every thread's stack into the dump file (faulthandler on SIGUSR1), before it is killed."""
        with contextlib.suppress(OSError):
            os.kill(self.process.pid, signal.SIGUSR1)
            time.sleep(0.3)

    def exit_description(self) -> str:
        code = self.process.poll()
        if code is None:
            return "stopped responding"
        if code < 0:
            try:
                return f"was killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with code {code}"

    def kill(self) -> None:
        # The worker leads a session: every process a case started in it
        # (process-case children in their own groups, scripts, a Pool's
        # workers, their children) ends with it, not only the worker.
        left = session_members(self.process.pid, self.token)
        if self.process.poll() is None:
            self.process.kill()
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
            self.process.wait(timeout=5)
        self.conn.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


# Workers started before any pool asked for them (see prestart).
_spares: list[_Worker] = []


def prestart(count: int | None = None) -> None:
    """Start worker processes now, for the first pool to take.

    A worker's interpreter start and imports take about as long as the
    command's own argument parsing and case loading; started at the top of
    ``racekit run`` they happen side by side instead of one after the other.
    Workers no pool took are killed when the process exits.
    """
    if _spares:
        return
    for _ in range(max(1, count or default_workers())):
        try:
            _spares.append(_Worker())
        except OSError:
            break  # the pool will try again, and say why if it cannot
    atexit.register(_discard_spares)


def _take_spare() -> _Worker | None:
    if not _spares:
        return None
    worker = _spares.pop()
    # Its clocks start now: time spent waiting for a pool is no silence.
    worker.started = worker.last_heard = clock.now()
    return worker


def _discard_spares() -> None:
    while _spares:
        _spares.pop().kill()


class Pool:
    """Runs :class:`Job` trials on up to ``size`` worker processes."""

    def __init__(self, size: int | None = None):
        self.size = max(1, size or default_workers())
        self._workers: list[_Worker] = []
        self._selector = selectors.DefaultSelector()
        self._keys = 0
        self._jobs_by_key: dict[int, list[Job]] = {}
        self.interpreter: dict[str, object] = {}
        self._stop_on_failure = False
        self._failed_starts = 0  # workers that died before their first message, none having started since

    def new_key(self) -> int:
        """A job key no earlier job of this pool used (workers cache programs by key)."""
        self._keys += 1
        return self._keys

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Ask every worker to stop, then wait for them together (not one by one)."""
        workers = list(self._workers)
        for worker in workers:
            worker.send(protocol.Stop())
        deadline = time.monotonic() + 2
        for worker in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            self._remove(worker)
        self._selector.close()

    def run(self, jobs: Iterable[Job], on_trial: TrialCallback | None = None,
            stop_on_failure: bool = False, max_workers: int | None = None, deadline: float | None = None) -> None:
        """Run every job's pending trials; returns when all are done or stopped.

        A deadlock stops the rest of its job (each remaining trial would only
        wait out the timeout); with ``stop_on_failure`` so does the first wrong
        outcome. KeyboardInterrupt propagates after the workers are killed; the
        jobs keep the trials gathered so far. At ``deadline`` (``time.monotonic()``)
        no more trials start: the jobs still waiting stop with the time budget
        used up, and the trials under way end as they would.
        """
        jobs = [j for j in jobs if j.pending]
        self._stop_on_failure = stop_on_failure
        self._jobs_by_key = {j.key: [j] for j in jobs}
        chunk = {j.key: _chunk_size(len(j.pending), self.size) for j in jobs}
        try:
            while True:
                if deadline is not None and time.monotonic() >= deadline:
                    for job in jobs:
                        if job.pending:
                            self._stop(job, StopReason.BUDGET)
                queued = [j for j in jobs if j.pending]
                busy = [w for w in self._workers if w.outstanding or w.awaiting]
                if not queued and not busy:
                    return
                self._grow(sum(len(j.pending) for j in queued) + sum(len(w.outstanding) for w in busy))
                for worker in self._workers[:max_workers]:
                    if worker.ready:
                        self._feed(worker, queued, chunk)
                self._receive(on_trial, stop_on_failure)
        except BaseException:
            for worker in list(self._workers):
                self._remove(worker)
            raise

    # -- internals -----------------------------------------------------------

    def _grow(self, work: int) -> None:
        while len(self._workers) < min(self.size, max(work, 1)):
            try:
                worker = _take_spare() or _Worker()
            except OSError as exc:  # too many processes or open files, no disk for its folder…
                if self._workers:
                    return  # go on with the workers there are
                raise WorkerStartError(f"racekit could not start a worker process: {exc.strerror or exc}") from None
            self._workers.append(worker)
            self._selector.register(worker.conn, selectors.EVENT_READ, worker)

    def _remove(self, worker: _Worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
            self._selector.unregister(worker.conn)
        worker.kill()

    def _feed(self, worker: _Worker, queued: list[Job], chunk: dict[int, int]) -> None:
        # Keep two chunks in flight per worker so it never idles waiting for us.
        for job in queued:
            while job.pending and len(worker.outstanding) < 2 * chunk[job.key]:
                size = min(chunk[job.key], len(job.pending))
                plans = [job.pending.popleft() for _ in range(size)]
                if not worker.send(protocol.Task(job.key, job.variant, job.mode, job.roots, job.sys_path, plans)):
                    job.pending.extendleft(reversed(plans))
                    return
                worker.outstanding.extend((job, plan) for plan in plans)
            if len(worker.outstanding) >= 2 * chunk[job.key]:
                return

    def _receive(self, on_trial: TrialCallback | None, stop_on_failure: bool) -> None:
        ready = self._selector.select(timeout=0.25)
        now = clock.now()  # time racekit could run: a pause (Ctrl-Z, a sleeping laptop) does not count
        for key, _events in ready:
            worker: _Worker = key.data
            if worker not in self._workers:
                continue  # removed while handling an earlier message
            try:
                message = worker.conn.recv()
            except (EOFError, OSError) as exc:
                # A garbled message (ChannelError) costs this worker, not the run.
                worker.garbled = str(exc) if isinstance(exc, ChannelError) else None
                if worker.garbled:
                    worker.process.kill()
                self._lost(worker, on_trial)
                continue
            worker.last_heard = now
            self._handle(worker, message, on_trial, stop_on_failure)
        for worker in list(self._workers):
            self._watchdog(worker, now, on_trial)

    def _handle(self, worker: _Worker, message: object, on_trial: TrialCallback | None, stop_on_failure: bool) -> None:
        match message:
            case protocol.Ready(interpreter):
                worker.ready = True
                self._failed_starts = 0
                self.interpreter = interpreter
            case protocol.Trials(batch):
                self._trials(worker, batch, on_trial, stop_on_failure)
            case protocol.Explained(key, index, shrunk):
                worker.awaiting = max(0, worker.awaiting - 1)
                for job in self._jobs_by_key.get(key, ()):
                    for trial in job.trials:
                        if trial.index == index and shrunk is not None:
                            trial.take_shrunk(shrunk)
            case protocol.Searched(summary=summary):
                job, _plan = worker.outstanding.popleft()
                job.search = summary
            case protocol.Cancelled(key=key):
                # The worker reads messages only between trials, so every plan of
                # this job still outstanding on it was in its queue and is dropped.
                worker.outstanding = deque(item for item in worker.outstanding if item[0].key != key)
            case protocol.Failed(key=key, reason=reason):
                for job, _plan in list(worker.outstanding):
                    if job.key == key:
                        job.failure = reason
                        job.pending.clear()
                worker.outstanding = deque(item for item in worker.outstanding if item[0].key != key)
            case _:
                # Unpickled, but no racekit message: as garbled as bytes that fail to unpickle.
                worker.garbled = f"an unexpected {type(message).__name__} on racekit's channel"
                worker.process.kill()

    def _trials(self, worker: _Worker, batch: list, on_trial: TrialCallback | None, stop_on_failure: bool) -> None:
        """A batch of results, in the order the worker ran them."""
        for _key, trial in batch:
            job, plan = worker.outstanding[0]
            if not isinstance(plan, Search):  # a search's plan stays until the search is done
                worker.outstanding.popleft()
            if trial.shrinking:
                worker.awaiting += 1  # its smaller schedule is still to come
            self._record(job, trial, on_trial)
            if trial.status is Status.DEADLOCK and not modes.mode(job.mode.name).sees_every_deadlock:
                worker.retiring = True  # it exits: its stuck threads cannot be stopped
                self._stop(job, StopReason.DEADLOCK)
            elif trial.left_running:
                # Every other run would be stuck there too; and the stuck thread
                # runs on in this worker, which therefore exits (a fresh one follows).
                worker.retiring = True
                self._stop(job, StopReason.BLOCKED)
            elif stop_on_failure and not trial.matches:
                self._stop(job, StopReason.FIRST_FAILURE)

    def _record(self, job: Job, trial: Trial, on_trial: TrialCallback | None) -> None:
        job.trials.append(trial)
        if on_trial is not None:
            on_trial(job, trial)

    def _stop(self, job: Job, reason: StopReason) -> None:
        if job.stop_reason:
            return
        job.stop_reason = reason
        job.pending.clear()
        for worker in self._workers:
            if any(j.key == job.key for j, _ in worker.outstanding):
                worker.send(protocol.Cancel(job.key))

    def _lost(self, worker: _Worker, on_trial: TrialCallback | None, unresponsive: bool = False) -> None:
        """The worker's connection closed: after a deadlock that is expected;
        otherwise the trial it was running crashed it (or hung it)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(timeout=5)
        if not worker.ready and not worker.retiring:
            # Died before its first message: no trial ran, so no case is to blame
            # (a broken site-packages, a sitecustomize that exits). Starting
            # more would go on for ever; after a few, racekit says why and stops.
            self._failed_starts += 1
            if self._failed_starts >= START_ATTEMPTS:
                dump = clean_fault_dump(worker.dump_text()).strip()
                self._requeue(worker)
                self._remove(worker)
                raise WorkerStartError(f"racekit's worker process could not start ({worker.exit_description()})"
                                       + (f"; it printed:\n{dump}" if dump else ""))
        if worker.outstanding and not worker.retiring:
            job, plan = self._blamed(worker)
            dump = clean_fault_dump(worker.dump_text())
            if not worker.ready:
                job.failure = f"the worker process could not start ({worker.exit_description()}):\n{dump}".rstrip()
                job.pending.clear()
            elif unresponsive or dump.lstrip().startswith("Timeout"):
                # The faulthandler watchdog fired: the trial hung without
                # letting the worker's own timeout check run (it held the GIL).
                detail = f"did not finish within the {job.variant.timeout:g} s timeout (the worker was stopped):\n{dump}"
                if modes.mode(job.mode.name).sees_every_deadlock:
                    # A trial that hangs under a scheduler that sees every deadlock
                    # blocked (or ran) where it cannot see. That is no verdict on the case.
                    self._record(job, Trial(plan.index, plan.seed, Status.INCONCLUSIVE, "inconclusive: timed out",
                                            detail=detail.rstrip(), why={"kind": "hard_stop",
                                                                         "timeout": job.variant.timeout}), on_trial)
                    self._stop(job, StopReason.BLOCKED)
                else:
                    self._record(job, Trial(plan.index, plan.seed, Status.DEADLOCK, "deadlock", detail=detail.rstrip()),
                                 on_trial)
                    self._stop(job, StopReason.DEADLOCK)
            elif worker.garbled:
                detail = (f"the worker process sent racekit {worker.garbled} during this trial: did the case write "
                          f"into a file descriptor it did not open?\n{dump}").rstrip()
                self._record(job, Trial(plan.index, plan.seed, Status.CRASH, "crash: garbled racekit's channel",
                                        detail=detail), on_trial)
            else:
                what = worker.exit_description()
                detail = f"the worker process {what} during this trial\n{dump}".rstrip()
                self._record(job, Trial(plan.index, plan.seed, Status.CRASH, f"crash: {what.removeprefix('was ')}", detail=detail), on_trial)
                if self._stop_on_failure:
                    self._stop(job, StopReason.FIRST_FAILURE)
                elif len(job.trials) >= CRASH_LIMIT and all(t.status is Status.CRASH for t in job.trials):
                    # Each crash costs a new worker process; a variant that has
                    # done nothing else would most likely go on crashing.
                    self._stop(job, StopReason.CRASHES)
        self._requeue(worker)
        self._remove(worker)

    def _blamed(self, worker: _Worker) -> tuple[Job, TrialPlan]:
        """The plan that was running when the worker died (results of trials
        finished since its last batch are lost, and those trials run again)."""
        running = worker.running()
        for item in worker.outstanding:
            if running == (item[0].key, item[1].index):
                worker.outstanding.remove(item)
                return item
        return worker.outstanding.popleft()

    def _requeue(self, worker: _Worker) -> None:
        for job, plan in reversed(worker.outstanding):
            if not job.stop_reason and not job.failure:
                job.pending.appendleft(plan)
        worker.outstanding.clear()

    def _watchdog(self, worker: _Worker, now: float, on_trial: TrialCallback | None) -> None:
        if not worker.ready:
            if now - worker.started > STARTUP_TIMEOUT:
                worker.process.kill()
                self._lost(worker, on_trial)
            return
        if not worker.outstanding:
            return
        job = worker.outstanding[0][0]
        # A worker whose heartbeat moves is heard from (a controlled trial's slow
        # work between steps on a loaded machine): only silence in both counts.
        overdue = worker.beat_overdue(now)
        heard = max(worker.last_heard, worker.beat[2])
        if overdue or now - heard > job.variant.timeout + HARD_STOP_GRACE + UNRESPONSIVE_GRACE:
            worker.dump_stacks()
            worker.process.kill()
            self._lost(worker, on_trial, unresponsive=True)


_NOISE = (os.sep + "racekit" + os.sep + "runtime" + os.sep, os.sep + "threading.py", "<frozen runpy>",
          os.sep + "multiprocessing" + os.sep)


def clean_fault_dump(text: str) -> str:
    """faulthandler's dump without racekit's and threading's own frames, and
    without threads left with no frame of the case (the worker's main thread)."""
    blocks = text.replace("\r", "").split("\n\n")
    kept = []
    for block in blocks:
        lines = [ln for ln in block.splitlines() if not any(n in ln for n in _NOISE)]
        lines = [ln for ln in lines if not ln.startswith("Extension modules:")]
        frames = [ln for ln in lines if ln.lstrip().startswith("File ")]
        headed = lines and (lines[0].startswith(("Thread ", "Current thread ")) or "most recent call first" in lines[0])
        if headed and not frames:
            continue
        if any(ln.strip() for ln in lines):
            kept.append("\n".join(lines))
    return "\n\n".join(kept).strip()


def _chunk_size(trials: int, workers: int) -> int:
    """Big enough to amortise a message, small enough to balance the workers."""
    return max(1, min(32, trials // (workers * 4) or 1))
