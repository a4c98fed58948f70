"""Lecture and play: one interleaving to walk through, or one built choice by choice.

A lesson is a recorded run (:func:`racekit.engine.record_tape`) of one
variant: the failing schedule racekit's search finds with the fewest
preemptions, or one the teacher names. A play session is the same run made
by the student: every choice is one more replay of the schedule so far,
paused at the next choice, so what the screen shows is always an execution
the scheduler really ran, and the schedule string at the end replays it
exactly. Facts only; ``racekit.report.live`` words them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from racekit.analysis.walk import Walk, walk
from racekit.case.model import Case, Variant
from racekit.errors import UsageError
from racekit.records import Status, Trial
from racekit.runtime.controlled.schedule import decode_schedule, encode_schedule
from racekit.runtime.pool import Pool

MAX_PLAYERS = 9  # threads play can offer: one digit key each
SEARCH_RUNS = 2_000  # schedules the search for a failing one may run (the case library's fail within 10)
SEARCH_SECONDS = 5.0  # and for how long
# A class waits for no thread that computes for long without a shared access
# (a `while True:` that touches nothing shared): its run is stuck after this.
STEP_SECONDS = 5.0


@dataclass(frozen=True)
class Search:
    """What racekit's own search found: its failing schedule with the fewest preemptions."""

    schedule: str | None  # None: no schedule it ran went wrong
    preemptions: int | None  # that schedule's
    fewest: bool  # every schedule with fewer preemptions ran and ended right
    complete: bool  # it ran every interleaving (meaningful when nothing went wrong)
    schedules: int  # how many it ran


@dataclass
class Lesson:
    """One variant's run, recorded, and how racekit came by its schedule."""

    case: Case
    variant: Variant
    trial: Trial
    walk: Walk
    schedule: str  # replays this run exactly
    origin: str  # "given" (--schedule), "search" (racekit's failing schedule), "no failure" (none found)
    params: dict[str, Any] = field(default_factory=dict)
    search: Search | None = None
    given: str | None = None  # the schedule the teacher gave (``schedule`` completes it when it was a start)


def choose_variant(case: Case, name: str | None) -> Variant:
    """The named variant, else the first racy one (the one worth teaching), else the first."""
    if name is not None:
        variant = next((v for v in case.variants if v.name == name), None)
        if variant is None:
            raise UsageError(f"{case.name} has no variant {name!r}; variants: "
                             f"{', '.join(v.name for v in case.variants)}")
    else:
        variant = next((v for v in case.variants if v.racy), case.variants[0])
    if variant.kind != "threads":
        raise UsageError(f"{variant.id}: lecture and play step through the threads of a case file (kind: threads); "
                         f"this one is kind: {variant.kind}")
    return variant


def search_failure(case: Case, variant: Variant, params: dict[str, Any], pool: Pool) -> Search:
    """racekit's exhaustive search, stopped at its first wrong end. It grows its
    preemption bound from 0, running every schedule within a bound before the
    next, so a failure it meets at bound k needs k preemptions and no fewer."""
    from racekit.engine import run
    from racekit.options import RunOptions

    # A class waits for it: a few seconds at most (a long correct case is not searched to its end).
    options = RunOptions(modes=("controlled",), strategy="exhaustive", runs=SEARCH_RUNS, seed=0,
                         variants=(variant.name,), params=params, replay_saved=False, baseline=False,
                         stop_on_failure=True, workers=1, time_budget=SEARCH_SECONDS,
                         timeout=STEP_SECONDS)
    found = run([case], options, pool=pool).variants[0]
    search = found.search or {}
    wrong = found.wrong > 0 and found.schedule is not None
    # The fewest only when the schedule shown is the failure found at that bound
    # (not one the reduction found later, which may have more preemptions).
    fewest = (wrong and search.get("reduction") is None and search.get("first_wrong_preemptions") is not None
              and search["first_wrong_preemptions"] == found.schedule_preemptions)
    return Search(found.schedule if wrong else None, found.schedule_preemptions if wrong else None, bool(fewest),
                  bool(search.get("complete")), int(search.get("schedules") or found.runs))


def prepare_lecture(case: Case, variant_name: str | None, schedule: str | None, params: dict[str, Any],
                    pool: Pool) -> Lesson:
    """The run to walk through: ``schedule``, else racekit's failing schedule,
    else (no schedule went wrong) one seeded random interleaving."""
    from racekit.engine import record_tape

    variant = choose_variant(case, variant_name)
    origin, search = "given", None
    if schedule is None:
        search = search_failure(case, variant, params, pool)
        schedule, origin = search.schedule, "search" if search.schedule else "no failure"
    # A schedule given may be the start of a run: the rest goes on without preemptions.
    trial = record_tape(case, variant.name, schedule, params, then="go on" if schedule else "exact", pool=pool,
                        timeout=STEP_SECONDS)
    tape = _recorded(trial, variant)
    return Lesson(case, variant, trial, walk(tape, waiting(trial)), tape.get("schedule") or schedule or "", origin,
                  params, search, given=schedule if origin == "given" else None)


def _recorded(trial: Trial, variant: Variant) -> dict[str, Any]:
    """The tape of a run, or a clear refusal when the case failed before any thread ran (its setup)."""
    if trial.tape is None:
        detail = trial.detail.strip().splitlines()[-1:] if trial.detail else []
        raise UsageError(f"{variant.id}: {trial.outcome}" + "".join(f"\n  {line}" for line in detail))
    return trial.tape


def waiting(trial: Trial) -> list[dict[str, Any]]:
    """Who waits for what when the run ended in a deadlock (the scheduler's facts)."""
    return list((trial.why or {}).get("waiting", [])) if trial.status is Status.DEADLOCK else []


@dataclass
class Turn:
    """Where a play session stands: the run so far, paused at the next choice (or ended)."""

    trial: Trial
    walk: Walk
    choices: list[int]

    @property
    def finished(self) -> bool:
        return self.walk.paused is None

    @property
    def enabled(self) -> list[str]:
        return list((self.walk.paused or {}).get("enabled", []))

    @property
    def running(self) -> str | None:
        """The thread that ran last and could go on (choosing another preempts it)."""
        return (self.walk.paused or {}).get("current")

    @property
    def preemptions(self) -> int:
        return int((self.trial.tape or {}).get("preemptions", 0))


class PlaySession:
    """The student as the scheduler: each choice replays the schedule so far
    and pauses at the next choice where more than one thread can move (where
    only one can, it moves by itself)."""

    def __init__(self, case: Case, variant_name: str | None, params: dict[str, Any], pool: Pool):
        self.case = case
        self.variant = choose_variant(case, variant_name)
        if self.variant.thread_count() > MAX_PLAYERS:
            raise UsageError(f"{self.variant.id} starts {self.variant.thread_count()} threads; racekit play chooses "
                             f"them with the keys 1–{MAX_PLAYERS}, so at most {MAX_PLAYERS} (lower a `count`)")
        self.params = params
        self.pool = pool
        # The case's own code may start more threads than it declares: the runs say how many.
        self.threads = self.variant.thread_count()
        self.history: list[Turn] = []
        self.turn = self._replay([], "pause")
        if len(self.turn.walk.threads) > MAX_PLAYERS:
            raise UsageError(f"{self.variant.id} runs {len(self.turn.walk.threads)} threads; racekit play chooses "
                             f"them with the keys 1–{MAX_PLAYERS}, so at most {MAX_PLAYERS}")
        self._search: Search | None = None

    def _replay(self, choices: list[int], then: str) -> Turn:
        from racekit.engine import record_tape

        trial = record_tape(self.case, self.variant.name, encode_schedule(choices, self.threads), self.params,
                            then=then, pool=self.pool, timeout=STEP_SECONDS)
        tape = _recorded(trial, self.variant)
        self.threads = max(self.threads, len(tape.get("threads", ())))
        made = decode_schedule(tape["schedule"])[1] if tape.get("schedule") else list(choices)
        return Turn(trial, walk(tape, waiting(trial)), made)

    def choose(self, thread: str) -> Turn:
        """``thread`` performs the next operation; UsageError when it cannot move now."""
        if self.turn.finished:
            raise UsageError("the run has ended")
        if thread not in self.turn.enabled:
            raise UsageError(f"{thread} cannot move now")
        self.history.append(self.turn)
        self.turn = self._replay([*self.turn.choices, self.turn.walk.threads.index(thread)], "pause")
        return self.turn

    def go_on(self) -> Turn:
        """The running thread moves again (no preemption); at a thread's start or
        end, the first thread that can move."""
        running = self.turn.running
        return self.choose(running if running in self.turn.enabled else self.turn.enabled[0])

    def finish(self) -> Turn:
        """The rest of the run without a preemption: each thread runs on until it
        ends or waits, then the first that can move takes over."""
        if not self.turn.finished:
            self.history.append(self.turn)
            self.turn = self._replay(self.turn.choices, "go on")
        return self.turn

    def undo(self) -> Turn:
        if self.history:
            self.turn = self.history.pop()
        return self.turn

    def restart(self) -> Turn:
        if self.history:
            self.turn = self.history[0]
            self.history.clear()
        return self.turn

    @property
    def schedule(self) -> str:
        return encode_schedule(self.turn.choices, len(self.turn.walk.threads) or self.threads)

    def search(self) -> Search:
        """racekit's own answer to the challenge, searched once (racekit play does it before the game)."""
        if self._search is None:
            self._search = search_failure(self.case, self.variant, self.params, self.pool)
        return self._search
