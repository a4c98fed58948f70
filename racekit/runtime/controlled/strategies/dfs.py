"""Depth-first search of every interleaving (stateless model checking, as in CHESS).

Each execution is one real run from the start. The strategy remembers, at
each choice point of the current path, the threads not tried yet; its next
execution backtracks to the deepest point with an untried thread and takes
it. A preemption bound K skips schedules that take a thread off the CPU while
it could go on more than K times; :attr:`DepthFirst.pruned` says whether the
bound skipped anything, which is what decides whether a search was complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from racekit.runtime.controlled.strategies import Strategy, go_on, is_preemption


@dataclass
class ChoicePoint:
    enabled: list[int]
    current: int | None
    chosen: int
    untried: list[int]


class DepthFirst(Strategy):
    search = True
    def __init__(self, bound: int | None = None):
        self.bound = bound
        self.path: list[ChoicePoint] = []
        self.position = 0
        self.preemptions = 0  # in the execution under way
        self.pruned = False  # the bound kept some thread from being tried somewhere
        self._started = False

    @classmethod
    def for_trial(cls, seed: int, preemptions: int | None = None, **_settings: object) -> DepthFirst:
        return cls(preemptions)

    def new_execution(self) -> bool:
        if self._started:
            while self.path and not self.path[-1].untried:
                self.path.pop()
            if not self.path:
                return False  # every schedule within the bound has run
            point = self.path[-1]
            point.chosen = point.untried.pop(0)
        self._started = True
        self.position = 0
        self.preemptions = 0
        return True

    def schedule(self) -> tuple[int, ...]:
        """The choices of the execution just run: equal tuples are one schedule."""
        return tuple(p.chosen for p in self.path)

    def next_task(self, enabled: Sequence[int], current: int | None, step: int) -> int:
        if self.position < len(self.path):
            point = self.path[self.position]
            chosen = point.chosen if point.chosen in enabled else enabled[0]
        else:
            chosen = go_on(enabled, current)
            others = [t for t in enabled if t != chosen]
            untried = [t for t in others if self._allowed(t, enabled, current)]
            self.pruned |= len(untried) < len(others)
            self.path.append(ChoicePoint(list(enabled), current, chosen, untried))
        self.position += 1
        self.preemptions += is_preemption(chosen, enabled, current, self.timing)
        return chosen

    def _allowed(self, thread: int, enabled: Sequence[int], current: int | None) -> bool:
        return self.bound is None or self.preemptions + is_preemption(thread, enabled, current, self.timing) <= self.bound
