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

from racekit.records import Op

# What a schedule string's choices mean; 2: a thread's start is a choice and
# spinning threads wait (schedules of format 1 are never replayed).
SCHEDULE_FORMAT = 2
DEFAULT_STEP_LIMIT = 1_000_000
MAX_SCHEDULE_CHOICES = 100_000_000  # what any schedule a run can record stays below  # scheduling steps per trial; the engine raises it to fit long cases
# Operations that change nothing another thread could see: a thread that does
# only these, in a state it was already in, is spinning (see Controller._observe).
PASSIVE = {"read", "sleep", "try-acquire", "check"}


class Abort(BaseException):
    """Unwinds a case thread when its trial is abandoned; never caught by case code
    written as ``except Exception``."""


class ScheduleMismatch(Exception):
    """A replayed schedule asked for a thread that cannot move at that point."""


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
    ops: int = 0  # operations it has performed
    # Spin detection: what it observed since anything last changed, and the
    # states (frames, locals) in which it observed each thing.
    window: dict = field(default_factory=dict)
    timed: bool = False  # it read a clock since: a loop that may end by time
    spinning: bool = False  # it came back to a state it was in, with nothing changed


class Strategy:
    """Chooses the next thread among those that can move."""

    def choose(self, step: int, enabled: list[int], current: int | None) -> int:
        raise NotImplementedError

    def thread_count(self, count: int) -> None:
        """Told how many threads the trial starts, before the first choice."""

    def bind(self, controller: Controller) -> None:
        """Told which controller asks it (a strategy may follow its threads' progress)."""


class SerialStrategy(Strategy):
    """No preemption at all: the running thread goes on until it ends or blocks,
    then the first thread of ``order`` that can move. Each order is one serial
    run: the baseline that says what goes wrong without any concurrency."""

    def __init__(self, order: list[int]):
        self.order = order
    def choose(self, step: int, enabled: list[int], current: int | None) -> int:
        if current in enabled:
            return current
        rank = {t: i for i, t in enumerate(self.order)}
        return min(enabled, key=lambda t: (rank.get(t, len(rank)), t))


def serial_orders(threads: int, cap: int = 24) -> list[list[int]]:
    """The thread orders of the serial baseline: all of them when there are at
    most ``cap``, else each thread first once (the rest in index order)."""
    import itertools
    import math

    if math.factorial(threads) <= cap:
        return [list(p) for p in itertools.permutations(range(threads))]
    return [[first, *[t for t in range(threads) if t != first]] for first in range(threads)]


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
    livelock: str | None = None  # who spins on what, when nothing can ever change it


class Controller:
    """One trial's scheduler. Case code reaches it through the shims and the hooks.

    Every scheduling decision is made here, in :meth:`_next`: who may move
    (not done, not blocked, not spinning while others can move), and, when
    more than one may, the strategy's choice. Threads first run, one at a
    time, to their first visible operation: what they do before it touches no
    shared state (every access to shared state is visible), so the first
    decision, among every thread's first operation, is the start of each
    thread; passing over a thread that has not made any operation yet is not
    a preemption.
    """

    def __init__(self, strategy: Strategy, names: list[str], step_limit: int = DEFAULT_STEP_LIMIT):
        self.strategy = strategy
        self.threads = [_Thread(i, name) for i, name in enumerate(names)]
        self.step_limit = step_limit
        self.current: int | None = None
        self.choices: list[int] = []
        self.enabled_at: list[tuple[int, ...]] = []  # who could move at each choice
        self.log: list[Op] = []
        self.steps = 0
        self.aborted: str | None = None
        self.deadlock: str | None = None
        self.livelock: str | None = None
        self.mismatch: str | None = None
        self.finished = threading.Event()
        self.holders: dict[int, tuple[str, int]] = {}  # sync object id -> (label, holding thread)
        self._local = threading.local()
        self.shim_classes: dict[type, type] = {}  # racekit.runtime.shims classes bound to this trial
        self.extra_threads: list[threading.Thread] = []  # threads the case code started itself
        self.preemptions = 0
        self.spin_blocks = 0  # times a spinning thread was held back while another could move
        self.gave_way = 0  # times a running thread could not go on (it blocked or spun) and another ran
        self._numbers: dict[int, tuple[int, object]] = {}
        strategy.thread_count(len(names))
        strategy.bind(self)

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
        state = self.threads[0]
        state.started = True
        self.current = 0
        state.semaphore.release()

    def add_thread(self, name: str) -> int:
        """A thread the case itself starts (``threading.Thread(...).start()``)."""
        index = len(self.threads)
        self.threads.append(_Thread(index, name))
        return index

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
               line: int = 0, sync: int | None = None, update: bool = False) -> None:
        if self.me() < 0:
            return  # not part of any interleaving
        if not line:
            line = _case_line()
        state = self.threads[self.me()]
        state.ops += 1
        self.log.append(Op(self.steps, state.index, kind, what, location, value, line, state.preempting, sync,
                           len(self.choices), state.ops, update))
        state.preempting = False
        self._observe(state, kind, location, value)

    def clock_read(self) -> None:
        """The calling thread read a clock (``time.monotonic()``…): its loop may end by time."""
        if self.me() >= 0:
            self.threads[self.me()].timed = True

    # -- spinning ------------------------------------------------------------------

    def _observe(self, state: _Thread, kind: str, location: tuple[int, str] | None, value: str) -> None:
        """Fair scheduling without losing behaviours: a thread whose whole state
        (its frames' positions and locals, what it just read, the random
        generator) repeats while no thread changed anything is in a cycle it
        cannot leave by itself. It is held back until some thread changes
        something; a thread whose state differs (a retry counter) never is."""
        if kind not in PASSIVE:
            for other in self.threads:  # anything may have changed: everyone looks afresh
                if other.window:
                    other.window.clear()
                other.spinning = other.timed = False
            return
        key = (location, value, kind)
        states = state.window.get(key)
        if states is None:
            state.window[key] = set()  # first look: cheap, most reads are never repeated
            return
        fingerprint = _state_fingerprint()
        if fingerprint in states:
            state.spinning = True
        else:
            states.add(fingerprint)

    # -- choosing --------------------------------------------------------------

    def _next(self, me: int | None, finished: bool = False, timeout: bool = False) -> None:
        """Choose who performs the next operation, and hand over the token."""
        # First let every thread that has not started run to its first operation.
        for state in self.threads:
            if not state.started:
                self._switch(me, state.index, finished)
                return
        movable = [t for t in self.threads if not t.done and t.pending is not None and t.pending()]
        if not movable:
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
        # A spinning thread waits while another can move; when only spinners
        # can, and none of them could leave its cycle by time, none ever will.
        progressing = [t for t in movable if not t.spinning]
        if progressing:
            self.spin_blocks += len(movable) - len(progressing)
            movable = progressing
        elif not any(t.timed for t in movable):
            self._abort(me, livelock=self._describe_livelock(movable), finished=finished)
            return
        enabled = [t.index for t in movable]
        self.steps += 1
        if self.steps > self.step_limit:
            self._abort(me, step_limit=True, finished=finished)
            return
        # A thread that has made no operation yet is not interrupted by a choice of another.
        current = None if finished or me is None or not self.threads[me].ops else me
        if current is not None and current not in enabled:
            self.gave_way += 1
        try:
            chosen = self.strategy.choose(self.steps, enabled, current) if len(enabled) > 1 else enabled[0]
        except ScheduleMismatch as exc:
            self.mismatch = str(exc)
            self._abort(me, finished=finished)
            return
        if len(enabled) > 1:
            self.choices.append(chosen)
            self.enabled_at.append(tuple(enabled))
            # A preemption: the thread that was running could have gone on.
            preempting = current is not None and chosen != current and current in enabled
            self.threads[chosen].preempting = preempting
            self.preemptions += preempting
        if chosen != me:
            self._switch(me, chosen, finished)

    def _switch(self, me: int | None, target: int, finished: bool) -> None:
        state = self.threads[target]
        state.started = True
        self.current = target
        state.semaphore.release()
        if not finished and me is not None:
            self.threads[me].semaphore.acquire()

    def _abort(self, me: int | None, deadlock: str | None = None, step_limit: bool = False,
               livelock: str | None = None, finished: bool = False) -> None:
        self.deadlock = deadlock
        self.livelock = livelock
        self.aborted = ("deadlock" if deadlock else "livelock" if livelock else "step limit" if step_limit else
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

    def _describe_livelock(self, spinning: list[_Thread]) -> str:
        lines = ["no thread can change what the others wait for:"]
        for t in spinning:
            seen = sorted({self._location_label(key) for key in t.window}) or ["nothing"]
            lines.append(f"  {t.name} keeps re-reading {', '.join(seen[:4])}, in a state it was already in")
        return "\n".join(lines)

    def _location_label(self, key: tuple) -> str:
        location, value, kind = key
        if kind == "sleep":
            return "the clock (sleep)"
        for op in reversed(self.log):
            if op.location == location:
                return f"{op.what} (= {value})" if value else op.what
        return "a shared value"

    def outcome(self) -> Outcome:
        return Outcome(self.choices, self.log, self.steps, self.deadlock,
                       self.aborted == "step limit", self.mismatch, self.livelock)


def _state_fingerprint() -> int:
    """The calling case thread's state, as far as Python can see it: every case
    frame's position and locals, and the random generator. Equal fingerprints
    with nothing changed in between mean the thread is going round in a cycle."""
    import random as _random

    parts: list[object] = [hash(_random.getstate())]
    frame: Any = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_RACEKIT_DIR) and filename != _THREADING:
            parts.append((id(frame.f_code), frame.f_lasti, tuple((k, _fingerprint(v)) for k, v in frame.f_locals.items())))
        frame = frame.f_back
    return hash(tuple(parts))


def _fingerprint(value: Any) -> object:
    """A cheap, bounded stand-in for a local's value (never a full repr of a big list)."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return value if not isinstance(value, (str, bytes)) or len(value) <= 200 else (len(value), hash(value))
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        try:
            items = list(value.items())[-3:] if isinstance(value, dict) else list(value)[-3:] if not isinstance(
                value, (set, frozenset)) else sorted(map(repr, value))[:3]
        except Exception:  # noqa: BLE001
            items = []
        return (type(value).__name__, len(value), tuple(_fingerprint(i) if not isinstance(i, tuple) else repr(i)[:80]
                                                          for i in items))
    state = getattr(value, "__dict__", None)
    if isinstance(state, dict) and not isinstance(value, type):
        return (type(value).__name__, id(value), tuple((k, _shallow(v)) for k, v in list(state.items())[:8]))
    return (type(value).__name__, id(value))


def _shallow(value: Any) -> object:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, dict, set)):
        return (type(value).__name__, len(value))
    return id(value)


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
    pairs = re.findall(r"([a-z]|\[\d+\])(\d*)", match.group(2))
    total = sum(int(count) if count else 1 for _code, count in pairs)
    if total > MAX_SCHEDULE_CHOICES:
        raise ValueError(f"schedule {text[:40]!r}… makes {total:,} choices; a run makes at most "
                         f"{MAX_SCHEDULE_CHOICES:,}")
    for code, count in pairs:
        index = _LETTERS.index(code) if len(code) == 1 else int(code[1:-1])
        if index >= threads:
            raise ValueError(f"schedule {text!r} names thread {index + 1}, but declares {threads} threads")
        choices.extend([index] * (int(count) if count else 1))
    return threads, choices


def _thread_code(index: int) -> str:
    return _LETTERS[index] if index < len(_LETTERS) else f"[{index}]"
