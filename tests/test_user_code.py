"""racekit reaches the user's own code: a small library (tests/cases/userlib/inventory)
tested from a case file and from ``@race_test``, its races found in its own files
and lines, deterministically (mode auto, fixed seeds)."""

from __future__ import annotations

import json
import marshal
import os
import shutil
import stat
import subprocess
import sys

import pytest

from conftest import ROOT, TEST_CASES, racekit
from racekit.runtime import import_hook

USERLIB = TEST_CASES / "userlib"
RACY = {"hits": "race", "cache": "race", "pool": "race", "singleton": "race", "transfer": "deadlock"}
TWINS = ("hits_locked", "cache_locked", "pool_locked", "singleton_locked", "transfer_ordered")
# Where each race lives in the library: (file, line of the first access the story names).
PLACES = {"hits": ("inventory/stats.py", 11), "cache": ("inventory/cache.py", 14),
          "pool": ("inventory/pool.py", 12), "singleton": ("inventory/config.py", 11),
          "transfer": ("inventory/bank.py", 13)}


@pytest.fixture(scope="module")
def inventory_report():
    proc = racekit("run", str(USERLIB / "inventory_cases.yaml"), "--seed", "4", "--format", "json", timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    return {v["name"]: v for v in json.loads(proc.stdout)["cases"][0]["variants"]}


@pytest.mark.parametrize("name", sorted(RACY))
def test_a_race_in_the_library_is_found_in_its_own_file_and_line(inventory_report, name):
    v = inventory_report[name]
    assert v["verdict"] == RACY[name] and v["ok"]
    assert v["mode_facts"]["found_by"] == "search" and v["schedule"]
    file, line = PLACES[name]
    rows = [row for row in v["trace"] if "thread" in row]
    assert rows and all(row.get("file", "").startswith("inventory/") for row in rows), rows
    assert any(row.get("file") == file and row["line"] == line for row in rows), rows


@pytest.mark.parametrize("name", TWINS)
def test_the_correct_twins_are_clean_with_their_coverage_said(inventory_report, name):
    v = inventory_report[name]
    assert v["verdict"] == "no race observed" and v["ok"] and not v["unseen"]
    assert v["search"]["schedules"] >= 2  # the controlled engine ran, in the library's code


def test_the_lost_update_story_names_the_library_line(inventory_report):
    story = inventory_report["hits"]["story"]
    assert story["kind"] == "lost update" and story["what"] == "hits.total"
    assert (story["read_file"], story["read_line"]) == ("inventory/stats.py", 11)


def test_a_schedule_found_in_library_code_replays_exactly(inventory_report):
    v = inventory_report["hits"]
    proc = racekit("replay", str(USERLIB / "inventory_cases.yaml"), "--variant", "hits", "--schedule", v["schedule"],
                   "--format", "json")
    replayed = json.loads(proc.stdout)["cases"][0]["variants"][0]
    assert proc.returncode == 1 and replayed["outcomes"] == {"1": 1}


def _project(pytester: pytest.Pytester) -> None:
    shutil.copytree(USERLIB / "inventory", pytester.path / "inventory")
    shutil.copy(USERLIB / "test_inventory.py", pytester.path / "test_inventory.py")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "controlled"])
def test_race_tests_of_the_library_pass_in_auto_and_controlled(pytester, mode):
    _project(pytester)
    result = pytester.runpytest_subprocess("test_inventory.py", "--racekit-mode", mode, "--racekit-seed", "3",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=9)
    summary = result.stdout.str()
    for test in ("test_hits_lose_an_update", "test_cache_computes_twice", "test_pool_hands_out_one_connection_twice",
                 "test_singleton_created_twice", "test_opposite_transfers_deadlock"):
        assert test in summary  # listed among those that showed a race or deadlock, as expected


def test_a_race_test_that_claims_safety_fails_with_the_library_line_and_a_replay(pytester):
    _project(pytester)
    pytester.makepyfile(test_claim="""
import racekit
from inventory.stats import Hits

@racekit.race_test(expect=2)
def test_hits_claimed_safe(race):
    hits = Hits()
    race.thread(hits.record, count=2)
    race.outcome(lambda: hits.total)
""")
    result = pytester.runpytest_subprocess("test_claim.py", "--racekit-seed", "8", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = " ".join(result.stdout.str().split())
    assert "inventory/stats.py:11" in out and "read hits.total" in out
    assert "racekit replay test_claim.py::test_hits_claimed_safe --schedule" in out


@pytest.mark.slow
def test_race_test_mode_argument_is_the_tests_default_mode(pytester):
    _project(pytester)
    pytester.makepyfile(test_moded="""
import racekit
from inventory.stats import Hits

@racekit.race_test(expect=2, racy=True, mode="yield", runs=200)
def test_hits_under_yield(race):
    hits = Hits()
    race.thread(hits.record, count=2)
    race.outcome(lambda: hits.total)
""")
    # yield mode yields after half the accesses: 200 runs without one lost update
    # of two unlocked increments have a chance far below one in a million.
    result = pytester.runpytest_subprocess("test_moded.py", "--racekit-seed", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # The summary names the mode that ran ("yield" alone is also in the test's name).
    result.stdout.fnmatch_lines(["*RACE*test_moded.py::test_hits_under_yield*(yield, seed *; expected)*"])


def test_racekit_run_accepts_a_python_file_and_one_of_its_tests(tmp_path):
    shutil.copytree(USERLIB / "inventory", tmp_path / "inventory")
    shutil.copy(USERLIB / "test_inventory.py", tmp_path / "test_inventory.py")
    proc = racekit("run", "test_inventory.py::test_locked_hits_count_every_hit", "--seed", "1", "--format", "json",
                   cwd=tmp_path)
    cases = json.loads(proc.stdout)["cases"]
    assert proc.returncode == 0 and [c["name"] for c in cases] == ["test_locked_hits_count_every_hit"]
    assert cases[0]["variants"][0]["verdict"] == "no race observed"
    missing = racekit("run", "test_inventory.py::test_nothing", cwd=tmp_path)
    assert missing.returncode == 2 and "no @racekit.race_test function named 'test_nothing'" in missing.stderr
    assert "Traceback" not in missing.stderr


# -- the rewrite cache ---------------------------------------------------------------------


@pytest.fixture
def module_file(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(import_hook, "_memory", {})
    path = tmp_path / "counter.py"
    path.write_text("class C:\n    def add(self):\n        self.v += 1\n")
    return path


def test_the_rewrite_is_cached_beside_the_source_under_racekits_own_name(module_file):
    code = import_hook.rewritten_code(str(module_file), module_file.read_bytes())
    cached = import_hook.cache_path(str(module_file))
    assert os.path.basename(cached) == f"counter.{sys.implementation.cache_tag}-racekit.pyc"
    assert os.path.isfile(cached)
    assert "__racekit__" in _names(code)  # the cached code is the rewritten one
    import_hook._memory.clear()
    again = import_hook.rewritten_code(str(module_file), module_file.read_bytes())
    assert _names(again) == _names(code)


def test_a_damaged_or_stale_cache_is_rewritten_never_trusted(module_file):
    import_hook.rewritten_code(str(module_file), module_file.read_bytes())
    cached = import_hook.cache_path(str(module_file))
    data = open(cached, "rb").read()
    with open(cached, "wb") as f:
        f.write(data[:60])  # cut short: marshal cannot read it
    import_hook._memory.clear()
    code = import_hook.rewritten_code(str(module_file), module_file.read_bytes())
    assert "__racekit__" in _names(code)
    module_file.write_text("def plain():\n    return 1\n")  # a new source: the old rewrite does not fit
    import_hook._memory.clear()
    code = import_hook.rewritten_code(str(module_file), module_file.read_bytes())
    assert "plain" in _names(code) and "C" not in _names(code)
    assert marshal.loads(open(cached, "rb").read()[48:]).co_names == code.co_names


def _all_files(code):
    yield code.co_filename
    for const in code.co_consts:
        if hasattr(const, "co_filename"):
            yield from _all_files(const)


def test_a_cached_rewrite_names_the_file_it_is_loaded_for_not_the_checkout_that_wrote_it(module_file, tmp_path):
    import_hook.rewritten_code(str(module_file), module_file.read_bytes())
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(module_file, copy / "counter.py")
    shutil.copytree(module_file.parent / "__pycache__", copy / "__pycache__")  # `cp -r`, a restored CI cache
    import_hook._memory.clear()
    code = import_hook.rewritten_code(str(copy / "counter.py"), (copy / "counter.py").read_bytes())
    assert set(_all_files(code)) == {str(copy / "counter.py")}


def test_the_cache_lives_under_pythonpycacheprefix_when_it_is_set(module_file, tmp_path, monkeypatch):
    prefix = tmp_path / "prefix"
    monkeypatch.setattr(sys, "pycache_prefix", str(prefix))
    import_hook.rewritten_code(str(module_file), module_file.read_bytes())
    cached = import_hook.cache_path(str(module_file))
    assert cached.startswith(str(prefix) + os.sep) and os.path.isfile(cached)
    assert not (module_file.parent / "__pycache__").exists()


def test_a_link_planted_where_the_cache_or_its_temporary_goes_is_never_written_through(module_file, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    cached = import_hook.cache_path(str(module_file))
    os.makedirs(os.path.dirname(cached))
    for pid in range(os.getpid() - 50, os.getpid() + 50):  # the old, predictable temporary names
        os.symlink(victim, f"{cached}.{pid}.tmp")
    os.symlink(victim, cached)
    code = import_hook.rewritten_code(str(module_file), module_file.read_bytes())
    assert "__racekit__" in _names(code)
    assert victim.read_text() == "precious\n"
    assert os.path.isfile(cached) and not os.path.islink(cached)  # the link itself was replaced


def test_a_device_or_fifo_in_the_caches_place_is_never_read(module_file):
    """/dev/zero's twin never ends and a FIFO blocks its reader: neither may hang a trial."""
    cached = import_hook.cache_path(str(module_file))
    os.makedirs(os.path.dirname(cached))
    try:
        os.mknod(cached, stat.S_IFCHR | 0o666, os.makedev(1, 5))  # what /dev/zero is
    except (PermissionError, OSError):
        os.mkfifo(cached)
    code = import_hook.rewritten_code(str(module_file), module_file.read_bytes())
    assert "__racekit__" in _names(code)


def test_a_rewrite_cached_under_one_optimisation_level_is_not_run_under_another(tmp_path):
    # `python -O` strips asserts: its rewrite must not serve a plain run (nor the reverse).
    (tmp_path / "checked.py").write_text("def check(x):\n    assert x, 'checked'\n    return 1\n")
    script = ("import sys; from racekit.runtime import import_hook as h; sys.dont_write_bytecode = False; "
              f"p = {str(tmp_path / 'checked.py')!r}; c = h.rewritten_code(p, open(p, 'rb').read()); "
              "f = [k for k in c.co_consts if hasattr(k, 'co_code')][0]; "
              "print('assert' if 'checked' in f.co_consts else 'stripped')")  # the assert's message, gone under -O
    runs = [subprocess.run([sys.executable, *flags, "-c", script], capture_output=True, text=True, cwd=ROOT)
            for flags in ([], ["-O"], [])]
    assert [r.stdout.strip() for r in runs] == ["assert", "stripped", "assert"], [r.stderr for r in runs]
    names = sorted(os.listdir(tmp_path / "__pycache__"))
    assert any(n.endswith(".opt-1-racekit.pyc") for n in names)
    assert any(n.endswith(f"{sys.implementation.cache_tag}-racekit.pyc") for n in names)


def test_no_cache_file_is_written_when_python_is_told_not_to(module_file, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    import_hook.rewritten_code(str(module_file), module_file.read_bytes())
    assert not os.path.exists(import_hook.cache_path(str(module_file)))


def test_site_packages_and_the_stdlib_are_rewritten_only_when_named():
    import sysconfig

    site = os.path.join(sysconfig.get_paths()["purelib"], "somepkg", "mod.py")
    stdlib = os.path.join(os.path.dirname(os.__file__), "json", "decoder.py")
    session = import_hook.Session(lambda path: False)
    assert not session.wants("somepkg.mod", site) and not session.wants("json.decoder", stdlib)
    named = import_hook.Session(lambda path: False, named=("somepkg",))
    assert named.wants("somepkg.mod", site) and named.wants("somepkg", site)
    assert not named.wants("somepkgextra", site)
    assert not named.wants("racekit.engine", import_hook.__file__.replace("runtime/import_hook.py", "engine.py"))


def _names(code) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names(const)
    return names


# -- budgets and the replay property under pytest --------------------------------------------


BUDGET_TESTS = """
import pytest
import racekit
from inventory import config
from inventory.stats import Hits, LockedHits


@pytest.mark.racekit(budget="1s")
@racekit.race_test(expect=12)
def test_hits_locked_many(race):
    hits = LockedHits()

    def visits():
        for _ in range(4):
            hits.record()

    race.thread(visits, count=3)
    race.outcome(lambda: hits.total)


@racekit.race_test(expect=1)
def test_singleton_locked_unmarked(race):
    race.thread(config.get_config_locked, count=3)
    race.outcome(lambda: config.created)


@racekit.race_test(expect=2)
def test_hits(race):
    hits = Hits()
    race.thread(hits.record, count=2)
    race.outcome(lambda: hits.total)
"""


def _properties(xml_path) -> dict[str, dict[str, str]]:
    import xml.etree.ElementTree as ET

    cases = ET.parse(xml_path).getroot().iter("testcase")
    return {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")} for case in cases}


@pytest.mark.slow
def test_a_failing_test_carries_its_replay_line_in_the_junit_properties(pytester):
    _project(pytester)
    pytester.makepyfile(test_budget=BUDGET_TESTS)
    result = pytester.runpytest_subprocess("test_budget.py::test_hits", "--racekit-seed", "1", "--junitxml=out.xml",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    props = _properties(pytester.path / "out.xml")["test_hits"]
    assert props["racekit_verdict"] == "race"
    assert props["racekit_replay"] == f"racekit replay test_budget.py::test_hits --schedule {props['racekit_schedule']}"
    replay = racekit(*props["racekit_replay"].split()[1:], cwd=pytester.path)
    assert replay.returncode == 1 and "read hits.total" in replay.stdout  # the same failure, again
    again = pytester.runpytest_subprocess("test_budget.py::test_hits", "--racekit-seed", "1",
                                          "--junitxml=again.xml", "-p", "no:cacheprovider")
    again.assert_outcomes(failed=1)
    assert _properties(pytester.path / "again.xml")["test_hits"]["racekit_schedule"] == props["racekit_schedule"]


@pytest.mark.slow
def test_a_time_budget_ends_a_long_search_and_the_report_says_so(pytester):
    _project(pytester)
    pytester.makepyfile(test_budget=BUDGET_TESTS)
    started = __import__("time").monotonic()
    result = pytester.runpytest_subprocess("test_budget.py::test_hits_locked_many", "--racekit-seed", "1",
                                           "--junitxml=out.xml", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # The whole search is one execution per order of the twelve lock acquisitions (34,650, every one a
    # Mazurkiewicz trace of its own): minutes. The marker gives it 1 s, then the phases after it stop too.
    props = _properties(pytester.path / "out.xml")["test_hits_locked_many"]
    assert int(props["racekit_runs"]) < 34_650 and props["racekit_verdict"] == "no race observed"
    assert __import__("time").monotonic() - started < 60


@pytest.mark.slow
def test_an_execution_budget_caps_the_search(pytester):
    _project(pytester)
    pytester.makepyfile(test_budget=BUDGET_TESTS)
    result = pytester.runpytest_subprocess("test_budget.py::test_singleton_locked_unmarked", "--racekit-budget",
                                           "40", "--racekit-seed", "1", "--junitxml=out.xml", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # 40 schedules in the search, then at most 40 trials in the phases after it.
    runs = int(_properties(pytester.path / "out.xml")["test_singleton_locked_unmarked"]["racekit_runs"])
    assert 40 < runs <= 80
    bad = pytester.runpytest_subprocess("test_budget.py", "--racekit-budget", "ten", "-p", "no:cacheprovider")
    assert bad.ret != 0 and "expected a number of executions (500) or a time (10s, 500ms)" in bad.stderr.str()
