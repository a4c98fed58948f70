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

import collections
import enum
import itertools
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from racekit.records import Op, PendingOp
from racekit.runtime import peek
from racekit.runtime.controlled.strategies.replay import ScheduleEnd, ScheduleMismatch
from racekit.runtime.controlled.strategies import Strategy

DEFAULT_STEP_LIMIT = 1_000_000  # scheduling steps per trial; the engine raises it to fit long cases
# Operations that change nothing another thread could see: a thread that does
# only these, in a state it was already in, is spinning (see Controller._observe).
PASSIVE = {"read", "sleep", "try-acquire", "check"}


class Abort(BaseException):
    """Unwinds a case thread when its trial is abandoned; never caught by case code
    written as ``except Exception``."""


@dataclass
class _Thread:
    index: int
    name: str
    semaphore: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    started: bool = False
    done: bool = False
    pending: Callable[[], bool] | None = None  # can the announced operation proceed now?
    # What it announced: a PendingOp's fields as a plain tuple, made into one
    # only when asked for (pending_ops); a tuple is the cheapest record per step.
    announced: tuple | None = None
    timeout_result: bool = False  # its wait may give up when nothing else can move
    preempting: bool = False  # it was chosen while the running thread could have gone on
    ops: int = 0  # operations it has performed
    # Spin detection: what it observed since anything last changed, and the
    # states (frames, locals) in which it observed each thing.
    window: dict = field(default_factory=dict)
    timed: bool = False  # it read a clock since: a loop that may end by time
    spinning: bool = False  # it came back to a state it was in, with nothing changed
    frame: Any = None  # where it announced its operation (kept only for lecture and play: keep_frames)
    completed: bool = False  # it ran to its end
    # A write logged as it was announced, whose value is read once it happened
    # (the thread's next operation or its end): (the op, how to read the value).
    unsettled: tuple[Op, Callable[[], str]] | None = None


@dataclass
class Outcome:
    """How a controlled trial's scheduling ended."""

    choices: list[int]
    log: list[Op]
    steps: int
    deadlock: dict[str, Any] | None = None  # who holds and who waits, when no thread could move
    step_limit: bool = False
    mismatch: dict[str, Any] | None = None
    livelock: dict[str, Any] | None = None  # who spins on what, when nothing can ever change it
    paused: dict[str, Any] | None = None  # a paused replay: who could move, and what each thread does next


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
        self.deadlock: dict[str, Any] | None = None  # who waits, who holds (facts)
        self.livelock: dict[str, Any] | None = None  # who spins on what (facts)
        self.mismatch: dict[str, Any] | None = None  # where a replayed schedule stopped fitting
        self.paused: dict[str, Any] | None = None  # where a paused replay stopped (racekit play)
        # Lecture and play show the line each thread waits at: it announces its
        # frame (its own, from sys._getframe; another thread's frames are never read).
        self.keep_frames = strategy.keep_frames
        self.waiting_at: dict[int, list[int]] = {}  # operations done -> threads that could not move then
        self.finished = threading.Event()
        self.holders: dict[int, tuple[str, int]] = {}  # sync object id -> (label, holding thread)
        self._local = threading.local()
        self.shim_classes: dict[type, type] = {}  # racekit.runtime.controlled.standins classes bound to this trial
        self.extra_threads: list[threading.Thread] = []  # threads the case code started itself
        self.preemptions = 0
        self.spin_blocks = 0  # times a spinning thread was held back while another could move
        self.gave_way = 0  # times a running thread could not go on (it blocked or spun) and another ran
        self._numbers: dict[int, tuple[int, object]] = {}
        self.module_files: dict[str, str] = {}  # rewritten modules' files, as traces show them (import_hook)
        self.case_file = ""  # the case's own file, whose lines an op without a file refers to
        # A partial-order reduction compares operations across executions: objects by a number, not an id.
        self._identities: dict[int, tuple[int, object]] | None = {} if getattr(strategy, "reduction", None) else None
        strategy.begin(len(names))
        strategy.bind(self)

    def _identified(self, subject: object, location: tuple[int, str] | None,
                    sync: int | None) -> tuple[tuple[int, str] | None, int | None]:
        """An announced operation with the object it touches named by the order in
        which the execution first announced it: ids change from one execution to
        the next, a partial-order reduction compares operations across them. The
        object is kept, so its id is not reused within the execution; a key shown
        by address (an object without its own repr) stands for the whole object."""
        entry = self._identities.get(id(subject))  # type: ignore[union-attr]
        if entry is None:
            entry = (len(self._identities) + 1, subject)  # type: ignore[arg-type]
            self._identities[id(subject)] = entry  # type: ignore[index]
        number = entry[0]
        if location is not None:
            key = location[1]
            location = (number, "*" if " at 0x" in key else key)
        return location, number if sync is not None else None

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
        self.strategy.begin(len(names))

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
                _settle(state)
                state.done = True
                state.completed = not self.aborted  # it ran to its end (not unwound from an abandoned trial)
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

    def point(self, kind: str, what: str, enabled: Callable[[], bool] | None = None, timeout: bool = False,
              location: tuple[int, str] | None = None, sync: int | None = None, subject: object = None,
              wide: bool = False) -> bool:
        """Announce the calling thread's next visible operation and wait until it
        is chosen. Returns False only for a wait that gave up (its timeout) because
        no thread could move."""
        me = self.me()
        if me < 0:
            # Setup (or the outcome) uses a lock or a queue: only one thread
            # exists then, so the operation simply happens.
            if enabled is not None and not enabled():
                raise RuntimeError(f"{kind} {what}: would block forever outside the case's threads "
                                   "(in setup or outcome)")
            return True
        if self.aborted:
            # A thread unwinding from an abandoned trial (a lock's release in a
            # ``with``): nothing more is scheduled, and what was recorded stands.
            raise Abort(self.aborted)
        state = self.threads[me]
        if state.unsettled is not None:
            _settle(state)
        if self.keep_frames:
            state.frame = sys._getframe(1)
        state.pending = enabled or _always
        if self._identities is not None and subject is not None:
            # A wide step may touch more than it names: a reduction must take it to conflict with anything.
            location, sync = self._identified(subject, location, sync) if not wide else (None, None)
        state.announced = (me, kind, what, location, sync)
        state.timeout_result = False
        self._next(me, timeout=timeout)
        if self.aborted:
            raise Abort(self.aborted)
        state.pending = None
        return not state.timeout_result

    def record(self, kind: str, what: str, *, location: tuple[int, str] | None = None, value: str = "",
               line: int = 0, sync: int | None = None, update: bool = False, file: str = "") -> Op | None:
        """Log the calling thread's operation; the logged op (None outside the trial's threads)."""
        me = self.me()
        if me < 0:
            return None  # not part of any interleaving
        if not line:
            line, where = _case_place()
            file = self.module_files.get(where, "")
        state = self.threads[me]
        if state.unsettled is not None:
            _settle(state)
        state.ops += 1
        op = Op(self.steps, state.index, kind, what, location, value, line, state.preempting, sync,
                len(self.choices), state.ops, update, file)
        self.log.append(op)
        state.preempting = False
        self._observe(state, kind, location, value)
        return op

    def settle(self, op: Op | None, value: Callable[[], str]) -> None:
        """``op`` (a write, logged as announced) gets its value once it happened:
        at the thread's next operation or at its end, before any other thread runs."""
        if op is not None:
            self.threads[op.thread].unsettled = (op, value)

    def pending_ops(self) -> dict[int, PendingOp]:
        """Every live thread's announced next operation, by thread index."""
        return {t.index: PendingOp(*t.announced) for t in self.threads
                if not t.done and t.pending is not None and t.announced is not None}

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
        if self.keep_frames:
            # Lecture and play: who waits (a held lock, an empty queue, a condition) after this many operations.
            self.waiting_at[len(self.log)] = [t.index for t in self.threads
                                              if not t.done and t.pending is not None and t not in movable]
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
                self.strategy.stepped(chosen.index)
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
            chosen = self.strategy.next_task(enabled, current, self.steps) if len(enabled) > 1 else enabled[0]
        except ScheduleMismatch as exc:
            self.mismatch = {"wanted": exc.wanted, "position": exc.position, "enabled": exc.enabled}
            self._abort(me, finished=finished)
            return
        except ScheduleEnd as end:
            self.steps -= 1  # the step it stopped before is not taken
            self.paused = {"enabled": end.enabled, "current": end.current, "next": self._next_operations()}
            self._abort(me, finished=finished)
            return
        self.strategy.stepped(chosen)
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

    def _abort(self, me: int | None, deadlock: dict | None = None, step_limit: bool = False,
               livelock: dict | None = None, finished: bool = False) -> None:
        self.deadlock = deadlock
        self.livelock = livelock
        self.aborted = ("deadlock" if deadlock else "livelock" if livelock else "step limit" if step_limit else
                        "schedule mismatch" if self.mismatch else "paused" if self.paused else "aborted")
        for state in self.threads:
            if not state.done and state.index != me:
                state.semaphore.release()
        self.finished.set()
        if not finished:
            raise Abort(self.aborted)

    def _describe_deadlock(self, waiting: list[_Thread]) -> dict[str, Any]:
        """Who waits for what, and who holds what: facts the report words."""
        return {"waiting": [{"thread": t.name, "kind": t.announced[1] if t.announced else "?",
                             "what": t.announced[2] if t.announced else "?",
                             **({"line": _place_of(t.frame)[0]} if t.frame is not None else {})}
                            for t in waiting],
                "held": [{"what": label, "by": self.threads[holder].name} for label, holder in self.holders.values()]}

    def _next_operations(self) -> list[dict[str, Any]]:
        """Every live thread's announced operation and the line it waits at: what
        ``racekit play`` offers the student to choose from (facts; each thread
        is stopped in :meth:`point` at the frame it announced from)."""
        found = []
        for t in self.threads:
            if t.done or t.pending is None or t.announced is None:
                continue
            line, where = _place_of(t.frame)
            found.append({"thread": t.index, "kind": t.announced[1], "what": t.announced[2], "line": line,
                          "file": self.module_files.get(where, ""), "can_move": bool(t.pending())})
        return found

    def _describe_livelock(self, spinning: list[_Thread]) -> dict[str, Any]:
        """Who keeps re-reading what, in a state it was already in."""
        return {"spinning": [{"thread": t.name, "reads": sorted((self._location_facts(key) for key in t.window),
                                                                 key=lambda f: (f["what"], f["value"]))[:4]}
                             for t in spinning]}

    def _location_facts(self, key: tuple) -> dict[str, str]:
        location, value, kind = key
        if kind == "sleep":
            return {"what": "", "value": "", "clock": "sleep"}
        for op in reversed(self.log):
            if op.location == location:
                return {"what": op.what, "value": value}
        return {"what": "", "value": value}

    def outcome(self) -> Outcome:
        for state in self.threads:
            _settle(state)
        return Outcome(self.choices, self.log, self.steps, self.deadlock,
                       self.aborted == "step limit", self.mismatch, self.livelock, self.paused)


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
    """A cheap, bounded stand-in for a local's value (never a full repr of a big
    list, never the program's own ``__repr__`` or ``__eq__``)."""
    kind = type(value)
    if value is None or kind in (bool, int, float, complex, str, bytes):
        return value if kind not in (str, bytes) or len(value) <= 200 else (len(value), hash(value))
    if kind in (list, tuple, dict, set, frozenset):
        items = list(dict.items(value))[-3:] if kind is dict else list(value)[-3:] if kind not in (
            set, frozenset) else sorted(short_value(v) for v in value)[:3]
        return (kind.__name__, len(value), tuple(_fingerprint(i) if type(i) is not tuple else short_value(i)
                                                 for i in items))
    state = peek.instance_dict(value)
    if state is not None and not issubclass(kind, type):
        return (kind.__name__, id(value), tuple((k, _shallow(v)) for k, v in list(state.items())[:8]))
    return (kind.__name__, id(value))


def _shallow(value: Any) -> object:
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if kind in (list, tuple, dict, set):
        return (kind.__name__, len(value))
    return id(value)


_RACEKIT_DIR = __file__.rsplit("/runtime/", 1)[0]
_THREADING = threading.__file__


def short_value(value: Any, whole: bool = False) -> str:
    """A value as a trace row shows it, cut to 40 characters (``whole``: not cut).

    Only values whose ``repr`` is CPython's own are spelled out (numbers,
    strings, built-in containers of them); any other object is shown by its
    type, ``<Account>``: its ``__repr__`` is the program's code, which racekit
    never runs (it could touch shared state, or do anything else)."""
    text = _plain_repr(value, 2)
    return text if whole or len(text) <= 40 else text[:37] + "..."


_PLAIN_TYPES = frozenset({int, float, complex, bool, str, bytes, type(None), type(Ellipsis), range})
_SHOWN_ITEMS = 8


def _plain_repr(value: Any, depth: int) -> str:
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return repr(value) if kind not in (str, bytes) or len(value) <= 200 else repr(value[:200]) + "..."
    if kind in (list, tuple, set, frozenset, collections.deque) and depth > 0:
        items = [_plain_repr(v, depth - 1) for v in itertools.islice(value, _SHOWN_ITEMS)]
        if len(value) > _SHOWN_ITEMS:
            items.append("...")
        if kind is list:
            return f"[{', '.join(items)}]"
        if kind is tuple:
            return f"({', '.join(items)}{',' if len(value) == 1 else ''})"
        if kind is collections.deque:
            return f"deque([{', '.join(items)}])"
        if not value:
            return f"{kind.__name__}()"
        inner = f"{{{', '.join(items)}}}"
        return inner if kind is set else f"frozenset({inner})"
    if kind in (dict, collections.OrderedDict, collections.defaultdict, collections.Counter) and depth > 0:
        pairs = [f"{_plain_repr(k, depth - 1)}: {_plain_repr(v, depth - 1)}"
                 for k, v in itertools.islice(dict.items(value), _SHOWN_ITEMS)]
        if len(value) > _SHOWN_ITEMS:
            pairs.append("...")
        return f"{{{', '.join(pairs)}}}"
    if issubclass(kind, enum.Enum):
        name = (peek.instance_dict(value) or {}).get("_name_")
        return f"{kind.__name__}.{name}" if type(name) is str else f"<{kind.__name__}>"
    if kind in (list, tuple, set, frozenset, collections.deque, dict):
        return f"{kind.__name__}(...)"
    return f"<{kind.__name__}>"


def _case_place() -> tuple[int, str]:
    """The line and file of the case's code that called into racekit (a lock or queue operation)."""
    return _place_of(sys._getframe(2))


def _place_of(frame: Any) -> tuple[int, str]:
    """The line and file of the innermost case frame at or above ``frame``."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_RACEKIT_DIR) and filename != _THREADING:
            return frame.f_lineno, filename
        frame = frame.f_back
    return 0, ""


def _always() -> bool:
    return True


def _settle(state: _Thread) -> None:
    if state.unsettled is not None:
        op, value = state.unsettled
        state.unsettled = None
        op.value = value()


def _has_timeout(state: _Thread) -> bool:
    return getattr(state.pending, "has_timeout", False)
