"""Strategies: who moves next when more than one thread can.

The shape is shuttle's scheduler. A driver (:func:`racekit.runtime.controlled.run.drive`)
asks :meth:`Strategy.new_execution` before every execution (False: the strategy
has nothing left to run); the controller says how many threads the execution
has (:meth:`Strategy.begin`), then asks :meth:`Strategy.next_task` at every
choice, with the threads that can move and the one that was running. A
strategy sees no case code and no clock: given its seed and the same enabled
sets it makes the same choices, which is what makes every schedule replayable
(and every strategy testable against fake enabled sets).

One module per strategy; ``racekit.options.STRATEGY_CLASSES`` maps the names a
user can ask for (``--strategy``) to the class that builds the strategy for one
trial (``Class.for_trial(seed, **settings)``).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from racekit.options import STRATEGY_CLASSES

if TYPE_CHECKING:
    from racekit.runtime.controlled.controller import Controller


class Strategy:
    """Chooses the next thread among those that can move.

    The default runs one execution: most strategies make one trial's choices
    (a seed per trial keeps trials independent, so they can be spread over
    worker processes); a search (DFS) or a shrink runs many."""

    executions = 1
    # Threads whose only way to move is that their sleep ends (time.sleep, a
    # Timer): the controller sets it before each next_task. Waking one while
    # another thread could run is a preemption.
    timing: frozenset[int] = frozenset()
    search = False  # True: it runs a whole search in one plan (every schedule), not one trial per seed
    keep_frames = False  # lecture and play set it: the controller notes where each thread waits

    def new_execution(self) -> bool:
        """Get ready for the next execution; False when there is none."""
        if self.executions <= 0:
            return False
        self.executions -= 1
        return True

    def begin(self, threads: int) -> None:
        """Told how many threads the execution starts, before its first choice."""

    def next_task(self, enabled: Sequence[int], current: int | None, step: int) -> int:
        """The thread (one of ``enabled``) that performs the next operation.
        ``current`` ran last and could go on (None at a thread's start or end);
        ``step`` counts the execution's scheduling steps from 1."""
        raise NotImplementedError

    def stepped(self, chosen: int) -> None:
        """Told every step that is taken, a choice or not (only one thread could
        move, a wait timed out), as the operation is about to happen; a
        partial-order reduction needs them all."""

    def bind(self, controller: Controller) -> None:
        """Told which controller asks (a strategy may follow its threads' progress
        or read their pending operations)."""


def go_on(enabled: Sequence[int], current: int | None) -> int:
    """No preemption: the running thread if it can move, else the first that can."""
    return current if current in enabled else enabled[0]


def is_preemption(chosen: int, enabled: Sequence[int], current: int | None,
                  timing: frozenset[int] = frozenset()) -> bool:
    """Taking the CPU from a thread that could have gone on, or ending a sleep
    early while a thread was ready to run."""
    if current is not None and chosen != current and current in enabled:
        return True
    return chosen in timing and any(t not in timing for t in enabled)


def strategy_class(name: str) -> Any:
    module, _, attribute = STRATEGY_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
