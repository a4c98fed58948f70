"""Exhaustive search: every interleaving of a controlled case, by iterative context bounding.

The preemption bound grows 0, 1, 2, … (until a bound at which some schedule
went wrong: that failure has the fewest preemptions, and higher bounds only
multiply schedules) and at each bound the depth-first
strategy (:mod:`racekit.runtime.controlled.strategies.dfs`) runs every
schedule within it, so the first failure found is one with the fewest
preemptions; schedules seen at a lower bound are run again to reach deeper
ones but reported once. A search is *complete* only when a bound pruned
nothing (the whole space was run) or the user's own bound was exhausted.

Without a bound of the user's, plain DFS runs only bounds 0 and 1
(``REDUCE_AFTER``); if they neither finish the space nor find a failure,
dynamic partial-order reduction (:mod:`racekit.runtime.controlled.strategies.dpor`)
runs one schedule from each class of equivalent interleavings, with no bound:
when it runs out, every Mazurkiewicz trace has run and the search is complete
(a lazy init of three threads: 1,472 executions where plain DFS had not
finished after 50,000). A failure it finds is not ordered by preemptions: the
report gives its count, and that none with at most 1 went wrong.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from racekit.records import Status, Trial
from racekit.runtime.controlled.run import conclude, drive, step_budget_known
from racekit.runtime.controlled.strategies.dfs import DepthFirst
from racekit.runtime.controlled.strategies.dpor import PartialOrder

REDUCE_AFTER = 1  # the last bound plain DFS runs before partial-order reduction takes over

if TYPE_CHECKING:
    from racekit.runtime.trial import Program


@dataclass
class SearchSummary:
    schedules: int = 0  # distinct schedules run
    runs: int = 0  # executions, counting re-runs at higher bounds
    steps: int = 0  # scheduling steps of all those executions
    complete: bool = False  # every schedule within the bound was explored
    bound: int | None = None  # the preemption bound reached
    stopped: str | None = None  # a code: schedule_cap, step_cap, preemption_cap, first_failure, failure_bound,
    # setup_failed, unjudged (a schedule's run could not be judged: the search covers less than its schedules)
    limit: int | None = None  # the cap that stopped it (schedules or preemptions)
    first_failure_preemptions: int | None = None  # a wrong outcome, a deadlock or a data race
    first_wrong_preemptions: int | None = None  # a wrong outcome or a deadlock
    pruned: bool = False  # at the last bound, some schedules were beyond it
    reduction: str | None = None  # "dpor": after the small bounds, one schedule per class of equivalent ones
    reduced_from: int | None = None  # the bound after which the reduction took over
    found_preemptions: int | None = None  # the reduction's first wrong schedule: its preemptions (not the fewest)
    # What the search did not cover: threads that ran outside the scheduler (by
    # name), and whether setup or the outcome waited for the threads (run
    # without preemption: its interleavings with them are not explored).
    unscheduled: list[str] = field(default_factory=list)
    guest_waited: bool = False
    seen: set[tuple[int, ...]] = field(default_factory=set, repr=False)

    def as_facts(self) -> dict[str, Any]:
        return {"schedules": self.schedules, "runs": self.runs, "steps": self.steps, "complete": self.complete,
                "bound": self.bound,
                "stopped": self.stopped, "limit": self.limit,
                "first_failure_preemptions": self.first_failure_preemptions,
                "first_wrong_preemptions": self.first_wrong_preemptions,
                "reduction": self.reduction, "reduced_from": self.reduced_from,
                "found_preemptions": self.found_preemptions, "unscheduled": list(self.unscheduled),
                "guest_waited": self.guest_waited}


def explore(program: Program, seed: int, on_trial: Callable[[Trial], None], max_schedules: int,
            bound: int | None = None, iterate: bool = True, stop_on_failure: bool = False,
            max_bound: int = 10, each_run: Callable[[], None] = lambda: None,
            grow_past_failure: bool = False, max_steps: int | None = None,
            max_seconds: float | None = None) -> SearchSummary:
    """Run every schedule (within ``bound``) once; report each distinct one.

    Without a ``bound`` of the user's, the bound stops growing after the first
    one at which some schedule went wrong, unless ``grow_past_failure``."""
    summary = SearchSummary()
    deadline = time.monotonic() + max_seconds if max_seconds is not None else None
    # No bound of the user's: the small bounds with plain DFS (a failure found there
    # needs the fewest preemptions), then partial-order reduction for the rest.
    reduce = bound is None and iterate and not grow_past_failure
    bounds = (range(0, REDUCE_AFTER + 1) if reduce else
              range(0, (bound if bound is not None else max_bound) + 1) if iterate else [bound])
    for level in bounds:
        summary.bound = level
        exhausted = _search(program, seed, on_trial, summary, DepthFirst(level), max_schedules, stop_on_failure,
                            each_run, max_steps, deadline, max_seconds)
        if summary.stopped:
            return summary
        if exhausted and level is not None and not summary.pruned:
            summary.complete = not summary.stopped  # nothing was pruned by the bound: the whole space is done
            return _honest(summary)
        if exhausted and level == bound:
            summary.complete = not summary.stopped  # complete within the requested bound
            return _honest(summary)
        if exhausted and bound is None and grow_past_failure is False and summary.first_wrong_preemptions is not None:
            # A failure with the fewest preemptions is found and shown: raising the
            # bound would only multiply schedules (a lazy init ran 20,000 more).
            summary.stopped, summary.limit = "failure_bound", level
            return summary
    if reduce:
        summary.bound, summary.reduction = None, PartialOrder.reduction
        summary.reduced_from = REDUCE_AFTER
        exhausted = _search(program, seed, on_trial, summary, PartialOrder(), max_schedules, stop_on_failure,
                            each_run, max_steps, deadline, max_seconds)
        # Every Mazurkiewicz trace of the threads has run, unless setup or the
        # outcome waited for them: when it goes on depends on their order, which
        # the reduction does not take into account.
        summary.complete = exhausted and not summary.stopped and not summary.guest_waited
        if exhausted and not summary.stopped and summary.guest_waited:
            summary.stopped = "guest_waited"
        return _honest(summary)
    summary.stopped, summary.limit = "preemption_cap", max_bound
    return summary


def _honest(summary: SearchSummary) -> SearchSummary:
    """No search is complete over a thread racekit did not schedule."""
    if summary.complete and summary.unscheduled:
        summary.complete = False
        summary.stopped = summary.stopped or "unscheduled"
    return summary


def _search(program: Program, seed: int, on_trial: Callable[[Trial], None], summary: SearchSummary,
            strategy: DepthFirst | PartialOrder, max_schedules: int, stop_on_failure: bool,
            each_run: Callable[[], None] = lambda: None, max_steps: int | None = None,
            deadline: float | None = None, max_seconds: float | None = None) -> bool:
    """Every schedule the strategy has (within its bound): True when it ran out of them."""
    step_budget_known(program, seed)
    for trial, controller in drive(program, summary.schedules, seed, strategy, before_each=each_run):
        trial = conclude(program, trial, controller, strategy, may_shrink=False)
        controller = None  # its log is not kept beside the next execution's
        summary.runs += 1
        summary.guest_waited = summary.guest_waited or bool(trial.guest_waits)
        summary.unscheduled.extend(u for u in trial.unscheduled if u not in summary.unscheduled)
        summary.steps += trial.steps or 0
        key = strategy.schedule()
        if key not in summary.seen:
            summary.seen.add(key)
            summary.schedules += 1
            trial.index = summary.schedules - 1
            on_trial(trial)
            if trial.status is Status.INCONCLUSIVE:
                # Not judged (stuck, over its budget): no failure, and no schedule that
                # counts towards "complete". A thread left running ends the search.
                summary.stopped = "unjudged"
                if trial.left_running:
                    return False
                continue
            wrong = not trial.matches or trial.status is Status.DEADLOCK
            failing = wrong or trial.race is not None
            if wrong and summary.reduction:
                if summary.found_preemptions is None:  # not the fewest: the reduction does not order by them
                    summary.found_preemptions = strategy.preemptions
            elif wrong and summary.first_wrong_preemptions is None:
                summary.first_wrong_preemptions = strategy.preemptions
            if failing and summary.first_failure_preemptions is None and not summary.reduction:
                summary.first_failure_preemptions = strategy.preemptions
            if stop_on_failure and (wrong or trial.witness):
                # A data race whose reversal ended right too is no failure: search on.
                summary.stopped = "first_failure"
                return False
            if summary.schedules >= max_schedules:
                summary.stopped, summary.limit = "schedule_cap", max_schedules
                return False
        if max_steps is not None and summary.steps >= max_steps:
            summary.stopped, summary.limit = "step_cap", max_steps
            return False
        if deadline is not None and time.monotonic() >= deadline:
            summary.stopped, summary.limit = "time_cap", max_seconds
            return False
        if trial.status is Status.ERROR and trial.outcome.startswith("error in setup"):
            summary.stopped = "setup_failed"
            return False
    summary.pruned = strategy.pruned
    return True
