"""Exhaustive search: every interleaving of a controlled case, depth first.

Stateless model checking in the manner of CHESS: each schedule is one real
run from the start; the search remembers, at every choice point of the
current path, which threads it has not tried yet, and backtracks to the
deepest point with an untried one. A preemption bound K skips schedules that
take a thread off the CPU while it could go on more than K times.

With ``iterate`` the bound grows 0, 1, 2, … (iterative context bounding), so
the first failure found is one with the fewest preemptions; schedules seen at
a lower bound are run again to reach deeper ones but reported only once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from racekit.runtime.control_trial import run_controlled
from racekit.runtime.controlled import Strategy
from racekit.records import Status, Trial

if TYPE_CHECKING:
    from racekit.runtime.trial import Program


@dataclass
class _Point:
    enabled: list[int]
    current: int | None
    chosen: int
    untried: list[int]
    preemptions_before: int


class DepthFirst(Strategy):
    """Follows the explorer's path, then extends it with non-preemptive choices."""

    def __init__(self, path: list[_Point], bound: int | None):
        self.path = path
        self.bound = bound
        self.position = 0
        self.preemptions = 0
        self.pruned = False  # the bound kept some thread from being tried somewhere

    def choose(self, step: int, enabled: list[int], current: int | None) -> int:
        if self.position < len(self.path):
            point = self.path[self.position]
            chosen = point.chosen if point.chosen in enabled else enabled[0]
        else:
            chosen = current if current in enabled else enabled[0]
            others = [t for t in enabled if t != chosen]
            untried = [t for t in others if self._allowed(t, enabled, current)]
            self.pruned |= len(untried) < len(others)
            self.path.append(_Point(list(enabled), current, chosen, untried, self.preemptions))
        self.position += 1
        self.preemptions += _is_preemption(chosen, enabled, current)
        return chosen

    def _allowed(self, thread: int, enabled: list[int], current: int | None) -> bool:
        if self.bound is None:
            return True
        return self.preemptions + _is_preemption(thread, enabled, current) <= self.bound


def _is_preemption(chosen: int, enabled: list[int], current: int | None) -> bool:
    return current is not None and chosen != current and current in enabled


@dataclass
class SearchSummary:
    schedules: int = 0  # distinct schedules run
    runs: int = 0  # executions, counting re-runs at higher bounds
    complete: bool = False  # every schedule within the bound was explored
    bound: int | None = None  # the preemption bound reached
    stopped: str | None = None
    first_failure_preemptions: int | None = None  # a wrong outcome, a deadlock or a data race
    first_wrong_preemptions: int | None = None  # a wrong outcome or a deadlock
    pruned: bool = False  # at the last bound, some schedules were beyond it
    seen: set[tuple[int, ...]] = field(default_factory=set, repr=False)


def explore(program: Program, seed: int, on_trial: Callable[[Trial], None], max_schedules: int,
            bound: int | None = None, iterate: bool = True, stop_on_failure: bool = False,
            max_bound: int = 10, each_run: Callable[[], None] = lambda: None) -> SearchSummary:
    """Run every schedule (within ``bound``) once; report each distinct one."""
    summary = SearchSummary()
    bounds = range(0, (bound if bound is not None else max_bound) + 1) if iterate else [bound]
    for level in bounds:
        summary.bound = level
        exhausted = _search(program, seed, on_trial, summary, level, max_schedules, stop_on_failure, each_run)
        if summary.stopped:
            return summary
        if exhausted and level is not None and not summary.pruned:
            summary.complete = True  # nothing was pruned by the bound: the whole space is done
            return summary
        if exhausted and level == bound:
            summary.complete = True  # complete within the requested bound
            return summary
    summary.stopped = summary.stopped or f"stopped at {max_bound} preemptions"
    return summary


def _search(program: Program, seed: int, on_trial: Callable[[Trial], None], summary: SearchSummary,
            bound: int | None, max_schedules: int, stop_on_failure: bool,
            each_run: Callable[[], None] = lambda: None) -> bool:
    path: list[_Point] = []
    summary.pruned = False
    while True:
        each_run()
        strategy = DepthFirst(path, bound)
        trial = run_controlled(program, summary.schedules, seed, strategy=strategy, may_shrink=False)
        summary.runs += 1
        summary.pruned |= strategy.pruned
        key = tuple(p.chosen for p in path)
        if key not in summary.seen:
            summary.seen.add(key)
            summary.schedules += 1
            trial.index = summary.schedules - 1
            on_trial(trial)
            wrong = not trial.matches or trial.status is Status.DEADLOCK
            failing = wrong or trial.race is not None
            if wrong and summary.first_wrong_preemptions is None:
                summary.first_wrong_preemptions = strategy.preemptions
            if failing and summary.first_failure_preemptions is None:
                summary.first_failure_preemptions = strategy.preemptions
                if stop_on_failure:
                    summary.stopped = "first failure found"
                    return False
            if summary.schedules >= max_schedules:
                summary.stopped = f"stopped after {max_schedules} schedules"
                return False
        if trial.status is Status.ERROR and trial.outcome.startswith("error in setup"):
            summary.stopped = "the case failed in setup"
            return False
        # Backtrack to the deepest choice point with an untried thread.
        while path and not path[-1].untried:
            path.pop()
        if not path:
            return True
        point = path[-1]
        point.chosen = point.untried.pop(0)
