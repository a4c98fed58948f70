"""Controlled mode: exact interleavings, exhaustive counts, replay, explanations.

Everything here is deterministic: the scheduler, not the operating system,
decides every interleaving.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter

import pytest

from conftest import CASES, TEST_CASES, racekit
from racekit.analysis.results import Verdict
from racekit.case.loader import load_case
from racekit.engine import RunOptions, record_tape, replay_schedule, run
from racekit.runtime.controlled.schedule import decode_schedule, encode_schedule
from racekit.runtime.controlled.search import explore
from racekit.options import ModeSpec
from racekit.runtime.programs import compile_program


@pytest.fixture(autouse=True)
def no_saved_schedules(monkeypatch):
    """Saved failures would be replayed first and change the counts below."""
    monkeypatch.setenv("RACEKIT_DATABASE", "off")


def search(path, variant, bound=None):
    case = load_case(path)
    program = compile_program(case.variant(variant), ModeSpec("controlled", strategy="exhaustive",
                                                              preemptions=bound))
    outcomes: Counter[str] = Counter()
    summary = explore(program, 1, lambda t: outcomes.update([t.outcome]), 100_000, bound=bound,
                      iterate=bound is None, grow_past_failure=True)
    return outcomes, summary


def controlled(path, *variants, strategy="random", runs=None, **options):
    case = load_case(path)
    result = run([case], RunOptions(modes=("controlled",), strategy=strategy, runs=runs, variants=variants,
                                    seed=5, workers=1, **options))
    return {v.name: v for v in result.variants}


# -- the correctness table ------------------------------------------------------------


def test_two_threads_two_increments_have_exactly_70_interleavings():
    # C(8, 4): each thread reads and writes twice; every order of the 8
    # operations that keeps each thread's own order is one schedule.
    outcomes, summary = search(TEST_CASES / "twice.yaml", "racy")
    assert summary.schedules == 70 and summary.complete
    assert outcomes == {"2": 32, "3": 32, "4": 6}


def oracle(threads: int, section: list[str], repeats: int, locked: bool) -> list[tuple[int, int]]:
    """Every interleaving of ``threads`` threads, each doing ``section`` (ops of
    "acquire", "read", "write", "release") ``repeats`` times on one counter,
    enumerated here independently of racekit: (preemptions, final value) each.

    A preemption is a switch away from a thread that had made an operation and
    could go on (not finished, not waiting for the lock), racekit's definition."""
    program = section * repeats
    found: list[tuple[int, int]] = []

    def step(pcs, regs, value, owner, last, preemptions):
        movable = [t for t in range(threads) if pcs[t] < len(program)
                   and not (program[pcs[t]] == "acquire" and owner is not None)]
        if not movable:
            assert all(pc == len(program) for pc in pcs), "the oracle deadlocked"
            found.append((preemptions, value))
            return
        for t in movable:
            pre = preemptions + (last is not None and t != last and last in movable and pcs[last] > 0)
            op = program[pcs[t]]
            new_regs, new_value, new_owner = list(regs), value, owner
            if op == "read":
                new_regs[t] = value
            elif op == "write":
                new_value = regs[t] + 1
            elif op == "acquire":
                new_owner = t
            else:
                new_owner = None
            new_pcs = list(pcs)
            new_pcs[t] += 1
            step(new_pcs, new_regs, new_value, new_owner, t if new_pcs[t] < len(program) else None, pre)

    if not locked:
        program = [op for op in program if op in ("read", "write")]
    step([0] * threads, [0] * threads, 0, None, None, 0)
    return found


def test_the_oracle_agrees_with_the_textbook_count():
    assert len(oracle(2, ["read", "write"], 2, locked=False)) == 70  # C(8, 4)


@pytest.mark.parametrize("bound", [0, 1, 2])
def test_a_preemption_bound_explores_exactly_the_schedules_within_it(bound):
    expected = Counter(str(v) for p, v in oracle(2, ["read", "write"], 2, locked=False) if p <= bound)
    found, summary = search(TEST_CASES / "twice.yaml", "racy", bound=bound)
    assert summary.complete
    assert summary.schedules == sum(expected.values())
    assert found == expected


def test_the_locked_variant_only_ever_ends_at_4():
    expected = Counter(str(v) for _, v in oracle(2, ["acquire", "read", "write", "release"], 2, locked=True))
    outcomes, summary = search(TEST_CASES / "twice.yaml", "locked")
    assert set(expected) == {"4"}
    assert outcomes == expected and summary.complete


def test_withdraw_if_enough_is_found_at_preemption_bound_1():
    v = controlled(CASES / "check_then_act.yaml", "unlocked", strategy="exhaustive")["unlocked"]
    assert v.verdict is Verdict.RACE and v.ok
    assert v.search["first_wrong_preemptions"] == 1
    # The bound stops growing where the failure is: 6 of the 20 schedules, not complete.
    assert (v.search["schedules"], v.search["complete"], v.search["stopped"], v.search["limit"]) == \
        (6, False, "failure_bound", 1)
    assert "-60" in v.outcomes
    assert v.schedule_preemptions == 1


def test_list_append_and_queue_hand_offs_are_never_racy():
    append = controlled(TEST_CASES / "append.yaml", runs=20, params={"iterations": 5})["default"]
    assert append.verdict is Verdict.NO_RACE and append.data_races == 0
    handoff = controlled(TEST_CASES / "handoff.yaml", runs=40)["default"]
    assert handoff.verdict is Verdict.NO_RACE and handoff.data_races == 0, handoff.rows


def test_the_deadlock_case_is_found_as_a_deadlock_and_explained_as_a_cycle_of_lock_holders():
    v = controlled(CASES / "deadlock.yaml", "opposite_order", strategy="exhaustive")["opposite_order"]
    assert v.verdict is Verdict.DEADLOCK and v.ok
    assert v.story["kind"] == "deadlock"
    waits = {w["thread"]: (w["kind"], w["what"], w["holder"]) for w in v.why["waiting"]}
    assert waits == {"alice_to_bob": ("acquire", "b.lock", "bob_to_alice"),
                     "bob_to_alice": ("acquire", "a.lock", "alice_to_bob")}
    assert {"what": "a.lock", "by": "alice_to_bob"} in v.why["held"]
    assert v.why["cause"]["kind"] == "cycle" and len(v.why["cause"]["links"]) == 2
    assert v.story["blocked"] == v.why
    assert [(r["thread"], r["what"]) for r in v.trace if r.get("blocked")] == [
        ("alice_to_bob", "b.lock"), ("bob_to_alice", "a.lock")]
    assert v.lock_cycles == (("a.lock", "b.lock"),)
    fixed = controlled(CASES / "deadlock.yaml", "global_order", strategy="exhaustive")["global_order"]
    assert fixed.verdict is Verdict.NO_RACE and fixed.search["complete"] and not fixed.lock_cycles


WAITS = TEST_CASES / "teach" / "waits.yaml"


def test_a_thread_that_acquires_a_lock_it_holds_is_shown_waiting_for_itself():
    v = controlled(WAITS, "self_deadlock", strategy="exhaustive")["self_deadlock"]
    assert v.verdict is Verdict.DEADLOCK
    assert v.why["cause"] == {"kind": "self", "thread": "a", "lock": "lock"}
    steps = [(r.get("step"), r["kind"], r["line"], bool(r.get("blocked"))) for r in v.trace if "thread" in r]
    assert steps == [(1, "acquire", 12, False), (None, "acquire", 13, True)]  # the second `with lock:` never ends


def test_a_notify_before_the_wait_is_a_lost_wakeup_whichever_order_a_run_took():
    v = controlled(WAITS, "lost_wakeup", strategy="exhaustive")["lost_wakeup"]
    assert v.verdict is Verdict.DEADLOCK and v.serial_failure is None  # b-then-a is right: an order race
    assert v.why["cause"] == {"kind": "notified_before", "thread": "b", "condition": "cond", "notifiers": ["a"],
                              "finished": ["a"]}
    shown = [(r["thread"], r["kind"], r["value"]) for r in v.trace if "thread" in r]
    assert ("a", "notify", "nobody waiting") in shown and ("b", "acquire", "") in shown
    assert all(r["what"] == "cond" for r in v.trace if r.get("kind") in ("acquire", "release"))  # its own lock


def test_one_notify_for_two_waiters_leaves_one_waiting_and_says_notify_woke_the_other():
    v = controlled(WAITS, "one_notify_two_waiters", strategy="exhaustive")["one_notify_two_waiters"]
    assert v.verdict is Verdict.DEADLOCK
    cause = v.why["cause"]
    assert cause["kind"] == "notified_other" and cause["notifiers"] == ["c"] and cause["thread"] in ("a", "b")


LAZY = """racekit: 1
name: lazy_descriptor
setup: |
  class lazy:                       # a cached property's shape: a non-data descriptor
      def __init__(self, f):
          self.f = f
      def __get__(self, obj, cls):
          obj.__dict__[self.f.__name__] = v = self.f(obj)
          return v
  class C:
      def __init__(self):
          self.calls = 0
      @lazy
      def x(self):
          self.calls += 1
          return self.calls
  c = C()
threads:
  a: c.x
  b: c.x
outcome: c.calls
expect: 1
variants:
  unlocked: {racy: true}
  locked:
    setup: |
      import threading
      class locked_lazy:
          def __init__(self, f):
              self.f = f
              self.lock = threading.Lock()
          def __get__(self, obj, cls):
              obj.gets.append(1)        # a lookup that missed the instance dict
              with self.lock:
                  if "x" in obj.__dict__:
                      return obj.__dict__["x"]
                  return obj.__dict__.setdefault("x", self.f(obj))
      class C:
          def __init__(self):
              self.gets = []
          @locked_lazy
          def x(self):
              return 42
      c = C()
    outcome: len(c.gets)
    expect: {any_of: [1, 2]}
"""


def test_a_lazy_attributes_first_lookup_is_a_step_so_its_double_computation_is_a_race(tmp_path):
    # The lookup reads the instance slot another thread fills: before, it ran before
    # any decision, so the "serial" runs computed twice and racekit blamed the case.
    case = tmp_path / "lazy.yaml"
    case.write_text(LAZY)
    v = controlled(case, strategy="exhaustive")
    assert v["unlocked"].verdict is Verdict.RACE and v["unlocked"].serial_failure is None
    assert v["unlocked"].schedule_preemptions == 1
    outcomes, summary = search(case, "locked")
    # Both orders of the lookups are explored: one thread may find the value already there (1).
    assert summary.complete and set(outcomes) == {"1", "2"}


DOUBLE_START = """racekit: 1
name: double_start
setup: |
  errors = []
  timer = threading.Thread(target=lambda: None)
threads:
  a: |
    try:
        timer.start()
    except RuntimeError as error:
        errors.append(str(error))
  b: |
    try:
        timer.start()
    except RuntimeError as error:
        errors.append(str(error))
outcome: errors
expect: ["threads can only be started once"]
"""


def test_two_threads_starting_one_thread_object_meet_cpythons_error_in_every_order(tmp_path):
    # A timer restarted without a lock (limits' MemoryStorage): the check that it
    # was started ran before the scheduling step, so both threads passed it and
    # the second started a thread the scheduler waited for for ever (every run hung).
    case = tmp_path / "double_start.yaml"
    case.write_text(DOUBLE_START)
    outcomes, summary = search(case, "default")
    assert summary.complete and set(outcomes) == {"['threads can only be started once']"}


SPINNER = """racekit: 1
name: spinner
threads:
  a: |
    x = 0
    while True:
        x = x + 1
  b: |
    y = 1
outcome: "1"
expect: 1
"""


def test_a_thread_that_never_reaches_a_step_ends_the_search_unjudged_and_quickly(tmp_path):
    # It spins where no scheduler reaches it: the run is inconclusive, the search
    # is not "complete", no "failure needs 0 preemptions", and racekit does not
    # wait a minute per execution (--timeout bounds the wait for the next step).
    case = tmp_path / "spinner.yaml"
    case.write_text(SPINNER)
    started = time.monotonic()
    v = controlled(case, strategy="exhaustive", timeout=2)["default"]
    assert time.monotonic() - started < 20
    assert v.verdict is Verdict.INCONCLUSIVE and not v.search["complete"]
    assert v.search["stopped"] == "unjudged" and v.search["first_wrong_preemptions"] is None


def test_a_raise_inside_a_with_block_stands_before_the_release_the_exception_made(tmp_path):
    case = tmp_path / "raise_in_with.yaml"
    case.write_text("""racekit: 1
name: raise_in_with
setup: |
  items = [1]
  lock = threading.Lock()
threads:
  a: |
    if items:
        with lock:
            items.pop()
  b: |
    if items:
        with lock:
            items.pop()
outcome: len(items)
expect: 0
""")
    v = controlled(case, strategy="exhaustive")["default"]
    raising = next(i for i, row in enumerate(v.trace) if row.get("raised"))
    before, after = v.trace[raising - 1], v.trace[raising + 1]
    assert (before["kind"], before["what"], before["thread"]) == ("call", "items.pop()", v.trace[raising]["thread"])
    assert (after["kind"], after["what"]) == ("release", "lock")
    tape = record_tape(load_case(case), "default", v.schedule).tape
    assert tape["raised"]["step"] == next(r["step"] for r in tape["ops"] if r.get("raises"))
    assert next(r for r in tape["ops"] if r.get("raises"))["kind"] == "call"


def test_a_task_done_before_the_work_is_named_as_what_join_does_not_order(tmp_path):
    # q.join() orders what the worker did before task_done(), not the append after it;
    # the earlier put/get hand-overs order other things and are not the lesson.
    case = tmp_path / "join.yaml"
    case.write_text("""racekit: 1
name: join
setup: |
  import queue
  q = queue.Queue()
  results = []
  class Seen:
      n = 0
threads:
  boss: |
    q.put(1)
    q.join()
    Seen.n = len(results)
  worker: |
    job = q.get()
    q.task_done()
    results.append(job)
outcome: Seen.n
expect: 1
""")
    v = controlled(case, strategy="exhaustive")["default"]
    assert v.verdict is Verdict.RACE and v.story["kind"] == "unordered steps"
    ordering = v.story["ordering"]
    assert (ordering["release_kind"], ordering["acquire_kind"], ordering["gap"], ordering["access_what"]) == (
        "task-done", "join-tasks", "after", "results.append()")


def test_a_barrier_for_more_threads_than_arrive_is_short_of_a_party():
    v = controlled(WAITS, "missing_party", strategy="exhaustive")["missing_party"]
    assert v.why["cause"] == {"kind": "missing_party", "barrier": "barrier", "parties": 3, "arrived": 2,
                              "threads": ["a", "b"]}
    assert sum(1 for r in v.trace if r.get("blocked")) == 2


def test_an_event_set_before_the_write_is_named_with_what_it_does_order():
    v = controlled(TEST_CASES / "teach" / "event_order.yaml", "set_too_early", "set_after_writing",
                   strategy="exhaustive")
    early = v["set_too_early"]
    assert early.verdict is Verdict.RACE
    assert early.story["ordering"] == {"what": "ready", "gap": "after", "releaser": "writer", "release_kind": "set",
                                       "release_line": 13, "acquirer": "reader", "acquire_kind": "wait",
                                       "acquire_line": 16, "access_kind": "write", "access_what": "data.x",
                                       "access_line": 14}
    assert v["set_after_writing"].verdict is Verdict.NO_RACE and v["set_after_writing"].search["complete"]


def test_the_thread_that_raised_has_its_column_its_raise_and_its_traceback():
    v = controlled(TEST_CASES / "teach" / "raising.yaml", strategy="exhaustive")["default"]
    raised = dict(v.story["raised"])
    assert raised.pop("traceback").startswith("a:\n") and "line 13, in a" in v.story["raised"]["traceback"]
    assert raised == {"thread": "a", "error": "IndexError: pop from empty list", "raised_line": 13}
    # The pair explained is the check and the pop, each atomic, whose reversal ends right; not
    # the unordered writes of state.inside (reversed, the run still raises).
    assert {k: v.story[k] for k in ("kind", "first", "first_what", "first_line", "second", "second_what",
                                    "second_line", "cause")} == {
        "kind": "unordered steps", "first": "a", "first_what": "items", "first_line": 11, "second": "b",
        "second_what": "items.pop()", "second_line": 16, "cause": "shown"}
    raised = next(row for row in v.trace if row.get("raised"))
    assert (raised["thread"], raised["kind"], raised["line"], raised["step"]) == ("a", "raise", 13, None)
    text = racekit("run", str(TEST_CASES / "teach" / "raising.yaml"), "-m", "controlled", "--strategy",
                   "exhaustive", "-j", "1").stdout
    assert "✗ raises IndexError: pop from empty list" in text
    assert "a raised IndexError: pop from empty list (line 13):" in text
    assert "a read items (line 11) and b called items.pop() (line 16). Each step is atomic, but nothing" in text
    # (3.13 adds a line of carets under the call)
    assert re.search(r"line 13, in a\n +items\.pop\(\)\n(?: +[~^]+\n)? +IndexError: pop from empty list", text), text
    # The long value stays on its operation's row, cut with "…", never wrapped onto the next.
    assert re.search(r"write state\.inside ← 'x+…\n", text)


def test_a_bounded_semaphore_refuses_exactly_one_of_two_racing_releases_in_every_interleaving():
    # Its check and its increment are one step, as CPython's under its condition:
    # two releases never both pass the check (racekit once invented that race).
    outcomes, summary = search(TEST_CASES / "teach" / "bounded_release.yaml", "default")
    assert summary.complete and set(outcomes) == {"(1, 1)"}


@pytest.mark.parametrize("view", ["items", "keys", "values"])
def test_iterating_a_dicts_view_is_a_step_per_item_so_an_insert_in_between_is_found(view):
    outcomes, summary = search(TEST_CASES / "teach" / "dict_views.yaml", view)
    assert summary.complete
    assert "error: RuntimeError: dictionary changed size during iteration" in outcomes and "1" in outcomes
    copied, copied_summary = search(TEST_CASES / "teach" / "dict_views.yaml", "copy")
    assert copied_summary.complete and set(copied) == {"1"}


def test_an_insert_during_iteration_is_explained_by_the_loop_step_and_the_insert_it_met():
    v = controlled(TEST_CASES / "teach" / "dict_views.yaml", "items", strategy="exhaustive")["items"]
    story = v.story
    assert story["kind"] == "unordered steps" and story["cause"] == "shown"
    assert {story["first_what"], story["second_what"]} == {"d.items()", "d[3]"}
    raising = next(i for i, row in enumerate(v.trace) if row.get("raised"))
    # The next() that raised found neither an item nor the loop's end.
    assert v.trace[raising - 1]["what"] == "d.items()" and v.trace[raising - 1]["value"] == ""


def test_the_step_that_ends_a_loop_is_logged_as_finding_no_item_not_as_an_item_that_never_was():
    v = controlled(TEST_CASES / "teach" / "loop_end.yaml", strategy="exhaustive")["default"]
    tape = record_tape(load_case(TEST_CASES / "teach" / "loop_end.yaml"), "default", v.schedule).tape
    reads = [r["value"] for r in tape["ops"] if r.get("kind") == "read" and r.get("what") == "words"]
    assert reads[-1] == "no more items" and not any(value.startswith("<item") for value in reads)


def test_a_thread_the_program_started_that_died_is_said_even_when_the_outcome_is_right():
    v = controlled(TEST_CASES / "teach" / "timer_dies.yaml")["default"]
    assert v.verdict is Verdict.NO_RACE
    died = [note for note in v.warnings if note.code == "thread_died"]
    assert died and dict(died[0].fields) == {"thread": "Thread-1",
                                             "error": "AttributeError: 'NoneType' object has no attribute 'append'"}
    # What the thread printed is what plain Python prints: no racekit frame, and
    # (3.11+) the carets under the expression that failed in the line the case file shows.
    lines = v.printed.splitlines()
    assert lines[0] == "Exception in thread Thread-1:" and "racekit" not in v.printed
    call = next(i for i, line in enumerate(lines) if line.strip() == "box.log.append(1)")
    assert 'timer_dies.yaml", line 10, in tick' in lines[call - 1]
    if sys.version_info >= (3, 11):
        caret = lines[call + 1]
        assert caret.strip() == "^" * len("box.log.append") and caret.index("^") == lines[call].index("box")


# -- finding, shrinking, explaining --------------------------------------------------------


def test_random_strategy_finds_the_lost_update_and_shrinks_it_to_one_preemption():
    v = controlled(CASES / "balance.yaml", "unlocked", runs=5)["unlocked"]
    assert v.verdict is Verdict.RACE
    assert v.lost_updates.exact and v.lost_updates.max >= 1
    assert v.schedule_preemptions == 1 and v.shrunk_from > 1  # the random run's many, shrunk after it was reported
    assert len(v.schedule) < 200
    story = v.story
    assert story["kind"] == "lost update" and story["what"] == "account.balance"
    assert story["reader"] in ("depositor", "withdrawer") and story["overwrites"] >= 1
    marks = [row for row in v.trace if row.get("stale")]
    assert len(marks) == 1 and marks[0]["kind"] == "write"


def test_pct_strategy_finds_it_too():
    v = controlled(CASES / "balance.yaml", "unlocked", strategy="pct", runs=20)["unlocked"]
    assert v.verdict is Verdict.RACE


def test_safe_variants_stay_safe_under_every_strategy():
    for strategy in ("random", "pct"):
        found = controlled(CASES / "balance.yaml", "locked_fine", strategy=strategy, runs=5,
                           params={"iterations": 50})
        assert found["locked_fine"].verdict is Verdict.NO_RACE, strategy


def test_locals_are_not_instrumented():
    v = controlled(CASES / "local_vs_shared.yaml", "local_slots", runs=10)["local_slots"]
    assert v.verdict is Verdict.NO_RACE and v.data_races == 0


# -- replay ---------------------------------------------------------------------------------


def test_schedule_strings_round_trip():
    choices = [0, 0, 0, 1, 1, 0] + [1] * 30
    text = encode_schedule(choices, 2)
    assert text == "2:a3b2ab30"
    assert decode_schedule(text) == (2, choices)
    with pytest.raises(ValueError):
        decode_schedule("2:c")


def test_replay_is_identical_every_time():
    case = load_case(CASES / "balance.yaml")
    traces = set()
    for _ in range(8):
        v = replay_schedule(case, "unlocked", "2:b803a2000").variants[0]
        traces.add(json.dumps([v.outcomes, v.trace, v.story], sort_keys=True))
    assert len(traces) == 1
    assert v.outcomes == {"-1000": 1}


# A schedule recorded on CPython 3.11: visible operations come from the case's
# source, so it replays identically on every supported version.
RECORDED = "2:b803a2000"


def test_a_recorded_schedule_replays_on_this_interpreter():
    proc = racekit("replay", "cases/balance.yaml", "--variant", "unlocked", "--schedule", RECORDED, "-f", "json")
    assert proc.returncode == 1, proc.stderr  # it replays a failure
    v = json.loads(proc.stdout)["cases"][0]["variants"][0]
    assert v["outcomes"] == {"-1000": 1}
    assert v["story"]["reader"] == "withdrawer" and v["story"]["read_value"] == "-401"
    assert v["story"]["overwrites"] == 1000 and v["schedule"] == RECORDED


def test_replay_rejects_a_schedule_for_another_case():
    proc = racekit("replay", "cases/balance.yaml", "-V", "unlocked", "-s", "3:abc")
    assert proc.returncode == 2
    assert "error: the schedule does not fit this case. The schedule is for 3 threads; this case starts 2." in proc.stderr
    proc = racekit("replay", "cases/balance.yaml", "-V", "unlocked", "-s", "nonsense")
    assert proc.returncode == 2 and "not a racekit schedule" in proc.stderr


def test_failing_schedules_are_kept_and_replayed_first(tmp_path, monkeypatch):
    monkeypatch.setenv("RACEKIT_DATABASE", str(tmp_path / "db"))
    first = controlled(CASES / "check_then_act.yaml", "unlocked", runs=30)["unlocked"]
    assert first.schedule
    entries = [p for p in (tmp_path / "db").rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert [json.loads(p.read_text())["schedule"] for p in entries] == [first.schedule]
    assert (tmp_path / "db" / ".racekit-database").is_file()
    second = controlled(CASES / "check_then_act.yaml", "unlocked", runs=1)["unlocked"]
    assert second.verdict is Verdict.RACE  # the one trial is the saved failure, replayed


def test_cli_controlled_run_prints_the_trace_and_the_schedule():
    proc = racekit("run", "cases/check_then_act.yaml", "-V", "unlocked", "-m", "controlled",
                   "--strategy", "exhaustive", env={"RACEKIT_DATABASE": "off"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"STEP  LINE  CODE +customer-1", out)
    # Each step shows the case's own line of code beside it.
    assert re.search(r"\n +\d+ +36  self\.balance -= amount +(read|write) account\.balance", out), out
    assert ("Explored 6 schedules with at most 1 preemption; the bound stopped growing at 1, where a schedule went "
            "wrong (give --preemptions N to search further).") in " ".join(out.split())
    assert "The first failure needs 1 preemption." in out
    assert "Replay it: racekit replay cases/check_then_act.yaml --variant unlocked --schedule 2:" in out


def test_a_bound_of_the_users_is_searched_to_the_end_past_the_failure():
    proc = racekit("run", "cases/check_then_act.yaml", "-V", "unlocked", "-m", "controlled",
                   "--strategy", "exhaustive", "--preemptions", "5", env={"RACEKIT_DATABASE": "off"})
    assert proc.returncode == 0, proc.stderr
    assert "Explored all 20 schedules: the search is complete." in proc.stdout
    assert "The first failure needs 1 preemption." in proc.stdout


# -- yield mode -------------------------------------------------------------------------------


def test_yield_mode_finds_the_lost_update_and_counts_it_exactly():
    # Measured: every trial of the unlocked balance loses updates under yield
    # mode (yields after half the accesses); 60 runs leave no room for a miss.
    case = load_case(CASES / "balance.yaml")
    result = run([case], RunOptions(modes=("yield",), runs=60, variants=("unlocked", "locked_fine"), seed=2,
                                    workers=1, stop_on_failure=True))
    found = {v.name: v for v in result.variants}
    assert found["unlocked"].verdict is Verdict.RACE
    assert found["unlocked"].lost_updates.exact
    assert found["locked_fine"].verdict is Verdict.NO_RACE


def test_container_method_calls_are_steps_so_check_then_pop_is_found():
    # `x = shelf[-1]` then `shelf.pop()`: the pop is a step of its own, so a
    # second consumer can read the same last item in between. Setup fills a
    # queue.Queue stand-in from the main thread, which must simply work.
    v = controlled(CASES / "producer_consumer.yaml", "list_check_then_pop", "queue", "list_pop_only", runs=20)
    assert v["list_check_then_pop"].verdict is Verdict.RACE
    assert v["queue"].verdict is Verdict.NO_RACE and v["list_pop_only"].verdict is Verdict.NO_RACE
    assert v["list_pop_only"].data_races == 0  # atomic container calls never race


def test_thread_subclasses_run_under_the_scheduler():
    found = controlled(CASES / "thread_subclass.yaml", runs=3)
    assert found["subclass"].outcomes == {"[(True, 1267650600228229401496703205376)]": 3}
    assert found["start_twice"].outcomes == {"error: RuntimeError: threads can only be started once": 3}


def test_replay_with_other_params_is_refused_and_the_printed_line_carries_them():
    v = controlled(CASES / "balance.yaml", "unlocked", runs=3, params={"iterations": 3})["unlocked"]
    assert v.param_overrides == {"iterations": 3}
    proc = racekit("replay", "cases/balance.yaml", "-V", "unlocked", "-s", v.schedule)
    assert proc.returncode == 2 and "was it recorded with other --param or --instrument values" in proc.stderr
    proc = racekit("replay", "cases/balance.yaml", "-V", "unlocked", "-s", v.schedule, "--param", "iterations=3")
    assert proc.returncode == 1, proc.stderr
    # The line to copy is the replay itself, never a `racekit run --seed 0` that would run another schedule.
    assert "Replay it: racekit replay cases/balance.yaml" in proc.stdout and "Reproduce:" not in proc.stdout, proc.stdout


def test_a_dict_filled_in_either_order_is_one_outcome_in_the_order_expect_names_it():
    outcomes, summary = search(TEST_CASES / "dict_order.yaml", "default")
    assert summary.complete
    assert outcomes == {"second=2, first=1": sum(outcomes.values())} and sum(outcomes.values()) > 1


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_wrong_outcome_blames_an_unordered_pair_only_when_reversing_it_rights_the_outcome(lang):
    # list_check goes wrong through len()/append() on a list (calls, no data
    # race); the first unordered pair in its log is a counter beside it, whose
    # reversal leaves the outcome wrong: the pair explained is the look into
    # the list and the other thread's append. overdraft's data race is the cause.
    proc = racekit("run", str(TEST_CASES / "blame.yaml"), "-m", "controlled", "--seed", "1", "-x", "-j", "1",
                   "--lang", lang, "-f", "json")
    assert proc.returncode == 0, proc.stderr
    stories = {v["name"]: v["story"] for v in json.loads(proc.stdout)["cases"][0]["variants"]}
    check = stories["list_check"]
    assert (check["kind"], check["first_what"], check["second_what"], check["cause"]) == (
        "unordered steps", "groups['a']", "groups['a'].append()", "shown")
    assert check["first_line"] == 15 and check["second_line"] == 16
    assert stories["overdraft"]["what"] == "Account.balance" and stories["overdraft"]["cause"] == "shown"
    text = " ".join(racekit("run", str(TEST_CASES / "blame.yaml"), "-m", "controlled", "--seed", "1", "-x", "-j", "1",
                            "--lang", lang).stdout.split())
    if lang == "en":
        assert "called groups['a'].append() (line 16). Each step is atomic, but nothing orders the two" in text
        assert "that gap let the outcome go wrong: 2 (with the two accesses the other way round" in text
        assert "that gap let the outcome go wrong: -60 (with the two accesses the other way round" in text
        assert "The cause lies elsewhere" not in text and "Hits.total" not in text.split("list_check")[-1]
    else:
        assert "调用了groups['a'].append()（第16行）。每一步本身都是原子的" in text.replace(" ", "")  # lines break anywhere
        assert "缺少先后保证，让结果出了错：2" in text and "缺少先后保证，让结果出了错：-60" in text
        assert "空隙" not in text


def test_a_pair_whose_reversal_only_hides_the_failure_is_not_the_one_explained():
    # Lazy creation: the first unordered pair is the `creations` counter, whose
    # reversal loses an update and so happens to end at 1; the pair that decides
    # is the check of `cache.value` against the other thread's write.
    v = controlled(TEST_CASES / "teach" / "lazy.yaml", "unchecked", strategy="exhaustive")["unchecked"]
    assert v.verdict is Verdict.RACE
    assert v.story["what"] == "cache.value" and v.story["cause"] == "shown"
    shown = {(r["thread"], r["kind"], r["what"]) for r in v.trace if "thread" in r}
    assert {("a", "read", "cache.value"), ("b", "write", "cache.value")} <= shown


def test_a_read_modify_write_through_get_or_setdefault_is_a_lost_update():
    v = controlled(TEST_CASES / "teach" / "dict_counts.yaml", "get_then_set", "setdefault", strategy="exhaustive")
    for name in ("get_then_set", "setdefault"):
        story = v[name].story
        assert story["kind"] == "lost update" and story["what"] == "counts['k']", name
        assert (story["read_value"], story["written_value"], story["final_value"]) == ("0", "1", "1")
        assert v[name].lost_updates.exact and v[name].lost_updates.max == 1


def test_traces_name_containers_as_the_code_reached_them():
    proc = racekit("run", str(TEST_CASES / "blame.yaml"), "-V", "list_check", "-m", "controlled", "--seed", "1",
                   "-x", "-j", "1", "-f", "json")
    (variant,) = json.loads(proc.stdout)["cases"][0]["variants"]
    names = {row["what"] for row in variant["trace"] if "what" in row}
    assert "groups['a'].append()" in names and "Hits.total" in names  # not list#1.append(), not type#1.total
    assert not any("#" in name for name in names), names


def test_a_time_budget_stops_an_exhaustive_search_at_its_next_schedule():
    # balance[locked_fine] at 1000 iterations has far more schedules than a second
    # holds (each takes tens of ms); the budget used to be checked only before a
    # trial began, and a search is one trial: it ran for minutes.
    options = RunOptions(modes=("controlled",), strategy="exhaustive", variants=("locked_fine",), seed=1,
                         replay_saved=False, baseline=False, workers=1, time_budget=1.0)
    started = time.monotonic()
    v = run([load_case(CASES / "balance.yaml")], options).variants[0]
    assert v.search["stopped"] == "time_cap" and not v.search["complete"] and v.verdict is Verdict.NO_RACE
    assert time.monotonic() - started < 60  # (a hang guard, not a timing: the search alone was minutes)
