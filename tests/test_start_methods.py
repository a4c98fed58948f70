"""Start methods of process cases: every lesson runs under fork, spawn and
forkserver (CPython 3.14 made forkserver Linux's default), or names fork and is
refused clearly, before any trial, under the others. Nothing hangs."""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from conftest import CASES, TEST_CASES, racekit
from racekit.analysis.results import Verdict
from racekit.case.loader import load_case
from racekit.engine import RunOptions, run
from racekit.errors import UsageError
from racekit.runtime.startmethod import default_start_method, fork_only_uses

# forkserver (3.14's default) in every version's fast suite; fork and spawn in the main suite.
METHODS = (pytest.param("fork", marks=pytest.mark.slow), pytest.param("spawn", marks=pytest.mark.slow), "forkserver")
PROCESS_LESSONS = sorted(p for p in CASES.glob("*.yaml") if load_case(p).kind == "processes")


def variants_of(path, **options):
    result = run([load_case(path)], RunOptions(seed=5, workers=2, **options))
    return {v.name: v for v in result.variants}


def test_the_library_has_process_lessons():
    assert len(PROCESS_LESSONS) >= 5, PROCESS_LESSONS


@pytest.mark.parametrize("method", METHODS)
def test_every_process_lesson_runs_under_every_start_method_or_names_fork(method):
    for path in PROCESS_LESSONS:
        case = load_case(path)
        # At most 20 runs: the racy lessons keep enough to show their race
        # under every method (mp_value loses updates in 49 of 60 spawn runs
        # here, so a miss in 20 has probability 0.2**20, about 1e-14).
        found = variants_of(path, start_method=method, max_runs=20)
        for variant in case.variants:
            v = found[variant.name]
            assert v.start_method == method
            if variant.start_method == "fork" and method != "fork":
                # Refused before any trial, with the line and the fix.
                assert v.verdict is Verdict.ERROR and v.runs == 0, (path.name, v.name, v.rows)
                assert re.search(rf"{path.name}:\d+:\d+: error: ", v.reason), v.reason
                assert "Name `start_method: fork` in the case" in v.reason
            else:
                assert v.ok, (path.name, v.name, method, v.verdict, v.rows, v.samples[:1])


def test_lessons_that_need_fork_say_why_in_the_report():
    found = variants_of(CASES / "pool_async.yaml", variants=("return_values",), max_runs=1)
    from racekit.report.notes import say_note

    note = next(say_note(w, "en") for w in found["return_values"].warnings if w.code.startswith("start_"))
    line = next(i for i, text in enumerate((CASES / "pool_async.yaml").read_text().splitlines(), 1)
                if "results = [pool.apply_async(count" in text)
    assert note == ("children started with fork, as named: the case's code starts processes of its own that run "
                    f"count (Pool.apply_async, line {line}), and only a fork child inherits what setup defines.")


def test_a_case_needing_fork_under_another_method_is_an_error_before_any_trial():
    found = variants_of(TEST_CASES / "start_methods.yaml", variants=("pool_spawn", "pool_fork", "pool_default"))
    spawn = found["pool_spawn"]
    assert spawn.verdict is Verdict.ERROR and spawn.runs == 0
    assert re.match(r"\S*start_methods.yaml:13:27: error: the case's code starts processes of its own that run "
                    r"double \(Pool.map\), defined in the case\.", spawn.reason), spawn.reason
    assert "Its children would start with spawn:" in spawn.reason
    assert found["pool_fork"].ok and found["pool_fork"].outcomes == {"90": 2}
    default = found["pool_default"]
    if default_start_method() == "fork":  # CPython 3.13 and older on Linux
        assert default.ok and default.outcomes == {"90": 2}
    else:  # 3.14+: forkserver
        assert default.runs == 0 and "this interpreter's default start method" in default.reason


@pytest.mark.parametrize("method", ("spawn", "forkserver"))
def test_work_hidden_from_the_check_fails_at_once_with_the_reason_not_at_the_timeout(method):
    found = variants_of(TEST_CASES / "start_methods.yaml", variants=("hidden_pool", "hidden_process"),
                        start_method=method)
    for name in ("hidden_pool", "hidden_process"):
        v = found[name]
        # A hang would be a deadlock at the 20 s timeout; a wrong total a race.
        assert v.verdict is Verdict.ERROR, (name, v.rows)
        assert v.outcomes == {f"error: a process that the case's code started with {method} cannot run code "
                              "defined in the case": 2}
        assert "Name `start_method: fork` in the case" in v.samples[0]


@pytest.mark.parametrize("method", METHODS)
def test_a_fork_context_named_in_the_code_works_under_every_start_method(method):
    v = variants_of(TEST_CASES / "start_methods.yaml", variants=("fork_context",), start_method=method)["fork_context"]
    assert v.ok and v.outcomes == {"90": 2}, v.samples[:1]


def test_an_unknown_start_method_is_a_usage_error():
    with pytest.raises(UsageError, match=r"unknown start method 'spwan'; choose from fork, spawn, forkserver "
                                         r"\(did you mean 'spawn'\?\)"):
        variants_of(TEST_CASES / "start_methods.yaml", start_method="spwan")
    proc = racekit("run", str(TEST_CASES / "start_methods.yaml"), "--start-method", "spwan")
    assert proc.returncode == 2 and "unknown start method 'spwan'" in proc.stderr and "Traceback" not in proc.stderr


def test_the_json_and_the_reproduce_line_carry_the_start_method():
    proc = racekit("run", str(CASES / "mp_value.yaml"), "-V", "locked", "-n", "2", "--start-method", "spawn",
                   "-f", "json")
    variant = json.loads(proc.stdout)["cases"][0]["variants"][0]
    assert variant["start_method"] == "spawn"
    assert "children started with spawn, as named (this interpreter's default is " in " ".join(variant["warnings"])
    proc = racekit("run", str(TEST_CASES / "start_methods.yaml"), "-V", "pool_spawn")
    assert proc.returncode == 1
    assert "--variant pool_spawn --mode native --seed" in proc.stdout and "--start-method spawn" in proc.stdout


def test_the_start_method_note_is_said_in_chinese():
    proc = racekit("run", str(CASES / "mp_value.yaml"), "-V", "locked", "-n", "1", "--lang", "zh")
    assert "子进程以" in proc.stdout and "children started" not in proc.stdout


def _uses(tmp_path, setup, thread):
    path = tmp_path / "case.yaml"
    path.write_text(textwrap.dedent("""\
        racekit: 1
        name: probe
        kind: processes
        setup: |
        {setup}
        threads:
          main: |
        {thread}
        outcome: 1
        expect: 1
        """).format(setup=textwrap.indent(textwrap.dedent(setup), "  "),
                    thread=textwrap.indent(textwrap.dedent(thread), "    ")))
    return [(u.line, u.api, u.work) for u in fork_only_uses(load_case(path).variants[0])]


SETUP = """\
    import multiprocessing.pool
    from concurrent.futures import ThreadPoolExecutor, ProcessPoolExecutor
    from os import getpid
    def work(n=0):
        return n
    square = lambda n: n * n
    class Worker(multiprocessing.Process):
        def run(self):
            pass
    """


@pytest.mark.parametrize("thread, expected", [
    ("multiprocessing.Process(target=work).start()", [(17, "Process(target=...)", "work")]),
    ("multiprocessing.Process(None, work).start()", [(17, "Process(target=...)", "work")]),
    ("multiprocessing.Process(target=lambda: 1).start()", [(17, "Process(target=...)", "a lambda")]),
    ("with multiprocessing.Pool(2) as p:\n    p.map(square, [1])", [(18, "Pool.map", "square")]),
    ("p = multiprocessing.Pool(2)\np.apply_async(func=work)", [(18, "Pool.apply_async", "work")]),
    ("multiprocessing.Pool(2, initializer=work)", [(17, "Pool(initializer=...)", "work")]),
    ("with ProcessPoolExecutor() as ex:\n    ex.submit(work, 1)", [(18, "ProcessPoolExecutor.submit", "work")]),
    ("Worker().start()", [(17, "Worker()", "Worker")]),
    # Work that pickles by name anywhere, or a pool of threads, or fork named:
    ("multiprocessing.Process(target=getpid).start()", []),
    ("with multiprocessing.pool.ThreadPool(2) as p:\n    p.map(work, [1])", []),
    ("with ThreadPoolExecutor() as ex:\n    ex.submit(work)", []),
    ("ctx = multiprocessing.get_context('fork')\nctx.Process(target=work).start()", []),
    ("multiprocessing.get_context('fork').Pool(2).map(work, [1])", []),
    ("results = {}\nresults.get(work)", []),
])
def test_the_check_finds_only_processes_that_run_the_cases_own_work(tmp_path, thread, expected):
    assert _uses(tmp_path, SETUP, thread) == expected


def test_an_error_a_process_case_raises_even_run_alone_is_the_cases_bug_not_a_race():
    # multiprocessing refuses a Value passed to a Pool task in every run: the serial
    # baseline (each process started once the one before it ended) shows the same error.
    v = variants_of(TEST_CASES / "teach" / "pool_value.yaml", runs=3)["default"]
    assert v.verdict is Verdict.ERROR and not v.ok
    assert v.serial_failure["order"] == ["worker"]
    assert "Synchronized objects should only be shared between processes through inheritance" in v.serial_failure[
        "outcome"]
