"""Replay: follow a recorded schedule choice by choice.

Strict (the default) when the user replays a schedule: a choice the run cannot
make means the schedule belongs to other code or other parameters, and the
trial says so rather than quietly running something else. ``guided`` follows
the schedule where it can and otherwise goes on without preempting."""

from __future__ import annotations

from collections.abc import Sequence

from racekit.runtime.controlled.strategies import Strategy, go_on


# A strict replay's last choices may not fit where the program's own order
# varies at its end (a set of threads or futures iterates by address): there it
# goes on without preempting, and the trial says so (run.conclude). Only a long
# schedule gets this slack: a short one (a lesson's) must fit exactly.
SLACK = 2
SLACK_FROM = 16  # choices a schedule must have for its last SLACK to be slack


class ScheduleMismatch(Exception):
    """A replayed schedule asked for a thread that cannot move at that point."""

    def __init__(self, wanted: int, position: int, enabled: Sequence[int]):
        super().__init__(f"the schedule asks for thread {wanted} at choice {position}, "
                         f"but only {list(enabled)} can move there")
        self.wanted, self.position, self.enabled = wanted, position, list(enabled)


class ScheduleEnd(Exception):
    """A paused replay (``racekit play``) reached a choice its schedule does not make."""

    def __init__(self, enabled: Sequence[int], current: int | None):
        super().__init__(f"the schedule ends here; {list(enabled)} could move")
        self.enabled, self.current = list(enabled), current


class ReplayStrategy(Strategy):
    """``pause``: stop at the first choice past the schedule (the student makes it)."""

    def __init__(self, choices: list[int], guided: bool = False, pause: bool = False):
        self.choices = choices
        self.guided = guided
        self.pause = pause
        self.position = 0

    def new_execution(self) -> bool:
        self.position = 0
        return super().new_execution()

    def next_task(self, enabled: Sequence[int], current: int | None, step: int) -> int:
        if self.position < len(self.choices):
            wanted = self.choices[self.position]
            self.position += 1
            if wanted in enabled:
                return wanted
            if not self.guided and (len(self.choices) < SLACK_FROM or self.position <= len(self.choices) - SLACK):
                raise ScheduleMismatch(wanted, self.position, enabled)
        elif self.pause:
            raise ScheduleEnd(enabled, current)
        return go_on(enabled, current)
