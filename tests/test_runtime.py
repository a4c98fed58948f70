"""The runtime survives whatever a case does, and reports it.

Deadlocks, exceptions, crashes and GIL-holding hangs each end as a recorded
verdict while the rest of the run goes on; interpreter state is restored.
"""

from __future__ import annotations

import sys
import threading
import time

import pytest

from conftest import TEST_CASES
from racekit.analysis.results import Grade, Verdict
from racekit.case.loader import load_case, parse_case
from racekit.engine import RunOptions, run, trial_seed
from racekit.options import STRESS_MODES, ModeSpec
from racekit.runtime.programs import compile_program
from racekit.records import Status


def run_variants(path, *variants, mode="opcode", runs=None, workers=1, **options):
    case = load_case(path)
    result = run([case], RunOptions(modes=(mode,), runs=runs, variants=variants, workers=workers, seed=7, **options))
    return {v.name: v for v in result.variants}


def test_deadlock_ends_within_timeout_plus_two_seconds_with_stacks():
    started = time.monotonic()
    results = run_variants(TEST_CASES / "deadlock.yaml", runs=5)
    elapsed = time.monotonic() - started
    v = results["default"]
    assert v.verdict is Verdict.DEADLOCK
    assert v.ok  # the variant is racy: a deadlock is the failure it should show
    assert elapsed < 1 + 2, f"took {elapsed:.2f} s for a 1 s timeout"
    assert v.runs == 1 and v.planned_runs == 5 and v.stop_reason == "deadlock"
    stacks = v.samples[0]
    assert 'Thread "left"' in stacks and 'Thread "right"' in stacks
    assert "deadlock.yaml\", line 12, in left" in stacks  # the YAML line of `with b:`


def test_thread_exception_becomes_the_outcome_and_the_run_goes_on():
    v = run_variants(TEST_CASES / "failures.yaml", "raises")["raises"]
    assert v.outcomes == {"error: ValueError: boom": 4}
    assert v.never_observed == ("1",)
    assert v.runs == 4
    # It raises in a serial run too: an error of the case, not a race.
    assert v.verdict is Verdict.ERROR and not v.ok
    assert v.serial_failure == {"order": ["t"], "outcome": "error: ValueError: boom",
                                "detail": v.serial_failure["detail"]}
    assert "ValueError: boom" in v.serial_failure["detail"]
    assert "failures.yaml\", line 17, in t" in v.samples[0]


def test_a_case_typo_is_an_error_not_a_race():
    v = run_variants(TEST_CASES / "failures.yaml", "typo")["typo"]
    assert v.verdict is Verdict.ERROR
    assert v.reason == "error: NameError: name 'itemz' is not defined"


def test_setup_failure_is_an_error():
    v = run_variants(TEST_CASES / "failures.yaml", "setup_fails")["setup_fails"]
    assert v.verdict is Verdict.ERROR
    assert v.reason == "error in setup: ZeroDivisionError: division by zero"


def test_worker_crashes_are_recorded_and_later_variants_still_run():
    results = run_variants(TEST_CASES / "failures.yaml", "exits", "segfault", "fine")
    exits, segfault, fine = results["exits"], results["segfault"], results["fine"]
    assert exits.outcomes == {"crash: exited with code 3": 4}
    assert exits.verdict is Verdict.ERROR
    assert segfault.outcomes == {"crash: killed by signal SIGSEGV": 4}
    assert "Segmentation fault" in segfault.samples[0]
    assert "failures.yaml\", line 25" in segfault.samples[0]  # the faulthandler stack reaches the case line
    assert fine.verdict is Verdict.NO_RACE and fine.runs == 3 and fine.ok


def test_a_variant_that_crashes_every_run_stops_at_the_crash_limit():
    # Each crash costs a new worker; 10,000 of them once took 25 minutes.
    from racekit.runtime.pool import CRASH_LIMIT

    v = run_variants(TEST_CASES / "failures.yaml", "exits", runs=CRASH_LIMIT + 30, workers=2)["exits"]
    assert v.outcomes == {"crash: exited with code 3": v.runs}
    assert CRASH_LIMIT <= v.runs < CRASH_LIMIT + 30  # trials already sent may finish after the stop
    assert v.stop_reason == "every run crashed" and v.verdict is Verdict.ERROR


def test_fail_fast_stops_at_the_first_crash():
    v = run_variants(TEST_CASES / "failures.yaml", "exits", runs=10, stop_on_failure=True)["exits"]
    assert v.runs == 1 and v.stop_reason == "first failure found"


def test_a_c_profiler_running_around_a_trial_survives_it():
    # cProfile shows itself to sys.getprofile() as an object that cannot be
    # called; putting it back with sys.setprofile made every later call raise.
    import cProfile

    from racekit.runtime import interpreter_state

    # (On 3.12+ cProfile uses sys.monitoring and sys.getprofile() shows None;
    # the profile hook must come back as it was either way.)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        before = sys.getprofile()
        with interpreter_state.preserved():
            sys.setprofile(None)  # as a trial's own tracing may
        assert sys.getprofile() is before
        len([1])  # a call: raised TypeError when the object was set as a Python hook
    finally:
        profiler.disable()
    assert any("len" in str(entry.code) for entry in profiler.getstats())  # it kept profiling


@pytest.mark.slow
def test_a_trial_that_holds_the_gil_forever_is_stopped_as_a_deadlock():
    started = time.monotonic()
    v = run_variants(TEST_CASES / "failures.yaml", "gil_hog")["gil_hog"]
    assert v.verdict is Verdict.DEADLOCK
    assert [r.grade for r in v.rows if r.count] == [Grade.DEADLOCK]
    assert "failures.yaml\", line 30" in v.samples[0]
    assert time.monotonic() - started < 1 + 2 + 4  # timeout + faulthandler grace + slack


def test_code_in_the_case_folder_is_forced_and_reimported_every_trial():
    # bank.py's module counter is 1 in every trial only if each trial imports
    # it afresh; the lost update inside bank.py's `self.balance += amount` is
    # found only if opcode forcing reaches code outside the case file.
    # Measured: 40-50 % of trials lose an update on 3.10-3.13; with 150 runs
    # (stop at the first) a miss has probability < 0.9**150 = 1.4e-7.
    v = run_variants(TEST_CASES / "bank" / "bank_case.yaml", stop_on_failure=True)["default"]
    assert v.verdict is Verdict.RACE
    assert all(row.outcome.endswith("calls=1") for row in v.rows), v.rows


def test_case_output_never_reaches_racekit_output(capfd):
    v = run_variants(TEST_CASES / "noisy.yaml")["default"]
    assert v.verdict is Verdict.NO_RACE
    out, err = capfd.readouterr()
    assert "MARKER" not in out + err


def test_same_seed_gives_the_same_trial_seeds_and_random_choices():
    first = run_variants(TEST_CASES / "seeded.yaml")["default"]
    second = run_variants(TEST_CASES / "seeded.yaml", workers=2)["default"]
    assert first.outcomes == second.outcomes
    assert len(first.outcomes) > 1  # the trials really drew different numbers
    assert trial_seed(7, "seeded[default]", "opcode", 3) == trial_seed(7, "seeded[default]", "opcode", 3)
    assert trial_seed(7, "seeded[default]", "opcode", 3) != trial_seed(8, "seeded[default]", "opcode", 3)


CASE = b"""\
racekit: 1
name: restore
setup: |
  class Box:
      def __init__(self):
          self.v = 0
  box = Box()
threads:
  a: |
    for _ in range(50):
        box.v += 1
  b: |
    for _ in range(50):
        box.v += 1
outcome: box.v
expect: 100
timeout: 5
"""


@pytest.mark.parametrize("mode", STRESS_MODES)
def test_interpreter_state_is_restored_after_a_trial(mode):
    variant = parse_case(CASE, str(TEST_CASES / "restore.yaml")).variants[0]
    before_interval, before_trace = sys.getswitchinterval(), sys.gettrace()
    before_threads = threading.active_count()
    program = compile_program(variant, ModeSpec(mode, 1e-5))
    trial = program.run(0, 1)
    assert trial.status is Status.DONE
    assert sys.getswitchinterval() == before_interval
    assert sys.gettrace() is before_trace
    assert threading.active_count() == before_threads
    if hasattr(sys, "monitoring"):
        assert all(sys.monitoring.get_tool(t) != "racekit" for t in range(6))


@pytest.mark.parametrize("variant", ["tracer_removed", "interval_changed", "events_off"])
def test_forcing_switched_off_fails_loudly_instead_of_passing(variant):
    v = run_variants(TEST_CASES / "sabotage.yaml", variant)[variant]
    assert v.verdict is Verdict.ERROR and not v.ok
    assert v.reason == "error: forcing was switched off during the trial"
    kinds = {p["kind"] for p in v.why["problems"]}
    assert v.why["kind"] == "forcing_off"
    assert kinds & ({"switch_interval"} if variant == "interval_changed" else
                    {"tracer_replaced", "tool_taken", "callback_replaced", "switch_points_removed", "events_off"})


def test_native_mode_does_not_police_the_switch_interval():
    v = run_variants(TEST_CASES / "sabotage.yaml", "interval_changed", mode="native")["interval_changed"]
    assert v.verdict is Verdict.NO_RACE


