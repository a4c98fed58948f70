"""``racekit merge`` (racekit.analysis.merge): shards in, the unsharded result out.

The oracle is grading itself: shards are graded from disjoint slices of one
list of trials, merged, and compared with the grade of the whole list. Only
the verdict's inputs travel in the JSON, so a merged verdict that agrees is
recomputed, not copied from either shard.
"""

from __future__ import annotations

import json

import pytest

from racekit.analysis.grading import grade
from racekit.analysis.merge import merge_documents
from racekit.analysis.results import CaseResult, RunResult, Verdict
from racekit.errors import UsageError
from racekit.options import ModeSpec
from racekit.records import Note, Status, Trial
from racekit.report.json_report import results_document
from tests.unit.test_grading import variant

MODE = ModeSpec("controlled")
PYTHON = {"version": "3.11.7", "implementation": "CPython", "gil_enabled": True}


def trial(index: int, outcome: str, **fields) -> Trial:
    matches = outcome == "2"
    return Trial(index, index, Status.DONE, outcome, matches=matches, value=float(outcome), target=2.0,
                 lost=2 - int(outcome), **fields)


def shard_document(name: str, trials: list[Trial], k: int, n: int, total: int, **grading) -> dict:
    lo, hi = trials[0].index, trials[-1].index + 1
    result = grade(variant(name), MODE, trials, seed=5, planned=hi - lo, trial_range=(lo, hi), shard=(k, n),
                   total_runs=total, **grading)
    run = RunResult("0.1", PYTHON, (CaseResult("counter", "counter.yaml", "counter", "", "", (result,)),),
                    seed=5, shard=(k, n))
    return json.loads(json.dumps(results_document(run)))  # exactly what a file would hold


def variant_json(result: RunResult) -> dict:
    return json.loads(json.dumps(results_document(result)))["cases"][0]["variants"][0]


TRIALS = [trial(0, "2"), trial(1, "2"), trial(2, "2"), trial(3, "1"), trial(4, "0"), trial(5, "2")]


def test_a_race_only_one_shard_saw_makes_the_merged_verdict_a_race():
    clean = shard_document("racy", TRIALS[:3], 1, 2, total=6)
    found = shard_document("racy", TRIALS[3:], 2, 2, total=6)
    assert clean["cases"][0]["variants"][0]["verdict"] == Verdict.NO_RACE.value
    assert not clean["cases"][0]["variants"][0]["ok"]
    merged = variant_json(merge_documents([("a.json", clean), ("b.json", found)]))
    whole = variant_json(RunResult("0.1", PYTHON, (CaseResult("counter", "counter.yaml", "counter", "", "", (
        grade(variant("racy"), MODE, TRIALS, seed=5, planned=6),)),), seed=5))
    for key in ("verdict", "ok", "outcomes", "histogram", "runs", "wrong", "lost_updates", "trial_range", "seed"):
        assert merged[key] == whole[key], key
    assert merged["verdict"] == "race" and merged["ok"] is True
    assert merged["outcomes"] == {"2": 4, "1": 1, "0": 1}


def test_the_order_of_the_files_does_not_matter():
    parts = [("a.json", shard_document("racy", TRIALS[:2], 1, 3, 6)),
             ("b.json", shard_document("racy", TRIALS[2:4], 2, 3, 6)),
             ("c.json", shard_document("racy", TRIALS[4:], 3, 3, 6))]
    forward = variant_json(merge_documents(parts))
    backward = variant_json(merge_documents(parts[::-1]))
    for key in ("verdict", "histogram", "lost_updates", "trial_range", "runs"):
        assert forward[key] == backward[key], key
    assert forward["trial_range"] == [0, 6]


def test_a_safe_variant_stays_clean_only_if_every_shard_is():
    clean = [trial(i, "2") for i in range(4)]
    a, b = shard_document("safe", clean[:2], 1, 2, 4), shard_document("safe", clean[2:], 2, 2, 4)
    merged = variant_json(merge_documents([("a", a), ("b", b)]))
    assert (merged["verdict"], merged["ok"], merged["runs"]) == ("no race observed", True, 4)
    spoilt = shard_document("safe", [trial(2, "2"), trial(3, "1")], 2, 2, 4)
    merged = variant_json(merge_documents([("a", a), ("b", spoilt)]))
    assert (merged["verdict"], merged["ok"]) == ("race", False)


def test_a_reversed_race_in_one_shard_counts_in_the_merge():
    plain = shard_document("racy", [trial(0, "2"), trial(1, "2")], 1, 2, 4)
    witnessed = shard_document("racy", [trial(2, "2", witness="w1"), trial(3, "2")], 2, 2, 4)
    merged = variant_json(merge_documents([("a", plain), ("b", witnessed)]))
    assert (merged["verdict"], merged["witnesses"]) == ("race", 1)


def test_a_deadlock_anywhere_outranks_the_other_shards():
    found = shard_document("racy", TRIALS[:3], 1, 2, 4)
    stuck = shard_document("racy", [Trial(3, 3, Status.DEADLOCK, "deadlock")], 2, 2, 4)
    merged = variant_json(merge_documents([("a", found), ("b", stuck)]))
    assert merged["verdict"] == "deadlock"


def test_values_never_observed_are_those_no_shard_observed():
    one = shard_document("values", [Trial(0, 0, Status.DONE, "1", matches=True, matched=0)], 1, 2, 2)
    two = shard_document("values", [Trial(1, 1, Status.DONE, "1", matches=True, matched=0)], 2, 2, 2)
    assert variant_json(merge_documents([("a", one), ("b", two)]))["never_observed"] == ["2"]
    both = shard_document("values", [Trial(1, 1, Status.DONE, "2", matches=True, matched=1)], 2, 2, 2)
    assert variant_json(merge_documents([("a", one), ("b", both)]))["never_observed"] == []


def test_notes_are_kept_once_as_facts():
    note = Note.of("tracer_displaced", tracer="coverage")
    a = shard_document("racy", [trial(0, "2", warnings=[note])], 1, 2, 2)
    b = shard_document("racy", [trial(1, "1", warnings=[note])], 2, 2, 2)
    merged = merge_documents([("a", a), ("b", b)])
    assert merged.variants[0].warnings == (note,)


def test_an_older_document_keeps_its_words():
    a = shard_document("racy", [trial(0, "2")], 1, 2, 2)
    b = shard_document("racy", [trial(1, "1")], 2, 2, 2)
    del b["cases"][0]["variants"][0]["notes"]
    b["cases"][0]["variants"][0]["warnings"] = ["an old warning"]
    merged = merge_documents([("a", a), ("b", b)])
    assert merged.variants[0].warnings == (Note.of("text", text="an old warning"),)


@pytest.mark.parametrize("spoil, message", [
    (lambda d: d["python"].update(version="3.12.1"), "different interpreters"),
    (lambda d: d["cases"][0]["variants"][0].update(seed=6), "different seeds"),
    (lambda d: d.update(shard="2/3"), "not the shards of one split run"),
    # A line of the case edited between shard 1 and shard 2: another program.
    (lambda d: d["cases"][0]["variants"][0].update(fingerprint="racy-0000"), "ran different programs"),
    # Another --runs: trials the other shard's plan held never ran.
    (lambda d: d["cases"][0]["variants"][0].update(total_runs=40), "planned different numbers of runs"),
])
def test_files_of_different_runs_are_refused(spoil, message):
    a = shard_document("racy", TRIALS[:3], 1, 2, 6)
    b = shard_document("racy", TRIALS[3:], 2, 2, 6)
    for doc in (a, b):
        doc["cases"][0]["variants"][0]["fingerprint"] = "racy-1234"  # as the engine sets it
    merge_documents([("a", a), ("b", b)])  # unspoilt: they merge
    spoil(b)
    with pytest.raises(UsageError, match=message):
        merge_documents([("a", a), ("b", b)])


def test_overlapping_ranges_are_refused_with_both_files_named():
    a = shard_document("racy", TRIALS[:4], 1, 2, 6)
    b = shard_document("racy", TRIALS[3:], 2, 2, 6)
    with pytest.raises(UsageError, match=r"a\.json \(trials 0-3\) and b\.json \(trials 3-5\) overlap"):
        merge_documents([("a.json", a), ("b.json", b)])


@pytest.mark.parametrize("text, said", [
    ('{"racekit": NaN}', "NaN is not a JSON number"),
    ('{"a": -Infinity}', "-Infinity is not a JSON number"),
    ("[" * 1000 + "]" * 1000, "line 1 column 65: nested more than 64 deep"),
    ('{"a": "[[[[' + "[" * 100 + '"}', None),  # brackets inside a string are text
])
def test_a_results_file_is_json_racekit_writes_or_refused_with_its_place(text, said):
    from racekit.analysis.merge import read_results

    if said is None:
        assert read_results(text)["a"].startswith("[[[[")
        return
    with pytest.raises(ValueError, match=said):
        read_results(text)
