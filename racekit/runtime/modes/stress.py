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
    opcodes: bool = False  # at every bytecode, not every line
    instrumented: bool = False
    sees_every_deadlock: bool = False
    replays_saved: bool = False
    phased: bool = False
    shardable: bool = True
    fallback: str | None = None

    def searches(self, spec: ModeSpec) -> bool:
        return False

    def facts(self, spec: ModeSpec) -> dict[str, object]:
        if not self.forced:
            return {}
        granularity = "opcode" if self.opcodes else "line"
        return {"backend": f"{'monitoring' if HAS_MONITORING else 'tracing'}_{granularity}"}

    def make_forcing(self, spec: ModeSpec, scope: Scope) -> Forcing:
        if not self.forced:
            return Forcing(spec, scope)
        forcing = MonitoringForcing if HAS_MONITORING else TraceForcing
        return forcing(spec, scope, opcodes=self.opcodes)

    def run_trial(self, program: Program, index: int, seed: int, schedule: str | None, serial: bool) -> Trial:
        return program.run_threads(index, seed)

    def progress(self, program: Program) -> None:
        return None  # real threads: a trial past its time is a hang


NATIVE = StressMode("native", forced=False)
LINE = StressMode("line", forced=True)
OPCODE = StressMode("opcode", forced=True, opcodes=True)
