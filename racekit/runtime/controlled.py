"""The controlled scheduler: real threads, exactly one running, every choice recorded.

Each case thread runs until it is about to perform a *visible operation* (a
shared read or write, a lock or queue operation), announces it, and waits. The
scheduler then picks one thread among those whose announced operation can
proceed (an ``acquire`` of a held lock cannot), lets it perform that operation
and run on to its next one, and so on. One decision per operation: two threads
of four operations each have exactly C(8, 4) = 70 schedules.

Decisions are made by a *strategy* (seeded random, PCT, or replay of a
recorded schedule); the choices where more than one thread could move form
the trial's schedule, replayable on any CPython because operations come from
the case's source, not its bytecode. When no thread can move the trial is a
deadlock, reported at once with who holds and who waits for what.

Hand-offs use one semaphore per thread, so exactly one thread holds the
"token" at any time; a run that must be abandoned (deadlock, step bound,
a schedule that does not fit) unwinds every thread with :class:`Abort`.
"""

from __future__ import annotations

import random
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

DEFAULT_STEP_LIMIT = 200_000


class Abort(BaseException):
    """Unwinds a case thread when its trial is abandoned; never caught by case code
    written as ``except Exception``."""


class ScheduleMismatch(Exception):
    """A replayed schedule asked for a thread that cannot move at that point."""


@dataclass
class Op:
    """One visible operation, as the access log and the trace show it."""

    step: int
    thread: int
    kind: str  # read, write, acquire, release, wait, notify, put, get, set, sleep, start, join, …
    what: str  # "account.balance", "lock", "queue"
    location: tuple[int, str] | None = None  # (id of object, attribute/key) for reads and writes
    value: str = ""  # repr of the value read or written
    line: int = 0
    preempted: bool = False  # this operation's thread took over from one that could have gone on
    sync: int | None = None  # id of the synchronisation object, for happens-before


@dataclass
class _Thread:
    index: int
    name: str
    semaphore: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    started: bool = False
    done: bool = False
    pending: Callable[[], bool] | None = None  # can the announced operation proceed now?
    pending_what: str = ""
    timeout_result: bool = False  # its wait may give up when nothing else can move
    preempting: bool = False  # it was chosen while the running thread could have gone on


class Strategy:
    """Chooses the next thread among those that can move."""

    def choose(self, step: int, enabled: list[int], current: int | None) -> int:
        raise NotImplementedError

    def thread_count(self, count: int) -> None:
        """Told how many threads the trial starts, before the first choice."""


class RandomStrategy(Strategy):
    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def choose(self, step: int, enabled: list[int], current: int | None) -> int:
        return self.rng.choice(enabled)


class PCTStrategy(Strategy):
    """Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): random
    distinct thread priorities, the highest-priority enabled thread always runs,
    and at d-1 random steps the running thread drops to the lowest priorities.
    A bug of depth d is found with probability at least 1/(n k^(d-1))."""

    def __init__(self, seed: int, depth: int = 3, expected_steps: int = 100):
        self.rng = random.Random(seed)
        self.depth = depth
        self.expected_steps = max(expected_steps, 1)
        self.priorities: dict[int, float] = {}
        self.change_points: list[int] = []

    def thread_count(self, count: int) -> None:
        order = list(range(count))
        self.rng.shuffle(order)
        self.priorities = {t: self.depth + rank for rank, t in enumerate(order)}
        self.change_points = sorted(self.rng.sample(range(1, self.expected_steps + 1),
                                                    min(self.depth - 1, self.expected_steps)))

    def choose(self, step: int, enabled: list[int], current: int | None) -> int:
        for index, point in enumerate(self.change_points):
            if point == step and current is not None:
                self.priorities[current] = self.depth - 1 - index
        for t in enabled:
            self.priorities.setdefault(t, self.depth + len(self.priorities))
        return max(enabled, key=lambda t: self.priorities[t])


class ReplayStrategy(Strategy):
    """Follows a recorded schedule; after it ends, or where ``guided`` and the
    recorded thread cannot move, continues the running thread (no preemption)."""

    def __init__(self, choices: list[int], guided: bool = False):
        self.choices = choices
        self.guided = guided
        self.position = 0

    def choose(self, step: int, enabled: list[int], current: int | None) -> int:
        if self.position < len(self.choices):
            wanted = self.choices[self.position]
            self.position += 1
            if wanted in enabled:
                return wanted
            if not self.guided:
                raise ScheduleMismatch(f"the schedule asks for thread {wanted} at choice {self.position}, "
                                       f"but only {enabled} can move there")
        return current if current in enabled else enabled[0]


@dataclass
class Outcome:
    """How a controlled trial's scheduling ended."""

    choices: list[int]
    log: list[Op]
    steps: int
    deadlock: str | None = None  # who holds and who waits, when no thread could move
    step_limit: bool = False
    mismatch: str | None = None


class Controller:
    """One trial's scheduler. Case code reaches it through the shims and the hooks."""

    def __init__(self, strategy: Strategy, names: list[str], step_limit: int = DEFAULT_STEP_LIMIT):
        self.strategy = strategy
        self.threads = [_Thread(i, name) for i, name in enumerate(names)]
        self.step_limit = step_limit
        self.current: int | None = None
        self.choices: list[int] = []
        self.log: list[Op] = []
        self.steps = 0
        self.aborted: str | None = None
        self.deadlock: str | None = None
        self.mismatch: str | None = None
        self.finished = threading.Event()
        self.holders: dict[int, tuple[str, int]] = {}  # sync object id -> (label, holding thread)
        self._local = threading.local()
        self.shim_classes: dict[type, type] = {}  # racekit.runtime.shims classes bound to this trial
        self.extra_threads: list[threading.Thread] = []  # threads the case code started itself
        self.preemptions = 0
        self._numbers: dict[int, tuple[int, object]] = {}
        strategy.thread_count(len(names))

    def number(self, obj: object) -> int:
        """A small number for an unnamed object, stable within this trial."""
        entry = self._numbers.get(id(obj))
        if entry is None or entry[1] is not obj:
            entry = (len(self._numbers) + 1, obj)
            self._numbers[id(obj)] = entry
        return entry[0]

    def set_threads(self, names: list[str]) -> None:
        """Name the trial's threads once setup has run (before :meth:`start`)."""
        self.threads = [_Thread(i, name) for i, name in enumerate(names)]
        self.strategy.thread_count(len(names))

    def abandon(self, reason: str) -> None:
        """Stop a trial from outside (it overran its time): unwind every thread."""
        self.aborted = reason
        for state in self.threads:
            state.semaphore.release()
        self.finished.set()

    # -- entering and leaving threads ----------------------------------------

    def me(self) -> int:
        """The calling trial thread's index; -1 for the thread running setup or the outcome."""
        index = getattr(self._local, "index", None)
        return -1 if index is None else index

    def thread_body(self, index: int, body: Callable[[], Any]) -> Callable[[], None]:
        """Wrap a thread's callable: wait for the token, run, hand the token on."""

        def run() -> None:
            self._local.index = index
            state = self.threads[index]
            state.semaphore.acquire()
            try:
                if self.aborted:
                    raise Abort(self.aborted)
                body()
            finally:
                state.done = True
                state.pending = None
                if not self.aborted:
                    self._next(index, finished=True)

        return run

    def start(self) -> None:
        """Release the first thread; every thread first runs to its first operation."""
        self._begin(0)

    def add_thread(self, name: str) -> int:
        """A thread the case itself starts (``threading.Thread(...).start()``)."""
        index = len(self.threads)
        self.threads.append(_Thread(index, name))
        return index

    def _begin(self, index: int) -> None:
        self.threads[index].started = True
        self.current = index
        self.threads[index].semaphore.release()

    # -- the heart: announcing an operation ----------------------------------------

    def point(self, what: str, enabled: Callable[[], bool] | None = None, timeout: bool = False) -> bool:
        """Announce the calling thread's next visible operation and wait until it
        is chosen. Returns False only for a wait that gave up (its timeout) because
        no thread could move."""
        me = self.me()
        if me < 0:
            # Setup (or the outcome) uses a lock or a queue: only one thread
            # exists then, so the operation simply happens.
            if enabled is not None and not enabled():
                raise RuntimeError(f"{what}: would block forever outside the case's threads (in setup or outcome)")
            return True
        state = self.threads[me]
        state.pending = enabled or _always
        state.pending_what = what
        state.timeout_result = False
        self._next(me, timeout=timeout)
        if self.aborted:
            raise Abort(self.aborted)
        state.pending = None
        return not state.timeout_result

    def record(self, kind: str, what: str, *, location: tuple[int, str] | None = None, value: str = "",
               line: int = 0, sync: int | None = None) -> None:
        if self.me() < 0:
            return  # not part of any interleaving
        if not line:
            line = _case_line()
        state = self.threads[self.me()]
        self.log.append(Op(self.steps, state.index, kind, what, location, value, line, state.preempting, sync))
        state.preempting = False

    def _next(self, me: int, finished: bool = False, timeout: bool = False) -> None:
        """Choose who performs the next operation, and hand over the token."""
        # First let every thread that has not started run to its first operation.
        for state in self.threads:
            if not state.started:
                self._switch(me, state.index, finished)
                return
        enabled = [t.index for t in self.threads if not t.done and t.pending is not None and t.pending()]
        if not enabled:
            waiting = [t for t in self.threads if not t.done]
            if not waiting:
                self.current = None
                self.finished.set()
                return
            timed = [t for t in waiting if t.pending is not None and _has_timeout(t)]
            if timed:  # nothing can move: a wait with a timeout gives up
                chosen = timed[0]
                chosen.timeout_result = True
                self._switch(me, chosen.index, finished)
                return
            self._abort(me, deadlock=self._describe_deadlock(waiting), finished=finished)
            return
        self.steps += 1
        if self.steps > self.step_limit:
            self._abort(me, step_limit=True, finished=finished)
            return
        current = None if finished else me
        try:
            chosen = self.strategy.choose(self.steps, enabled, current) if len(enabled) > 1 else enabled[0]
        except ScheduleMismatch as exc:
            self.mismatch = str(exc)
            self._abort(me, finished=finished)
            return
        if len(enabled) > 1:
            self.choices.append(chosen)
            # A preemption: the thread that was running could have gone on.
            preempting = current is not None and chosen != current and current in enabled
            self.threads[chosen].preempting = preempting
            self.preemptions += preempting
        if chosen != me:
            self._switch(me, chosen, finished)

    def _switch(self, me: int, target: int, finished: bool) -> None:
        state = self.threads[target]
        state.started = True
        self.current = target
        state.semaphore.release()
        if not finished:
            self.threads[me].semaphore.acquire()

    def _abort(self, me: int, deadlock: str | None = None, step_limit: bool = False, finished: bool = False) -> None:
        self.deadlock = deadlock
        self.aborted = ("deadlock" if deadlock else "step limit" if step_limit else
                        "schedule mismatch" if self.mismatch else "aborted")
        for state in self.threads:
            if not state.done and state.index != me:
                state.semaphore.release()
        self.finished.set()
        if not finished:
            raise Abort(self.aborted)

    def _describe_deadlock(self, waiting: list[_Thread]) -> str:
        lines = ["no thread can move:"]
        for t in waiting:
            lines.append(f"  {t.name} waits to {t.pending_what}")
        for label, holder in self.holders.values():
            lines.append(f"  {label} is held by {self.threads[holder].name}")
        return "\n".join(lines)

    def outcome(self) -> Outcome:
        return Outcome(self.choices, self.log, self.steps, self.deadlock,
                       self.aborted == "step limit", self.mismatch)


_RACEKIT_DIR = __file__.rsplit("/runtime/", 1)[0]
_THREADING = threading.__file__


def short_value(value: Any) -> str:
    """A value as a trace row shows it: its repr, cut to 40 characters, never an exception."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a case's __repr__ may raise
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 40 else text[:37] + "..."


def _case_line() -> int:
    """The line of case code that called into racekit (a lock or queue operation)."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_RACEKIT_DIR) and filename != _THREADING:
            return frame.f_lineno
        frame = frame.f_back
    return 0


def _always() -> bool:
    return True


def _has_timeout(state: _Thread) -> bool:
    return getattr(state.pending, "has_timeout", False)


# -- schedules as text -------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def encode_schedule(choices: list[int], threads: int) -> str:
    """Run-length encoded choices: ``a3b2a`` is a,a,a,b,b,a (threads a, b, … by index).

    The thread count comes first (``2:``) so a schedule cannot be replayed
    against a case with a different number of threads by mistake."""
    out = [f"{threads}:"]
    i = 0
    while i < len(choices):
        j = i
        while j < len(choices) and choices[j] == choices[i]:
            j += 1
        out.append(_thread_code(choices[i]) + (str(j - i) if j - i > 1 else ""))
        i = j
    return "".join(out)


def decode_schedule(text: str) -> tuple[int, list[int]]:
    match = re.fullmatch(r"\s*(\d+):((?:(?:[a-z]|\[\d+\])\d*)*)\s*", text)
    if not match:
        raise ValueError(f"not a racekit schedule: {text!r} (expected e.g. '2:a3b2a')")
    threads = int(match.group(1))
    choices: list[int] = []
    for code, count in re.findall(r"([a-z]|\[\d+\])(\d*)", match.group(2)):
        index = _LETTERS.index(code) if len(code) == 1 else int(code[1:-1])
        if index >= threads:
            raise ValueError(f"schedule {text!r} names thread {index + 1}, but declares {threads} threads")
        choices.extend([index] * (int(count) if count else 1))
    return threads, choices


def _thread_code(index: int) -> str:
    return _LETTERS[index] if index < len(_LETTERS) else f"[{index}]"
