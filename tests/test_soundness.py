"""Verdicts you can trust: each wrong verdict the controlled engine and the
analyser gave (issue 10) as a test, and the differential soundness test.

The differential test is the oracle: every outcome real threads reach under
opcode forcing must be among the outcomes of the exhaustive controlled search
(which is complete for these small cases). An outcome outside it means the
controlled engine missed an interleaving: a race it could report as clean.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import pytest

from conftest import CASES, TEST_CASES, racekit
from racekit.analysis.accesses import count_lost, lost_updates
from racekit.analysis.results import Grade, Verdict
from racekit.case.loader import load_case
from racekit.engine import RunOptions, run
from racekit.errors import CaseError
from racekit.case.loader import parse_case
from racekit.runtime.controlled.run import drive, execute
from racekit.runtime.controlled.strategies.dpor import PartialOrder
from racekit.runtime.controlled.strategies.random import RandomStrategy
from racekit.runtime.controlled.search import explore
from racekit.options import ModeSpec
from racekit.runtime.programs import compile_program

SOUNDNESS = TEST_CASES / "soundness"
CORPUS = SOUNDNESS / "corpus.yaml"


@pytest.fixture(autouse=True)
def no_saved_schedules(monkeypatch):
    monkeypatch.setenv("RACEKIT_DATABASE", "off")


def results(path, *variants, **options):
    options.setdefault("seed", 11)
    options.setdefault("workers", 1)
    result = run([load_case(path)], RunOptions(variants=variants, **options))
    return {v.name: v for v in result.variants}


def exhaustive_outcomes(path, variant, cap: int = 50_000) -> tuple[Counter, bool]:
    """Every outcome of every interleaving, one execution per class of equivalent
    ones (the partial-order reduction, itself checked against plain depth-first
    search in tests/unit/test_dpor.py); complete unless ``cap`` executions ran."""
    program = compile_program(load_case(path).variant(variant), ModeSpec("controlled", strategy="exhaustive"))
    found: Counter[str] = Counter()
    for runs, (trial, _controller) in enumerate(drive(program, 0, 1, PartialOrder()), 1):
        found[trial.outcome] += 1
        if runs >= cap:
            return found, False
    return found, True


# -- the differential soundness test -------------------------------------------------

CORPUS_VARIANTS = [v.name for v in load_case(CORPUS).variants]


@pytest.mark.parametrize("variant", CORPUS_VARIANTS)
def test_every_outcome_real_threads_reach_is_one_the_exhaustive_search_reaches(variant):
    searched, complete = exhaustive_outcomes(CORPUS, variant)
    assert complete, variant
    real = results(CORPUS, variant, modes=("opcode",), runs=300, workers=2)[variant]
    assert real.inconclusive == 0
    assert set(real.outcomes) <= set(searched), (variant, dict(real.outcomes), dict(searched))


LIBRARY_SMALL = [
    ("balance.yaml", "unlocked", {"iterations": 2}),
    ("balance.yaml", "locked", {"iterations": 2}),
    ("global_counter.yaml", "unlocked", {"iterations": 2}),
    ("check_then_act.yaml", "unlocked", {}),
    ("check_then_act.yaml", "locked", {}),
]


@pytest.mark.slow
@pytest.mark.parametrize("case, variant, params", LIBRARY_SMALL)
def test_the_library_lessons_pass_the_differential_test_too(case, variant, params):
    loaded = load_case(CASES / case)
    program = compile_program(loaded.variant(variant).with_params(params) if params else loaded.variant(variant),
                              ModeSpec("controlled", strategy="exhaustive"))
    searched: Counter[str] = Counter()
    assert explore(program, 1, lambda t: searched.update([t.outcome]), 50_000, grow_past_failure=True).complete
    real = run([loaded], RunOptions(modes=("opcode",), runs=200, variants=(variant,), params=params, seed=3,
                                    workers=2)).variants[0]
    assert set(real.outcomes) <= set(searched), (dict(real.outcomes), dict(searched))


# -- 1. threading.local -------------------------------------------------------------

def test_thread_local_attributes_are_never_a_data_race():
    v = results(SOUNDNESS / "items.yaml", "thread_local")["thread_local"]
    assert v.verdict is Verdict.NO_RACE and v.ok
    assert v.data_races == 0


# -- 2. reads without an attribute or subscript load -----------------------------------

@pytest.mark.parametrize("variant", ["check_len_then_pop", "check_truth_then_pop", "check_in_then_set",
                                     "defaultdict_update", "lazy_init"])
def test_checks_through_len_truth_and_in_are_scheduling_points(variant):
    found, complete = exhaustive_outcomes(CORPUS, variant)
    assert complete
    # The serial orders are among the schedules, and they end right; the
    # interleaved check-then-act ends wrong.
    expected = load_case(CORPUS).variant(variant).expect.values[0]
    assert found[repr(expected)] >= 2, found
    assert len(found) >= 2, found


def test_the_first_failure_of_check_then_pop_needs_a_preemption_and_the_search_says_so():
    v = results(CORPUS, "check_len_then_pop", modes=("controlled",), strategy="exhaustive")["check_len_then_pop"]
    assert v.verdict is Verdict.RACE and v.search["stopped"] == "failure_bound"
    assert v.search["first_wrong_preemptions"] == v.search["limit"] == 1
    assert v.outcomes["1"] >= 2  # both serial orders end right


# -- 3. a data race alone is not a wrong outcome -------------------------------------

def test_a_correct_hand_off_with_a_data_race_is_not_called_racy():
    v = results(SOUNDNESS / "items.yaml", "handoff")["handoff"]
    assert v.verdict is Verdict.NO_RACE and v.ok
    assert v.data_races > 0 and v.harmless_races > 0 and v.witnesses == 0
    assert v.schedule is None  # nothing failed: nothing to replay or save


def test_a_race_that_only_shows_when_reversed_is_reported_with_its_witness(tmp_path):
    # With PCT at depth 1 (no change points) every run is a serial order; only
    # the reversal of the racing pair can show the lost update.
    path = tmp_path / "reversal.yaml"
    path.write_text(CORPUS.read_text())
    v = results(path, "counter", modes=("controlled",), strategy="pct", depth=1, runs=3)["counter"]
    assert v.wrong == 0 and v.witnesses >= 1
    assert v.verdict is Verdict.RACE and v.ok
    assert v.witness_outcome in ("2", "3") and v.schedule
    replayed = racekit("replay", str(path), "--variant", "counter", "--schedule", v.schedule, "-f", "json")
    assert replayed.returncode == 1
    assert json.loads(replayed.stdout)["cases"][0]["variants"][0]["outcomes"] == {v.witness_outcome: 1}


# -- 4. a failure without concurrency is not a race ------------------------------------

@pytest.mark.parametrize("variant, outcome", [
    ("always_raises", "error: ZeroDivisionError: division by zero"),
    ("every_run_attribute_error", "error: AttributeError: 'Box' object has no attribute 'missing'"),
])
def test_a_racy_variant_that_fails_even_serially_is_an_error(variant, outcome):
    v = results(SOUNDNESS / "items.yaml", variant)[variant]
    assert v.verdict is Verdict.ERROR and not v.ok
    assert v.serial_failure["outcome"] == outcome
    assert v.serial_failure["order"]


def test_the_serial_baseline_runs_in_every_mode():
    v = results(SOUNDNESS / "items.yaml", "always_raises", modes=("opcode",), runs=10)["always_raises"]
    assert v.verdict is Verdict.ERROR and v.serial_failure is not None


def test_a_string_expect_against_a_number_gets_a_type_hint():
    v = results(SOUNDNESS / "items.yaml", "string_expect")["string_expect"]
    assert v.verdict is Verdict.ERROR
    assert v.type_hint == {"expected": "'1'", "expected_type": "str", "outcome": "1"}
    proc = racekit("run", str(SOUNDNESS / "items.yaml"), "-V", "string_expect")
    assert "The case expects '1' (a str), but the outcome is 1: equal as text, not as values." in " ".join(
        proc.stdout.split())


# -- 5. spin waits and budgets ---------------------------------------------------------

def test_an_exhaustive_search_of_a_spin_wait_hand_off_completes_with_no_deadlock():
    found, complete = exhaustive_outcomes(CORPUS, "spin_handoff")
    assert complete and set(found) == {"42"}


def test_a_spin_nothing_can_end_is_a_livelock_found_at_once_not_a_lock_deadlock():
    started = time.monotonic()
    v = results(SOUNDNESS / "items.yaml", "spin_forever", runs=3)["spin_forever"]
    assert [r.grade for r in v.rows if r.count] == [Grade.LIVELOCK]
    assert v.verdict is Verdict.DEADLOCK
    assert time.monotonic() - started < 10  # well inside its 20 s timeout
    proc = racekit("run", str(SOUNDNESS / "items.yaml"), "-V", "spin_forever", "-n", "1")
    text = " ".join(proc.stdout.split())
    assert "livelock" in text and "waited for a lock" not in text and "no timeout was needed" in text


def test_a_bounded_retry_loop_is_not_taken_for_a_spin():
    v = results(SOUNDNESS / "items.yaml", "spin_with_retries")["spin_with_retries"]
    assert v.outcomes == {"50": 30} and v.ok  # its counter changes: it is never held back or called a livelock


@pytest.mark.slow
def test_a_long_correct_case_gets_a_budget_that_fits_it():
    v = results(SOUNDNESS / "long_locked.yaml")["default"]
    assert v.verdict is Verdict.NO_RACE and v.ok and v.outcomes == {"52000": 1}


def test_a_run_past_its_budget_is_inconclusive_never_a_failure():
    program = compile_program(load_case(SOUNDNESS / "long_locked.yaml").variants[0].with_params({"iterations": 300}),
                              ModeSpec("controlled", step_limit=500))
    trial, _ = execute(program, 0, 1, RandomStrategy(1))
    assert trial.status.value == "inconclusive" and trial.why["kind"] == "step_budget" and trial.why["steps"] == 500


# -- 6. interpreter state does not leak between cases ------------------------------------

def test_a_case_that_changes_the_interpreter_does_not_break_the_next_case():
    cases = [load_case(SOUNDNESS / "leak.yaml"), load_case(SOUNDNESS / "victim.yaml")]
    result = run(cases, RunOptions(runs=2, workers=1, seed=1))
    assert all(v.ok for v in result.variants), [(v.name, v.rows) for v in result.variants]


# -- 7. exact lost updates ----------------------------------------------------------------

def test_exact_lost_updates_equal_the_deviation_in_all_70_schedules():
    program = compile_program(load_case(CORPUS).variant("counter"), ModeSpec("controlled", strategy="exhaustive"))
    mismatched = []

    def check(trial):
        if trial.lost != 4 - int(trial.outcome):
            mismatched.append((trial.outcome, trial.lost))

    assert explore(program, 1, check, 1000, grow_past_failure=True).schedules == 70
    assert mismatched == []


@pytest.mark.parametrize("seed", range(12))
def test_exact_lost_updates_equal_the_deviation_in_random_schedules_of_larger_counts(seed):
    variant = load_case(CASES / "balance.yaml").variant("unlocked").with_params({"iterations": 300})
    program = compile_program(variant, ModeSpec("controlled"))
    trial, controller = execute(program, seed, seed, RandomStrategy(seed))
    # Two opposite counters: the exact count is computed per update, so it
    # is at least the deviation (losses may cancel out in the total).
    assert count_lost(lost_updates(controller.log)) == trial.lost >= abs(int(trial.outcome))


def test_a_counter_of_two_locations_counts_each_location_apart():
    variant = load_case(CORPUS).variant("counter_three")
    program = compile_program(variant, ModeSpec("controlled"))
    for seed in range(20):
        trial, _ = execute(program, seed, seed, RandomStrategy(seed))
        assert trial.lost == 5 - int(trial.outcome)


# -- 8. words that fit the case --------------------------------------------------------

def test_an_overdraft_and_a_double_initialisation_are_not_called_lost_updates():
    overdraft = results(CASES / "check_then_act.yaml", "unlocked", modes=("controlled",), runs=60)["unlocked"]
    assert overdraft.verdict is Verdict.RACE
    assert overdraft.lost_updates is None or overdraft.lost_updates.max_when_wrong == 0
    double = results(SOUNDNESS / "items.yaml", "double_init")["double_init"]
    assert double.verdict is Verdict.RACE
    proc = racekit("run", str(SOUNDNESS / "items.yaml"), "-V", "double_init", "--seed", "2")
    assert "lost" not in proc.stdout and "stale None" not in proc.stdout


def test_a_class_attribute_is_named_after_its_class():
    proc = racekit("run", str(SOUNDNESS / "items.yaml"), "-V", "class_attribute", "--seed", "1")
    assert "Hits.total" in proc.stdout and "type#" not in proc.stdout


def test_the_first_choice_is_no_preemption_and_the_legend_names_only_marks_shown():
    v = results(CORPUS, "counter", modes=("controlled",), strategy="exhaustive")["counter"]
    assert v.schedule_preemptions == 1  # a lost update needs exactly one
    proc = racekit("run", str(CORPUS), "-V", "lazy_init", "-m", "controlled", "--seed", "3")
    title = next(line for line in proc.stdout.splitlines() if "step by step" in line)
    assert "✗" not in title and "!" not in title  # a double initialisation loses no update


def test_variants_never_reached_after_ctrl_c_say_not_run():
    from racekit.analysis.grading import grade
    from racekit.report.terminal import TerminalReport
    from rich.console import Console

    variant = load_case(CASES / "balance.yaml").variant("locked")
    v = grade(variant, ModeSpec("opcode"), [], 1, 200, stop_reason="interrupted")
    console = Console(record=True, width=120, color_system=None)
    TerminalReport(console).variant(v)
    text = console.export_text()
    assert "NOT RUN" in text and "Not run: the run was interrupted" in text
    assert "meant to be correct, but it was not" not in text


# -- 9. silent traps ---------------------------------------------------------------------

def test_a_misspelt_thread_in_a_variant_and_a_misspelt_any_of_are_positioned_errors():
    with pytest.raises(CaseError) as info:
        load_case(SOUNDNESS / "traps.yaml")
    found = [tuple(line.split(": error: ", 1)) for line in str(info.value).splitlines()]
    assert [where.rsplit("/", 2)[-2:] for where, _ in found] == [["soundness", "traps.yaml:11:10"],
                                                                 ["soundness", "traps.yaml:15:7"]]
    assert [message for _, message in found] == [
        "expect has the key 'anyof': did you mean 'any_of'? (to expect a mapping with that key, write check: "
        "\"outcome == {'anyof': ...}\")",
        "variant 'a' adds a thread 'depositer' the case does not have (did you mean 'depositor'?); to add a "
        "thread on purpose, give it a name not so close to an existing one"]


def test_a_thread_added_on_purpose_is_fine():
    case = parse_case("racekit: 1\nname: t\nthreads:\n  worker: pass\noutcome: 1\nexpect: 1\n"
                      "variants:\n  more:\n    threads:\n      worker2: pass\n", "t.yaml")
    assert [t.name for t in case.variant("more").threads] == ["worker", "worker2"]


def test_what_case_code_prints_is_shown_not_lost():
    quiet = racekit("run", str(TEST_CASES / "noisy.yaml"), "-n", "2")
    assert "printed" in quiet.stdout and "(shown with --verbose)" in quiet.stdout
    loud = racekit("run", str(TEST_CASES / "noisy.yaml"), "-n", "2", "--verbose")
    assert "What the case's code printed in a run:" in loud.stdout


# -- 10. yield mode and PCT ------------------------------------------------------------------

def test_yield_mode_adds_no_tracer():
    from racekit.runtime.forcing import Forcing, Scope
    from racekit.runtime.modes import mode

    for name in ("yield", "controlled"):
        assert type(mode(name).make_forcing(ModeSpec(name), Scope([], []))) is Forcing


def test_pct_learns_the_run_length():
    variant = load_case(CASES / "balance.yaml").variant("unlocked").with_params({"iterations": 200})
    program = compile_program(variant, ModeSpec("controlled", strategy="pct", depth=2))
    program.run(0, 1)
    assert program.controlled.run_length >= 800  # two threads, 200 read-write pairs each


# -- 11 and 12. code the scheduler cannot see -----------------------------------------------

# counter_lib.py lies outside the case's folder and the scope racekit is given:
# an installed package, as far as racekit can tell.
INSTALLED = TEST_CASES / "installed"
UNSEEN = SOUNDNESS / "unseen" / "unseen.yaml"


def test_a_thread_blocked_outside_the_scheduler_is_noticed_at_once_not_reported_as_a_deadlock(monkeypatch):
    started = time.monotonic()
    v = results(UNSEEN, "blocked_outside", scope=(str(UNSEEN.parent),))["blocked_outside"]
    assert v.verdict is Verdict.INCONCLUSIVE and not v.ok
    assert v.stop_reason == "blocked outside the scheduler"
    assert time.monotonic() - started < 10  # not the 30 s timeout


def test_a_lock_made_by_code_racekit_does_not_rewrite_is_still_scheduled(monkeypatch):
    # counter_lib is outside the scope (not rewritten), but its threading.Lock(), made
    # while a trial runs, is racekit's scheduler-aware one: the run is judged.
    monkeypatch.syspath_prepend(str(INSTALLED))
    v = results(UNSEEN, "lock_of_unrewritten_code", scope=(str(UNSEEN.parent),))["lock_of_unrewritten_code"]
    assert v.verdict is Verdict.NO_RACE and v.ok and set(v.outcomes) == {"2"}


def test_a_counter_in_a_module_racekit_cannot_see_is_inconclusive_not_clean(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(INSTALLED))
    v = results(UNSEEN, "opaque_counter", scope=(str(UNSEEN.parent),))["opaque_counter"]
    assert v.verdict is Verdict.INCONCLUSIVE and not v.ok
    assert any(u.startswith("Counter.increment (") and "counter_lib.py" in u for u in v.unseen)
    proc = racekit("run", str(UNSEEN), "-V", "opaque_counter", cwd=tmp_path, env={"PYTHONPATH": str(INSTALLED)})
    assert proc.returncode == 1 and "they ran code racekit does not rewrite: Counter.increment" in " ".join(
        proc.stdout.split())


def test_a_module_named_with_instrument_is_rewritten_wherever_it_is_installed(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(INSTALLED))
    v = results(UNSEEN, "opaque_counter", scope=(str(UNSEEN.parent),), instrument=("counter_lib",))["opaque_counter"]
    assert v.verdict is Verdict.RACE and v.lost_updates.exact and not v.unseen
    proc = racekit("run", str(UNSEEN), "-V", "opaque_counter", "--instrument", "counter_lib", "--format", "json",
                   cwd=tmp_path, env={"PYTHONPATH": str(INSTALLED)})
    variant = json.loads(proc.stdout)["cases"][0]["variants"][0]
    assert proc.returncode == 1 and variant["verdict"] == "race" and variant["unseen"] == []
    files = {row["file"] for row in variant["trace"] if "file" in row}
    assert files == {str(INSTALLED / "counter_lib.py")}  # outside the case's folder and cwd: the whole path
    story = variant["story"]
    assert story["kind"] == "lost update" and story["read_file"] == str(INSTALLED / "counter_lib.py")
    assert story["read_line"] == 11  # `self.value += 1`
    # The lines to copy name the module too, and `replay --instrument` follows the schedule;
    # without it the same schedule does not fit (the rewritten module's steps are missing).
    assert variant["instrument"] == ["counter_lib"]
    text = racekit("run", str(UNSEEN), "-V", "opaque_counter", "--instrument", "counter_lib", cwd=tmp_path,
                   env={"PYTHONPATH": str(INSTALLED), "RACEKIT_DATABASE": "off"}).stdout
    assert re.search(r"Replay it: racekit replay \S+ --variant opaque_counter --schedule \S+ --instrument counter_lib\n",
                     text), text
    again = racekit("replay", str(UNSEEN), "-V", "opaque_counter", "-s", variant["schedule"], "--instrument",
                    "counter_lib", cwd=tmp_path, env={"PYTHONPATH": str(INSTALLED)})
    assert again.returncode == 1 and "Replay it: racekit replay" in again.stdout, again.stderr
    assert "--instrument counter_lib" in again.stdout


# -- every execution is a trial of its own -------------------------------------------

@pytest.mark.parametrize("strategy", ["exhaustive", "random"])
def test_module_and_interpreter_state_start_fresh_in_every_execution(strategy):
    # A helper module of the case's own folder counts calls, and setup raises the
    # recursion limit: an execution that saw the previous one's count or limit
    # would end (4, 1007, 2), a false race on correct code (the exhaustive search
    # reused the serial run's module before).
    v = results(TEST_CASES / "soundness" / "modstate" / "modstate.yaml", "default", modes=("controlled",),
                strategy=strategy, runs=20)["default"]
    assert len(v.outcomes) == 1 and v.verdict is Verdict.NO_RACE, v.outcomes
    calls, _base, n = eval(next(iter(v.outcomes)))
    assert (calls, n) == (2, 2)
