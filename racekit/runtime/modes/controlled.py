"""``controlled`` mode: one thread at a time; a strategy picks who moves at each
visible operation (:mod:`racekit.runtime.controlled.run`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from racekit.options import ModeSpec
from racekit.runtime.forcing import Forcing, Scope

if TYPE_CHECKING:
    from collections.abc import Callable

    from racekit.records import Trial
    from racekit.runtime.trial import Program


class ControlledMode:
    name = "controlled"
    instrumented = True
    sees_every_deadlock = True
    replays_saved = True  # a failure found once stays found
    phased = False
    shardable = True
    fallback = None

    def searches(self, spec: ModeSpec) -> bool:
        from racekit.runtime.controlled.strategies import strategy_class

        return bool(strategy_class(spec.strategy).search)

    def facts(self, spec: ModeSpec) -> dict[str, object]:
        return {"strategy": spec.strategy, "depth": spec.depth, "preemptions": spec.preemptions}

    def make_forcing(self, spec: ModeSpec, scope: Scope) -> Forcing:
        return Forcing(spec, scope)  # the scheduler, not a tracer, decides every switch

    def run_trial(self, program: Program, index: int, seed: int, schedule: str | None, serial: bool) -> Trial:
        from racekit.runtime.controlled.run import run_controlled

        return run_controlled(program, index, seed, schedule, serial=serial)

    def progress(self, program: Program) -> Callable[[], bool] | None:
        # A long search or shrink takes step after step: it moves while its
        # threads do (a thread that stops taking steps is the stall limit's).
        from racekit.runtime.controlled.run import PROGRESS, STALL_LIMIT

        return lambda: PROGRESS.progressing(max(STALL_LIMIT, program.variant.timeout))


CONTROLLED = ControlledMode()
