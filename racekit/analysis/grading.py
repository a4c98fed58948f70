"""Trials in, a graded :class:`VariantResult` out.

The verdict order matters: a deadlock outranks everything (the run could not
even finish); then a failure of the case itself (its setup or outcome raised,
a worker crashed, or a thread raised an error no interleaving can cause, like a
NameError: a typo must not pass as a race); then any wrong outcome is a race.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import replace
from collections.abc import Iterable

from racekit.analysis.accesses import lock_cycles
from racekit.analysis.results import Grade, LostUpdates, Row, Verdict, VariantResult
from racekit.case.model import Variant
from racekit.options import ModeSpec
from racekit.records import Status, Trial, outcome_repr

MAX_SAMPLES = 3


def grade_trial(trial: Trial) -> Grade:
    if trial.status is Status.INCONCLUSIVE:
        return Grade.INCONCLUSIVE
    if trial.status is Status.DEADLOCK:
        return Grade.LIVELOCK if trial.outcome == "livelock" else Grade.DEADLOCK
    if trial.status is Status.CRASH:
        return Grade.CRASH
    if trial.status is Status.ERROR or trial.case_bug:
        return Grade.ERROR
    return Grade.EXPECTED if trial.matches else Grade.WRONG


def verdict_from_grades(grades: Iterable[Grade], failure: str | None = None, witnesses: int = 0) -> Verdict:
    """The verdict from the histogram's grades (and the count of runs whose data
    race racekit reversed into a wrong end), so merged shards agree with one run.

    A data race alone is no verdict: CPython has no undefined behaviour for
    unordered accesses, so a race is called one only where a run showed harm."""
    present = set(grades)
    if failure:
        return Verdict.ERROR
    if Grade.DEADLOCK in present or Grade.LIVELOCK in present:
        return Verdict.DEADLOCK
    if Grade.ERROR in present or Grade.CRASH in present:
        return Verdict.ERROR
    if Grade.WRONG in present or witnesses:
        return Verdict.RACE
    if present and present <= {Grade.INCONCLUSIVE}:
        return Verdict.INCONCLUSIVE
    return Verdict.NO_RACE


def meets_expectation(verdict: Verdict, racy: bool, runs: int) -> bool:
    """``racy`` variants must show a failure; the others must show none (an
    inconclusive run shows neither)."""
    if runs == 0 or verdict is Verdict.INCONCLUSIVE:
        return False
    if racy:
        return verdict in (Verdict.RACE, Verdict.DEADLOCK)
    return verdict is Verdict.NO_RACE


def lost_update_bound(variant: Variant, trials: list[Trial]) -> LostUpdates | None:
    """|observed - expected| per run: each lost ``+= 1`` moves the result by one,
    but lost updates in opposite directions cancel, so this is a lower bound."""
    declared = variant.expect.numeric_targets()
    deviations = []
    for t in trials:
        targets = declared or ([t.target] if t.target is not None else [])
        if t.status is Status.DONE and t.value is not None and targets:
            deviations.append(min(abs(t.value - e) for e in targets))
    if not deviations:
        return None
    return lost_updates_from(Counter(deviations))


def exact_lost_updates(trials: list[Trial]) -> LostUpdates | None:
    """From access logs (yield and controlled modes): counted, not bounded."""
    done = [t for t in trials if t.status is Status.DONE]
    if not done or any(t.lost is None for t in done):
        return None
    if _uncounted(done):
        return None
    when_wrong = [float(t.lost) for t in done if not t.matches]  # type: ignore[arg-type]
    where = tuple(sorted({w for t in done if not t.matches for w in t.lost_at}))
    return replace(lost_updates_from(Counter(float(t.lost) for t in done)), exact=True,  # type: ignore[arg-type]
                   max_when_wrong=max(when_wrong, default=0.0), where=where,
                   median_when_wrong=statistics.median(when_wrong) if when_wrong else None,
                   right_with_loss=sum(1 for t in done if t.matches and t.lost))


def _uncounted(done: list[Trial]) -> bool:
    """A run ended with a wrong number although its access log counted no lost
    update: what changed the number was not an update racekit counts (a read and
    a write computed from it in one statement, ``x += 1``), such as a value read
    in one call and written back in another. No count can then be claimed, and
    the deviation is no bound on lost updates either (an overdraft is none)."""
    return any(not t.matches and not t.lost and t.lost is not None and t.value is not None for t in done)


def lost_updates_figure(variant: Variant, trials: list[Trial]) -> LostUpdates | None:
    """Counted from the access logs where they can be, else bounded by the deviation; None when neither holds."""
    counted = exact_lost_updates(trials)
    if counted is not None:
        return counted
    if _uncounted([t for t in trials if t.status is Status.DONE]):
        return None
    return lost_update_bound(variant, trials)


def lost_updates_from(counts: Counter[float]) -> LostUpdates:
    """Statistics of per-run lost updates from their histogram (runs per value)."""
    deviations = sorted(counts.elements())
    return LostUpdates(
        exact=False,
        min=min(deviations),
        median=statistics.median(deviations),
        max=max(deviations),
        total=sum(deviations),
        runs_with_loss=sum(1 for d in deviations if d),
        median_of_wrong=statistics.median([d for d in deviations if d] or [0]),
        histogram=tuple(sorted(counts.items())),
    )


def grade(variant: Variant, mode: ModeSpec, trials: list[Trial], seed: int, planned: int,
          stop_reason: str | None = None, failure: str | None = None,
          trial_range: tuple[int, int] | None = None, shard: tuple[int, int] | None = None,
          total_runs: int | None = None, search: dict | None = None,
          overrides: dict | None = None, baseline: list[Trial] | None = None,
          mode_facts: dict | None = None) -> VariantResult:
    trials = sorted(trials, key=lambda t: t.index)
    counts: Counter[tuple[str, Grade]] = Counter((t.outcome, grade_trial(t)) for t in trials)
    rows = sort_rows(Row(outcome, n, g) for (outcome, g), n in counts.items())
    raced = [t for t in trials if t.race]
    witnessed = [t for t in trials if t.witness]
    verdict = verdict_from_grades((r.grade for r in rows), failure, len(witnessed))
    fault = next((t.why for t in trials if t.why and t.why.get("kind") == "racekit_fault"), None)
    serial_failure = _serial_failure(baseline or [], trials, variant.kind == "processes") if fault is None else None
    if fault is not None:
        verdict = Verdict.ERROR  # racekit failed: nothing is known about the program
    if serial_failure is not None and verdict is not Verdict.ERROR:
        verdict = Verdict.ERROR  # wrong with no concurrency at all: not a race
    unseen = tuple(dict.fromkeys(u for t in trials for u in t.unseen))
    observed = [t for t in trials if t.shared_ops is not None]
    if verdict is Verdict.NO_RACE and not trials:
        # Nothing ran (an interrupted run, every trial a stale saved schedule):
        # nothing was observed, so "no race observed" would claim a coverage of zero.
        verdict = Verdict.INCONCLUSIVE
    if verdict is Verdict.NO_RACE and any(t.outcome == "inconclusive: blocked outside the scheduler" for t in trials):
        # Schedules through that code cannot be explored: the clean runs prove little.
        verdict = Verdict.INCONCLUSIVE
    if verdict is Verdict.NO_RACE and trials and all(any(w.code == "unforced" for w in t.warnings) for t in trials):
        # A forcing mode that forced nothing (the threads ran only code outside its
        # scope): the clean runs are native runs, and say little.
        verdict = Verdict.INCONCLUSIVE
    threads = sum(t.count for t in variant.threads) or 1
    if verdict is Verdict.NO_RACE and observed and unseen and all((t.shared_ops or 0) <= threads for t in observed):
        # Nothing seen is not clean: the threads ran code racekit does not
        # rewrite, and made no more shared accesses it could see than one each
        # (handing a result back, say).
        verdict = Verdict.INCONCLUSIVE
    stories = [t for t in trials if t.trace is not None or t.story is not None]
    # A run that went wrong by itself explains best; then a reversed race's witness.
    explained = next((t for t in stories if not t.matches), None) or next(
        (t for t in stories if t.witness), stories[0] if stories else None)
    lock_pairs = {tuple(pair) for t in trials for pair in t.lock_pairs}
    matched = {t.matched for t in trials if t.matched is not None}
    never = tuple(outcome_repr(v) for i, v in enumerate(variant.expect.values)
                  if i not in matched) if variant.expect.kind != "check" else ()
    samples = _samples(trials, failure)
    outcome = variant.outcome
    if outcome is None or isinstance(outcome, dict):
        outcome_text = "the outcome"
    else:
        outcome_text = outcome.text.strip()
    expect_text = variant.expect.describe()
    targets = {t.target for t in trials if t.target is not None}
    if len(targets) == 1:  # `check: outcome == 2 * iterations` reads better as "= 2000"
        expect_text = f"= {_plain_number(targets.pop())}"
    return VariantResult(
        case=variant.case,
        name=variant.name,
        file=variant.path,
        mode=mode.name,
        mode_facts=mode_facts or {"name": mode.name, "switch_interval": mode.switch_interval},
        switch_interval=mode.switch_interval,
        runs=len(trials),
        planned_runs=planned,
        rows=rows,
        expected=variant.expect.to_json(),
        expect_text=expect_text,
        outcome_text=outcome_text,
        wrong=sum(1 for t in trials if grade_trial(t) not in (Grade.EXPECTED, Grade.INCONCLUSIVE)),
        lost_updates=lost_updates_figure(variant, trials),
        verdict=verdict,
        racy=variant.racy,
        ok=meets_expectation(verdict, variant.racy, len(trials)) and serial_failure is None and fault is None,
        seed=seed,
        never_observed=never if trials else (),
        stop_reason=stop_reason,
        samples=samples,
        title=variant.title,
        duration=sum(t.duration for t in trials),
        timeout=variant.timeout,
        reason=_reason(verdict, trials, failure, serial_failure, fault),
        racekit_failure=_failure_facts(fault, trials),
        trial_range=trial_range or (0, planned),
        shard=shard,
        total_runs=total_runs or planned,
        warnings=tuple(dict.fromkeys(w for t in trials for w in t.warnings)),
        # The contract: the schedule of the first *failing* run (a race that
        # did no harm is explained, but it is no failure to replay or save).
        schedule=explained.schedule if explained and _failed(explained) else None,
        trace=tuple(explained.trace or ()) if explained else (),
        story=explained.story if explained else None,
        schedule_preemptions=explained.preemptions if explained else None,
        shrunk_from=explained.shrunk_from if explained else None,
        data_races=len(raced),
        logged_runs=sum(1 for t in trials if t.lost is not None),
        race_example=raced[0].race if raced else None,
        why=next((t.why for t in trials if t.why and grade_trial(t) is not Grade.EXPECTED), None),
        lock_cycles=tuple(tuple(c) for c in lock_cycles(lock_pairs)),
        search=search,
        timing=_median_timing(trials),
        param_overrides=dict(overrides or {}),
        workers=variant.workers if variant.kind == "timing" else None,
        witnesses=len(witnessed),
        witness_outcome=witnessed[0].witness_outcome if witnessed else None,
        harmless_races=sum(1 for t in trials if t.race_harmless),
        serial_failure=serial_failure,
        type_hint=_type_hint(variant, trials),
        unseen=unseen,
        unscheduled=tuple(dict.fromkeys(u for t in trials for u in t.unscheduled)),
        inconclusive=sum(1 for t in trials if t.status is Status.INCONCLUSIVE),
        printed=next((t.output for t in trials if t.output.strip()), ""),
    )


def _median_timing(trials: list[Trial]) -> dict[str, dict[str, float]] | None:
    """kind timing: the median seconds of each work, run each way."""
    measured = [t.timing for t in trials if t.timing]
    if not measured:
        return None
    return {work: {how: statistics.median(m[work][how] for m in measured) for how in measured[0][work]}
            for work in measured[0]}


def _failed(trial: Trial) -> bool:
    return bool(trial.witness) or grade_trial(trial) not in (Grade.EXPECTED, Grade.INCONCLUSIVE)


def _serial_failure(baseline: list[Trial], trials: list[Trial], processes: bool = False) -> dict | None:
    """The serial baseline (each thread run to its end, in each order) went wrong
    in every order, and the real runs show the same outcome: that failure needs no
    concurrency.

    The second condition keeps the baseline from judging by itself: a serial run
    is a controlled run, and only what the variant's own runs also show (or a
    variant with no run at all) is blamed on the case."""
    seen = {_kind_of(t.outcome) for t in trials}
    if processes and (len(seen) != 1 or not next(iter(seen)).startswith("error")):
        # A process alone may still run work concurrently (its own Pool's tasks
        # racing on a Value): only an exception every run raises alike, alone
        # too, needs no concurrency.
        return None
    if any(t.serial_order is not None and grade_trial(t) is Grade.EXPECTED for t in baseline):
        # Right in one order, wrong in another (a notify before the wait): the
        # outcome depends on which thread goes first, a race between them.
        return None
    if any(grade_trial(t) is Grade.EXPECTED or (t.story or {}).get("cause") == "shown" for t in trials):
        # Wrong in every serial order, right when the threads interleave (both
        # halves written before either is read, what a barrier would force; or
        # the wrong run with one pair reversed ended right): the outcome depends
        # on the interleaving, so that is a race too.
        return None
    for t in sorted(baseline, key=lambda t: t.index):
        if t.serial_order is None or grade_trial(t) in (Grade.EXPECTED, Grade.INCONCLUSIVE):
            continue  # not a serial run after all (a thread had to wait for another), or right
        if t.unseen and len(t.serial_order or ()) > 1:
            # Code racekit does not see ran: what a thread did before its first
            # visible step (a library iterating a dict) ran before any decision,
            # so "one after another" is not known, and no bug is blamed on the
            # case. (With one thread there is no other to come before it.)
            continue
        if trials and _kind_of(t.outcome) not in seen:
            continue
        return {"order": list(t.serial_order or []), "outcome": t.outcome,
                "detail": (t.errors[0] if t.errors else t.detail) or ""}
    return None


def _kind_of(outcome: str) -> str:
    """An outcome, or for an error only its type: the same exception may word its
    message differently under the controlled scheduler (a deeper stack, say)."""
    if outcome.startswith("error"):
        head = outcome.split(": ", 2)
        return ": ".join(head[:2])
    return outcome


def _type_hint(variant: Variant, trials: list[Trial]) -> dict[str, str] | None:
    """``expect: "1"`` against an outcome ``1``: equal as text, not as values."""
    if variant.expect.kind == "check" or any(t.matches for t in trials):
        return None
    outcomes = {t.outcome for t in trials if t.status is Status.DONE}
    for expected in variant.expect.values:
        for outcome in outcomes:
            if outcome != repr(expected) and outcome in (str(expected), repr(str(expected))):
                return {"expected": repr(expected), "expected_type": type(expected).__name__, "outcome": outcome}
    return None


def _reason(verdict: Verdict, trials: list[Trial], failure: str | None, serial: dict | None = None,
            fault: dict | None = None) -> str | None:
    """One line saying why a variant is an error: racekit's own failure, then the case's."""
    if verdict is not Verdict.ERROR:
        return None
    if fault is not None:
        return f"racekit failed: {fault.get('error', '?')}"
    if failure:
        return failure.splitlines()[0]
    for t in trials:  # a NameError says more than "wrong even serially"
        if grade_trial(t) in (Grade.ERROR, Grade.CRASH):
            return t.outcome
    if serial is not None:
        return f"wrong even when the threads run one after another ({', '.join(serial['order'])}): {serial['outcome']}"
    return None


def _failure_facts(fault: dict | None, trials: list[Trial]) -> dict | None:
    """racekit's own failure, as the report shows it and a bug report needs it."""
    if fault is None:
        return None
    trial = next(t for t in trials if t.why is fault)
    return {"error": fault.get("error", "?"), "where": fault.get("where", "?"), "during": fault.get("during", ""),
            "traceback": trial.detail, "runs": sum(1 for t in trials if t.why and t.why.get("kind") == "racekit_fault")}


def _plain_number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def sort_rows(rows: Iterable[Row]) -> tuple[Row, ...]:
    """Expected outcomes first, then the most frequent; ties by value."""
    return tuple(sorted(rows, key=lambda r: (r.grade is not Grade.EXPECTED, -r.count, *_natural(r.outcome))))


def _natural(outcome: str) -> tuple[float, str]:
    """Ties sort by value where outcomes are numbers, else by text."""
    try:
        return float(outcome), outcome
    except ValueError:
        return float("inf"), outcome


def _samples(trials: list[Trial], failure: str | None) -> tuple[str, ...]:
    """A few texts that explain failures: one per distinct first line."""
    found: dict[str, str] = {}
    if failure:
        found[failure] = failure
    for t in trials:
        printed = f"\nit printed (last lines):\n{t.output.rstrip()}" if t.output.strip() and not t.matches else ""
        for text in ([t.detail] if t.detail else []) + t.errors:
            key = text.strip().splitlines()[-1] if text.strip() else ""
            if key not in found and len(found) < MAX_SAMPLES:
                found[key] = text + printed
    return tuple(found.values())
