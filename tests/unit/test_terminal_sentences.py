"""The terminal report's sentences about a graded variant: true for the runs at hand.

Each variant is graded from hand-written trials (racekit.analysis.grading), so
the facts are known exactly; the report must word those facts and no others.
"""

from __future__ import annotations

import io

from rich.console import Console

from racekit.analysis.grading import grade
from racekit.analysis.results import CaseResult
from racekit.case.loader import parse_case
from racekit.options import ModeSpec
from racekit.records import Status, Trial
from racekit.report.messages import message
from racekit.report.sentences import search_sentences
from racekit.report.terminal import TerminalReport

CASE = """\
racekit: 1
name: counter
threads:
  up: "x = 1"
  down: "x = 2"
outcome: "0"
expect: 0
variants:
  safe: {}
  other: {}
"""
CONTROLLED = ModeSpec("controlled")


def variant(name: str = "safe"):
    return next(v for v in parse_case(CASE, "counter.yaml").variants if v.name == name)


def run(index: int, outcome: str, lost: int, **fields) -> Trial:
    return Trial(index=index, seed=index, status=Status.DONE, outcome=outcome, matches=outcome == "0", lost=lost,
                 **fields)


def sentences(result, lang: str = "en") -> str:
    report = TerminalReport(Console(file=io.StringIO(), width=200, color_system=None), lang)
    return " ".join(report.sentences(result))


def test_lost_update_figures_are_over_the_wrong_runs_and_cancelled_losses_are_said_apart():
    # One wrong run lost 2; two right runs lost a += 1 and a -= 1 each (3 and 4 updates):
    # the worst of *all* runs (4) is no figure for a wrong run.
    trials = [run(0, "2", 2), run(1, "0", 4), run(2, "0", 3), run(3, "0", 0)]
    text = sentences(grade(variant(), CONTROLLED, trials, seed=1, planned=4))
    assert "In 1 of 4 runs 0 ended ≠ 0: 2 updates were lost in that run (counted from the access log)." in text
    assert "worst" not in text and "typical" not in text
    assert ("In 2 runs updates were lost and yet the outcome came out right: a lost update can cancel another "
            "(a lost `+= 1` and a lost `-= 1`) or hide another mistake") in text
    chinese = sentences(grade(variant(), CONTROLLED, trials, seed=1, planned=4), "zh")
    assert "那次运行丢失了 2 次更新" in chinese and "有 2 次运行丢失了更新，结果却是对的" in chinese


def test_several_wrong_runs_give_the_worst_and_the_typical_wrong_run():
    trials = [run(0, "2", 2), run(1, "1", 1), run(2, "3", 3), run(3, "0", 0), run(4, "0", 6)]
    text = sentences(grade(variant(), CONTROLLED, trials, seed=1, planned=5))
    assert "3 updates were lost in the worst run, 2 in a typical wrong run" in text


def test_a_search_over_the_only_interleaving_does_not_say_all_1():
    def words(key: str, **fields: object) -> str:
        return message("en", key, **fields)

    [line] = search_sentences({"schedules": 1, "complete": True}, words)
    assert line == "The threads can interleave in only one way here, and racekit ran it: the search is complete."
    assert "all 2 schedules" in search_sentences({"schedules": 2, "complete": True}, words)[0]


def test_the_summary_says_a_variant_that_ran_and_raised_raised_and_one_wrong_serially_is_wrong_serially():
    raised = Trial(index=0, seed=0, status=Status.ERROR, outcome="error: ValueError: no", matches=False)
    errors = grade(variant("safe"), CONTROLLED, [raised, run(1, "0", 0)], seed=1, planned=2)
    baseline = [run(0, "2", 0, serial_order=["up", "down"]), run(1, "2", 0, serial_order=["down", "up"])]
    serial = grade(variant("other"), CONTROLLED, [run(0, "2", 0)], seed=1, planned=1, baseline=baseline)
    report = TerminalReport(Console(file=io.StringIO(), width=200, color_system=None), "en")
    summary = report._case_summary(CaseResult("counter", "counter.yaml", "", "", "", (errors, serial)))
    assert summary == ("Summary: safe raised an error or crashed in 1 of 2 runs; other is wrong even with no "
                       "interleaving.")
    assert "failed to run" not in summary


RACY = CASE.replace("  safe: {}\n", "  safe: {}\n  racy: {racy: true}\n")


def test_a_racy_variant_no_schedule_broke_is_never_told_to_try_the_mode_it_ran_in():
    racy = next(v for v in parse_case(RACY, "counter.yaml").variants if v.name == "racy")
    right = [run(i, "0", 0) for i in range(4)]
    complete = sentences(grade(racy, CONTROLLED, right, seed=1, planned=4, search={"schedules": 4, "complete": True}))
    assert "--mode controlled" not in complete
    assert "the search tried every interleaving of what racekit sees: as written, this variant cannot go wrong" in complete
    bounded = sentences(grade(racy, CONTROLLED, right, seed=1, planned=4, search={"schedules": 4, "complete": False}))
    assert "--mode controlled" not in bounded and "--preemptions N" in bounded
    sampled = sentences(grade(racy, CONTROLLED, right, seed=1, planned=4))
    assert "(--mode controlled --strategy exhaustive)" in sampled


def test_a_racy_variant_whose_threads_ran_unseen_code_is_not_told_it_cannot_go_wrong():
    # A library's race without --instrument: the search was complete over what racekit
    # scheduled, which says nothing of the library's own accesses.
    racy = next(v for v in parse_case(RACY, "counter.yaml").variants if v.name == "racy")
    right = [run(i, "0", 0, unseen=["limits/strategies.py: FixedWindowRateLimiter.hit"], shared_ops=20)
             for i in range(4)]
    text = sentences(grade(racy, CONTROLLED, right, seed=1, planned=4, search={"schedules": 4, "complete": True}))
    assert "cannot go wrong" not in text and "racy: true` right?" not in text and "more --runs" not in text
    assert "its threads ran code whose accesses racekit never scheduled (named below)" in text
    assert "Name it with --instrument" in text


def test_data_races_are_counted_out_of_the_runs_that_could_show_one():
    race = {"first": "up", "first_kind": "read", "what": "x", "first_line": 3, "second": "down",
            "second_kind": "write", "second_line": 4}
    logged = [run(0, "0", 0, race=race), run(1, "0", 0)]
    real_threads = [Trial(index=i, seed=i, status=Status.DONE, outcome="0", matches=True) for i in range(2, 5)]
    result = grade(variant(), CONTROLLED, logged + real_threads, seed=1, planned=5)
    assert result.logged_runs == 2 and result.to_json()["logged_runs"] == 2
    text = sentences(result)
    assert "data races) in 1 of the 2 runs whose accesses racekit logged (runs on real threads log none)" in text
    assert "in 1 of 5 runs" not in text
    only_logged = sentences(grade(variant(), CONTROLLED, logged, seed=1, planned=2))
    assert "data races) in 1 of 2 runs, e.g. up read x (line 3)" in only_logged


ANY_OF = CASE.replace("expect: 0\n", "expect: {any_of: [1, 2]}\n")


def test_an_any_of_expectation_is_worded_in_the_readers_language():
    v = next(x for x in parse_case(ANY_OF, "counter.yaml").variants if x.name == "safe")
    right = grade(v, CONTROLLED, [Trial(index=i, seed=i, status=Status.DONE, outcome="1", matches=True)
                                  for i in range(2)], seed=1, planned=2)
    assert "In all 2 runs, 0 was one of 1, 2." in sentences(right)
    assert "都是 1、2 之一" in sentences(right, "zh") and "one of" not in sentences(right, "zh")
    wrong = grade(v, CONTROLLED, [Trial(index=0, seed=0, status=Status.DONE, outcome="3", matches=False, lost=1),
                                  Trial(index=1, seed=1, status=Status.DONE, outcome="3", matches=False, lost=1)],
                  seed=1, planned=2)
    assert "ended as none of 1, 2" in sentences(wrong)
    assert "不是 1、2 中的任何一个" in sentences(wrong, "zh") and "outside" not in sentences(wrong, "zh")


def test_the_reproduce_line_names_the_strategy_that_ran():
    from racekit.report.terminal import reproduce_command

    facts = {"name": "controlled", "strategy": "exhaustive", "depth": 3, "preemptions": None}
    v = grade(variant(), CONTROLLED, [run(0, "2", 0)], seed=7, planned=1, mode_facts=facts)
    assert "--mode controlled --seed 7 --runs 1 --strategy exhaustive" in reproduce_command(v)
    pct = grade(variant(), CONTROLLED, [run(0, "2", 0)], seed=7, planned=1,
                mode_facts={**facts, "strategy": "pct", "depth": 4})
    assert reproduce_command(pct).endswith("--strategy pct --depth 4")
    plain = grade(variant(), CONTROLLED, [run(0, "2", 0)], seed=7, planned=1, mode_facts={**facts, "strategy": "random"})
    assert "--strategy" not in reproduce_command(plain)


def test_data_races_beside_a_wrong_run_are_not_said_to_have_done_no_harm():
    race = {"first": "up", "first_kind": "read", "what": "x", "first_line": 3, "second": "down",
            "second_kind": "write", "second_line": 4}
    baseline = [run(0, "2", 0, serial_order=["up", "down"]), run(1, "2", 0, serial_order=["down", "up"])]
    v = grade(variant("other"), CONTROLLED, [run(0, "2", 0, race=race)], seed=1, planned=1, baseline=baseline)
    text = sentences(v)
    assert "data races) in 1 of 1 runs, e.g. up read x (line 3)" in text and "no harm" not in text


def test_a_lock_cycle_of_three_is_no_pair_in_opposite_orders_and_a_deadlock_seen_is_not_denied():
    deadlock = Trial(index=0, seed=0, status=Status.DEADLOCK, outcome="deadlock", matches=False,
                     lock_pairs=[("a", "b"), ("b", "c"), ("c", "a")])
    text = sentences(grade(variant(), CONTROLLED, [deadlock, run(1, "0", 0)], seed=1, planned=2))
    assert "The threads' lock orders form a cycle: a → b → c → a." in text
    assert "opposite orders" not in text and "even where no run did" not in text


def test_chinese_for_a_generic_outcome_and_a_single_run_reads_naturally():
    named = parse_case(CASE.replace('outcome: "0"\n', "outcome: {built: '0'}\n").replace("expect: 0\n",
                                                                                          "expect: {built: 0}\n"),
                       "counter.yaml").variants[0]
    right = grade(named, CONTROLLED, [Trial(index=0, seed=0, status=Status.DONE, outcome="built=0", matches=True)],
                  seed=1, planned=1)
    assert right.outcome_text == "the outcome"
    assert "唯一的一次运行的结果是 built=0。" in sentences(right, "zh")
    assert "In its one run, the outcome was built=0." in sentences(right)
    report = TerminalReport(Console(file=io.StringIO(), width=200, color_system=None), "zh")
    other = grade(variant("other"), CONTROLLED, [run(0, "0", 0), run(1, "0", 0)], seed=1, planned=2)
    summary = report._case_summary(CaseResult("counter", "counter.yaml", "", "", "", (right, other)))
    assert "safe 唯一的一次运行是正确的" in summary and "other 2 次全部正确" in summary


def test_a_library_line_in_a_trace_keeps_only_its_files_name_so_the_threads_keep_their_columns():
    from racekit.report.terminal import trace_table

    rows = [{"step": 1, "thread": "ThreadPoolExecutor-0_0", "kind": "write", "what": "c.value", "value": "1",
             "line": 520, "file": "concurrent/futures/_base.py"},
            {"step": 2, "thread": "ThreadPoolExecutor-0_1", "kind": "write", "what": "c.value", "value": "1", "line": 7}]
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(trace_table(rows, lambda key, **f: message("en", key, **f)))
    text = out.getvalue()
    assert "_base.py:520" in text and "concurrent/futures/_base.py" not in text
    assert "ThreadPoolExecutor-0_0" in text and "ThreadPoolExecutor-0_1" in text and "write c.value ← 1" in text


def test_verbose_shows_the_failures_of_an_expected_race_too():
    racy = CASE.replace("  other: {}\n", "  other: {racy: true}\n")
    other = next(v for v in parse_case(racy, "counter.yaml").variants if v.name == "other")
    failed = Trial(index=0, seed=0, status=Status.DONE, outcome="error: RuntimeError: changed size", matches=False,
                   errors=["up:\n  File \"counter.yaml\", line 4, in up\nRuntimeError: changed size"])
    result = grade(other, ModeSpec("opcode"), [failed, run(1, "0", 0)], seed=1, planned=2)
    assert result.ok
    shown = {}
    for verbose in (False, True):
        out = io.StringIO()
        TerminalReport(Console(file=out, width=200, color_system=None), "en", verbose=verbose).variant(result, False)
        shown[verbose] = out.getvalue()
    assert 'File "counter.yaml", line 4, in up' in shown[True]
    assert 'File "counter.yaml", line 4, in up' not in shown[False]  # an expected race: the verdict says enough


def unjudged(index: int) -> Trial:
    return Trial(index=index, seed=index, status=Status.INCONCLUSIVE, outcome="inconclusive: did not finish in time",
                 matches=False)


def test_a_run_racekit_could_not_judge_is_neither_counted_right_nor_called_the_wrong_outcome():
    # 1,383 runs of which one was not judged: "in all 1383 runs, … was 0" was false.
    right = grade(variant(), CONTROLLED, [run(0, "0", 0), run(1, "0", 0), unjudged(2)], seed=1, planned=3)
    text = sentences(right)
    assert "In every run racekit could judge (2 of 3), 0 was 0." in text and "In all" not in text
    assert "1 of 3 runs could not be judged" in text
    assert "在 racekit 能判断的每次运行中（3 次中的 2 次），0 都是 0。" in sentences(right, "zh")
    # Beside wrong runs, the unjudged ones are not "the outcome most often seen".
    wrong = grade(variant(), CONTROLLED, [run(0, "2", 0), unjudged(1), unjudged(2), unjudged(3)], seed=1, planned=4)
    text = sentences(wrong)
    assert "most often 2 (1 run)" in text and "most often inconclusive" not in text
