"""Race reversal: run a trial again with its data race's two accesses swapped.

The recorded choices up to choice ``at``; from there the thread that made the
second access of the racing pair runs until it has made it (so it now comes
before the first), then no more preemptions. If that run ends wrong, it is
the witness that makes the race real; if it ends right, the race did no harm
here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from racekit.runtime.controlled.strategies import Strategy, go_on

if TYPE_CHECKING:
    from racekit.runtime.controlled.controller import Controller


class ReverseRace(Strategy):
    def __init__(self, choices: list[int], at: int, runner: int, target_ops: int):
        self.choices, self.at, self.runner, self.target = choices, at, runner, target_ops
        self.position = 0
        self.controller: Controller | None = None
        self.reached = False  # the runner made its access before the other thread made its own

    def bind(self, controller: Controller) -> None:
        self.controller = controller

    def next_task(self, enabled: Sequence[int], current: int | None, step: int) -> int:
        position, self.position = self.position, self.position + 1
        if position < self.at:
            wanted = self.choices[position]
            return wanted if wanted in enabled else go_on(enabled, current)
        assert self.controller is not None
        if self.controller.threads[self.runner].ops < self.target:
            if self.runner in enabled:
                return self.runner
        else:
            self.reached = True
        return go_on(enabled, current)
