"""Round robin: at every choice, the next thread after the one that ran, in index order.

The most preemptive schedule there is (every operation hands over), and a
deterministic one: a quick way to see whether a case breaks when its threads
alternate step by step. The seed picks which thread goes first, so a variant's
trials cover each starting thread."""

from __future__ import annotations

from collections.abc import Sequence

from racekit.runtime.controlled.strategies import Strategy


class RoundRobin(Strategy):
    def __init__(self, first: int = 0):
        self.first = first
        self.threads = 1
        self.last: int | None = None  # the thread chosen last (``current`` is None once it has finished)

    @classmethod
    def for_trial(cls, seed: int, **_settings: object) -> RoundRobin:
        return cls(first=seed)

    def begin(self, threads: int) -> None:
        self.threads = max(threads, 1)
        self.last = None

    def next_task(self, enabled: Sequence[int], current: int | None, step: int) -> int:
        after = self.last if self.last is not None else self.first % self.threads - 1
        ring = max(self.threads, max(enabled) + 1)  # threads the case started itself join the ring
        self.last = min(enabled, key=lambda t: (t - after - 1) % ring)
        return self.last
