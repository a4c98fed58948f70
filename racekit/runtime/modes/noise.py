"""``yield`` mode: real threads at full speed; the case's shared accesses are
rewritten to be logged, and each is followed, at random, by ``os.sched_yield()``
(noise injection). No tracer: the rewritten accesses are the switch points."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from racekit.options import ModeSpec
from racekit.runtime.forcing import Forcing, Scope

if TYPE_CHECKING:
    from racekit.records import Trial
    from racekit.runtime.trial import Program


class YieldMode:
    name = "yield"
    instrumented = True
    sees_every_deadlock = False
    replays_saved = False
    phased = False
    shardable = True
    fallback = None

    def searches(self, spec: ModeSpec) -> bool:
        return False

    def facts(self, spec: ModeSpec) -> dict[str, object]:
        return {"yield_probability": spec.yield_probability}

    def make_forcing(self, spec: ModeSpec, scope: Scope) -> Forcing:
        return Forcing(spec, scope)

    def run_trial(self, program: Program, index: int, seed: int, schedule: str | None, serial: bool) -> Trial:
        return program.run_threads(index, seed, hooks=lambda namespace: _hooks(namespace, seed, program))

    def progress(self, program: Program) -> None:
        return None  # real threads: a trial past its time is a hang


def _hooks(namespace: dict[str, Any], seed: int, program: Program) -> Any:
    from racekit.runtime.hooks import Labels, YieldHooks

    return YieldHooks(namespace, Labels(), seed, program.forcing.spec.yield_probability)


YIELD = YieldMode()
