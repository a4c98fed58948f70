"""Serial runs: no preemption at all, the baseline of what goes wrong without concurrency.

The running thread goes on until it ends or blocks, then the first thread of
``order`` that can move. Each order is one serial run."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from racekit.runtime.controlled.strategies import Strategy


class SerialStrategy(Strategy):
    def __init__(self, order: list[int], reverse: bool = False):
        self.order = order
        self._rank = {t: i for i, t in enumerate(order)}
        self._reverse = reverse  # threads not in ``order``: last first (when their number is not known ahead)

    def full_order(self, threads: int) -> list[int]:
        """The order the threads ran in, one after another, once their number is known."""
        rest = [t for t in range(threads) if t not in self._rank]
        return [*self.order, *(reversed(rest) if self._reverse else rest)]

    def next_task(self, enabled: Sequence[int], current: int | None, step: int) -> int:
        if current in enabled:
            return current
        # A sleep ends only when no thread is ready to run.
        candidates = [t for t in enabled if t not in self.timing] or list(enabled)
        return min(candidates, key=lambda t: (self._rank.get(t, len(self._rank)), -t if self._reverse else t))


def serial_orders(threads: int, cap: int = 24) -> list[list[int]]:
    """The thread orders of the serial baseline: all of them when there are at
    most ``cap``, else each thread first once (the rest in index order)."""
    if math.factorial(threads) <= cap:
        return [list(p) for p in itertools.permutations(range(threads))]
    return [[first, *[t for t in range(threads) if t != first]] for first in range(threads)]


# A case written in Python makes its threads when it runs: its baseline runs
# them in the order they were made, then in the reverse order.
UNKNOWN_COUNT_ORDERS = 2
