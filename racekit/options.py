"""What a run is asked to do, as plain configuration: the names of modes and
strategies (defined here once), a mode's settings (:class:`ModeSpec`, which
travels to worker processes), and the options of a whole run.

Standard library only: the case loader, the runtime, the analysis and both
front ends read these names, and none of them may pull in the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ModeName = Literal["native", "line", "opcode", "yield", "controlled", "auto"]
STRESS_MODES: tuple[ModeName, ...] = ("native", "line", "opcode")
# The schedulers a worker runs a trial under (racekit.runtime.modes, one module each).
ENGINE_MODES: tuple[ModeName, ...] = (*STRESS_MODES, "yield", "controlled")
# What a user can name: the engines, and `auto`, which the engine plans as
# phases of two of them (the controlled search, then real threads).
MODES: tuple[ModeName, ...] = (*ENGINE_MODES, "auto")
INSTRUMENTED_MODES: tuple[ModeName, ...] = ("yield", "controlled")  # they rewrite the case's code
# The strategies a user can name for controlled mode (--strategy), each with the
# class that makes it, as text so that this module imports nothing (racekit's
# own strategies, serial, replay, shrink and reverse, are not named by users).
# A new strategy is its module under racekit/runtime/controlled/strategies and
# one line here.
STRATEGY_CLASSES: dict[str, str] = {
    "random": "racekit.runtime.controlled.strategies.random:RandomStrategy",
    "pct": "racekit.runtime.controlled.strategies.pct:PCTStrategy",
    "exhaustive": "racekit.runtime.controlled.strategies.dfs:DepthFirst",
    "round-robin": "racekit.runtime.controlled.strategies.round_robin:RoundRobin",
}
STRATEGIES = tuple(STRATEGY_CLASSES)
DEFAULT_MODE: ModeName = "auto"
# Cases the controlled scheduler cannot steer (processes, Python-written tests,
# for now) run `auto` as real threads under opcode forcing.
AUTO_FALLBACK: ModeName = "opcode"
AS_THEY_ARE: ModeName = "native"  # script and timing cases run as they are, reported as this mode
# auto: schedules its bounded exhaustive search may run before it stops and
# samples instead (random controlled runs), and the share of the variant's runs
# then given to real threads.
AUTO_SEARCH_CAP = 2_000
# … and the scheduling steps it may spend (about a second): a small case's
# search runs to the cap or completes; a long run (the balance lecture, 4,000
# steps a run) samples instead. Sampling gets about as many steps again.
AUTO_SEARCH_STEPS = 100_000
AUTO_SAMPLE_STEPS = 100_000
AUTO_REAL_THREAD_SHARE = 0.5
DEFAULT_SWITCH_INTERVAL = 1e-6


@dataclass(frozen=True)
class ModeSpec:
    """A scheduler choice as configuration (it travels to worker processes)."""

    name: ModeName
    switch_interval: float = DEFAULT_SWITCH_INTERVAL
    strategy: str = "random"  # controlled mode: random | pct | exhaustive (or racekit's serial)
    depth: int = 3  # pct: bug depth d
    preemptions: int | None = None  # exhaustive: preemption bound (None: unbounded)
    yield_probability: float = 0.5  # yield mode: chance of os.sched_yield() after an access
    step_limit: int | None = None  # controlled: scheduling steps a trial may take (None: the default budget)
    ignored: str | None = None  # a mode asked for that this case cannot apply (script, timing): said in a note

    @property
    def instrumented(self) -> bool:
        return self.name in INSTRUMENTED_MODES


@dataclass(frozen=True)
class RunOptions:
    modes: tuple[str, ...] = ()  # empty: each case's own `mode:`, else auto
    runs: int | None = None  # None: each variant's own `runs`
    max_runs: int | None = None  # a cap on runs: variants that ask for fewer keep theirs
    seed: int | None = None  # None: a fresh random seed, reported
    variants: tuple[str, ...] = ()  # empty: all
    params: dict[str, Any] = field(default_factory=dict)
    switch_interval: float = DEFAULT_SWITCH_INTERVAL
    timeout: float | None = None  # overrides every variant's timeout
    workers: int | None = None
    stop_on_failure: bool = False
    # Folders whose code the forcing modes instrument, besides each case's own
    # folder: by default the project racekit runs in (its working directory).
    scope: tuple[str, ...] | None = None
    instrument: tuple[str, ...] = ()  # modules or packages, by name, that instrumented modes rewrite too
    time_budget: float | None = None  # seconds the whole run may take: then no new trial starts
    shard: tuple[int, int] | None = None  # (K, N): run only the K-th of N parts of every variant's trials
    start_method: str | None = None  # kind processes: overrides every variant's start_method
    # Controlled mode:
    strategy: str = "random"
    depth: int = 3  # pct
    preemptions: int | None = None  # exhaustive: the bound (None: grow it until the search is complete)
    replay_saved: bool = True  # replay failing schedules kept in .racekit/ first
    # Run each thread case's serial baseline too (every thread to its end, in
    # each order): what goes wrong there is an error of the case, not a race.
    baseline: bool = True
