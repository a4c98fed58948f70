"""The public Python API (racekit.api), as a script uses it: the README's example, run."""

from __future__ import annotations

import re
import textwrap

import pytest

import racekit
from conftest import CASES, ROOT
from racekit.errors import UsageError


def test_the_readmes_example_runs_as_written(monkeypatch):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## From Python", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("builtins.print", lambda *args, **kwargs: None)
    exec(compile(code, "README.md", "exec"), {})


def test_a_result_says_what_a_run_found_and_replays_it():
    result = racekit.explore(CASES / "balance.yaml", variant="unlocked", mode="controlled", runs=10, seed=3)
    assert result.ok and result.verdict == "race" and result.schedule
    assert result.to_json()["ok"] is True
    text = result.explain()
    assert "RACE ✓ (as expected)" in text and f"--schedule {result.schedule}" in text
    assert "竞态" in result.explain(lang="zh")
    assert racekit.replay(CASES / "balance.yaml", result.schedule, variant="unlocked").verdict == "race"


def test_misuse_is_said_as_racekit_says_it_on_the_command_line(tmp_path):
    with pytest.raises(UsageError, match="unknown mode 'bogus'"):
        racekit.explore(CASES / "balance.yaml", mode="bogus")
    broken = tmp_path / "broken.yaml"
    broken.write_text(textwrap.dedent("""\
        racekit: 1
        name: broken
        threads: 3
        """))
    with pytest.raises(racekit.CaseError, match=r"broken.yaml:3:"):
        racekit.load(broken)
    with pytest.raises(ValueError, match="several variants"):
        racekit.replay(CASES / "balance.yaml", "2:ab")
    result = racekit.explore(CASES / "balance.yaml", mode="controlled", runs=2, seed=1)
    with pytest.raises(ValueError, match="variants ran: read .verdicts"):
        _ = result.verdict
