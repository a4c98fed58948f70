"""What crosses layers and processes: facts only, no judgement, no words.

A :class:`Trial` crosses from a worker process to the parent, so it is small and
plain; an :class:`Op` is one visible operation of an access log. Analysis folds
trials into results; reporters never see trials. This module imports nothing
of racekit's: every layer may use it.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from enum import Enum


@dataclass(slots=True)  # one per step of a controlled run: no __dict__ each (a million steps, ~100 MB less)
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
    choice: int = 0  # how many scheduling choices had been made when it happened
    nth: int = 0  # its position among its thread's operations (1-based)
    update: bool = False  # a write computed from this thread's read of the same location (x += 1)
    file: str = ""  # the file of the code that did it, when not the case's own (a rewritten module)
    after: str = ""  # a call that changed a container: the container as the call left it (lecture and play)
    into: int | None = None  # a read whose value is a container: its id (the step also looked into it: `if items:`)



# A key of an ``Op.location`` that may or may not be the same dict slot as
# another one: the key's equality is the program's code, which racekit never
# runs. Such locations still make a search conservative; no lost update or
# data race is claimed on them (see analysis.accesses).
AMBIGUOUS_KEY = "<?>"


def ambiguous(location: tuple[int, str] | None) -> bool:
    return location is not None and location[1].endswith(AMBIGUOUS_KEY)


@dataclass(frozen=True, order=True)
class Note:
    """Something a reader should know about how trials ran, as a fact: a code and
    its fields. The report words it (racekit.report.notes), in the reader's
    language; frozen so that equal notes count once."""

    code: str
    fields: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, code: str, **fields: object) -> "Note":
        return cls(code, tuple(sorted((name, str(value)) for name, value in fields.items())))

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, **dict(self.fields)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Note":
        return cls.of(str(data["code"]), **{k: v for k, v in data.items() if k != "code"})


class StopReason(str, Enum):
    """Why a variant's remaining trials were not run (the JSON's ``stopped``;
    the report words each)."""

    DEADLOCK = "deadlock"  # a real-thread deadlock: every later run would wait out its timeout too
    BLOCKED = "blocked outside the scheduler"  # every run would block where the scheduler cannot see
    FIRST_FAILURE = "first failure found"  # --fail-fast
    INTERRUPTED = "interrupted"  # Ctrl-C, SIGTERM or SIGHUP
    BUDGET = "time budget used up"  # --racekit-budget / RunOptions.time_budget
    CRASHES = "every run crashed"  # the first pool.CRASH_LIMIT trials all crashed the worker


class PendingOp(NamedTuple):
    """A thread's announced next operation, as the controlled scheduler holds it:
    what a strategy (or a partial-order reduction) needs to know about it.
    A NamedTuple: one is made at every scheduling step, and a frozen dataclass
    cost 7 % of a controlled trial's time."""

    thread: int
    kind: str  # read, write, acquire, get, join, sleep, … (the Op kinds, plus the waits)
    what: str  # the label of the object or location, as the trace shows it
    location: tuple[int, str] | None = None  # (id of object, attribute/key) for reads and writes
    sync: int | None = None  # id of the synchronisation object


class Status(str, Enum):
    """How a trial ended."""

    DONE = "done"  # threads finished (perhaps with exceptions) and the outcome was read
    DEADLOCK = "deadlock"  # the trial exceeded its timeout
    CRASH = "crash"  # the worker process died (os._exit, a signal)
    ERROR = "error"  # the case itself failed: setup, outcome or check raised
    # racekit could not tell: a budget ran out, or a thread blocked or ran where
    # the controlled scheduler cannot see. Never a failure of the case.
    INCONCLUSIVE = "inconclusive"


@dataclass
class Trial:
    index: int
    seed: int
    status: Status
    outcome: str  # OUTCOME_REPR: the histogram key
    matches: bool = False  # the outcome met the expectation
    matched: int | None = None  # which expected value it equalled (value / any_of)
    value: float | None = None  # the outcome as a number, when it is one
    target: float | None = None  # the number a `check: outcome == X` expected
    duration: float = 0.0
    errors: list[str] = field(default_factory=list)  # thread exceptions, formatted, first few
    detail: str = ""  # stacks of a deadlock or crash, traceback of a case error
    case_bug: bool = False  # a thread raised an error no interleaving can cause (NameError…)
    output: str = ""  # the tail of what a failing trial printed
    warnings: list[Note] = field(default_factory=list)  # e.g. another tracer was displaced
    # From an access log (yield and controlled modes):
    lost: int | None = None  # exact lost updates
    lost_at: list[str] = field(default_factory=list)  # the locations whose updates were lost, as the trace names them
    race: dict[str, Any] | None = None  # the first data race: who accessed what, where (facts)
    why: dict[str, Any] | None = None  # why it ended so (deadlock: who waits for what; a budget; a misfit)
    schedule: str | None = None  # controlled: the replayable schedule (shrunk, for the first failure)
    preemptions: int | None = None
    shrunk_from: int | None = None  # preemptions of the failing schedule before shrinking
    shrinking: bool = False  # a smaller schedule follows in an "explained" message
    # Controlled: what racekit did not schedule (threads that ran outside it, by name),
    # and each time setup or the outcome waited for the trial's threads.
    unscheduled: list[str] = field(default_factory=list)
    guest_waits: list[dict[str, Any]] = field(default_factory=list)
    timing: dict[str, dict[str, float]] | None = None  # kind timing: seconds per work and way
    steps: int | None = None
    trace: list[dict[str, Any]] | None = None  # controlled: the failing interleaving, as rows
    story: dict[str, Any] | None = None  # what went wrong, as facts a report turns into sentences
    lock_pairs: list[tuple[str, str]] = field(default_factory=list)  # (held, then acquired)
    # Race reversal (controlled): the trial ended right but had a data race;
    # racekit ran it again with the racing pair reversed.
    witness: str | None = None  # that schedule, when it ended wrong (shown, replayable)
    witness_outcome: str | None = None
    race_harmless: bool = False  # the reversed run ended right too
    shared_ops: int | None = None  # visible operations on shared state (controlled, yield)
    unseen: list[str] = field(default_factory=list)  # Python code the threads ran that racekit does not rewrite
    serial_order: list[str] | None = None  # the serial baseline: the thread order of this run
    # lecture and play (TrialPlan.tape): every operation of the run, and where it paused
    tape: dict[str, Any] | None = None

    def take_shrunk(self, shrunk: Shrunk) -> None:
        """The smaller schedule found for this failure after it was reported, and its explanation."""
        self.schedule, self.trace, self.story = shrunk.schedule, shrunk.trace, shrunk.story
        self.preemptions, self.shrunk_from = shrunk.preemptions, shrunk.shrunk_from

    @property
    def left_running(self) -> bool:
        """Stopped with a thread that never reached a step (spinning, or asleep in
        the kernel): that thread cannot be stopped and runs on in its process, so
        no later execution there is run, the search ends and the worker is replaced."""
        return self.status is Status.INCONCLUSIVE and (self.why or {}).get("kind") in LEFT_RUNNING


@dataclass(frozen=True)
class Shrunk:
    """A failure's smaller schedule (controlled), found after the failure was
    reported: what the worker sends after it, and what the trial then takes."""

    schedule: str | None
    trace: list[dict[str, Any]] | None
    story: dict[str, Any] | None
    preemptions: int | None
    shrunk_from: int


LEFT_RUNNING = ("no_next_access", "blocked_outside")  # the kinds of stuck execution whose thread runs on


@dataclass(frozen=True)
class SeededTrial:
    """One trial as its mode makes it: its own schedule, from this seed (seeds
    derive from the run's base seed, so a trial is reproduced by its seed)."""

    index: int
    seed: int


@dataclass(frozen=True)
class Replay:
    """A recorded schedule replayed (a saved failure; ``racekit replay``): controlled only."""

    index: int
    seed: int
    schedule: str


@dataclass(frozen=True)
class SerialBaseline:
    """The threads one after another, in thread order number ``index``: what the
    case does with no interleaving at all."""

    index: int
    seed: int


@dataclass(frozen=True)
class Search:
    """A whole exhaustive search as one plan (controlled): it reports a trial per
    schedule, and stops at whichever cap comes first."""

    index: int
    seed: int
    cap: int | None = None  # at most this many schedules
    step_cap: int | None = None  # stop once its schedules took this many scheduling steps in all
    time_cap: float | None = None  # stop after this many seconds (a time budget)
    stop_on_failure: bool = False


@dataclass(frozen=True)
class Tape:
    """lecture and play: one run keeping every operation (Trial.tape); past the
    schedule's choices ``then`` says what to do: "exact" (there are none), "pause"
    (stop at the first and say who could move there) or "go on" (no preemptions)."""

    index: int
    seed: int
    schedule: str | None
    then: str


TrialPlan = SeededTrial | Replay | SerialBaseline | Search | Tape  # what a worker is asked to run, by type


class PlanQueue:
    """A variant's trials still to run, made one at a time as they are taken:
    `--runs 10000000` must not build ten million plans up front. Plans given
    explicitly (saved schedules, a search) and plans put back come first."""

    def __init__(self, first: Iterable[TrialPlan] = (), indices: range = range(0),
                 make: Callable[[int], TrialPlan] | None = None):
        self._front: deque[TrialPlan] = deque(first)
        self._indices = indices
        self._next = 0
        self._make = make

    def __len__(self) -> int:
        return len(self._front) + len(self._indices) - self._next

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[TrialPlan]:
        """The explicit plans only (the made ones do not exist yet)."""
        return iter(list(self._front))

    def popleft(self) -> TrialPlan:
        if self._front:
            return self._front.popleft()
        if self._make is None or self._next >= len(self._indices):
            raise IndexError("no plans left")
        index = self._indices[self._next]
        self._next += 1
        return self._make(index)

    def appendleft(self, plan: TrialPlan) -> None:
        self._front.appendleft(plan)

    def extendleft(self, plans: Iterable[TrialPlan]) -> None:
        self._front.extendleft(plans)

    def clear(self) -> None:
        self._front.clear()
        self._next = len(self._indices)


def outcome_repr(value: Any) -> str:
    """The histogram key of an outcome: ``repr``, and ``a=1, b=2`` for named
    outcomes (and for expected values, so a row reads the same whether a run
    showed it or the expectation names it)."""
    if isinstance(value, str) and value.startswith("error: "):
        return value
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return ", ".join(f"{k}={_safe_repr(v)}" for k, v in value.items())
    return _safe_repr(value)


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001
        text = f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
    # `<Box object at 0x7f…>` differs in every run: one row per run would hide
    # that the outcomes are the same. The report says the addresses were hidden.
    text = ADDRESS.sub(ADDRESS_MARK, text)
    return text if len(text) <= 200 else text[:197] + "..."


ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
ADDRESS_MARK = "0x…"
