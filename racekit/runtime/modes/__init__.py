"""The schedulers (modes), one module each behind the :class:`Mode` protocol.

A mode decides two things: which switch points the case's threads get (its
:class:`~racekit.runtime.forcing.Forcing`), and how one trial runs (real
threads, or one thread at a time under the controlled scheduler). Everything
else (preparing a trial, judging it, the worker, the report) is shared, so a
new mode is one module here and one line in :data:`REGISTRY`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

from racekit.options import ENGINE_MODES, ModeSpec

if TYPE_CHECKING:
    from racekit.records import Trial
    from racekit.runtime.forcing import Forcing, Scope
    from racekit.runtime.trial import Program


class Mode(Protocol):
    name: str
    instrumented: bool  # it rewrites the case's code so that shared accesses reach racekit

    def make_forcing(self, spec: ModeSpec, scope: Scope) -> Forcing:
        """The switch points this mode adds to the case's threads."""

    def run_trial(self, program: Program, index: int, seed: int, schedule: str | None, serial: bool) -> Trial:
        """One trial of ``program``: prepared, run, judged."""


# name -> "module:attribute"; loaded on first use (a worker needs only its own).
REGISTRY: dict[str, str] = {
    "native": "racekit.runtime.modes.stress:NATIVE",
    "line": "racekit.runtime.modes.stress:LINE",
    "opcode": "racekit.runtime.modes.stress:OPCODE",
    "yield": "racekit.runtime.modes.noise:YIELD",
    "controlled": "racekit.runtime.modes.controlled:CONTROLLED",
}
assert set(REGISTRY) == set(ENGINE_MODES), "every engine mode has its module"


def mode(name: str) -> Mode:
    module, _, attribute = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
