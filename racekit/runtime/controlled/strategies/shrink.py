"""Shrinking: look for a schedule that fails the same way with fewer preemptions.

Each execution places 0, 1, 2, … preemptions (fewer than the failure had) at
random choice points and otherwise lets the running thread go on. A lost
update needs one preemption (a thread taken off between its read and its
write), so a failure found by a random walk with dozens usually shrinks to
one or two: the schedule a student can follow."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from racekit.runtime.controlled.strategies import Strategy, go_on

ATTEMPTS = 40  # random placements tried per preemption count


class Shrink(Strategy):
    def __init__(self, seed: int, choice_points: int, fewer_than: int, attempts: int = ATTEMPTS):
        self._placements = self._plan(random.Random(seed ^ 0x5EED), max(choice_points, 1), fewer_than, attempts)
        self.points: set[int] = set()
        self.rng = random.Random(0)
        self.choice_point = 0

    @staticmethod
    def _plan(rng: random.Random, total: int, fewer_than: int, attempts: int) -> Iterator[tuple[set[int], int]]:
        for count in range(0, fewer_than):
            for _ in range(1 if count == 0 else attempts):
                points = set(rng.sample(range(1, total + 1), min(count, total)))
                yield points, rng.randrange(1 << 30)

    def new_execution(self) -> bool:
        placement = next(self._placements, None)
        if placement is None:
            return False
        self.points, seed = placement
        self.rng = random.Random(seed)
        self.choice_point = 0
        return True

    def next_task(self, enabled: Sequence[int], current: int | None, step: int) -> int:
        self.choice_point += 1
        if self.choice_point in self.points:
            others = [t for t in enabled if t != current]
            if others:
                return self.rng.choice(others)
        return go_on(enabled, current)
