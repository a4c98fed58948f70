"""Grading (racekit.analysis.grading): trials in, one verdict out.

The trials are made by hand, so each test states a situation and the verdict a
user must get for it; nothing here runs a thread.
"""

from __future__ import annotations

import pytest

from racekit.analysis.grading import (grade, grade_trial, lost_update_bound, meets_expectation, sort_rows,
                                      verdict_from_grades)
from racekit.analysis.results import Grade, Row, Verdict
from racekit.case.loader import parse_case
from racekit.options import ModeSpec
from racekit.records import Status, Trial

CASE = """\
racekit: 1
name: counter
params: {n: 2}
threads:
  a: "x = 1"
  b: "x = 2"
outcome: "0"
expect: {check: "outcome == n"}
variants:
  racy: {racy: true}
  safe: {racy: false}
  values: {racy: true, expect: {any_of: [1, 2]}}
"""


def variant(name: str):
    case = parse_case(CASE, "counter.yaml")
    return next(v for v in case.variants if v.name == name)


def done(index: int, outcome: str, matches: bool, **fields) -> Trial:
    return Trial(index=index, seed=index, status=Status.DONE, outcome=outcome, matches=matches, **fields)


MODE = ModeSpec("controlled")


# -- one trial, one grade -------------------------------------------------------------------

@pytest.mark.parametrize("trial, expected", [
    (done(0, "2", True), Grade.EXPECTED),
    (done(0, "1", False), Grade.WRONG),
    (done(0, "error: NameError: x", False, case_bug=True), Grade.ERROR),
    (Trial(0, 0, Status.DEADLOCK, "deadlock"), Grade.DEADLOCK),
    (Trial(0, 0, Status.DEADLOCK, "livelock"), Grade.LIVELOCK),
    (Trial(0, 0, Status.CRASH, "crash: signal 11"), Grade.CRASH),
    (Trial(0, 0, Status.ERROR, "error: setup raised"), Grade.ERROR),
    (Trial(0, 0, Status.INCONCLUSIVE, "inconclusive: step budget"), Grade.INCONCLUSIVE),
])
def test_each_status_has_its_grade(trial, expected):
    assert grade_trial(trial) is expected


# -- the verdict's order --------------------------------------------------------------------

@pytest.mark.parametrize("grades, witnesses, expected", [
    ([Grade.EXPECTED], 0, Verdict.NO_RACE),
    ([], 0, Verdict.NO_RACE),
    ([Grade.EXPECTED, Grade.WRONG], 0, Verdict.RACE),
    ([Grade.EXPECTED], 1, Verdict.RACE),  # a reversed data race ended wrong: shown, so a race
    ([Grade.WRONG, Grade.ERROR], 0, Verdict.ERROR),  # a typo must not pass as a race
    ([Grade.WRONG, Grade.CRASH], 0, Verdict.ERROR),
    ([Grade.ERROR, Grade.DEADLOCK], 0, Verdict.DEADLOCK),  # a deadlock outranks everything
    ([Grade.LIVELOCK, Grade.WRONG], 0, Verdict.DEADLOCK),
    ([Grade.INCONCLUSIVE], 0, Verdict.INCONCLUSIVE),
    ([Grade.INCONCLUSIVE, Grade.EXPECTED], 0, Verdict.NO_RACE),  # the others were clean
    ([Grade.INCONCLUSIVE, Grade.WRONG], 0, Verdict.RACE),
])
def test_the_verdict_follows_the_documented_order(grades, witnesses, expected):
    assert verdict_from_grades(grades, None, witnesses) is expected


def test_a_failure_of_the_case_is_an_error_whatever_the_trials_showed():
    assert verdict_from_grades([Grade.WRONG], "setup raised") is Verdict.ERROR


@pytest.mark.parametrize("verdict, racy, runs, ok", [
    (Verdict.RACE, True, 5, True), (Verdict.DEADLOCK, True, 5, True), (Verdict.NO_RACE, True, 5, False),
    (Verdict.NO_RACE, False, 5, True), (Verdict.RACE, False, 5, False), (Verdict.ERROR, False, 5, False),
    (Verdict.ERROR, True, 5, False), (Verdict.INCONCLUSIVE, False, 5, False), (Verdict.INCONCLUSIVE, True, 5, False),
    (Verdict.NO_RACE, False, 0, False),  # no run at all proves nothing
])
def test_meeting_the_expectation(verdict, racy, runs, ok):
    assert meets_expectation(verdict, racy, runs) is ok


# -- a whole variant ------------------------------------------------------------------------

def test_counts_add_up_and_expected_rows_come_first():
    trials = [done(i, "1", False) for i in range(3)] + [done(i, "2", True) for i in range(3, 10)]
    result = grade(variant("racy"), MODE, trials, seed=1, planned=10)
    assert [(r.outcome, r.count, r.grade) for r in result.rows] == [("2", 7, Grade.EXPECTED), ("1", 3, Grade.WRONG)]
    assert (result.runs, result.wrong, result.right) == (10, 3, 7)
    assert sum(r.count for r in result.rows) == result.runs
    assert result.verdict is Verdict.RACE and result.ok


def test_a_safe_variant_that_went_wrong_is_not_ok():
    result = grade(variant("safe"), MODE, [done(0, "2", True), done(1, "1", False)], seed=1, planned=2)
    assert result.verdict is Verdict.RACE and not result.ok


def test_a_wrong_outcome_the_serial_baseline_also_shows_is_an_error_not_a_race():
    baseline = [done(0, "1", False, serial_order=["a", "b"])]
    result = grade(variant("racy"), MODE, [done(0, "1", False)], seed=1, planned=1, baseline=baseline)
    assert result.verdict is Verdict.ERROR and not result.ok
    assert result.serial_failure == {"order": ["a", "b"], "outcome": "1", "detail": ""}
    assert result.reason.startswith("wrong even when the threads run one after another (a, b)")


def test_a_serial_baseline_that_ran_code_racekit_does_not_see_blames_nothing_on_the_case():
    """A thread's code before its first visible step runs before any decision; when that code
    is hidden from racekit (a library iterating a dict), "one after another" is not known."""
    unseen = ("Registry.__iter__ (lib.py:3)",)
    baseline = [done(0, "1", False, serial_order=["a", "b"], unseen=unseen)]
    result = grade(variant("racy"), MODE, [done(0, "1", False, unseen=unseen)], seed=1, planned=1, baseline=baseline)
    assert result.verdict is Verdict.RACE and result.serial_failure is None


def test_one_thread_wrong_alone_is_the_cases_bug_even_through_code_racekit_does_not_see():
    unseen = ("cached_property.__get__ (cached_property.py:18)",)
    baseline = [done(0, "1", False, serial_order=["only"], unseen=unseen)]
    result = grade(variant("safe"), MODE, [done(0, "1", False, unseen=unseen)], seed=1, planned=1, baseline=baseline)
    assert result.verdict is Verdict.ERROR and result.serial_failure["order"] == ["only"]


def test_an_outcome_wrong_in_one_serial_order_and_right_in_the_other_is_a_race_not_the_cases_bug():
    """A notify before the consumer waits: a-then-b deadlocks, b-then-a is right.
    Which thread goes first decides the outcome; nothing is blamed on the case."""
    baseline = [done(0, "deadlock", False, serial_order=["a", "b"]), done(1, "2", True, serial_order=["b", "a"])]
    result = grade(variant("safe"), MODE, [done(0, "deadlock", False), done(1, "2", True)], seed=1, planned=2,
                   baseline=baseline)
    assert result.serial_failure is None and result.verdict is Verdict.RACE


def test_wrong_in_every_serial_order_but_right_when_the_threads_interleave_is_a_race():
    """Two halves exchanged without a barrier: each serial order reads a half not yet
    written, only an interleaving (both writes, then both reads) ends right."""
    baseline = [done(0, "[None, 10]", False, serial_order=["half-1", "half-2"]),
                done(1, "[11, None]", False, serial_order=["half-2", "half-1"])]
    trials = [done(0, "[None, 10]", False), done(1, "[11, 10]", True), done(2, "[11, None]", False)]
    result = grade(variant("racy"), MODE, trials, seed=1, planned=3, baseline=baseline)
    assert result.serial_failure is None and result.verdict is Verdict.RACE and result.ok
    # One wrong run whose reversed pair ended right shows the same (a search stopped at its first failure).
    reversed_right = done(0, "[None, 10]", False)
    reversed_right.story = {"kind": "data race", "cause": "shown"}
    result = grade(variant("racy"), MODE, [reversed_right], seed=1, planned=1, baseline=baseline)
    assert result.serial_failure is None and result.verdict is Verdict.RACE
    assert grade(variant("racy"), MODE, [done(0, "[None, 10]", False)], seed=1, planned=1,
                 baseline=baseline).verdict is Verdict.ERROR  # without either: wrong in every order


def test_the_serial_baseline_alone_cannot_blame_an_outcome_the_runs_never_showed():
    baseline = [done(0, "7", False, serial_order=["a", "b"])]
    result = grade(variant("racy"), MODE, [done(0, "1", False)], seed=1, planned=1, baseline=baseline)
    assert result.verdict is Verdict.RACE and result.serial_failure is None


def test_the_schedule_is_the_first_failing_runs_never_a_right_runs():
    trials = [done(0, "2", True, schedule="ok-schedule", trace=[{}]),
              done(1, "1", False, schedule="bad-schedule", trace=[{}])]
    assert grade(variant("racy"), MODE, trials, seed=1, planned=2).schedule == "bad-schedule"
    clean = grade(variant("safe"), MODE, [trials[0]], seed=1, planned=1)
    assert clean.schedule is None  # nothing failed: nothing to replay


def test_clean_runs_of_code_racekit_could_not_see_are_inconclusive():
    trials = [done(i, "2", True, shared_ops=1, unseen=["Counter.add (lib.py:3)"]) for i in range(4)]
    result = grade(variant("safe"), MODE, trials, seed=1, planned=4)
    assert result.verdict is Verdict.INCONCLUSIVE and not result.ok
    assert result.unseen == ("Counter.add (lib.py:3)",)
    seen = [done(i, "2", True, shared_ops=6, unseen=["Counter.add (lib.py:3)"]) for i in range(4)]
    assert grade(variant("safe"), MODE, seen, seed=1, planned=4).verdict is Verdict.NO_RACE


def test_values_never_observed_are_listed():
    trials = [done(0, "1", True, matched=0)] * 3
    result = grade(variant("values"), MODE, trials, seed=1, planned=3)
    assert result.never_observed == ("2",)


def test_a_check_expectation_reads_as_its_target():
    trials = [done(0, "2", True, target=2.0)]
    assert grade(variant("racy"), MODE, trials, seed=1, planned=1).expect_text == "= 2"


def test_the_lost_update_bound_is_the_distance_to_the_nearest_target():
    trials = [done(0, "2", True, value=2.0, target=2.0), done(1, "0", False, value=0.0, target=2.0),
              done(2, "1", False, value=1.0, target=2.0), Trial(3, 3, Status.DEADLOCK, "deadlock")]
    bound = lost_update_bound(variant("racy"), trials)
    assert not bound.exact
    assert (bound.min, bound.max, bound.total, bound.runs_with_loss) == (0, 2, 3, 2)
    assert dict(bound.histogram) == {0.0: 1, 1.0: 1, 2.0: 1}  # the deadlock has no value: not counted


def test_exact_lost_updates_come_from_the_access_logs_when_every_run_has_one():
    trials = [done(0, "2", True, lost=0), done(1, "1", False, lost=1), done(2, "0", False, lost=2)]
    lost = grade(variant("racy"), MODE, trials, seed=1, planned=3).lost_updates
    assert lost.exact and (lost.total, lost.max, lost.max_when_wrong) == (3, 2, 2)
    partly = [done(0, "2", True, lost=0), done(1, "1", False, value=1.0, target=2.0)]
    assert not grade(variant("racy"), MODE, partly, seed=1, planned=2).lost_updates.exact


def test_ties_sort_by_value_numbers_as_numbers():
    rows = sort_rows([Row("10", 2, Grade.WRONG), Row("9", 2, Grade.WRONG), Row("b", 2, Grade.WRONG),
                      Row("5", 1, Grade.EXPECTED)])
    assert [r.outcome for r in rows] == ["5", "9", "10", "b"]


def test_exact_lost_updates_name_the_locations_the_wrong_runs_lost():
    trials = [done(0, "2", True, lost=0), done(1, "1", False, lost=1, lost_at=["x.v"]),
              done(2, "0", False, lost=2, lost_at=["x.v", "y.w"]), done(3, "2", True, lost=1, lost_at=["z"])]
    lost = grade(variant("racy"), MODE, trials, seed=1, planned=4).lost_updates
    assert lost.where == ("x.v", "y.w")  # a right run's loss (z) is not the wrong runs' story
    assert lost.to_json()["where"] == ["x.v", "y.w"]


def test_a_process_case_is_blamed_only_for_an_error_every_run_raises_alone_too():
    """A process alone may run its own Pool's racing tasks: a wrong number seen
    alone too is still a race; an exception every run raises is the case's bug."""
    processes = parse_case("racekit: 1\nname: p\nkind: processes\nthreads:\n  a: x = 1\noutcome: '1'\nexpect: 2\n",
                           "p.yaml").variants[0]
    alone = [done(0, "16000", False, serial_order=["a"])]
    racy = grade(processes, ModeSpec("native"), [done(0, "16000", False), done(1, "13712", False)], seed=1,
                 planned=2, baseline=alone)
    assert racy.serial_failure is None and racy.verdict is Verdict.RACE
    error = "error: RuntimeError: Synchronized objects should only be shared between processes through inheritance"
    refused = grade(processes, ModeSpec("native"), [done(0, error, False), done(1, error, False)], seed=1, planned=2,
                    baseline=[done(0, error, False, serial_order=["a"])])
    assert refused.serial_failure is not None and refused.verdict is Verdict.ERROR


def test_a_variant_that_ran_no_trial_is_inconclusive_never_no_race_observed():
    result = grade(variant("safe"), MODE, [], seed=1, planned=2)
    assert result.verdict is Verdict.INCONCLUSIVE and result.runs == 0 and not result.ok
