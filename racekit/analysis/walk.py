"""A recorded run as a sequence of moments: what ``racekit lecture`` and ``play`` show.

A tape (``Trial.tape``) is every visible operation of one controlled run, in
order. A *moment* is the state after the first k of them: the values the
shared locations hold, who holds which lock, where each thread stands and
what it does next. Everything here is read off the tape (the operations the
scheduler really ran), never guessed; the report turns it into words.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from racekit.analysis.accesses import acquired
from racekit.records import Status, Trial



def ended_wrong(trial: Trial) -> bool:
    """A run that went wrong: a deadlock, a wrong outcome, or an error no serial
    run makes (one that every run makes, a NameError, is a bug of the case)."""
    if trial.status is Status.DEADLOCK:
        return True
    if trial.status is Status.ERROR:
        return not trial.case_bug
    return trial.status is Status.DONE and not trial.matches


@dataclass(frozen=True)
class Loss:
    """A lost update on the tape: ``write`` was computed from what ``read``
    saw, and erased the writes made in between (steps are 1-based)."""

    read: int
    overwritten: tuple[int, ...]
    write: int
    what: str


@dataclass(frozen=True)
class Place:
    """Where a thread stands at a moment: the operation it performs next and its line."""

    thread: str
    line: int = 0
    file: str = ""  # a module of the user's, as the trace names it ("" for the case file)
    path: str = ""  # that module's file on disk
    kind: str = ""  # its next operation ("" when it has finished)
    what: str = ""
    source: str = ""
    done: bool = False  # it has finished
    can_move: bool = True  # False: it waits (a held lock, an empty queue)
    stopped: bool = False  # the run ended (a livelock, a budget) with this thread neither finished nor waiting
    raised: str = ""  # it ended by raising this error (``IndexError: pop from empty list``)
    unshared: bool = False  # it made no shared access at all: it ran to its end before the first step


@dataclass
class Moment:
    """The state after ``index`` operations (0: before the first)."""

    index: int
    op: dict[str, Any] | None  # the operation just performed (a trace row), None at 0
    values: dict[str, str]  # shared location -> the value it holds, as far as the tape has seen it
    held: dict[str, list[str]]  # lock (or semaphore) -> the threads holding it
    places: list[Place]
    preemptions: int  # preemptions up to here
    lost_here: Loss | None = None  # this operation erased updates (the stale write)
    loss_begins: Loss | None = None  # this read starts an update that will erase others


@dataclass
class Walk:
    """A tape, walked: every moment, the preemptions, the first lost update."""

    threads: list[str]
    ops: list[dict[str, Any]]
    losses: list[Loss]
    paused: dict[str, Any] | None = None
    moments: list[Moment] = field(default_factory=list)
    raised: dict[str, Any] | None = None  # the first thread that raised: thread, error, step

    @property
    def last(self) -> int:
        return len(self.ops)

    def preemption_steps(self) -> list[int]:
        return [row["step"] for row in self.ops if row.get("preempted")]

    def next_preemption(self, after: int) -> int | None:
        """The moment just after the next preemption past ``after`` (the preempting operation)."""
        return next((step for step in self.preemption_steps() if step > after), None)

    def failure_step(self) -> int:
        """Where the run goes wrong: the first lost update's erasing write, else
        (a deadlock, another wrong end) its last operation."""
        if self.losses:
            return min(loss.write for loss in self.losses)
        if self.raised:
            return self.raised["step"]  # the step that raised, not the end where every pane says finished
        return self.last

    def moment(self, index: int) -> Moment:
        return self.moments[max(0, min(index, self.last))]


def walk(tape: dict[str, Any], waiting: list[dict[str, Any]] | None = None) -> Walk:
    """Every moment of ``tape``. A thread's place at a moment is its next
    operation on the tape; past its last one it has finished, unless the tape
    paused (then the pause says what it does next) or the run ended with it
    waiting (``waiting``: a deadlock's facts, who waits to do what where)."""
    ops = list(tape.get("ops", []))
    threads = list(tape.get("threads", []))
    losses = [Loss(entry["read"], tuple(entry["overwritten"]), entry["write"], entry["what"])
              for entry in tape.get("lost", [])]
    result = Walk(threads, ops, losses, tape.get("paused"), raised=tape.get("raised"))
    raised = result.raised or {}
    after_pause = {entry["thread"]: entry for entry in (result.paused or {}).get("next", [])}
    finished = set(tape.get("finished", threads))
    # Who could not move after k operations, as the scheduler saw it (a held lock,
    # an empty queue, a condition not yet notified): recorded, not inferred.
    blocked = {int(k): set(v) for k, v in tape.get("waiting", {}).items()}
    # A deadlocked thread's last wait is where it stands after its last operation;
    # it cannot move at the end, and before that only where the scheduler saw it
    # blocked (t_ab waits for b only once t_bc holds b, not from its first step).
    for entry in waiting or ():
        after_pause.setdefault(entry["thread"], dict(entry))
    stuck_at_end = {entry["thread"] for entry in waiting or ()}
    # next_row[k][t]: the first operation of thread t at or after position k (a backward sweep).
    upcoming: dict[str, dict[str, Any] | None] = {name: None for name in threads}
    next_rows: list[dict[str, dict[str, Any] | None]] = [dict(upcoming)]
    for row in reversed(ops):
        upcoming[row["thread"]] = row
        next_rows.append(dict(upcoming))
    next_rows.reverse()
    by_write = {loss.write: loss for loss in losses}
    by_read = {loss.read: loss for loss in losses}
    values: dict[str, str] = {}
    held: dict[str, list[str]] = {}
    preemptions = 0
    unshared = set(threads) - {row["thread"] for row in ops}
    for index in range(len(ops) + 1):
        op = ops[index - 1] if index else None
        if op is not None:
            preemptions += bool(op.get("preempted"))
            _apply(op, values, held)
        holders = {lock: list(dict.fromkeys(owners)) for lock, owners in held.items() if owners}
        stuck = set(blocked.get(index, ())) | (stuck_at_end if index == len(ops) else set())
        places = [_place(name, next_rows[index][name], after_pause.get(name), name in finished) for name in threads]
        places = [replace(p, raised=raised["error"]) if p.done and p.thread == raised.get("thread") else
                  replace(p, unshared=True) if p.done and p.thread in unshared else p for p in places]
        places = [replace(p, can_move=False) if p.thread in stuck and not p.done else p for p in places]
        result.moments.append(Moment(index, op, dict(values), holders, places, preemptions,
                                     by_write.get(index), by_read.get(index)))
    return result


def _apply(op: dict[str, Any], values: dict[str, str], held: dict[str, list[str]]) -> None:
    kind, what = op["kind"], op["what"]
    if kind in ("read", "write") and what:
        values[what] = op.get("value", "")
    elif kind == "call" and op.get("after") and what.endswith("()"):
        values[what.rsplit(".", 1)[0]] = op["after"]  # `items.pop()` changed `items`: as the call left it
    elif acquired(kind, op.get("value", "")):
        held.setdefault(what, []).append(op["thread"])  # an RLock taken again stacks
    elif kind == "release" and held.get(what):
        owners = held[what]
        if op["thread"] in owners:  # the releasing thread's own hold (a semaphore's may be another's)
            owners.reverse()
            owners.remove(op["thread"])
            owners.reverse()
        else:
            owners.pop()


def _place(name: str, row: dict[str, Any] | None, paused: dict[str, Any] | None, finished: bool) -> Place:
    if row is not None:
        return Place(name, row.get("line", 0), row.get("file", ""), row.get("path", ""), row["kind"], row["what"],
                     row.get("source", ""))
    if paused is not None:
        return Place(name, paused.get("line", 0), paused.get("file", ""), paused.get("path", ""), paused["kind"],
                     paused["what"], paused.get("source", ""), can_move=paused.get("can_move", True))
    # Past its last operation: finished, or (the run was cut short) stopped where it was.
    return Place(name, done=True) if finished else Place(name, can_move=False, stopped=True)
