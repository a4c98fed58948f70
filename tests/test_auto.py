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
import re

import pytest

from conftest import TEST_CASES, racekit
from racekit.auto import PCT, REAL_THREADS, SAMPLE, SEARCH, Phase, failed, found_by, next_phases, search_phase
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
        assert v["duration"] > 0, name  # the search's executions are timed too (they once counted 0 s)
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
    # Half the variant's runs are sampled, half of those PCT with the mode's depth, half uniformly random.
    assert [(p.name, p.mode.name, p.mode.strategy, len(p.plans)) for p in after_cut] == [
        (PCT, "controlled", "pct", 25), (SAMPLE, "controlled", "random", 25)]
    assert after_cut[0].mode.depth == ModeSpec("auto").depth
    for sample in after_cut:
        sample.trials = [trial(sample.plans.popleft().index, True) for _ in range(len(sample.plans))]
    # Real threads come only after sampling found nothing too, numbered after every earlier trial.
    done = [searched(False, [trial(0, True, steps=10)]), *after_cut]
    [real] = next_phases(ModeSpec("auto"), 100, seeds, done)
    numbers = [t.index for p in after_cut for t in p.trials] + [real.plans.popleft().index
                                                                   for _ in range(len(real.plans))]
    assert numbers == list(range(1, 101)) and real.name == REAL_THREADS
    for sample in after_cut:  # a failure in either sampling phase settles the verdict
        failing = [*sample.trials[:3], trial(sample.trials[3].index, False), *sample.trials[4:]]
        changed = [p if p is not sample else Phase(p.name, p.mode, p.plans, failing) for p in after_cut]
        assert next_phases(ModeSpec("auto"), 100, seeds, [done[0], *changed]) == []
    assert found_by([done[0], Phase(PCT, after_cut[0].mode, after_cut[0].plans, [trial(9, False)])]) == PCT


def test_a_failure_only_a_saved_schedule_showed_is_not_credited_to_the_search():
    saved_failed = searched(False, [trial(-1, False), trial(0, True)])
    assert found_by([saved_failed]) == "saved"
    assert found_by([searched(False, [trial(-1, False), trial(0, False)])]) == SEARCH
    assert found_by([searched(False, [trial(-1, True), trial(0, True)])]) is None


def test_an_inconclusive_trial_settles_nothing():
    stuck = Trial(0, 0, Status.INCONCLUSIVE, "inconclusive: step budget")
    assert not failed([stuck])


def test_updates_lost_elsewhere_than_the_outcome_are_named_not_blamed_on_it():
    # Oversold: two buyers pass the stock check; the outcome (items sold) is 2 with no
    # update of it lost, while the stock's decrement lost one. The count is not the outcome's.
    doc = json.loads(racekit("run", HELDOUT, "-V", "oversold", "-f", "json", env=OFF).stdout)
    assert doc["cases"][0]["variants"][0]["lost_updates"]["where"] == ["stock.items['apple']"]
    out = " ".join(racekit("run", HELDOUT, "-V", "oversold", env=OFF).stdout.split())
    assert re.search(r"In 1 of \d+ runs stock\.sold ended ≠ 1; the access log shows 1 update of "
                     r"stock\.items\['apple'\] lost in that run\.", out)  # one wrong run: no "worst" and "typical" of one
    assert "updates were lost in the worst run" not in out and "1 update was lost in the worst run" not in out


DEEP = str(TEST_CASES / "auto" / "deep.yaml")


@pytest.mark.slow
def test_a_search_cut_short_is_followed_by_pct_and_random_schedules_and_the_counts_add_up():
    # --runs 30 caps the search at 30 schedules, long before it reaches the torn read;
    # half the runs (15) are then sampled, 7 PCT and 8 uniformly random, then 15 on real threads.
    proc = racekit("run", DEEP, "-n", "30", "--seed", "1", "-f", "json", env=OFF)
    v = json.loads(proc.stdout)["cases"][0]["variants"][0]
    phases = [(p["phase"], p["engine"], p["runs"]) for p in v["mode_facts"]["phases"]]
    assert phases[:3] == [(SEARCH, "controlled", 30), (PCT, "controlled", 7), (SAMPLE, "controlled", 8)]
    assert not v["mode_facts"]["phases"][0]["complete"] and v["mode_facts"]["phases"][1]["depth"] == 3
    assert v["runs"] == sum(runs for _name, _engine, runs in phases)
    if v["mode_facts"]["found_by"] in (PCT, SAMPLE):  # a sampled failure is a schedule that replays
        again = racekit("replay", DEEP, "-s", v["schedule"], "-f", "json", env=OFF)
        assert json.loads(again.stdout)["cases"][0]["variants"][0]["outcomes"] == {"(1, 2)": 1}
    else:
        assert phases[3] == (REAL_THREADS, "opcode", 15)
    out = " ".join(racekit("run", DEEP, "-n", "30", "--seed", "1", env=OFF).stdout.split())
    assert ("The search was cut short, so 7 PCT schedules (thread priorities changed at 2 random steps of a run)"
            " and 8 uniformly random schedules under the controlled scheduler followed.") in out
    # The reproduce line repeats the options the phases followed from, not the trials they ran.
    assert "--mode auto --seed 1 --runs 30" in out and f"--runs {v['runs']}" not in out
    zh = "".join(racekit("run", DEEP, "-n", "30", "--seed", "1", "--lang", "zh", env=OFF).stdout.split())
    assert "运行了7个PCT调度（线程优先级在一次运行的2个随机步骤处改变）和8个均匀随机调度。" in zh
