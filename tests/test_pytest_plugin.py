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
    pytester.makefile(".yaml", unrelated="name: not a case\nitems: [1, 2]\n")
    pytester.makefile(".yml", also_unrelated="racekit_like: 1\n")
    return pytester


def test_collects_one_item_per_variant_and_ignores_other_yaml(project):
    result = project.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "fixed.yaml::fixed[right]",
        "fixed.yaml::fixed[wrong_but_racy]",
        "fixed.yaml::fixed[racy_but_never_wrong]",
        "fixed.yaml::fixed[wrong]",
        "seeded.yaml::seeded[default]",
        "5 tests collected*",
    ])
    assert "unrelated" not in result.stdout.str()


def test_racy_variants_pass_on_failure_and_safe_ones_on_none(project):
    result = project.runpytest("fixed.yaml", "-q", "-rf")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines([
        "racekit: no race or deadlock in 5 runs, but this case should show one",
        "racekit: race in 5 of 5 runs (mode opcode, seed *), but this case should have none",
        "FAILED fixed.yaml::fixed?racy_but_never_wrong? - Failed: racekit: no race*",
        "FAILED fixed.yaml::fixed?wrong? - Failed: racekit: race in 5 of 5 runs*",
    ])


def test_failure_report_has_histogram_seed_and_reproduce_lines(project):
    result = project.runpytest("fixed.yaml::fixed[wrong]", "--racekit-seed", "77")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*OUTCOME*RUNS*FREQ*EXPECT*",
        "*5*5*100.0%*wrong*",
        "*3*0*0.0%*expected*",
        "*RACE ✗ (NOT as expected)  mode opcode, 5 runs*",
        "reproduce:",
        "  pytest 'fixed.yaml::fixed?wrong?' --racekit-seed 77",
        "  racekit run fixed.yaml --variant wrong --mode opcode --seed * --runs 5",
    ])
    result.stdout.fnmatch_lines(["*racekit: base seed 77 (--racekit-seed), mode each case's own (else opcode), runs each case's own*"])
    assert "Traceback" not in result.stdout.str()


def test_terminal_summary_lists_races(project):
    result = project.runpytest("fixed.yaml", "--racekit-seed", "5")
    result.stdout.fnmatch_lines([
        "*= racekit =*",
        "4 racekit tests: 2 showed a race or deadlock, 20 trials in all; base seed 5",
        # fnmatch reads [...] as a character class: ? stands for the brackets.
        "  RACE     fixed.yaml::fixed?wrong_but_racy?  wrong 5/5 (opcode, seed *; expected)",
        "  RACE     fixed.yaml::fixed?wrong?  wrong 5/5 (opcode, seed *; NOT expected)",
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
    project.runpytest("fixed.yaml::fixed[wrong_but_racy]", f"--junitxml={xml}", "--racekit-seed", "3")
    properties = {p.get("name"): p.get("value") for p in ET.parse(xml).iter("property")}
    assert properties["racekit_verdict"] == "race"
    assert properties["racekit_runs"] == "5" and properties["racekit_wrong"] == "5"
    assert properties["racekit_mode"] == "opcode" and properties["racekit_base_seed"] == "3"
    assert json.loads(properties["racekit_outcomes"]) == {"opcode": {"4": 5}}


def _outcomes_by_test(xml_path):
    return {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
            for case in ET.parse(xml_path).iter("testcase")}


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
    draws = json.loads(one["seeded[default]"]["racekit_outcomes"])["opcode"]
    assert sum(draws.values()) == 8 and len(draws) > 1  # real random draws, reproduced exactly


def test_xdist_workers_share_a_random_base_seed(project):
    result = project.runpytest_subprocess("seeded.yaml", "fixed.yaml", "-n", "2", "-rA")
    seeds = {line.split("base seed ")[1].split()[0] for line in result.stdout.lines if "base seed" in line}
    assert len(seeds) == 1, seeds


def test_options_and_ini_are_validated_with_their_source(project):
    result = project.runpytest("--racekit-runs", "zero")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--racekit-runs: expected an integer >= 1, got 'zero'*"])
    project.makeini("[pytest]\nracekit_mode = opcode,fast\n")
    result = project.runpytest()
    result.stderr.fnmatch_lines(["*racekit_mode in the ini file (*tox.ini): unknown mode 'fast'; choose from native, line, opcode*"])


def test_ini_settings_apply(project):
    project.makeini("[pytest]\nracekit_runs = 2\nracekit_mode = native,opcode\nracekit_seed = 9\n")
    result = project.runpytest("fixed.yaml::fixed[wrong_but_racy]", "-rA")
    result.stdout.fnmatch_lines(["*racekit: base seed 9 (--racekit-seed), mode native,opcode, runs 2*",
                                 "*wrong 4/4 (native,opcode*"])


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


# Racy: opcode forcing makes 40-60 % of trials lose an update on CPython
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


@racekit.race_test(expect=racekit.any_of(0), runs=150)
def test_unlocked_account_claimed_correct(race):
    account = Account()
    race.thread(account.deposit, 1, repeat=1000, name="depositor")
    race.thread(account.withdraw, 1, repeat=1000, name="withdrawer")
    race.outcome(balance=lambda: account.balance)
'''


def test_python_cases_reach_the_users_class(pytester):
    pytester.makepyfile(test_account=ACCOUNT_TESTS)
    result = pytester.runpytest("-q", "--racekit-seed", "1")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*racekit: race in * of 150 runs (mode opcode, seed *), but this case should have none*",
        "*test_unlocked_account_claimed_correct*should be correct*",
        "*reproduce:*",
        "*pytest 'test_account.py::test_unlocked_account_claimed_correct' --racekit-seed 1",
    ])


def test_python_case_runs_without_the_plugin_too(pytester):
    pytester.makepyfile(test_account=ACCOUNT_TESTS)
    result = pytester.runpytest("-q", "-p", "no:racekit", "-k", "locked_account_is_correct")
    result.assert_outcomes(passed=1)
