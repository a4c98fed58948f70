"""The result objects every reporter reads (jcstress's "one grading, many printers").

They hold judgements (grades, verdicts, lost-update bounds), already computed;
reporters only render them. ``to_json`` is the results contract (the README's "JSON output").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from racekit.records import Note


class Verdict(str, Enum):
    RACE = "race"
    NO_RACE = "no race observed"
    DEADLOCK = "deadlock"
    ERROR = "error"
    # racekit could not tell (README: a budget ran out, the threads blocked or ran
    # where the controlled scheduler cannot see, or it saw no shared access).
    INCONCLUSIVE = "inconclusive"


class Grade(str, Enum):
    """What one histogram row means (jcstress: acceptable / forbidden / …)."""

    EXPECTED = "expected"
    WRONG = "wrong"
    DEADLOCK = "deadlock"
    LIVELOCK = "livelock"  # threads going round in a cycle nothing can end
    CRASH = "crash"
    ERROR = "error"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Row:
    outcome: str
    count: int
    grade: Grade


@dataclass(frozen=True)
class LostUpdates:
    """Per-run counts of lost updates. ``exact`` when an access log counted them;
    otherwise |observed - expected|, a lower bound (updates may cancel out)."""

    exact: bool
    min: float
    median: float
    max: float
    total: float
    runs_with_loss: int
    median_of_wrong: float  # the median over runs that lost something
    histogram: tuple[tuple[float, int], ...] = ()  # (lost updates, runs): lets shards merge exactly
    max_when_wrong: float | None = None  # the most lost in a run whose outcome was wrong
    median_when_wrong: float | None = None  # the median over runs whose outcome was wrong
    right_with_loss: int = 0  # runs that lost updates yet ended right (a lost += 1 and a lost -= 1 cancel)
    where: tuple[str, ...] = ()  # exact: the locations whose updates the wrong runs lost


    def to_json(self) -> dict[str, Any]:
        facts = {"exact": self.exact, "min": _num(self.min), "median": _num(self.median),
                 "max": _num(self.max), "total": _num(self.total)}
        if self.where:
            facts["where"] = list(self.where)
        return facts


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


@dataclass(frozen=True)
class VariantResult:
    case: str
    name: str
    file: str
    mode: str
    mode_facts: dict[str, Any]  # what the mode did, as facts (racekit.report.modes words them)
    switch_interval: float | None
    runs: int
    planned_runs: int
    rows: tuple[Row, ...]
    expected: Any  # the expectation as the case file wrote it
    expect_text: str
    outcome_text: str  # the outcome expression, for sentences
    wrong: int
    lost_updates: LostUpdates | None
    verdict: Verdict
    racy: bool
    ok: bool
    seed: int
    never_observed: tuple[str, ...] = ()
    stop_reason: str | None = None
    schedule: str | None = None
    samples: tuple[str, ...] = ()  # thread tracebacks, deadlock stacks, crash dumps
    title: str = ""
    duration: float = 0.0
    timeout: float = 0.0
    reason: str | None = None  # why the verdict is `error`, in one line
    trial_range: tuple[int, int] = (0, 0)  # trial indices covered (a shard covers part)
    shard: tuple[int, int] | None = None
    total_runs: int = 0  # the unsharded run's trials
    fingerprint: str = ""  # the variant's code, inputs and schedule format, digested: shards of one program agree
    warnings: tuple[Note, ...] = ()  # things the user should know about how the trials ran
    # Controlled mode (and yield mode's access log):
    trace: tuple[dict[str, Any], ...] = ()  # the first failure's interleaving, shrunk
    story: dict[str, Any] | None = None  # what went wrong in it, as facts
    schedule_preemptions: int | None = None
    shrunk_from: int | None = None
    data_races: int = 0  # trials with a data race
    logged_runs: int | None = None  # trials whose accesses were logged (only those can show a data race)
    race_example: dict[str, Any] | None = None  # the first data race's facts (who, what kind, which lines)
    why: dict[str, Any] | None = None  # why the first trial that went wrong ended so (who waits for what…)
    lock_cycles: tuple[tuple[str, ...], ...] = ()  # lock-order inversions seen in any trial
    search: dict[str, Any] | None = None  # an exhaustive search's summary
    timing: dict[str, dict[str, float]] | None = None  # kind timing: median seconds per work and way
    workers: int | None = None  # kind timing: N
    param_overrides: dict[str, Any] = field(default_factory=dict)  # --param values the run used
    instrument: tuple[str, ...] = ()  # --instrument modules the run rewrote besides the case's own
    start_method: str | None = None  # kind processes: how the children were started
    witnesses: int = 0  # runs with a data race whose reversal ended wrong (controlled)
    witness_outcome: str | None = None  # how the first such reversed run ended
    harmless_races: int = 0  # runs with a data race whose reversal still ended right
    serial_failure: dict[str, Any] | None = None  # the serial baseline went wrong: {order, outcome}
    type_hint: dict[str, str] | None = None  # expect and outcome differ only in type ('1' vs 1)
    unseen: tuple[str, ...] = ()  # code the threads ran that racekit does not rewrite
    inconclusive: int = 0  # runs racekit could not judge
    printed: str = ""  # what the case's code printed in its first run that printed anything (its tail)
    # racekit itself failed in some run (a bug in racekit, not in the program):
    # {error, where, during, traceback, runs}. The verdict is then `error`.
    racekit_failure: dict[str, Any] | None = None
    unscheduled: tuple[str, ...] = ()  # controlled: threads that ran outside racekit's scheduler, by name

    @property
    def id(self) -> str:
        return f"{self.case}[{self.name}]"

    @property
    def right(self) -> int:
        return sum(r.count for r in self.rows if r.grade is Grade.EXPECTED)

    @property
    def outcomes(self) -> dict[str, int]:
        return {r.outcome: r.count for r in self.rows}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "runs": self.runs,
            "outcomes": self.outcomes,
            "expected": self.expected,
            "wrong": self.wrong,
            "lost_updates": self.lost_updates.to_json() if self.lost_updates else None,
            "verdict": self.verdict.value,
            "racy": self.racy,
            "ok": self.ok,
            "seed": self.seed,
            "schedule": self.schedule,
            # Extensions (README, "JSON output"):
            "histogram": [{"outcome": r.outcome, "count": r.count, "grade": r.grade.value} for r in self.rows],
            "title": self.title,
            "expect_text": self.expect_text,
            "outcome_text": self.outcome_text,
            "right": self.right,
            "never_observed": list(self.never_observed),
            "planned_runs": self.planned_runs,
            "stopped": self.stop_reason,
            "mode_facts": self.mode_facts,
            "switch_interval": self.switch_interval,
            "samples": list(self.samples),
            "duration": round(self.duration, 4),
            "timeout": self.timeout,
            "reason": self.reason,
            "trial_range": list(self.trial_range),
            "total_runs": self.total_runs,
            "fingerprint": self.fingerprint,
            "notes": [note.as_json() for note in self.warnings],
            "trace": list(self.trace) or None,
            "story": self.story,
            "schedule_preemptions": self.schedule_preemptions,
            "data_races": self.data_races,
            "logged_runs": self.logged_runs,
            "race_example": self.race_example,
            "why": self.why,
            "lock_cycles": [list(c) for c in self.lock_cycles],
            "search": self.search,
            "timing": self.timing,
            "params": self.param_overrides,
            "instrument": list(self.instrument),
            "start_method": self.start_method,
            "witnesses": self.witnesses,
            "witness_outcome": self.witness_outcome,
            "harmless_races": self.harmless_races,
            "serial_failure": self.serial_failure,
            "type_hint": self.type_hint,
            "unseen": list(self.unseen),
            "inconclusive": self.inconclusive,
            "printed": self.printed,
            "racekit_failure": self.racekit_failure,
            "unscheduled": list(self.unscheduled),
            "lost_update_histogram": (
                {str(_num(k)): n for k, n in self.lost_updates.histogram} if self.lost_updates else None
            ),
        }


@dataclass(frozen=True)
class CaseResult:
    name: str
    file: str
    title: str
    description: str
    notes: str
    variants: tuple[VariantResult, ...]
    translations: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.variants)

    def text(self, key: str, lang: str | None) -> str:
        if lang and self.translations.get(lang, {}).get(key):
            return self.translations[lang][key]
        return getattr(self, key)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "title": self.title, "description": self.description,
                "notes": self.notes, "translations": self.translations, "ok": self.ok,
                "variants": [v.to_json() for v in self.variants]}


@dataclass(frozen=True)
class RunResult:
    version: str
    python: dict[str, Any]
    cases: tuple[CaseResult, ...]
    seed: int
    interrupted: bool = False
    duration: float = 0.0
    shard: tuple[int, int] | None = None
    warnings: tuple[Note, ...] = ()  # about the run itself (the schedule database), not one variant

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(c.ok for c in self.cases)

    @property
    def racekit_failed(self) -> bool:
        """Some run failed because of racekit itself (exit code 3)."""
        return any(v.racekit_failure for v in self.variants)

    @property
    def variants(self) -> list[VariantResult]:
        return [v for c in self.cases for v in c.variants]

    def to_json(self) -> dict[str, Any]:
        return {
            "racekit": self.version,
            "python": self.python,
            "cases": [c.to_json() for c in self.cases],
            "seed": self.seed,
            "interrupted": self.interrupted,
            "shard": f"{self.shard[0]}/{self.shard[1]}" if self.shard else None,
            "ok": self.ok,
            "duration": round(self.duration, 3),
            "notes": [note.as_json() for note in self.warnings],
        }
