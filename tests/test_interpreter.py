"""What racekit says about the interpreter it runs on: the version, the GIL,
whether its CI covers it. Facts are feature-detected; only the range CI runs
is a list of versions, and an interpreter outside it still runs, and says so."""

from __future__ import annotations

import json
import re
import sys

from rich.console import Console

from conftest import ROOT, racekit
from racekit import TESTED_PYTHONS
from racekit.analysis.results import RunResult, VariantResult, Verdict
from racekit.report.terminal import TerminalReport
from racekit.runtime.forcing import HAS_MONITORING, interpreter_info, is_tested


def test_the_tested_range_is_what_pyproject_and_readme_promise():
    pyproject = (ROOT / "pyproject.toml").read_text()
    # No upper cap: an untested newer CPython installs and says so in its report.
    assert re.search(r'^requires-python = ">=3\.10"$', pyproject, re.M)
    low, high = TESTED_PYTHONS
    for minor in range(low[1], high[1] + 1):
        assert f'"Programming Language :: Python :: 3.{minor}"' in pyproject
    assert f"CPython 3.{low[1]}–3.{high[1]}" in (ROOT / "README.md").read_text()


def test_which_interpreters_count_as_tested():
    assert is_tested("cpython", (3, 10)) and is_tested("cpython", (3, 15))
    assert not is_tested("cpython", (3, 16)) and not is_tested("cpython", (3, 9))
    assert not is_tested("pypy", (3, 11))
    # The interpreters CI runs this suite on are all in the range.
    assert interpreter_info()["tested"] is True


def test_sys_monitoring_is_detected_not_assumed_from_the_version():
    assert HAS_MONITORING is hasattr(sys, "monitoring")


def _header(python: dict, lang: str = "en") -> str:
    console = Console(record=True, width=200, color_system=None)
    TerminalReport(console, lang).header({"python": python, "seed": 1, "workers": 2,
                                          "modes": {"native": {"name": "native", "switch_interval": 1e-6}}})
    return console.export_text()


def test_an_untested_interpreter_runs_and_its_header_says_so():
    python = {"version": "3.16.0", "implementation": "cpython", "gil_enabled": True, "tested": False}
    text = _header(python)
    assert "CPython 3.16.0, GIL enabled" in text
    assert "racekit has not been tested on CPython 3.16.0: its CI runs CPython 3.10–3.15." in text
    assert "racekit 尚未在 CPython 3.16.0 上测试过：它的 CI 只在 CPython 3.10–3.15 上运行。" in _header(python, "zh")
    tested = dict(python, version="3.13.0", tested=True)
    assert "not been tested" not in _header(tested)


def test_a_free_threaded_interpreter_is_named_in_the_header():
    python = {"version": "3.14.1", "implementation": "cpython", "gil_enabled": False, "tested": True}
    text = _header(python)
    assert "CPython 3.14.1, free-threaded, GIL disabled" in text
    assert "native mode alone can expose races that GIL builds hide" in text


def _timing_sentences(gil: bool) -> list[str]:
    v = VariantResult(case="t", name="default", file="t.yaml", mode="native", mode_facts={"name": "native"}, switch_interval=None,
                      runs=1, planned_runs=1, rows=(), expected=None, expect_text="", outcome_text="", wrong=0,
                      lost_updates=None, verdict=Verdict.NO_RACE, racy=False, ok=True, seed=0,
                      timing={"cpu": {"sequential": 4.0, "threads": 4.1, "processes": 1.1}}, workers=4)
    report = TerminalReport(Console(record=True), "en")
    report.render(RunResult("0", {"gil_enabled": gil}, (), 0, False, 0.0, None))
    return report.timing_sentences(v)


def test_timing_sentences_blame_the_gil_only_where_there_is_one():
    assert any("under the GIL" in s for s in _timing_sentences(gil=True))
    without = _timing_sentences(gil=False)
    assert not any("under the GIL" in s for s in without)
    assert any("although this interpreter runs without a GIL" in s for s in without)


def test_the_json_says_whether_ci_covers_this_interpreter():
    doc = json.loads(racekit("run", "cases/balance.yaml", "-V", "locked", "-n", "2", "-m", "native", "-f", "json").stdout)
    assert doc["python"]["tested"] is True
    assert doc["python"]["gil_enabled"] is interpreter_info()["gil_enabled"]
