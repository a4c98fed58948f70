"""Issue 24: racekit is faithful on real code.

User-level tests, one or more per item 1-7 of the issue: YAML cases and ``@race_test``
modules, written as a user would from the README, against a small pure-Python library
(tests/cases/faithful/shoplib). Each asserts what a user relies on (verdicts, JSON fields,
exit codes, messages) and fails on the engine the issue was filed against.

Deterministic: controlled (and auto's search) are exact given a seed; every run passes
``--seed`` and has ``RACEKIT_DATABASE=off`` so no saved schedule is replayed first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import lru_cache

import pytest

from conftest import ROOT, TEST_CASES, racekit

FAITHFUL = TEST_CASES / "faithful"
OFF = {"RACEKIT_DATABASE": "off"}
PYCACHE_OFF = {**OFF, "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.fixture(autouse=True)
def no_saved_schedules(monkeypatch):
    """Saved failures would be replayed first (also in pytester's subprocesses)."""
    monkeypatch.setenv("RACEKIT_DATABASE", "off")


def run_json(case: str, *args: str, env: dict | None = None, cwd=ROOT, codes=(0, 1)) -> dict:
    """``racekit run FILE --format json ARGS``: the variants by name (first case), plus the process."""
    path = FAITHFUL / case if not os.path.isabs(case) else case
    proc = racekit("run", str(path), "--format", "json", *args, env={**OFF, **(env or {})}, cwd=cwd, timeout=300)
    assert proc.returncode in codes, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"no JSON report (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    variants = {v["name"]: v for v in doc["cases"][0]["variants"]}
    return {"proc": proc, "doc": doc, "variants": variants}


@lru_cache(maxsize=None)
def _cached(case: str, *args: str) -> dict:
    return run_json(case, *args)


def variants_of(case: str, *args: str) -> dict:
    """The variants of one run of a case file, run once per test process and reused."""
    return _cached(case, *args)["variants"]


def text_of(case: str, *args: str, env: dict | None = None, cwd=ROOT) -> str:
    proc = racekit("run", str(FAITHFUL / case), *args, env={**OFF, **(env or {})}, cwd=cwd, timeout=300)
    return " ".join(proc.stdout.split())


def said(v: dict) -> str:
    """What a failing assertion shows: the variant's verdict, outcomes and why."""
    return (f"verdict={v['verdict']!r} ok={v['ok']} outcomes={v['outcomes']} schedule={v['schedule']!r} "
            f"reason={v.get('reason')!r} serial_failure={v.get('serial_failure')!r}")


def phases(v: dict) -> list[dict]:
    return (v.get("mode_facts") or {}).get("phases") or []


def search_of(v: dict) -> dict:
    return next((p for p in phases(v) if p.get("phase") == "search"), {})


# -- 1. private names ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["controlled", "auto"])
@pytest.mark.parametrize("variant", ["one_thread", "nested", "locked"])
def test_private_names_in_a_library_class_work_as_in_plain_python(mode, variant):
    """Item 1: a library class with a class-level ``__count = 0``, ``self.__count += 1``, an
    instance ``self.__items`` list and a nested class with its own ``__hits``: used by one
    thread, or by two under the class's lock, the case ends right (``no race observed``),
    as plain Python does, never an AttributeError blamed on the case."""
    v = variants_of("private_names.yaml", "--seed", "1", "--mode", mode)[variant]
    assert v["verdict"] == "no race observed" and v["ok"], said(v)


def test_private_names_an_unlocked_update_is_found_as_a_race():
    """Item 1: the unlocked twin (two threads doing ``self.__count += 1``) is a race,
    found by the default mode with a schedule, not "the case has a bug"."""
    v = variants_of("private_names.yaml", "--seed", "1")["unlocked"]
    assert v["verdict"] == "race" and v["ok"] and v["schedule"], said(v)
    assert set(v["outcomes"]) <= {"1", "2"}, said(v)


# -- 2. properties ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["controlled", "auto"])
def test_a_property_getter_runs_once_per_read(mode):
    """Item 2: a getter with a side effect (it appends to a list) read three times by one
    thread has run exactly three times: the outcome is 3 in every run."""
    v = variants_of("properties.yaml", "--seed", "1", "--mode", mode)["one_call_per_read"]
    assert set(v["outcomes"]) == {"3"}, said(v)
    assert v["verdict"] == "no race observed" and v["ok"], said(v)


@pytest.mark.parametrize("mode", ["controlled", "auto"])
def test_reading_a_property_twice_under_a_lock_is_no_livelock(mode):
    """Item 2: a method that reads the same property twice while holding its lock, called by
    two threads, is correct: ``no race observed``, never a deadlock or livelock."""
    v = variants_of("properties.yaml", "--seed", "1", "--mode", mode)["read_twice_under_lock"]
    assert "livelock" not in v["outcomes"] and "deadlock" not in v["outcomes"], said(v)
    assert v["verdict"] == "no race observed" and v["ok"] and set(v["outcomes"]) == {"2"}, said(v)


# -- 3. threads racekit did not start -----------------------------------------------------------


@pytest.mark.slow
def test_a_thread_pool_lost_update_is_found_on_every_seed_and_replays():
    """Item 3a: four ``ThreadPoolExecutor`` tasks doing ``acc.total += 1`` lose updates; the
    default mode finds it on every seed, with a schedule that ``racekit replay`` turns into
    the same kind of wrong outcome (exit 1)."""
    for seed in range(1, 6):
        v = run_json("pool_threads.yaml", "--variant", "executor", "--seed", str(seed))["variants"]["executor"]
        assert v["verdict"] == "race" and v["ok"] and v["schedule"], f"seed {seed}: {said(v)}"
        wrong = {o for o in v["outcomes"] if o != "4"}
        assert wrong, f"seed {seed}: {said(v)}"
        proc = racekit("replay", str(FAITHFUL / "pool_threads.yaml"), "--variant", "executor",
                       "--schedule", v["schedule"], "--format", "json", env=OFF)
        assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
        replayed = json.loads(proc.stdout)["cases"][0]["variants"][0]
        assert replayed["verdict"] == "race" and set(replayed["outcomes"]) <= wrong, (seed, said(replayed))


@pytest.mark.parametrize("variant", ["executor_locked", "timer_locked"])
def test_the_locked_twins_of_pool_and_timer_are_clean_over_the_threads_they_start(variant):
    """Item 3a/3b: the locked twins are ``no race observed``, and the search that says so
    covered the pool's workers and the timer's thread: with those threads scheduled there
    is more than one schedule, so one explored schedule cannot be "the search is complete"."""
    v = variants_of("pool_threads.yaml", "--seed", "1")[variant]
    assert v["verdict"] == "no race observed" and v["ok"], said(v)
    search = search_of(v)
    assert search.get("schedules", 0) > 1, f"the search covered only the case's own threads: {search}"


def test_a_timer_racing_a_case_thread_is_found():
    """Item 3b: ``threading.Timer(0.05, reminder.fire)`` and a case thread both do
    ``self.sent += 1``: the default mode shows the race, with a schedule to replay."""
    v = variants_of("pool_threads.yaml", "--seed", "1")["timer"]
    assert v["verdict"] == "race" and v["ok"] and v["schedule"], said(v)
    assert "1" in v["outcomes"], said(v)


@pytest.mark.parametrize("variant,verdict", [("messages_only", "no race observed"),
                                             ("direct_bump_locked", "no race observed"),
                                             ("direct_bump_unlocked", "race")])
def test_an_actor_whose_thread_starts_in_setup(variant, verdict):
    """Item 3c: an actor's constructor (run by the case's setup) starts its worker thread,
    which handles messages from a ``queue.Queue``; the outcome asks the actor for its count
    and waits for the answer. Correct use ends right; the actor's handler and a case thread
    updating ``count`` without a lock is found as a race (default mode)."""
    v = variants_of("actor.yaml", "--seed", "1")[variant]
    assert v["verdict"] == verdict and v["ok"], said(v)
    if verdict == "race":
        assert v["schedule"] and "1" in v["outcomes"], said(v)
    else:
        assert set(v["outcomes"]) == {"2"}, said(v)


def test_thread_subclasses_started_by_a_case_thread_or_in_setup():
    """Item 3: a ``threading.Thread`` subclass of the library whose ``run()`` updates shared
    state: started by a case thread or by setup, its unlocked race is found (``race``, not a
    deadlock) and its locked twin is ``no race observed``. (Started by a case thread it
    already works; started in setup it does not.)"""
    vs = variants_of("pool_threads.yaml", "--seed", "1")
    for name, verdict in [("subclass", "race"), ("subclass_locked", "no race observed"),
                          ("subclass_started_in_setup", "race"),
                          ("subclass_started_in_setup_locked", "no race observed")]:
        v = vs[name]
        assert v["verdict"] == verdict and v["ok"], f"{name}: {said(v)}"


@pytest.mark.parametrize("mode", ["controlled", "auto"])
def test_a_thread_racekit_cannot_schedule_is_never_no_race_and_is_named(mode):
    """Item 3: legacy library code starts its worker with ``_thread.start_new_thread`` and the
    worker does ``self.pumped += 1`` while a case thread does the same (a real race). If
    racekit cannot schedule that thread the verdict is ``inconclusive`` and the text report
    names it (by its function, ``_pump_loop``); if it can, the race is found. Never
    ``no race observed``, never a complete search over threads it did not control."""
    v = run_json("legacy.yaml", "--seed", "1", "--mode", mode)["variants"]["default"]
    assert v["verdict"] in ("inconclusive", "race"), said(v)
    if v["verdict"] == "inconclusive":
        assert not search_of(v).get("complete"), search_of(v)
        out = text_of("legacy.yaml", "--seed", "1", "--mode", mode)
        assert "_pump_loop" in out, out[-2000:]
        assert "the search is complete" not in out, out[-2000:]
    else:
        assert v["schedule"], said(v)


# -- 4. iteration is a visible read --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["controlled", "auto"])
def test_iterating_a_dict_while_a_writer_inserts_is_a_race_not_a_bug_of_the_case(mode):
    """Item 4: a reader sums ``for k in prices`` while a writer inserts a key. Run one after
    another (writer, then reader) the reader counts 5 with no error, so the failure is a
    race (``race``, ok), never "wrong even when the threads run one after another"; the
    locked twin is clean."""
    vs = variants_of("dict_iteration.yaml", "--seed", "1", "--mode", mode)
    v = vs["unlocked"]
    assert not v.get("serial_failure"), said(v)
    assert v["verdict"] == "race" and v["ok"], said(v)
    assert any(o.startswith("error: RuntimeError: dictionary changed size") for o in v["outcomes"]), said(v)
    locked = vs["locked"]
    assert locked["verdict"] == "no race observed" and locked["ok"], said(locked)
    out = text_of("dict_iteration.yaml", "--seed", "1", "--mode", mode, "--variant", "unlocked")
    assert "wrong even when the threads run one after another" not in out.lower(), out[-2000:]


def test_a_dict_reader_run_after_the_writer_counts_every_entry():
    """Item 4: replaying the schedule "writer first, then reader" (``2:a``) ends with the
    reader's total 5, as plain Python does; exit 0 (the outcome is one the case expects)."""
    proc = racekit("replay", str(FAITHFUL / "dict_iteration.yaml"), "--variant", "unlocked", "--schedule", "2:a",
                   "--format", "json", env=OFF)
    replayed = json.loads(proc.stdout)["cases"][0]["variants"][0]
    assert replayed["outcomes"] == {"5": 1}, said(replayed)
    assert proc.returncode == 0


# -- 5. racekit's faults are racekit's -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["controlled", "auto"])
def test_a_loop_polling_until_a_monotonic_deadline_finishes_and_is_judged(mode):
    """Item 5a: ``while time.monotonic() < deadline: if self.opened: ...`` ends when its
    deadline passes (racekit's clock must advance when it is read), so a gate nobody opens
    returns False and the case is judged ``no race observed``, never a livelock."""
    vs = variants_of("deadline.yaml", "--seed", "1", "--mode", mode)
    for name, outcome in [("nobody_opens", "[False]"), ("opener", "[True, 1]")]:
        v = vs[name]
        assert "livelock" not in v["outcomes"], f"{name}: {said(v)}"
        assert v["verdict"] == "no race observed" and v["ok"] and set(v["outcomes"]) == {outcome}, f"{name}: {said(v)}"


BOUND_METHOD_TESTS = """
import racekit
from shoplib.pool import Accumulator


@racekit.race_test(expect=4, mode="{mode}", runs=20, instrument=["shoplib"])
def test_locked_adds_named(race):
    acc = Accumulator()
    race.thread(acc.add_locked, repeat=2)
    race.thread(acc.add_locked, repeat=2)
    race.outcome(lambda: acc.total)


@racekit.race_test(expect=4, mode="{mode}", runs=20)
def test_locked_adds_not_named(race):
    acc = Accumulator()
    race.thread(acc.add_locked, repeat=2)
    race.thread(acc.add_locked, repeat=2)
    race.outcome(lambda: acc.total)
"""


@pytest.mark.parametrize("mode", ["opcode", "line"])
def test_race_thread_of_a_bound_method_of_an_installed_library_in_a_forcing_mode(pytester, monkeypatch, mode):
    """Item 5b: ``race.thread(acc.add_locked)`` (a bound method of an object from a library
    installed outside the project, the README's own form) in a real-thread forcing mode.
    Named with ``instrument=["shoplib"]`` the library is traced and the correct, locked
    test passes; not named, racekit may say it could not trace it, but it never claims
    "forcing was switched off" (nothing switched it off)."""
    monkeypatch.setenv("PYTHONPATH", str(FAITHFUL))  # shoplib, installed outside the pytester project
    pytester.makepyfile(test_bound=BOUND_METHOD_TESTS.format(mode=mode))
    result = pytester.runpytest_subprocess("test_bound.py", "--racekit-seed", "1", "-p", "no:cacheprovider", "-rA")
    out = result.stdout.str()
    assert "forcing was switched off" not in out, out[-3000:]
    assert "PASSED test_bound.py::test_locked_adds_named" in out, out[-3000:]


FAULT_TESTS = '''
"""A bug in racekit, simulated: one of racekit's own hook methods raises during a trial.

racekit's worker imports this module, so the replacement is in force in every trial. Its
code is racekit's own (its file is racekit/runtime/hooks.py): to the user this is exactly
an exception raised inside racekit's hooks, not in their code."""
import racekit
from racekit.runtime import hooks as _hooks
from shoplib.pool import Accumulator

_TARGET = "_step" if hasattr(_hooks.ControlledHooks, "_step") else "set"


def _broken(self, *args, **kwargs):
    raise KeyError("internal scheduler table")


_broken.__code__ = _broken.__code__.replace(co_filename=_hooks.__file__)
setattr(_hooks.ControlledHooks, _TARGET, _broken)


@racekit.race_test(expect=2, mode="controlled", runs=5)
def test_locked_adds(race):
    acc = Accumulator()
    race.thread(acc.add_locked)
    race.thread(acc.add_locked)
    race.outcome(lambda: acc.total)


@racekit.race_test(expect=2, racy=True, mode="controlled", runs=5)
def test_unlocked_adds(race):
    acc = Accumulator()
    race.thread(acc.add)
    race.thread(acc.add)
    race.outcome(lambda: acc.total)
'''


def test_an_exception_inside_racekit_is_racekits_failure_with_exit_code_3(tmp_path):
    """Item 5c: an exception raised inside racekit's own hooks during a trial is reported as
    racekit's failure: verdict ``error`` saying "racekit failed" (not the user's code), exit
    code 3; never a race, deadlock, livelock or "the case has a bug"."""
    from racekit.runtime import hooks

    assert hasattr(hooks.ControlledHooks, "_step") or hasattr(hooks.ControlledHooks, "set"), \
        "racekit's hooks were renamed: point FAULT_TESTS at a method every shared access goes through"
    shutil.copytree(FAITHFUL / "shoplib", tmp_path / "shoplib")
    (tmp_path / "test_fault.py").write_text(FAULT_TESTS)
    proc = racekit("run", "test_fault.py", "--seed", "1", "--format", "json", cwd=tmp_path, env=OFF)
    doc = json.loads(proc.stdout)
    for case in doc["cases"]:
        v = case["variants"][0]
        assert v["verdict"] == "error", f"{case['name']}: {said(v)}"
        words = " ".join([v.get("reason") or "", *v["outcomes"]]).lower()
        assert "racekit failed" in words, f"{case['name']}: {said(v)}"
    assert proc.returncode == 3, f"exit {proc.returncode}"
    text = racekit("run", "test_fault.py", "--seed", "1", cwd=tmp_path, env=OFF)
    out = " ".join(text.stdout.split())
    assert "racekit failed" in out.lower(), out[-2000:]
    assert "has a bug" not in out, out[-2000:]
    assert text.returncode == 3


# -- 6. racekit's frames are invisible -----------------------------------------------------------

PLAIN_FRAMES = """
import json, sys
from shoplib import introspect, models
print(json.dumps({
    "caller_name": repr(introspect.checkout()),
    "factory_module": repr(models.define_order().__module__),
    "warning_stacklevel": repr(introspect.use_old_api()),
    "import_warning": repr(models.load_legacy()),
    "module_builtins": repr(introspect.builtins_type()),
}))
"""


@lru_cache(maxsize=None)
def plain_frames() -> dict:
    """What the library gives run plainly, by the same interpreter, in a fresh process."""
    proc = subprocess.run([sys.executable, "-c", PLAIN_FRAMES], capture_output=True, text=True, cwd=FAITHFUL,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, check=True)
    return json.loads(proc.stdout)


@pytest.mark.parametrize("variant", ["caller_name", "factory_module", "warning_stacklevel", "import_warning"])
def test_library_code_that_inspects_its_caller_sees_the_caller_not_racekit(variant):
    """Item 6a/b/c/f: in a module racekit rewrites, used by a one-thread controlled case,
    ``sys._getframe(1)`` is the caller (its function name; a class factory's ``__module__``
    from its ``f_globals``), ``warnings.warn(stacklevel=2)`` names the caller's file and
    line, and a warning raised while the module is imported names the importing line, not
    racekit's loader: the outcome is what plain Python gives."""
    plain = plain_frames()[variant]
    v = variants_of("frames.yaml", "--seed", "1", "--mode", "controlled")[variant]
    assert set(v["outcomes"]) == {plain}, said(v)
    assert v["verdict"] == "no race observed" and v["ok"], said(v)


@pytest.mark.parametrize("mode", ["controlled", "auto"])
def test_the_usable_recursion_depth_is_not_cut_by_racekit(mode):
    """Item 6d: a recursive library function reaches depth ``sys.getrecursionlimit() - 60``
    from a case thread, as it does in plain Python (today racekit's frames halve it)."""
    v = variants_of("frames.yaml", "--seed", "1", "--mode", mode)["recursion_depth"]
    assert not any("RecursionError" in o for o in v["outcomes"]), said(v)
    assert v["verdict"] == "no race observed" and v["ok"], said(v)


def test_a_rewritten_modules_builtins_is_a_dict_as_when_imported_plainly():
    """Item 6e: a function of a rewritten module sees ``type(__builtins__)`` as plain import
    gives it (a dict) in every mode that rewrites (controlled already does; yield does not)."""
    assert plain_frames()["module_builtins"] == "'dict'"
    for mode in ("controlled", "yield"):
        v = variants_of("frames.yaml", "--seed", "1", "--mode", mode)["module_builtins"]
        assert set(v["outcomes"]) == {"'dict'"}, f"{mode}: {said(v)}"
        assert v["verdict"] == "no race observed" and v["ok"], f"{mode}: {said(v)}"


# -- 7. large packages and the clock ---------------------------------------------------------------


def test_a_library_module_is_imported_once_per_worker(tmp_path):
    """Item 7: a module with an import-time side effect (a line appended to a log file) is
    imported once by a worker that runs 20 controlled trials, also with
    ``PYTHONDONTWRITEBYTECODE`` set (as in many CI images): exactly one line."""
    log = tmp_path / "imports.log"
    run_json("import_once.yaml", "--seed", "1", "--mode", "controlled", "--runs", "20", "--jobs", "1",
             env={**PYCACHE_OFF, "SHOPLIB_IMPORT_LOG": str(log)}, codes=(0,))
    lines = log.read_text().splitlines()
    assert len(lines) == 1, f"imported {len(lines)} times: {lines[:3]}"


@pytest.mark.slow
def test_a_controlled_trial_is_bounded_by_steps_not_wall_time():
    """Item 7: a correct case with ``timeout: 1`` whose thread does about 2 s of pure CPU work
    between its two locked updates makes only a few scheduling steps: controlled mode
    judges it (``no race observed``), not ``inconclusive`` or a deadlock, however slow the
    machine is."""
    v = run_json("cpu_timeout.yaml", "--seed", "1", "--mode", "controlled")["variants"]["default"]
    assert v["verdict"] == "no race observed" and v["ok"] and set(v["outcomes"]) == {"4"}, said(v)


# -- found on real libraries (a cache's __setitem__, a lazy @singleton, a get-then-set counter) ------------

INSTALLED = TEST_CASES / "installed"  # outside the case folders: not in racekit's scope unless named


def test_code_racekit_does_not_rewrite_reached_through_an_operator_is_named_and_never_clean(tmp_path):
    """``cache[key] = value`` runs a library's ``__setitem__`` that racekit does not rewrite
    (installed outside the project, not named): the controlled scheduler cannot see its
    read-modify-write, so its search, complete over what it sees, is ``inconclusive`` and
    names that code; named with ``instrument:``, the race is found. (In mode auto the real
    threads may still hit it: a race they show is a race.)"""
    env = {"PYTHONPATH": str(INSTALLED)}
    # Run from elsewhere: the project (the working folder) would be in scope, and this repository holds lrulib.
    unlocked = run_json("unseen_dunder.yaml", "--seed", "1", "--mode", "controlled", "--strategy", "exhaustive",
                        "-V", "unlocked", env=env, cwd=tmp_path)["variants"]["unlocked"]
    assert unlocked["verdict"] == "inconclusive" and not unlocked["ok"], said(unlocked)
    assert any(u.startswith("Cache.__setitem__ (") for u in unlocked["unseen"]), unlocked["unseen"]
    named = run_json("unseen_dunder.yaml", "--seed", "1", "-V", "named", env=env, cwd=tmp_path)["variants"]["named"]
    assert named["verdict"] == "race" and named["ok"], said(named)
    text = " ".join(text_of("unseen_dunder.yaml", "--seed", "1", "-V", "unlocked", "--mode", "controlled",
                            "--strategy", "exhaustive", env=env, cwd=tmp_path).split())
    assert "the search is complete over what racekit can see (what it cannot see is listed below)" in text
    assert "every interleaving is covered" not in text
    assert "Cache.__setitem__" in text


SINGLETON_TESTS = """
import racekit

created = []


def singleton(cls):
    class Wrapper:
        def __init__(self):
            self._instance = None

        def __call__(self):
            if self._instance is None:
                self._instance = cls()
            return self._instance
    return Wrapper()


@singleton
class Config:
    def __init__(self):
        created.append(self)


@racekit.race_test(expect=1, racy=True, mode="controlled", runs=30)
def test_first_call_from_two_threads(race):
    race.thread(Config)
    race.thread(Config)
    race.outcome(lambda: len(created))


@racekit.race_test(expect=1, mode="controlled", runs=30)
def test_made_before_the_threads(race):
    Config()
    race.thread(Config)
    race.thread(Config)
    race.outcome(lambda: len(created))
"""


def test_a_module_level_singleton_starts_every_execution_as_the_import_left_it(pytester):
    """A lazy singleton whose instance lives in a wrapper object the test module holds: each
    execution starts from the module as imported (the wrapper's ``_instance`` is None again),
    so the racy first call is found and the correct use passes; never "the case has a bug"."""
    pytester.makepyfile(test_singleton=SINGLETON_TESTS)
    result = pytester.runpytest_subprocess("test_singleton.py", "--racekit-seed", "1", "-p", "no:cacheprovider", "-rA")
    out = result.stdout.str()
    assert "has a bug" not in out, out[-3000:]
    assert "PASSED test_singleton.py::test_first_call_from_two_threads" in out, out[-3000:]
    assert "PASSED test_singleton.py::test_made_before_the_threads" in out, out[-3000:]


def test_an_update_racekit_cannot_count_is_never_called_exactly_zero_lost():
    """A counter read in one call and written in another loses updates; racekit's exact
    count only knows updates written in one statement, so the JSON gives no lost-update
    figure rather than an "exact" zero."""
    v = run_json("split_update.yaml", "--seed", "1", "--mode", "controlled")["variants"]["default"]
    assert v["verdict"] == "race" and any(o != "6" for o in v["outcomes"]), said(v)
    lost = v["lost_updates"]
    assert lost is None or not (lost["exact"] and lost["max"] == 0), lost


@pytest.mark.slow
@pytest.mark.parametrize("case,variant,wrong", [("pool_threads.yaml", "timer", "1"),
                                                ("actor.yaml", "direct_bump_unlocked", "1"),
                                                ("pool_threads.yaml", "subclass_started_in_setup", "1")])
def test_a_timer_and_a_thread_started_in_setup_are_found_on_every_seed_and_replay(case, variant, wrong):
    """Item 3, the issue's "done when": a Timer racing a case thread and a thread that setup
    starts are found by the default mode on every seed, and the schedule shown replays to
    the same wrong outcome."""
    for seed in range(1, 6):
        v = run_json(case, "--variant", variant, "--seed", str(seed))["variants"][variant]
        assert v["verdict"] == "race" and v["ok"] and v["schedule"], f"seed {seed}: {said(v)}"
        proc = racekit("replay", str(FAITHFUL / case), "--variant", variant, "--schedule", v["schedule"],
                       "--format", "json", env=OFF)
        assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
        replayed = json.loads(proc.stdout)["cases"][0]["variants"][0]
        assert set(replayed["outcomes"]) == {wrong}, (seed, said(replayed))


# -- found on multimethod and injector: a dict subclass, object keys, a library callable in a local ------------


def test_a_dict_subclass_is_iterated_a_step_per_item_so_its_race_is_found_and_replays():
    """``class Registry(dict)`` iterates with dict's own iterator: racekit steps through it as
    through a dict, so a writer adding a key mid-iteration is found (multimethod 1.9's
    "dictionary changed size during iteration"), never a complete search that saw no race."""
    v = run_json("container_keys.yaml", "--seed", "1", "--mode", "controlled", "-V", "subclass_iterated")[
        "variants"]["subclass_iterated"]
    assert v["verdict"] == "race" and v["ok"] and v["schedule"], said(v)
    assert any("changed size during iteration" in o for o in v["outcomes"]), v["outcomes"]
    proc = racekit("replay", str(FAITHFUL / "container_keys.yaml"), "--variant", "subclass_iterated",
                   "--schedule", v["schedule"], "--format", "json", env=OFF)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_two_object_keys_are_two_locations_and_one_object_key_is_one():
    """Keys compared by identity (instances of a class without ``__eq__``) are told apart by
    identity: threads updating their own key share nothing (no data race is claimed, and
    the reduced search is as small as with string keys), while two updates of one key lose
    one, counted exactly."""
    variants = run_json("container_keys.yaml", "--seed", "1", "--mode", "controlled", "--strategy", "exhaustive",
                        "-V", "own_object_keys", "-V", "one_object_key")["variants"]
    own, one = variants["own_object_keys"], variants["one_object_key"]
    assert own["verdict"] == "no race observed" and own["ok"] and own["data_races"] == 0, said(own)
    assert own["search"]["complete"] and own["search"]["schedules"] <= 20, own["search"]
    assert one["verdict"] == "race" and one["ok"], said(one)
    assert one["lost_updates"]["exact"] and one["lost_updates"]["max"] == 1, one["lost_updates"]


def test_a_library_dict_subclass_and_a_library_function_in_a_local_are_named(tmp_path):
    """A library's ``Registry(dict)`` runs its own ``__missing__`` on ``registry[key]``, and
    ``make = registry_lib.make; make()`` calls library code through a local: racekit rewrites
    neither, so both are named, and the search calls itself complete only over what it sees."""
    env = {"PYTHONPATH": str(INSTALLED)}  # run from elsewhere: this repository is not in scope
    variants = run_json("unseen_subclass.yaml", "--seed", "1", "--mode", "controlled", "--strategy", "exhaustive",
                        env=env, cwd=tmp_path)["variants"]
    assert any(u.startswith("Registry.__missing__ (") for u in variants["missing"]["unseen"]), said(variants["missing"])
    assert any(u.startswith("make (") for u in variants["local_function"]["unseen"]), said(variants["local_function"])
    text = " ".join(text_of("unseen_subclass.yaml", "--seed", "1", "--mode", "controlled", "--strategy", "exhaustive",
                            "-V", "missing", env=env, cwd=tmp_path).split())
    assert "every interleaving is covered" not in text and "Registry.__missing__" in text, text[-2000:]
    sampled = " ".join(text_of("unseen_subclass.yaml", "--seed", "1", "--mode", "controlled", "-V", "local_function",
                               env=env, cwd=tmp_path).split())  # random schedules: no search to qualify
    assert "does not rewrite (make (" in sampled, sampled[-2000:]
