"""Mode ``auto``: the controlled engine first, then real threads, one verdict.

A thread case is run in phases, each a job of the worker pool:

1. **search**: saved failing schedules are replayed, then a bounded exhaustive
   search (depth first, the preemption bound growing 0, 1, 2, …) runs until it
   is complete, finds a failure (it stops there), or has run
   :data:`~racekit.options.AUTO_SEARCH_CAP` schedules or
   :data:`~racekit.options.AUTO_SEARCH_STEPS` scheduling steps. Every failure it finds
   is a replayable schedule with the fewest preemptions.
2. **pct** and **sample** (only when the search was cut short and found
   nothing), side by side: half the variant's runs (at most
   :data:`~racekit.options.AUTO_SAMPLE_STEPS` steps' worth, at least 10) under
   the controlled engine, to reach deeper interleavings than the bound did.
   Half of them are PCT schedules (random thread priorities that change at
   d-1 random steps of a run, spread over the run length PCT learns from a
   serial run): a bug of depth d is found with a probability that does not
   shrink with the number of interleavings, only with the run's length.
   The other half are seeded uniformly random schedules, which need no
   estimate of the bug's depth.
3. **real threads** (only when nothing failed yet): a share of the variant's
   runs under ``opcode`` forcing, for what instrumentation cannot see (C
   extensions, code outside the rewritten scope).

The phases' trials are graded together as one variant; the facts of each
phase (what it covered, what it found) travel in ``mode_facts["phases"]`` so
that the report can say which engine found what and how much of the budget
each used. The planning lives here; running and grading stay the engine's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from racekit.options import AUTO_REAL_THREAD_SHARE, AUTO_SAMPLE_STEPS, AUTO_SEARCH_CAP, AUTO_SEARCH_STEPS, ModeSpec
from racekit.records import PlanQueue, Replay, Search, SeededTrial, Status, Trial, TrialPlan

SEARCH, PCT, SAMPLE, REAL_THREADS = "search", "pct", "sample", "real_threads"
SAMPLING = (PCT, SAMPLE)


@dataclass
class Phase:
    """One phase of an auto run: its engine settings and, once run, its trials."""

    name: str
    mode: ModeSpec
    plans: PlanQueue
    trials: list[Trial] = field(default_factory=list)
    search: dict | None = None


def search_phase(spec: ModeSpec, saved: list[str], seed: int, cap: int = AUTO_SEARCH_CAP,
                 seconds: float | None = None) -> Phase:
    """Saved failures first, then the whole bounded search as one plan (it stops
    at its first failure: auto's verdict needs one shown failure, not all).
    ``cap``: schedules it may run (a user's ``--runs N`` asks for at most N)."""
    engine = ModeSpec("controlled", spec.switch_interval, "exhaustive", spec.depth, spec.preemptions,
                      step_limit=spec.step_limit)
    plans: list[TrialPlan] = [Replay(-1 - i, seed, s) for i, s in enumerate(saved)]
    plans.append(Search(0, seed, cap=cap, step_cap=AUTO_SEARCH_STEPS, time_cap=seconds, stop_on_failure=True))
    return Phase(SEARCH, engine, PlanQueue(plans))


def failed(trials: list[Trial]) -> bool:
    """A trial that ended wrong (a wrong outcome, a deadlock, an error), or a
    data race racekit reversed into a wrong end: the verdict is settled."""
    return any(t.witness or (not t.matches and t.status is not Status.INCONCLUSIVE) for t in trials)


def next_phases(spec: ModeSpec, runs: int, seed_of, done: list[Phase]) -> list[Phase]:
    """The phases still worth running after ``done``: none once something failed."""
    if any(failed(p.trials) for p in done):
        return []
    search = next((p.search for p in done if p.name == SEARCH), None) or {}
    phases = []
    offset = 1 + max((t.index for p in done for t in p.trials), default=-1)
    if not search.get("complete") and not any(p.name in SAMPLING for p in done):
        steps = [t.steps for p in done for t in p.trials if t.steps]
        per_run = max(1, sum(steps) // len(steps)) if steps else 1
        n = max(1, min(runs // 2, max(10, AUTO_SAMPLE_STEPS // per_run)))
        pct_runs = n // 2
        pct = ModeSpec("controlled", spec.switch_interval, "pct", spec.depth, step_limit=spec.step_limit)
        uniform = ModeSpec("controlled", spec.switch_interval, "random", step_limit=spec.step_limit)
        # The sampling round alone: real threads run only if it also found nothing.
        sampling = [Phase(PCT, pct, _numbered(offset, pct_runs, lambda i: seed_of("pct", i)))] if pct_runs else []
        return sampling + [Phase(SAMPLE, uniform, _numbered(offset + pct_runs, n - pct_runs,
                                                            lambda i: seed_of("controlled", i)))]
    if not any(p.name == REAL_THREADS for p in done):
        n = max(1, round(runs * AUTO_REAL_THREAD_SHARE))
        engine = ModeSpec("opcode", spec.switch_interval)
        phases.append(Phase(REAL_THREADS, engine, _numbered(offset, n, lambda i: seed_of("opcode", i))))
    return phases


def _numbered(offset: int, n: int, seed_of) -> PlanQueue:
    """Trials numbered after the earlier phases' so that indices stay unique in the
    graded variant; their seeds follow their own number within the phase."""
    return PlanQueue(indices=range(offset, offset + n), make=lambda i: SeededTrial(i, seed_of(i - offset)))


def phase_facts(phases: list[Phase]) -> list[dict]:
    """What each phase covered and found, for the report (and the JSON)."""
    facts = []
    for phase in phases:
        fact: dict = {"phase": phase.name, "engine": phase.mode.name, "runs": len(phase.trials),
                      "failed": sum(1 for t in phase.trials if t.witness or
                                    (not t.matches and t.status is not Status.INCONCLUSIVE))}
        if phase.name == PCT:
            fact["depth"] = phase.mode.depth
        if phase.name == SEARCH and phase.search:
            fact.update(schedules=phase.search.get("schedules", 0), complete=bool(phase.search.get("complete")),
                        bound=phase.search.get("bound"), stopped=phase.search.get("stopped"),
                        replayed=sum(1 for t in phase.trials if t.index < 0))
        facts.append(fact)
    return facts


SAVED = "saved"  # found_by: a failing schedule saved by an earlier run, replayed before the search


def found_by(phases: list[Phase]) -> str | None:
    """The first phase whose trials settled the verdict; ``saved`` when in the
    search phase only a replayed saved schedule failed (the search did not find it)."""
    for phase in phases:
        if phase.name == SEARCH and not failed([t for t in phase.trials if t.index >= 0]) and failed(phase.trials):
            return SAVED
        if failed(phase.trials):
            return phase.name
    return None
