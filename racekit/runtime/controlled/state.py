"""What a program's controlled trials learn and decide across trials, in one worker.

A program lives as long as its worker; its trials are independent runs, but
three things carry over, and they are kept here, declared, rather than as
attributes set on the program on the way past."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PendingShrink:
    """A failure reported and still to be shrunk: which trial, how it failed, and
    the size of its schedule (not its controller, whose log would stay alive
    through every execution of the shrink)."""

    index: int
    seed: int
    kind: str  # run._failure_kind of the failing trial
    preemptions: int
    choices: int


@dataclass
class ControlledState:
    run_length: int | None = None  # the most steps a run took (learnt from a serial run first): PCT's k
    explained: set[str] = field(default_factory=set)  # kinds of failure already shrunk and explained
    reversals: dict[tuple, int] = field(default_factory=dict)  # race reversals tried, per pair of lines
    pending_shrink: PendingShrink | None = None  # a failure reported, its schedule to shrink next
    # An execution stopped with a thread that never reaches a step (spinning, or
    # asleep in the kernel): that thread cannot be stopped and runs on in this
    # worker, so every later execution here would be slowed or stuck the same way.
    stuck: Any = None  # that Trial: later executions end as it did, without running
