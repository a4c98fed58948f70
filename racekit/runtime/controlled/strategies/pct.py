"""Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010).

Random distinct thread priorities; the highest-priority thread that can move
always runs; at d-1 random steps the running thread drops below every other.
A bug of depth d in a run of k steps with n threads is found with
probability at least 1/(n k^(d-1)), so ``expected_steps`` (k) must be about
a run's length: the driver learns it from a serial run."""

from __future__ import annotations

import random
from collections.abc import Sequence

from racekit.runtime.controlled.strategies import Strategy


class PCTStrategy(Strategy):
    def __init__(self, seed: int, depth: int = 3, expected_steps: int = 100, executions: int = 1):
        self.rng = random.Random(seed)
        self.depth = depth
        self.expected_steps = max(expected_steps, 1)
        self.executions = executions
        self.priorities: dict[int, int] = {}
        self.change_points: list[int] = []

    @classmethod
    def for_trial(cls, seed: int, depth: int = 3, expected_steps: int = 100, **_settings: object) -> PCTStrategy:
        return cls(seed, depth, expected_steps)

    def begin(self, threads: int) -> None:
        order = list(range(threads))
        self.rng.shuffle(order)
        self.priorities = {t: self.depth + rank for rank, t in enumerate(order)}
        self.change_points = sorted(self.rng.sample(range(1, self.expected_steps + 1),
                                                    min(self.depth - 1, self.expected_steps)))

    def next_task(self, enabled: Sequence[int], current: int | None, step: int) -> int:
        for index, point in enumerate(self.change_points):
            if point == step and current is not None:
                self.priorities[current] = self.depth - 1 - index
        for t in enabled:  # a thread the case started itself comes in below the first ones
            self.priorities.setdefault(t, self.depth + len(self.priorities))
        return max(enabled, key=lambda t: self.priorities[t])
