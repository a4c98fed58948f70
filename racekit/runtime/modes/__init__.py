"""The schedulers (modes), one module each behind the :class:`Mode` protocol.

A mode decides which switch points the case's threads get (its
:class:`~racekit.runtime.forcing.Forcing`), how one trial runs (real threads,
or one thread at a time under the controlled scheduler), what a hung trial
means for its worker, and the facts a report's header gives about it.
Everything else (preparing a trial, judging it, the worker, the report) is
shared and asks the mode, never its name (a test holds the runtime to that),
so a new mode is one module here and one line in :data:`REGISTRY`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

from racekit.options import ENGINE_MODES, ModeSpec

if TYPE_CHECKING:
    from collections.abc import Callable

    from racekit.records import Trial
    from racekit.runtime.forcing import Forcing, Scope
    from racekit.runtime.trial import Program


class EngineFacts(Protocol):
    """What the engine asks of any mode, composite ones included, while it plans."""

    name: str
    replays_saved: bool  # it replays the failing schedules the database kept, before its own trials
    phased: bool  # a composite run in phases (each a mode here), not trial by trial
    shardable: bool  # its trials may be split across machines (--shard)
    fallback: str | None  # the mode a case it cannot steer runs in instead (None: it refuses none)

    def searches(self, spec: ModeSpec) -> bool:
        """Whether one plan is the whole run: a search of every schedule, not one trial per seed."""

    def facts(self, spec: ModeSpec) -> dict[str, object]:
        """What the mode does on this interpreter, as facts a report turns into words."""


class Mode(EngineFacts, Protocol):
    """A mode a worker runs trials under (besides what the engine plans by)."""

    instrumented: bool  # it rewrites the case's code so that shared accesses reach racekit
    # Its scheduler sees every deadlock among the case's threads the moment it
    # happens and unwinds them: a trial that hangs anyway blocked (or ran) where
    # no scheduler sees, which says nothing of the case. Without one, a hung
    # trial is a deadlock whose threads are stuck for good: its worker goes, and
    # the variant's later trials would hang too.
    sees_every_deadlock: bool

    def make_forcing(self, spec: ModeSpec, scope: Scope) -> Forcing:
        """The switch points this mode adds to the case's threads."""

    def run_trial(self, program: Program, index: int, seed: int, schedule: str | None, serial: bool) -> Trial:
        """One trial of ``program``: prepared, run, judged."""

    def progress(self, program: Program) -> Callable[[], bool] | None:
        """Whether a trial that outlasts its budget is still moving (the worker's
        watchdog then lets it run on), or None when the mode cannot tell."""


# name -> "module:attribute"; loaded on first use (a worker needs only its own).
REGISTRY: dict[str, str] = {
    "native": "racekit.runtime.modes.stress:NATIVE",
    "line": "racekit.runtime.modes.stress:LINE",
    "opcode": "racekit.runtime.modes.stress:OPCODE",
    "yield": "racekit.runtime.modes.noise:YIELD",
    "controlled": "racekit.runtime.modes.controlled:CONTROLLED",
}
assert set(REGISTRY) == set(ENGINE_MODES), "every engine mode has its module"


# Modes made of the others: planned by the engine in phases, each phase a mode above.
COMPOSITE: dict[str, str] = {"auto": "racekit.runtime.modes.auto:AUTO"}


def mode(name: str) -> Mode:
    module, _, attribute = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def of(name: str) -> EngineFacts:
    """Any mode by name, composite ones included: what the engine plans by."""
    module, _, attribute = (REGISTRY.get(name) or COMPOSITE[name]).partition(":")
    return getattr(importlib.import_module(module), attribute)


def facts(spec: ModeSpec) -> dict[str, object]:
    """The header facts of any mode, composite ones included."""
    return {"name": spec.name, "switch_interval": spec.switch_interval, **of(spec.name).facts(spec)}
