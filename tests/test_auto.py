"""Mode auto, the default for thread cases: the controlled search first, then
real threads, one verdict.

The held-out cases (tests/cases/auto/heldout.yaml) were written from the
README alone: an oversold stock through a dict, a three-thread lazy init, a
flag raised before its data, and a correct twin of each. The search is
deterministic, so a racy variant is found on every run and every seed, and
its failure replays; a safe one says what was covered.
"""

from __future__ import annotations

import json

import pytest

from conftest import TEST_CASES, racekit
from racekit.auto import REAL_THREADS, SAMPLE, SEARCH, Phase, failed, next_phases, search_phase
from racekit.options import ModeSpec
from racekit.records import Status, Trial

HELDOUT = str(TEST_CASES / "auto" / "heldout.yaml")
OFF = {"RACEKIT_DATABASE": "off"}  # no saved failure helps: every run finds its own


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_default_mode_finds_every_race_and_clears_every_twin_on_any_seed(seed):
    proc = racekit("run", HELDOUT, "--seed", str(seed), "-f", "json", env=OFF)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    variants = {v["name"]: v for v in json.loads(proc.stdout)["cases"][0]["variants"]}
    for name, v in variants.items():
        assert v["mode"] == "auto" and v["ok"], name
        facts = v["mode_facts"]
        if v["racy"]:
            # Found by the search, with a schedule to replay; no real-thread runs were needed.
            assert facts["found_by"] == "search" and v["schedule"], name
            assert [p["phase"] for p in facts["phases"]] == [SEARCH], name
        else:
            search, real = facts["phases"][0], facts["phases"][-1]
            assert search["complete"] and search["failed"] == 0, name
            assert real["phase"] == REAL_THREADS and real["runs"] == 50 and real["failed"] == 0, name
            assert v["runs"] == search["schedules"] + real["runs"], name  # the counts add up


def test_a_race_auto_found_replays_to_the_same_wrong_outcome():
    doc = json.loads(racekit("run", HELDOUT, "-V", "lazy_three", "-f", "json", env=OFF).stdout)
    v = doc["cases"][0]["variants"][0]
    proc = racekit("replay", HELDOUT, "-V", "lazy_three", "-s", v["schedule"], "-f", "json", env=OFF)
    replayed = json.loads(proc.stdout)["cases"][0]["variants"][0]
    wrong = {row["outcome"] for row in v["histogram"] if row["grade"] == "wrong"}
    assert replayed["verdict"] == "race" and set(replayed["outcomes"]) <= wrong and replayed["runs"] == 1


def test_a_clean_variant_says_what_was_covered():
    proc = racekit("run", HELDOUT, "-V", "oversold_locked", env=OFF)
    out = " ".join(proc.stdout.split())
    assert "mode auto:" in out
    assert "Explored all 2 schedules: the search is complete." in out
    assert "Then 50 runs on real threads (opcode), for code racekit's scheduler cannot see." in out
    zh = racekit("run", HELDOUT, "-V", "oversold_locked", "--lang", "zh", env=OFF).stdout
    assert "已探索全部 2 种调度：搜索完整。" in zh and "然后在真实线程上运行了 50 次（opcode）" in zh


def test_a_racy_variant_names_the_engine_that_found_it():
    out = " ".join(racekit("run", HELDOUT, "-V", "oversold", env=OFF).stdout.split())
    assert "Found by the exhaustive search: the failing schedule replays exactly." in out
    assert "Replay it: racekit replay" in out


def test_shards_split_real_thread_runs_only():
    proc = racekit("run", HELDOUT, "-m", "auto", "--shard", "1/2")
    assert proc.returncode == 2 and "mode auto's search is one unit" in proc.stderr
    doc = json.loads(racekit("run", HELDOUT, "-V", "oversold_locked", "--shard", "1/2", "-f", "json").stdout)
    assert doc["cases"][0]["variants"][0]["mode"] == "opcode"  # sharded, the default is real threads


# -- the phases, from their facts -------------------------------------------------------

def trial(index: int, matches: bool, **fields) -> Trial:
    return Trial(index, index, Status.DONE, "1" if matches else "2", matches=matches, **fields)


def seeds(engine: str, n: int) -> int:
    return hash((engine, n)) & 0xFFFF


def searched(complete: bool, trials: list[Trial]) -> Phase:
    phase = search_phase(ModeSpec("auto"), [], 7, cap=100)
    phase.trials, phase.search = trials, {"complete": complete, "schedules": len(trials)}
    return phase


def test_nothing_follows_a_failure():
    assert next_phases(ModeSpec("auto"), 100, seeds, [searched(False, [trial(0, True), trial(1, False)])]) == []
    assert next_phases(ModeSpec("auto"), 100, seeds, [searched(False, [trial(0, True, witness="2:ab")])]) == []


def test_a_complete_search_is_followed_by_real_threads_only_and_a_cut_one_by_sampling_too():
    after_complete = next_phases(ModeSpec("auto"), 100, seeds, [searched(True, [trial(0, True), trial(1, True)])])
    assert [(p.name, p.mode.name) for p in after_complete] == [(REAL_THREADS, "opcode")]
    after_cut = next_phases(ModeSpec("auto"), 100, seeds, [searched(False, [trial(0, True, steps=10)])])
    assert [(p.name, p.mode.name, p.mode.strategy) for p in after_cut] == [(SAMPLE, "controlled", "random")]
    sample = after_cut[0]
    sample.trials = [trial(sample.plans.popleft().index, True) for _ in range(len(sample.plans))]
    # Real threads come only after sampling found nothing too, numbered after every earlier trial.
    [real] = next_phases(ModeSpec("auto"), 100, seeds, [searched(False, [trial(0, True, steps=10)]), sample])
    numbers = [t.index for t in sample.trials] + [real.plans.popleft().index for _ in range(len(real.plans))]
    assert numbers == list(range(1, 101)) and real.name == REAL_THREADS
    sample.trials[3] = trial(4, False)
    assert next_phases(ModeSpec("auto"), 100, seeds, [searched(False, [trial(0, True, steps=10)]), sample]) == []


def test_an_inconclusive_trial_settles_nothing():
    stuck = Trial(0, 0, Status.INCONCLUSIVE, "inconclusive: step budget")
    assert not failed([stuck])


def test_updates_lost_elsewhere_than_the_outcome_are_named_not_blamed_on_it():
    # Oversold: two buyers pass the stock check; the outcome (items sold) is 2 with no
    # update of it lost, while the stock's decrement lost one. The count is not the outcome's.
    doc = json.loads(racekit("run", HELDOUT, "-V", "oversold", "-f", "json", env=OFF).stdout)
    assert doc["cases"][0]["variants"][0]["lost_updates"]["where"] == ["dict#1['apple']"]
    out = " ".join(racekit("run", HELDOUT, "-V", "oversold", env=OFF).stdout.split())
    assert "stock.sold ended ≠ 1; the access log shows updates of dict#1['apple'] lost: 1 in the worst run" in out
    assert "updates were lost in the worst run" not in out and "1 update was lost in the worst run" not in out
