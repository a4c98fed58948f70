"""Shard results in, one result out: ``racekit merge a.json b.json …``.

Shards of one run (``racekit run --shard K/N`` with the same seed) cover
disjoint trial ranges of every variant, so their histograms add up to the
unsharded run's, and everything else is recomputed from the sums: the verdict
from the grades, the lost-update statistics from their histogram.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from typing import Any

from racekit.analysis.grading import lost_updates_from, meets_expectation, sort_rows, verdict_from_grades
from racekit.analysis import results_schema
from racekit.analysis.results import Verdict, CaseResult, Grade, LostUpdates, Row, RunResult, VariantResult
from racekit.errors import UsageError
from racekit.records import Note

MAX_SAMPLES = 3


MAX_DEPTH = 64  # a results file nests about 8 deep; far deeper is no racekit file (and would exhaust the stack)


def read_results(text: str) -> Any:
    """A results file's JSON; ValueError, placed (line:col), for what is not JSON
    racekit writes: invalid JSON, NaN or Infinity (no JSON number), nesting past
    MAX_DEPTH (checked before parsing, which would recurse that deep)."""
    depth, in_string, escaped, line, column = 0, False, False, 1, 0
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"line {line} column {column}: nested more than {MAX_DEPTH} deep; not a racekit "
                                 "results file")
        elif char in "]}":
            depth -= 1

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number (racekit never writes it)")

    try:
        return json.loads(text, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from None


def merge_documents(documents: list[tuple[str, Any]]) -> RunResult:
    """Merge ``(name, parsed JSON)`` pairs; raises UsageError naming the offending file."""
    if not documents:
        raise UsageError("nothing to merge: give at least one results file")
    for name, doc in documents:
        _check_document(name, doc)
    pythons = {(d["python"]["version"], d["python"].get("gil_enabled")) for _, d in documents}
    if len(pythons) > 1:
        shown = ", ".join(sorted(f"{v}{'' if gil else ' (free-threaded)'}" for v, gil in pythons))
        raise UsageError(f"these results come from different interpreters ({shown}); race behaviour differs "
                         "between versions, so merge the shards of one interpreter at a time")
    _check_shards(documents)
    groups: dict[tuple, list[tuple[str, dict, dict]]] = {}
    case_order: dict[tuple[str, str], dict] = {}
    for name, doc in documents:
        for case in doc["cases"]:
            case_order.setdefault((case["name"], case["file"]), case)
            for variant in case["variants"]:
                key = (case["name"], case["file"], variant["name"], variant["mode"])
                groups.setdefault(key, []).append((name, case, variant))
    cases = []
    for (case_name, file), case in case_order.items():
        variants = tuple(_merge_variant(case_name, file, parts)
                         for key, parts in groups.items() if key[:2] == (case_name, file))
        cases.append(CaseResult(case_name, file, case.get("title", case_name), case.get("description", ""),
                                case.get("notes", ""), variants, case.get("translations", {})))
    first = documents[0][1]
    return RunResult(
        version=first["racekit"],
        python=first["python"],
        cases=tuple(cases),
        seed=first.get("seed", 0),
        interrupted=any(d.get("interrupted") for _, d in documents),
        duration=max(d.get("duration", 0.0) for _, d in documents),
        warnings=tuple(dict.fromkeys(n for _, d in documents for n in _notes(d))),
    )


def _notes(part: dict[str, Any]) -> list[Note]:
    """A part's notes as facts; a document written before notes had codes keeps
    its words (``warnings``) as they were."""
    if "notes" in part:
        return [Note.from_json(n) for n in part["notes"]]
    return [Note.of("text", text=w) for w in part.get("warnings", [])]


def _check_shards(documents: list[tuple[str, Any]]) -> None:
    """Shards of a split run must all be there, or the merge is silently partial."""
    shards = [(name, doc.get("shard")) for name, doc in documents if doc.get("shard")]
    if not shards:
        return
    totals = {str(s).split("/")[1] for _, s in shards}
    if len(totals) > 1 or len(shards) != len(documents):
        listed = ", ".join(f"{name} ({s or 'not a shard'})" for name, s in
                           ((n, d.get("shard")) for n, d in documents))
        raise UsageError(f"these files are not the shards of one split run: {listed}")
    total = int(totals.pop())
    present = {int(str(s).split("/")[0]) for _, s in shards}
    missing = sorted(set(range(1, total + 1)) - present)
    if missing:
        raise UsageError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(f'{k}/{total}' for k in missing)} "
                         f"missing: give all {total} shards (the merged result would count only some trials)")


def _check_document(name: str, doc: Any) -> None:
    if not isinstance(doc, dict) or "cases" not in doc or "python" not in doc or "racekit" not in doc:
        raise UsageError(f"{name}: not a racekit results file (expected the JSON of `racekit run --format json`)")
    for case in doc["cases"] if isinstance(doc["cases"], list) else []:
        for variant in case.get("variants", []) if isinstance(case, dict) else []:
            if isinstance(variant, dict) and ("histogram" not in variant or "trial_range" not in variant):
                raise UsageError(f"{name}: {case.get('name')}[{variant.get('name')}] has no histogram/trial_range; "
                                 "it was written by an older racekit, which cannot be merged")
    found = results_schema.problems(doc)
    if found:
        raise UsageError("\n".join(f"{name}: {problem}" for problem in found[:10]) +
                         ("\n…" if len(found) > 10 else "") +
                         "\n(see `racekit schema --results` for what a results file holds)")
    for case in doc["cases"]:
        for variant in case.get("variants", []):
            if "histogram" not in variant or "trial_range" not in variant:
                raise UsageError(f"{name}: {case.get('name')}[{variant.get('name')}] has no histogram/trial_range; "
                                 "it was written by an older racekit, which cannot be merged")


def _merged_lost_updates(losses: Counter[float], parts: list[tuple[str, dict, dict]]) -> LostUpdates | None:
    """The statistics of the summed histogram; counted (``exact``) only if every
    shard's were, since one shard's lower bound makes the sum a bound too."""
    if not losses:
        return None
    exact = all((v.get("lost_updates") or {}).get("exact", False) for _, _, v in parts if v.get("lost_updates"))
    where = tuple(sorted({w for _, _, v in parts for w in (v.get("lost_updates") or {}).get("where", [])}))
    return replace(lost_updates_from(losses), exact=exact, where=where)


def _merge_variant(case_name: str, file: str, parts: list[tuple[str, dict, dict]]) -> VariantResult:
    label = f"{case_name}[{parts[0][2]['name']}] ({parts[0][2]['mode']})"
    seeds = {v["seed"] for _, _, v in parts}
    if len(seeds) > 1:
        raise UsageError(f"{label}: the files come from runs with different seeds ({', '.join(map(str, sorted(seeds)))}); "
                         "shards of one run share its --seed")
    prints = {v.get("fingerprint") for _, _, v in parts if v.get("fingerprint")}
    if len(prints) > 1:
        raise UsageError(f"{label}: the files ran different programs (the case's code, a module it runs or its params changed between "
                         "shards); merge the shards of one run of one version of the case")
    totals = {v["total_runs"] for _, _, v in parts if v.get("total_runs")}
    if len(totals) > 1:
        raise UsageError(f"{label}: the files planned different numbers of runs ({', '.join(map(str, sorted(totals)))}); "
                         "shards of one run share its --runs")
    ranges = sorted((tuple(v["trial_range"]), name) for name, _, v in parts)
    for (a, name_a), (b, name_b) in zip(ranges, ranges[1:]):
        if b[0] < a[1]:
            raise UsageError(f"{label}: {name_a} (trials {a[0]}-{a[1] - 1}) and {name_b} (trials {b[0]}-{b[1] - 1}) "
                             "overlap; merge each shard once")
    counts: Counter[tuple[str, Grade]] = Counter()
    losses: Counter[float] = Counter()
    samples: list[str] = []
    never: set[str] | None = None
    stops = []
    for _name, _case, v in parts:
        for row in v["histogram"]:
            counts[(row["outcome"], Grade(row["grade"]))] += row["count"]
        for value, n in (v.get("lost_update_histogram") or {}).items():
            losses[float(value)] += n
        samples += [s for s in v.get("samples", []) if s not in samples]
        never = set(v.get("never_observed", [])) if never is None else never & set(v.get("never_observed", []))
        if v.get("stopped"):
            stops.append(v["stopped"])
    rows = sort_rows(Row(o, n, g) for (o, g), n in counts.items())
    first = parts[0][2]
    runs = sum(v["runs"] for _, _, v in parts)
    races = sum(v.get("data_races", 0) for _, _, v in parts)
    witnesses = sum(v.get("witnesses", 0) for _, _, v in parts)
    verdict = verdict_from_grades((r.grade for r in rows), None, witnesses)
    fault = next((v["racekit_failure"] for _, _, v in parts if isinstance(v.get("racekit_failure"), dict)), None)
    if fault is not None:
        verdict = Verdict.ERROR
    return VariantResult(
        case=case_name, name=first["name"], file=file, mode=first["mode"],
        mode_facts=first.get("mode_facts") or {"name": first["mode"]}, switch_interval=first.get("switch_interval"),
        runs=runs, planned_runs=sum(v.get("planned_runs", v["runs"]) for _, _, v in parts),
        rows=rows, expected=first["expected"], expect_text=first.get("expect_text", repr(first["expected"])),
        outcome_text=first.get("outcome_text", "the outcome"),
        wrong=sum(r.count for r in rows if r.grade is not Grade.EXPECTED),
        lost_updates=_merged_lost_updates(losses, parts),
        verdict=verdict, racy=first["racy"], ok=meets_expectation(verdict, first["racy"], runs) and fault is None,
        racekit_failure=fault,
        seed=first["seed"], never_observed=tuple(sorted(never or ())),
        stop_reason="; ".join(dict.fromkeys(stops)) or None,
        schedule=next((v.get("schedule") for _, _, v in parts if v.get("schedule")), None),
        samples=tuple(samples[:MAX_SAMPLES]), title=first.get("title", ""),
        duration=sum(v.get("duration", 0.0) for _, _, v in parts), timeout=first.get("timeout", 0.0),
        reason=next((v.get("reason") for _, _, v in parts if v.get("reason")), None),
        trial_range=(ranges[0][0][0], ranges[-1][0][1]),
        total_runs=first.get("total_runs", runs),
        warnings=tuple(dict.fromkeys(n for _, _, v in parts for n in _notes(v))),
        data_races=races,
        logged_runs=None if any(v.get("logged_runs") is None for _, _, v in parts) else
        sum(v["logged_runs"] for _, _, v in parts),
        race_example=next((v["race_example"] for _, _, v in parts if isinstance(v.get("race_example"), dict)), None),
        why=next((v.get("why") for _, _, v in parts if v.get("why")), None),
        trace=tuple(next((v.get("trace") for _, _, v in parts if v.get("trace")), None) or ()),
        story=next((v.get("story") for _, _, v in parts if v.get("story")), None),
        schedule_preemptions=next((v.get("schedule_preemptions") for _, _, v in parts if v.get("schedule")), None),
        lock_cycles=tuple(dict.fromkeys(tuple(c) for _, _, v in parts for c in v.get("lock_cycles", []))),
        start_method=first.get("start_method"),
        witnesses=witnesses,
        witness_outcome=next((v.get("witness_outcome") for _, _, v in parts if v.get("witness_outcome")), None),
        harmless_races=sum(v.get("harmless_races", 0) for _, _, v in parts),
        inconclusive=sum(v.get("inconclusive", 0) for _, _, v in parts),
        unseen=tuple(dict.fromkeys(u for _, _, v in parts for u in v.get("unseen", []))),
        unscheduled=tuple(dict.fromkeys(u for _, _, v in parts for u in v.get("unscheduled", []))),
    )
