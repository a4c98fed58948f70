"""The one library call both front ends make: cases and options in, a RunResult out.

``cli.py`` and the pytest plugin only parse their own arguments and render;
everything between (variant selection, seeds, the worker pool, grading) is here.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import time
from dataclasses import dataclass, replace
from typing import Any
from collections.abc import Callable

from racekit import __version__
from racekit.analysis.grading import grade
from racekit.analysis.results import CaseResult, RunResult
from racekit.case.model import START_METHODS, Case, Variant
from racekit.case import sources
from racekit.errors import ScheduleError, UsageError
# Names, not `from racekit import auto`: pytester's inline runs re-import racekit's
# modules, and a package attribute left from an earlier run would be the old module.
from racekit.auto import Phase, found_by, next_phases, phase_facts, search_phase
from racekit.options import (AS_THEY_ARE, AUTO_FALLBACK, AUTO_SEARCH_CAP, DEFAULT_MODE, INSTRUMENTED_MODES, MODES,
                             STRATEGIES, ModeSpec, RunOptions)
from racekit.runtime import modes
from racekit.runtime.forcing import interpreter_info
from racekit import database, interrupts
from racekit.database import Database
from racekit.runtime.pool import Job, Pool
from racekit.records import (Note, PlanQueue, Replay, Search, SeededTrial, SerialBaseline, Status, StopReason, Tape,
                             Trial, TrialPlan)
from racekit.runtime.startmethod import effective_start_method

MAX_RUNS = 10_000_000  # as a case file's `runs` allows
MAX_SHARDS = 10_000  # as racekit merge accepts
MAX_TIMEOUT = 24 * 3600  # as a case file's `timeout` allows
EXHAUSTIVE_CAP = 20_000  # schedules an exhaustive search may run unless --runs says otherwise


@dataclass(frozen=True)
class Planned:
    """A variant under one mode, with its seeds decided: what the pool will run."""

    case: Case
    variant: Variant
    mode: ModeSpec
    seed: int
    runs: int
    shard: tuple[int, int] | None = None

    def trial_range(self) -> tuple[int, int]:
        """The trial indices this run covers: all, or one shard's contiguous part.

        Trial seeds derive from the index, so the shards of a run are exactly
        the unsharded run's trials, split."""
        if self.shard is None:
            return 0, self.runs
        k, n = self.shard
        return self.runs * (k - 1) // n, self.runs * k // n

    def indices(self) -> range:
        return range(*self.trial_range())


ProgressCallback = Callable[[Planned, Trial], None]


def new_seed() -> int:
    return int.from_bytes(os.urandom(4), "big")


def trial_seed(base: int, variant_id: str, mode: str, index: int) -> int:
    """Seeds derive from the base seed and the variant, not from run order, so a
    variant's trials get the same seeds however the run is split or filtered."""
    digest = hashlib.blake2b(f"{base}:{variant_id}:{mode}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _check_instrument(names: tuple[str, ...]) -> None:
    """Refuse a module racekit cannot rewrite: racekit's own, and every module
    its workers import themselves (``collections``, ``threading``, ``ast``…).
    Rewritten, their copy would be imported while racekit is rewriting it
    (a circular import in every trial), or race with racekit's own use of it."""
    if not names:
        return
    from racekit.runtime.import_hook import racekit_modules

    own = racekit_modules()
    for name in dict.fromkeys(names):
        if name == "racekit" or name.startswith("racekit."):
            raise UsageError(f"--instrument {name}: racekit's own code is never rewritten")
        if name in own:
            raise UsageError(f"--instrument {name}: racekit itself uses {name} (its workers import it before any "
                             "case), so it cannot be rewritten; name the module of yours that uses it instead")


def plan(cases: list[Case], options: RunOptions) -> list[Planned]:
    """Select variants, apply overrides and fix seeds; raises UsageError on bad options."""
    for mode in options.modes:
        if mode not in MODES:
            raise UsageError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}{_hint(mode, MODES)}")
    if options.strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {options.strategy!r}; choose from {', '.join(STRATEGIES)}"
                         f"{_hint(options.strategy, STRATEGIES)}")
    if options.depth < 1:
        raise UsageError(f"--depth must be at least 1, got {options.depth}")
    if options.preemptions is not None and options.preemptions < 0:
        raise UsageError(f"--preemptions must be 0 or more, got {options.preemptions}")
    for case in cases:
        if case.kind == "processes" and any(m in INSTRUMENTED_MODES for m in options.modes):
            raise UsageError(f"{case.name}: the yield and controlled modes run threads only (one scheduler cannot "
                             "steer separate processes); use native, line or opcode for kind: processes")
    for flag, value in (("--runs", options.runs), ("--max-runs", options.max_runs)):
        if value is not None and not 1 <= value <= MAX_RUNS:
            raise UsageError(f"{flag} must be from 1 to {MAX_RUNS:,}, got {value:,}")
    if options.shard is not None:
        k, n = options.shard
        if not 1 <= k <= n:
            raise UsageError(f"--shard K/N needs 1 <= K <= N, got {k}/{n}")
        if n > MAX_SHARDS:
            raise UsageError(f"--shard K/N allows at most {MAX_SHARDS:,} shards, got {n:,}")
    if options.time_budget is not None and not options.time_budget > 0:
        raise UsageError(f"a time budget must be more than 0 seconds, got {options.time_budget:g}")
    if options.timeout is not None and not 0 < options.timeout <= MAX_TIMEOUT:
        raise UsageError(f"--timeout must be more than 0 and at most {MAX_TIMEOUT:g} seconds, got {options.timeout:g}")
    if options.start_method is not None and options.start_method not in START_METHODS:
        raise UsageError(f"unknown start method {options.start_method!r}; choose from {', '.join(START_METHODS)}"
                         f"{_hint(options.start_method, START_METHODS)}")
    if not 0 < options.switch_interval <= 1:
        raise UsageError(f"--switch-interval must be more than 0 and at most 1 second, got {options.switch_interval:g}")
    _check_names(cases, options)
    _check_instrument(options.instrument + tuple(m for c in cases for v in c.variants for m in v.instrument))
    if options.replay_saved and any(modes.of(m).replays_saved for c in cases for v in c.variants
                                    for m in options.modes or v.modes or (DEFAULT_MODE,)):
        database.from_environment()  # a path that is not racekit's own database is refused before any trial
    seed = options.seed if options.seed is not None else new_seed()
    planned = []
    for case in cases:
        for variant in case.variants:
            if options.variants and variant.name not in options.variants:
                continue
            overrides = {k: v for k, v in options.params.items() if k in variant.params}
            if overrides:
                variant = variant.with_params(overrides)
            if options.timeout is not None:
                # Asked for: the controlled scheduler's wait for a thread's next step is bounded by it too.
                variant = replace(variant, timeout=options.timeout, stall=options.timeout)
            if options.instrument:
                variant = replace(variant, instrument=tuple(dict.fromkeys(variant.instrument + options.instrument)))
            if options.start_method is not None and variant.kind == "processes":
                variant = replace(variant, start_method=options.start_method)
            # A search cannot be split into shards: sharded, the default is real threads.
            chosen = options.modes or variant.modes or ((AUTO_FALLBACK,) if options.shard else (DEFAULT_MODE,))
            if variant.kind in ("script", "timing"):
                # One run: racekit's schedulers do not reach inside these.
                chosen = options.modes[:1] or (AS_THEY_ARE,)
            for mode in chosen:
                fallback = modes.of(mode).fallback
                if fallback is not None and not _steerable(variant):
                    mode = fallback  # the controlled scheduler cannot steer it (yet)
                if not modes.of(mode).shardable and options.shard is not None:
                    raise UsageError(f"{variant.id}: --shard splits a run's trials, and mode {mode}'s search is one "
                                     "unit: name the modes to shard (--mode opcode, or controlled)")
                if variant.kind in ("script", "timing"):
                    # They run as they are (reported as that mode), any other request noted.
                    spec = ModeSpec(AS_THEY_ARE, options.switch_interval, ignored=mode if mode != AS_THEY_ARE else None)
                else:
                    spec = ModeSpec(mode, options.switch_interval, options.strategy,  # type: ignore[arg-type]
                                    options.depth, options.preemptions)
                runs = options.runs or variant.runs
                if _is_search(spec):
                    runs = options.runs or EXHAUSTIVE_CAP  # a cap on schedules; the search decides
                if options.max_runs:
                    runs = min(runs, options.max_runs)
                entry = Planned(case, variant, spec, seed, runs, options.shard)
                if len(entry.indices()):  # a shard may hold none of a small variant's trials
                    planned.append(entry)
    return planned


def header_facts(planned: list[Planned], options: RunOptions) -> dict[str, Any]:
    """What a report's header says about a run before it starts: the interpreter,
    the seed, the workers, and each mode's settings (as facts)."""
    from racekit.runtime.pool import default_workers

    each = {p.mode.name: modes.facts(p.mode) for p in planned}
    for name in options.modes:
        each.setdefault(name, modes.facts(ModeSpec(name, options.switch_interval)))  # type: ignore[arg-type]
    return {"python": interpreter_info(), "seed": planned[0].seed if planned else 0,
            "workers": min(options.workers or default_workers(), max(1, sum(p.runs for p in planned))),
            "modes": each}


def replay_schedule(case: Case, variant_name: str, schedule: str, params: dict[str, Any] | None = None,
                    instrument: tuple[str, ...] = ()) -> RunResult:
    """One controlled trial of a variant that follows ``schedule`` exactly
    (``instrument``: the modules the run that found it rewrote besides the case's own)."""
    from racekit.runtime.controlled.schedule import decode_schedule

    try:
        decode_schedule(schedule)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    options = RunOptions(modes=("controlled",), runs=1, seed=0, variants=(variant_name,), params=params or {},
                         replay_saved=False, workers=1, baseline=False, instrument=instrument)
    planned = plan([case], options)
    one = planned[0]
    jobs_plan: list[TrialPlan] = [Replay(0, one.seed, schedule)]
    result = run([case], options, planned=planned, plans={0: jobs_plan})
    why = result.variants[0].why if result.variants else None
    if why and why.get("kind") in ScheduleError.MISFITS:
        raise ScheduleError(why)
    return result


def record_tape(case: Case, variant_name: str, schedule: str | None, params: dict[str, Any] | None = None,
                then: str = "exact", seed: int = 0, pool: Pool | None = None, timeout: float | None = None) -> Trial:
    """One controlled trial with every operation kept (``Trial.tape``): the run
    ``racekit lecture`` walks and ``racekit play`` builds choice by choice.

    ``schedule`` is followed exactly (None: one seeded random interleaving);
    past its choices the run does ``then``: "exact" (there must be none),
    "pause" (stop at the first, the tape saying who could move there) or
    "go on" (no preemptions). ``pool`` may be kept across calls (play makes
    one call per choice)."""
    from racekit.runtime.controlled.schedule import decode_schedule

    if then not in ("exact", "pause", "go on"):
        raise ValueError(f"then: {then!r}")
    if schedule is not None:
        try:
            decode_schedule(schedule)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    options = RunOptions(modes=("controlled",), runs=1, seed=seed, variants=(variant_name,), params=params or {},
                         replay_saved=False, workers=1, baseline=False, timeout=timeout)
    one = plan([case], options)[0]
    if not _steerable(one.variant):
        raise UsageError(f"{one.variant.id}: racekit's scheduler steers threads only; this case is "
                         f"kind: {one.variant.kind}")
    own_pool = pool is None
    pool = pool if pool is not None else Pool(1)
    job = Job(pool.new_key(), one.variant, one.mode,
              PlanQueue([Tape(0, trial_seed(seed, one.variant.id, "tape", 0), schedule, then)]),
              *_worker_paths(options))
    try:
        pool.run([job], lambda _job, _trial: None)
    finally:
        if own_pool:
            pool.close()
    if job.failure:
        raise UsageError(f"{one.variant.id}: {job.failure}")
    trial = job.trials[0]
    if trial.why and trial.why.get("kind") in ScheduleError.MISFITS:
        raise ScheduleError(trial.why)
    return trial


def _worker_paths(options: RunOptions) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The folders whose code instrumented modes rewrite, and the import path
    workers get: what this process imports from (pytest's rootdir and
    `pythonpath` entries included), so case setup imports the same modules."""
    import sys

    roots = tuple(os.path.abspath(r) for r in (options.scope if options.scope is not None else (os.getcwd(),)))
    return roots, tuple(os.path.abspath(p) for p in sys.path if p)


def _steerable(variant: Variant) -> bool:
    """A case the controlled scheduler can run: threads, from a case file or a ``@race_test``."""
    return variant.kind in ("threads", "python")


def _is_search(spec: ModeSpec) -> bool:
    """A strategy that runs every schedule (one plan, the whole search) rather than one trial per seed."""
    return modes.of(spec.name).searches(spec)


def _plans(p: Planned, options: RunOptions, db: Database | None = None) -> PlanQueue:
    """The trials of one variant and mode: for an exhaustive search, one plan
    that is the whole search; else one per trial (made as they are taken),
    after any saved failures."""
    if _is_search(p.mode):
        # A search is one plan: a time budget stops it at its next schedule (as auto's search phase).
        return PlanQueue([Search(0, p.seed, cap=p.runs, stop_on_failure=options.stop_on_failure,
                                 time_cap=options.time_budget)])
    indices = p.indices()
    saved: list[str] = []
    if modes.of(p.mode.name).replays_saved and db is not None and p.shard is None:
        # Replayed first, and in addition to the runs asked for: a saved entry
        # may turn out stale (dropped), and must never stand in for a run.
        saved = db.load(p.variant)
    return PlanQueue([Replay(-1 - i, p.seed, s) for i, s in enumerate(saved)], indices,
                     lambda i: SeededTrial(i, trial_seed(p.seed, p.variant.id, p.mode.name, i)))


def _drop_stale(job: Job, variant: Variant, db: Database, saved: dict[int, str | None]) -> None:
    """A saved schedule that no longer fits the variant (other code, other params,
    an older racekit) is a stale cache entry, not a failure of the case: its
    trial is dropped, the entry forgotten, and the report says so."""
    stale = [t for t in job.trials if t.index < 0 and t.outcome == "error: the schedule does not fit this case"]
    for trial in stale:
        job.trials.remove(trial)
        schedule = saved.get(trial.index)
        if schedule:
            db.forget(variant, schedule)
        db.warnings.append(Note.of("db_stale", variant=variant.id, **{f"why.{k}": v for k, v in (trial.why or {}).items()}))


def _went_wrong(job: Job) -> bool:
    """A wrong outcome or an error in a trial that ran to its end (a deadlock at the
    timeout would only wait again in a serial run)."""
    return any(t.status in (Status.DONE, Status.ERROR) and not t.matches for t in job.trials)


def _baseline_jobs(planned: list[Planned], pool: Pool, roots: tuple[str, ...],
                   sys_path: tuple[str, ...]) -> dict[str, Job]:
    """One serial baseline per thread or process variant, whatever modes it runs
    under: each thread runs to its end (or until it blocks), in each order; each
    process is started only when the one before it has ended."""
    from racekit.runtime.controlled.strategies.serial import UNKNOWN_COUNT_ORDERS, serial_orders

    jobs: dict[str, Job] = {}
    for p in planned:
        v = p.variant
        if not (_steerable(v) or v.kind == "processes") or v.id in jobs:
            continue
        count = len(serial_orders(sum(t.count for t in v.threads))) if v.target is None else UNKNOWN_COUNT_ORDERS
        plans = PlanQueue(SerialBaseline(i, trial_seed(p.seed, v.id, "serial", i)) for i in range(count))
        # Processes run on real cores in any mode (controlled refuses them): their own mode, one after another.
        spec = ModeSpec("controlled", p.mode.switch_interval, "serial") if _steerable(v) else p.mode
        jobs[v.id] = Job(pool.new_key(), v, spec, plans, roots, sys_path)
    return jobs


def _check_names(cases: list[Case], options: RunOptions) -> None:
    known_variants = {v.name for c in cases for v in c.variants}
    for name in options.variants:
        if name not in known_variants:
            raise UsageError(f"no case has a variant named {name!r}; variants: {', '.join(sorted(known_variants))}"
                             f"{_hint(name, known_variants)}")
    known_params = {p for c in cases for v in c.variants for p in v.params}
    for name in options.params:
        if name not in known_params:
            listed = ", ".join(sorted(known_params)) or "none"
            raise UsageError(f"no case declares a param named {name!r} (params: {listed}){_hint(name, known_params)}")


def _hint(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _gather(phases: list[Phase], jobs: list[Job]) -> None:
    """Each phase's trials and search summary, from the job that ran it."""
    for phase, job in zip(phases, jobs):
        phase.trials, phase.search = job.trials, job.search


def _run_later_phases(planned: list[Planned], phases: dict[int, list[Phase]], phase_jobs: dict[int, list[Job]],
                      pool: Pool, on_trial: Any, by_key: dict[int, Planned], roots: tuple[str, ...],
                      sys_path: tuple[str, ...], options: RunOptions, deadline: float | None = None) -> None:
    """Mode auto: after each round, the phases still worth running (none once a
    variant has failed), all variants' together so that the workers stay busy."""
    while True:
        round_jobs = []
        for i, done in phases.items():
            _gather(done, phase_jobs[i])
            p = planned[i]
            later = next_phases(p.mode, p.runs, lambda engine, n, p=p: trial_seed(p.seed, p.variant.id, engine, n),
                                     done) if not any(j.failure or j.stop_reason for j in phase_jobs[i]) else []
            for phase in later:
                job = Job(pool.new_key(), p.variant, phase.mode, phase.plans, roots, sys_path)
                done.append(phase)
                phase_jobs[i].append(job)
                by_key[job.key] = p
                round_jobs.append(job)
        if not round_jobs:
            return
        pool.run(round_jobs, on_trial, stop_on_failure=options.stop_on_failure, deadline=deadline)


def run(cases: list[Case], options: RunOptions, progress: ProgressCallback | None = None,
        planned: list[Planned] | None = None, pool: Pool | None = None,
        plans: dict[int, list[TrialPlan]] | None = None) -> RunResult:
    """Run every selected variant under every mode. Ctrl-C ends the run early
    with ``interrupted=True`` and the trials gathered so far.

    A ``pool`` passed in (the pytest plugin keeps one per session) is left
    open; otherwise one is started and stopped here.
    """
    planned = planned if planned is not None else plan(cases, options)
    started = time.perf_counter()
    # A time budget: no trial starts after it (a search stops at its next schedule).
    deadline = time.monotonic() + options.time_budget if options.time_budget is not None else None
    roots, sys_path = _worker_paths(options)
    own_pool = pool is None
    pool = pool if pool is not None else Pool(options.workers)
    db = database.from_environment() if options.replay_saved and any(
        modes.of(p.mode.name).replays_saved for p in planned) else None
    # Each planned variant runs as one job, or (mode auto) as phases, one job each.
    phases: dict[int, list[Phase]] = {}
    jobs: list[Job] = []
    for i, p in enumerate(planned):
        if modes.of(p.mode.name).phased:
            saved_schedules = db.load(p.variant) if db is not None else []
            cap = min(options.runs or AUTO_SEARCH_CAP, options.max_runs or AUTO_SEARCH_CAP)
            phases[i] = [search_phase(p.mode, saved_schedules, p.seed, cap, options.time_budget)]
            jobs.append(Job(pool.new_key(), p.variant, phases[i][0].mode, phases[i][0].plans, roots, sys_path))
        else:
            jobs.append(Job(pool.new_key(), p.variant, p.mode, PlanQueue((plans or {})[i]) if (plans or {}).get(i)
                            else _plans(p, options, db), roots, sys_path))
    saved = {job.key: {plan.index: plan.schedule for plan in job.pending if isinstance(plan, Replay) and plan.index < 0}
             for job in jobs}
    by_key = {job.key: p for job, p in zip(jobs, planned)}
    digests: dict[tuple[str, ...], str] = {}  # the modules each variant runs, read once a run (sources.digest)
    phase_jobs: dict[int, list[Job]] = {i: [jobs[i]] for i in phases}
    baselines: dict[str, Job] = {}
    interrupted = False
    try:
        with interrupts.running():  # a signal now stops the trials; the results are kept
            def on_trial(job: Job, trial: Trial) -> None:
                if progress is not None and job.key in by_key:
                    progress(by_key[job.key], trial)

            # Timing cases measure speed: they run last, one trial at a time, with
            # no other trial competing for the cores.
            timed = [job for job in jobs if job.variant.kind == "timing"]
            pool.run([job for job in jobs if job not in timed], on_trial, stop_on_failure=options.stop_on_failure,
                     deadline=deadline)
            _run_later_phases(planned, phases, phase_jobs, pool, on_trial, by_key, roots, sys_path, options, deadline)
            if options.baseline:
                # Only variants that went wrong need to know whether they go wrong
                # without any concurrency too.
                failing = [p for i, p in enumerate(planned)
                           if any(_went_wrong(job) for job in phase_jobs.get(i, [jobs[i]]))]
                baselines = _baseline_jobs(failing, pool, roots, sys_path)
                pool.run(list(baselines.values()), on_trial)
            if timed:
                pool.run(timed, on_trial, stop_on_failure=options.stop_on_failure, max_workers=1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if own_pool:
            pool.close()
    results: dict[str, list] = {}
    for i, (job, p) in enumerate(zip(jobs, planned)):
        if db is not None:
            _drop_stale(job, p.variant, db, saved[job.key])
        own = phase_jobs.get(i, [job])
        trials = [t for j in own for t in j.trials]
        planned_runs = len(trials) if i in phases and not interrupted else len(p.indices())
        stop = next((j.stop_reason for j in own if j.stop_reason), None) or (
            StopReason.INTERRUPTED if interrupted and (len(trials) < planned_runs or i in phases) else None)
        facts = modes.facts(p.mode)
        if i in phases:
            _gather(phases[i], own)
            # The run's size as the user asked for it: auto's phases follow from it (a
            # user's --runs caps the search), so a reproduce line must repeat it, not the trials run.
            asked = {k: n for k, n in (("runs", options.runs), ("max_runs", options.max_runs)) if n is not None}
            facts = {**facts, "phases": phase_facts(phases[i]), "found_by": found_by(phases[i]), "asked": asked}
        result = grade(p.variant, p.mode, trials, p.seed, planned_runs, stop,
                       next((j.failure for j in own if j.failure), None), p.trial_range() if i not in phases
                       else (0, planned_runs), shard=p.shard, total_runs=p.runs if i not in phases else planned_runs,
                       search=own[0].search,
                       overrides={k: v for k, v in options.params.items() if k in p.variant.params},
                       baseline=baselines[p.variant.id].trials if p.variant.id in baselines else None,
                       mode_facts=facts)
        # merge refuses shards of other code: the case's own, and the modules it runs where known
        modules = sources.digest(p.variant, digests)
        result = replace(result, fingerprint=database.fingerprint(p.variant) + (f"+{modules}" if modules else ""))
        if options.instrument:  # a replay or reproduce line must rewrite the same modules
            result = replace(result, instrument=tuple(options.instrument))
        if p.variant.kind == "processes":
            result = replace(result, start_method=effective_start_method(p.variant))
        results.setdefault(p.case.name, []).append(result)
        if result.schedule and db is not None and result.verdict.value in ("race", "deadlock"):
            db.save(p.variant, result.schedule)
    case_results = tuple(
        CaseResult(c.name, c.path, c.title, c.description, c.notes, tuple(results[c.name]), c.i18n)
        for c in cases if c.name in results
    )
    seed = planned[0].seed if planned else (options.seed or 0)
    return RunResult(__version__, pool.interpreter or interpreter_info(), case_results, seed,
                     interrupted, time.perf_counter() - started, options.shard,
                     warnings=tuple(dict.fromkeys(db.warnings)) if db is not None else ())
