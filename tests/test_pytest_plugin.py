"""The pytest plugin, through real pytest sessions (pytester), with and without xdist."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

# Deterministic cases: their outcomes do not depend on thread interleavings,
# so pass/fail and the histograms are exact, not statistics.
DETERMINISTIC = """\
racekit: 1
name: fixed
params: {n: 3}
setup: |
  import random
  box = {"v": 0, "draw": random.randrange(1000)}
threads:
  t: |
    box["v"] = n
outcome: box["v"]
expect: 3
runs: 5
variants:
  right: {}
  wrong_but_racy:
    racy: true
    params: {n: 4}
  racy_but_never_wrong:
    racy: true
  wrong:
    params: {n: 5}
"""

# A real lost update, found by the controlled scheduler: with a fixed seed its
# choices, and so pass/fail, are exact too.
RACY = """\
racekit: 1
name: counter
params: {n: 20}
setup: |
  class X:
      v = 0
  x = X()
threads:
  t:
    count: 2
    code: |
      for _ in range(n):
          x.v += 1
outcome: x.v
expect: {check: outcome == 2 * n}
runs: 5
mode: controlled
variants:
  racy: {racy: true}
  claimed_safe: {}
"""

SEEDED = """\
racekit: 1
name: seeded
setup: |
  import random
  value = random.randrange(1000)
threads:
  t: pass
outcome: value
expect: {check: "outcome >= 0"}
runs: 8
"""


@pytest.fixture
def project(pytester):
    pytester.makefile(".yaml", fixed=DETERMINISTIC)
    pytester.makefile(".yaml", seeded=SEEDED)
    pytester.makefile(".yaml", counter=RACY)
    pytester.makefile(".yaml", unrelated="name: not a case\nitems: [1, 2]\n")
    pytester.makefile(".yml", also_unrelated="racekit_like: 1\n")
    return pytester


def test_collects_one_item_per_variant_and_ignores_other_yaml(project):
    result = project.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "counter.yaml::counter[racy]",
        "counter.yaml::counter[claimed_safe]",
        "fixed.yaml::fixed[right]",
        "fixed.yaml::fixed[wrong_but_racy]",
        "fixed.yaml::fixed[racy_but_never_wrong]",
        "fixed.yaml::fixed[wrong]",
        "seeded.yaml::seeded[default]",
        "7 tests collected*",
    ])
    assert "unrelated" not in result.stdout.str()


def test_racy_variants_pass_on_failure_and_safe_ones_on_none(project):
    result = project.runpytest("counter.yaml", "fixed.yaml", "-q", "-rf", "--racekit-seed", "5")
    result.assert_outcomes(passed=2, failed=4)
    result.stdout.fnmatch_lines([
        "racekit: race in * of 5 runs (mode controlled, seed *), but this case should have none",
        "racekit: the case itself failed (wrong even when the threads run one after another (t): 4), so it proves "
        "nothing",
        "racekit: no race or deadlock in * runs, but this case should show one",  # auto: its schedules, then real threads
        "racekit: the case itself failed (wrong even when the threads run one after another (t): 5), so it proves "
        "nothing",
        "FAILED counter.yaml::counter?claimed_safe? - Failed: racekit: race in*",
        # A deterministic wrong outcome needs no concurrency: not a race, even in a racy variant.
        "FAILED fixed.yaml::fixed?wrong_but_racy? - Failed: racekit: the case itself*",
        "FAILED fixed.yaml::fixed?racy_but_never_wrong? - Failed: racekit: no race*",
        "FAILED fixed.yaml::fixed?wrong? - Failed: racekit: the case itself*",
    ])


def test_failure_report_has_histogram_seed_and_reproduce_lines(project):
    result = project.runpytest("counter.yaml::counter[claimed_safe]", "--racekit-seed", "77")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*OUTCOME*RUNS*FREQ*EXPECT*",
        "*wrong*",
        "*RACE ✗ (NOT as expected)  mode controlled, 5 runs*",
        "reproduce:",
        "  pytest 'counter.yaml::counter?claimed_safe?' --racekit-seed 77",
        "  racekit run counter.yaml --variant claimed_safe --mode controlled --seed * --runs 5",
    ])
    result.stdout.fnmatch_lines(["*racekit: base seed 77 (--racekit-seed), mode each case's own (else auto), runs each case's own*"])
    assert "Traceback" not in result.stdout.str()


def test_terminal_summary_lists_races(project):
    result = project.runpytest("counter.yaml", "fixed.yaml", "--racekit-seed", "5")
    result.stdout.fnmatch_lines([
        "*= racekit =*",
        "6 racekit tests: 2 showed a race or deadlock, * trials in all; base seed 5",  # auto decides how many
        # fnmatch reads [...] as a character class: ? stands for the brackets.
        "  RACE     counter.yaml::counter?racy?  wrong */5 (controlled, seed *; expected)",
        "  RACE     counter.yaml::counter?claimed_safe?  wrong */5 (controlled, seed *; NOT expected)",
    ])


def test_broken_case_file_is_one_collection_error_without_traceback(pytester):
    pytester.makefile(".yaml", broken="racekit: 1\nname: broken\nthreadz: {}\nthreads:\n  t: |\n    x = (\noutcome: 1\nexpect: 1\n")
    result = pytester.runpytest("-q")
    result.stdout.fnmatch_lines([
        "*ERROR collecting broken.yaml*",
        "racekit could not load this case file:",
        "broken.yaml:3:1: error: unknown key 'threadz' in the case (did you mean 'threads'?)",
        "broken.yaml:6:*: error: Python syntax error in threads.t*",
        "*1 error*",
    ])
    assert "Traceback" not in result.stdout.str()


def test_junit_xml_carries_the_figures(project, tmp_path):
    xml = tmp_path / "junit.xml"
    project.runpytest("counter.yaml::counter[racy]", f"--junitxml={xml}", "--racekit-seed", "3")
    properties = {p.get("name"): p.get("value") for p in ET.parse(xml).iter("property")}
    assert properties["racekit_verdict"] == "race"
    outcomes = json.loads(properties["racekit_outcomes"])["controlled"]
    wrong = sum(n for outcome, n in outcomes.items() if outcome != "40")
    assert properties["racekit_runs"] == "5" and properties["racekit_wrong"] == str(wrong) and wrong > 0
    assert properties["racekit_mode"] == "controlled" and properties["racekit_base_seed"] == "3"
    assert sum(outcomes.values()) == 5


def _outcomes_by_test(xml_path):
    return {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
            for case in ET.parse(xml_path).iter("testcase")}


@pytest.mark.slow
def test_xdist_makes_the_same_choices_as_a_single_process(project, tmp_path):
    serial, parallel = tmp_path / "serial.xml", tmp_path / "parallel.xml"
    project.runpytest_subprocess("seeded.yaml", "fixed.yaml", "--racekit-seed", "123", f"--junitxml={serial}")
    project.runpytest_subprocess("seeded.yaml", "fixed.yaml", "--racekit-seed", "123", "-n", "2",
                                 "--dist", "loadscope", f"--junitxml={parallel}")
    one, two = _outcomes_by_test(serial), _outcomes_by_test(parallel)
    assert one.keys() == two.keys() and len(one) == 5
    for name in one:
        assert one[name]["racekit_outcomes"] == two[name]["racekit_outcomes"], name
        assert one[name]["racekit_seed"] == two[name]["racekit_seed"], name
    draws = json.loads(one["seeded[default]"]["racekit_outcomes"])["auto"]
    assert len(draws) > 1  # real random draws (in auto's real-thread runs), reproduced exactly


@pytest.mark.slow
def test_xdist_workers_share_a_random_base_seed(project):
    result = project.runpytest_subprocess("seeded.yaml", "fixed.yaml", "-n", "2", "-rA")
    seeds = {line.split("base seed ")[1].split()[0] for line in result.stdout.lines if "base seed" in line}
    assert len(seeds) == 1, seeds


def test_options_and_ini_are_validated_with_their_source(project):
    result = project.runpytest("--racekit-runs", "zero")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--racekit-runs: expected an integer from 1 to 10,000,000, got 'zero'*"])
    # Above racekit's limits: a usage error naming the option typed, not every test failing on `--runs`.
    result = project.runpytest("--racekit-runs", str(10 ** 12))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--racekit-runs: expected an integer from 1 to 10,000,000, got '1000000000000'*"])
    for value in ("inf", "nan", "90000"):
        result = project.runpytest("--racekit-timeout", value)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"*--racekit-timeout: expected a number of seconds more than 0 and at most "
                                     f"86,400, got '{value}'*"])
    project.makeini("[pytest]\nracekit_mode = opcode,fast\n")
    result = project.runpytest()
    result.stderr.fnmatch_lines(["*racekit_mode in the ini file (*tox.ini): unknown mode 'fast'; choose from native, line, opcode*"])


def test_ini_settings_apply(project):
    project.makeini("[pytest]\nracekit_runs = 2\nracekit_mode = controlled,native\nracekit_seed = 9\n")
    result = project.runpytest("counter.yaml::counter[racy]", "-rA")
    result.stdout.fnmatch_lines(["*racekit: base seed 9 (--racekit-seed), mode controlled,native, runs 2*",
                                 "*wrong */4 (controlled,native*"])


def test_marker_selects_racekit_tests(project):
    project.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = project.runpytest("-m", "not racekit", "-q")
    result.assert_outcomes(passed=1)


ACCOUNT_TESTS = '''
import threading
import racekit


class Account:
    def __init__(self):
        self.balance = 0
        self._lock = threading.Lock()

    def deposit(self, amount):
        self.balance += amount

    def withdraw(self, amount):
        self.balance -= amount

    def deposit_locked(self, amount):
        with self._lock:
            self.balance += amount

    def withdraw_locked(self, amount):
        with self._lock:
            self.balance -= amount


# Racy: auto's search finds the lost update in its first schedules; under opcode alone, 40-60 % of trials lose one on CPython
# 3.10-3.13; 150 runs miss with probability < 0.9**150 = 1.4e-7 even at 10 %.
@racekit.race_test(expect=0, runs=150, racy=True)
def test_unlocked_account_loses_updates(race):
    account = Account()
    race.thread(account.deposit, 1, repeat=1000)
    race.thread(account.withdraw, 1, repeat=1000)
    race.outcome(lambda: account.balance)


@racekit.race_test(expect=0, runs=40)
def test_locked_account_is_correct(race):
    account = Account()
    race.thread(account.deposit_locked, 1, repeat=1000)
    race.thread(account.withdraw_locked, 1, repeat=1000)
    race.outcome(lambda: account.balance)


@racekit.race_test(expect=racekit.any_of({"balance": 0}), runs=150)
def test_unlocked_account_claimed_correct(race):
    account = Account()
    race.thread(account.deposit, 1, repeat=1000, name="depositor")
    race.thread(account.withdraw, 1, repeat=1000, name="withdrawer")
    race.outcome(balance=lambda: account.balance)
'''


@pytest.mark.slow
def test_python_cases_reach_the_users_class(pytester):
    pytester.makepyfile(test_account=ACCOUNT_TESTS)
    result = pytester.runpytest("-q", "--racekit-seed", "1")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*racekit: race in * of * runs (mode auto, seed *), but this case should have none*",
        "*test_unlocked_account_claimed_correct*should be correct*",
        "*reproduce:*",
        "*pytest 'test_account.py::test_unlocked_account_claimed_correct' --racekit-seed 1",
    ])


def test_python_case_runs_without_the_plugin_too(pytester):
    pytester.makepyfile(test_account=ACCOUNT_TESTS)
    result = pytester.runpytest("-q", "-p", "no:racekit", "-k", "locked_account_is_correct")
    result.assert_outcomes(passed=1)
