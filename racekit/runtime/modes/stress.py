"""The stress modes: real threads, with switch points forced at every line or
bytecode of the case (``line``, ``opcode``), or none beyond CPython's own
(``native``). See :mod:`racekit.runtime.forcing` for how the switch points work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from racekit.options import ModeSpec
from racekit.runtime.forcing import HAS_MONITORING, Forcing, MonitoringForcing, Scope, TraceForcing

if TYPE_CHECKING:
    from racekit.records import Trial
    from racekit.runtime.trial import Program


@dataclass(frozen=True)
class StressMode:
    name: str
    forced: bool  # switch points beyond CPython's own
    instrumented: bool = False

    def make_forcing(self, spec: ModeSpec, scope: Scope) -> Forcing:
        if not self.forced:
            return Forcing(spec, scope)
        return MonitoringForcing(spec, scope) if HAS_MONITORING else TraceForcing(spec, scope)

    def run_trial(self, program: Program, index: int, seed: int, schedule: str | None, serial: bool) -> Trial:
        return program.run_threads(index, seed)


NATIVE = StressMode("native", forced=False)
LINE = StressMode("line", forced=True)
OPCODE = StressMode("opcode", forced=True)
