"""Uniform random choice among the threads that can move: no bias, no memory.

Cheap and surprisingly good for shallow bugs; PCT gives guarantees for deep ones."""

from __future__ import annotations

import random
from collections.abc import Sequence

from racekit.runtime.controlled.strategies import Strategy


class RandomStrategy(Strategy):
    def __init__(self, seed: int, executions: int = 1):
        self.rng = random.Random(seed)
        self.executions = executions

    @classmethod
    def for_trial(cls, seed: int, **_settings: object) -> RandomStrategy:
        return cls(seed)

    def next_task(self, enabled: Sequence[int], current: int | None, step: int) -> int:
        return self.rng.choice(list(enabled))
