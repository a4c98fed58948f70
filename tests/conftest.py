"""Shared helpers: paths to the case library and test cases, and a CLI runner.

CLI tests run ``python -m racekit`` as a subprocess, as a user would, so exit
codes and stderr are the real ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# The fixture cases under tests/cases fail on purpose (deadlocks, crashes…):
# tests run them through the API; pytest must not collect them as tests.
collect_ignore_glob = ["cases/*"]

# Files whose tests check what no interpreter version changes: the reports'
# wording and layout (English, Chinese, HTML), the command line's own
# messages, the case loader, the full-screen views. CI runs them once, in the
# main suite; the per-version fast suite runs the rest (race behaviour).
ONCE = {"test_cli.py", "test_report_zh.py", "test_loader_property.py", "test_live.py", "test_html_report.py"}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in ONCE:
            item.add_marker(pytest.mark.once)


ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "cases"
TEST_CASES = Path(__file__).resolve().parent / "cases"


def racekit(*args: str, timeout: float = 120, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-m", "racekit", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=full_env)


@pytest.fixture
def run_cli():
    return racekit


def process_ended(pid: int) -> bool:
    """Gone, or a zombie: dead, waiting for init to reap it (a container's
    init may never do so)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_for_marks(marks: Path, count: int = 5, seconds: float = 60.0) -> None:
    """Until ``count`` trials of tests/cases/slow.yaml (run with ``-p marks=PATH``) have
    run, and a moment more for their results to reach racekit's main process (sent in
    batches every 50 ms): a fixed sleep saw none on a loaded machine under coverage."""
    deadline = time.monotonic() + seconds
    while (not marks.exists() or len(marks.read_text()) < count) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
