"""racekit from Python: explore a case, replay a schedule, load a case file.

The command line and the pytest plugin are two front ends of the engine; this
is the third, for code that wants a result object rather than an exit code or
a test outcome (a notebook, a script that sweeps parameters, another test
runner). It runs trials exactly as ``racekit run`` does, in racekit's worker
processes, so a case that deadlocks or crashes costs a worker, never the
caller. Everything here is loaded on first use (``racekit.explore`` et al.).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from racekit.analysis.results import RunResult, VariantResult
from racekit.case.model import Case

Target = str | os.PathLike[str] | Case


def load(path: str | os.PathLike[str]) -> Case:
    """A case file, loaded and checked (``racekit.CaseError`` names file:line:col)."""
    from racekit.case.loader import load_case

    return load_case(os.fspath(path))


def explore(target: Target, *, variant: str | Sequence[str] | None = None, mode: str | Sequence[str] = (),
            runs: int | None = None, seed: int | None = None, params: dict[str, Any] | None = None,
            timeout: float | None = None, budget: float | None = None, workers: int | None = None,
            strategy: str = "random", preemptions: int | None = None, instrument: Iterable[str] = (),
            replay_saved: bool = False) -> Result:
    """Run a case's variants (all, or ``variant``) as ``racekit run`` would, and
    return what was found.

    ``mode``: ``"auto"`` (the default, or the case's own ``mode:``), or any of
    ``native line opcode yield controlled``, or several to compare. ``budget``:
    seconds the whole exploration may take (no trial starts after it).
    ``replay_saved``: replay failing schedules kept in ``.racekit/`` first, as
    the command line does (off here: a script's result should not depend on
    what an earlier run left behind)."""
    from racekit.engine import plan, run
    from racekit.options import RunOptions

    cases = [_case(target)]
    options = RunOptions(modes=_names(mode), runs=runs, seed=seed, variants=_names(variant), params=dict(params or {}),
                         timeout=timeout, time_budget=budget, workers=workers, strategy=strategy,
                         preemptions=preemptions, instrument=tuple(instrument), replay_saved=replay_saved)
    return Result(run(cases, options, planned=plan(cases, options)))


def replay(target: Target, schedule: str, *, variant: str | None = None, params: dict[str, Any] | None = None,
           instrument: Iterable[str] = ()) -> Result:
    """One controlled run that follows ``schedule`` (as a report printed it) exactly.
    ``variant`` may be left out when the case has only one."""
    from racekit.engine import replay_schedule

    case = _case(target)
    if variant is None:
        if len(case.variants) != 1:
            names = ", ".join(v.name for v in case.variants)
            raise ValueError(f"{case.name} has several variants ({names}): name the one the schedule is for")
        variant = case.variants[0].name
    return Result(replay_schedule(case, variant, schedule, params=params, instrument=tuple(instrument)))


@dataclass(frozen=True)
class Result:
    """What an exploration found: the same facts as ``racekit run --format json``."""

    run: RunResult

    @property
    def ok(self) -> bool:
        """Every variant behaved as its case expects (a ``racy: true`` one showed its race)."""
        return self.run.ok

    @property
    def variants(self) -> list[VariantResult]:
        return self.run.variants

    @property
    def verdicts(self) -> dict[str, str]:
        """Each variant's verdict (``race``, ``no race observed``, ``deadlock``,
        ``error``, ``inconclusive``), by ``case[variant]`` (and mode, when several ran)."""
        several = len({v.mode for v in self.variants}) > 1
        return {(f"{v.id} ({v.mode})" if several else v.id): v.verdict.value for v in self.variants}

    @property
    def verdict(self) -> str:
        """The verdict of the one variant explored (several: see :attr:`verdicts`)."""
        if len(self.variants) != 1:
            raise ValueError(f"{len(self.variants)} variants ran: read .verdicts")
        return self.variants[0].verdict.value

    @property
    def schedule(self) -> str | None:
        """The first replayable failing schedule found (controlled or auto), if any."""
        return next((v.schedule for v in self.variants if v.schedule), None)

    def explain(self, lang: str = "en", verbose: bool = False, width: int = 100) -> str:
        """The report ``racekit run`` prints, as plain text (``lang``: ``en`` or ``zh``)."""
        from rich.console import Console

        from racekit.report.terminal import TerminalReport

        buffer = io.StringIO()
        TerminalReport(Console(file=buffer, width=width, color_system=None, force_terminal=False), lang,
                       verbose).render(self.run)
        return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"

    def to_json(self) -> dict[str, Any]:
        """The results document of ``--format json`` (``racekit schema --results``)."""
        return self.run.to_json()


def _case(target: Target) -> Case:
    return target if isinstance(target, Case) else load(target)


def _names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(name.strip() for name in value.split(",") if name.strip())
    return tuple(value)
