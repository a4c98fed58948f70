"""A Chinese report is Chinese: no English word racekit wrote reaches it.

The report is run as a user runs it (the CLI, a subprocess) over cases that
bring out every kind of explanation: a lost update, a deadlock with its
waits and holders, an exhaustive search, a harmless data race. Any ASCII
word in the output must come from the case itself (identifiers, code, the
title), from a traceback, or be a name racekit gives to things (a mode, a
strategy): never an English sentence of racekit's own.
"""

from __future__ import annotations

import re

import pytest
from rich.cells import cell_len

from conftest import CASES, TEST_CASES, racekit
from racekit.options import MODES, STRATEGIES
from racekit.report.wrapping import NO_LINE_START

NAMES = {*MODES, *STRATEGIES, "racekit", "Python", "CPython", "INSTRUCTION", "LINE", "GIL", "CPU", "os", "sched_yield", "sched", "join", "setup", "replay",
         "variant", "schedule", "param", "verbose", "mode", "strategy", "lang"}
RUNS = [
    ("balance.yaml", "-m", "controlled", "-n", "20"),
    ("deadlock.yaml", "-m", "controlled", "--strategy", "exhaustive"),
    ("check_then_act.yaml", "-m", "controlled,yield", "-n", "20"),
    ("local_vs_shared.yaml", "-m", "controlled", "-n", "20", "--verbose"),
    (TEST_CASES / "sabotage.yaml", "-n", "3"),  # racekit's self-check: forcing switched off
]


def english_words(report: str, allowed: str) -> set[str]:
    found = set()
    lines = iter(report.splitlines())
    for line in lines:
        if line.lstrip().startswith(("File ", "Traceback", "racekit replay", "racekit run")) or "Error" in line:
            continue  # a traceback, an exception (the case's own words), a command to paste
        line = re.sub(r"racekit (replay|run) .*", "", line)
        line = re.sub(r"\(?[\w./-]+\.yaml\)?", "", line)  # the case's path
        line = re.sub(r"\w+(\.\w+)+", "", line)  # a dotted name is code: coverage.CTracer, sys.monitoring
        line = re.sub(r"\w+#\d+(\[[^\]]*\])?", "", line)  # an object the trace could only number: dict#1['apple']
        line = re.sub(r"'[^']*'", "", line)  # a string value of the case's: {'apple': 1}
        for word in re.findall(r"[A-Za-z][A-Za-z']{2,}", line):
            if word not in allowed and word not in NAMES:
                found.add(word)
    return found


@pytest.mark.parametrize("args", RUNS, ids=[getattr(r[0], "name", r[0]) for r in RUNS])
def test_a_chinese_report_has_no_english_of_racekits(args):
    case = CASES / args[0]  # a path of its own stays as it is
    proc = racekit("run", str(case), *args[1:], "--lang", "zh", "--seed", "7", env={"COLUMNS": "100"})
    assert proc.returncode in (0, 1), proc.stderr
    assert not english_words(proc.stdout, case.read_text(encoding="utf-8")), proc.stdout


def test_chinese_lines_break_between_characters_at_the_report_width():
    # Output that is not a terminal is 100 columns wide (racekit.report.console).
    proc = racekit("run", str(CASES / "deadlock.yaml"), "-m", "controlled", "-n", "5", "--lang", "zh", "--seed", "3")
    prose = [line for line in proc.stdout.splitlines() if re.search(r"[\u4e00-\u9fff]", line)
             and "racekit replay" not in line and not line.startswith("racekit ")]  # the header is one line
    assert prose
    for line in prose:
        assert cell_len(line) <= 100 or " " not in line.strip(), line  # only an unbreakable word may overflow
        assert line.strip()[0] not in NO_LINE_START, line


def test_a_livelock_is_explained_in_chinese():
    path = TEST_CASES / "soundness" / "items.yaml"
    proc = racekit("run", str(path), "-V", "spin_forever", "-m", "controlled", "-n", "1", "--lang", "zh")
    assert "一直在以之前出现过的状态反复读取 box.ready" in proc.stdout, proc.stdout
    assert not english_words(proc.stdout, path.read_text(encoding="utf-8")), proc.stdout


def test_the_description_prints_as_chinese_paragraphs_not_as_its_yaml_lines():
    # balance.yaml's zh description breaks its lines mid-sentence; Markdown
    # made each break a space ("一千次， 两者") and rich kept the source's breaks.
    proc = racekit("run", str(CASES / "balance.yaml"), "-V", "locked", "-m", "controlled", "-n", "2",
                   "--lang", "zh", "--seed", "1", "--verbose")
    text = proc.stdout
    head = text.index("共享余额的丢失更新")
    assert text.index("讲义中的示例 5") > head and text.index("讲义中的示例 5") < text.index("locked ·")
    joined = re.sub(r"\n\s*", "", text)
    assert "一千次，两者操作同一个" in joined and "一千次， 两者" not in joined
    assert "本线程的写回就会抹掉那次更新" in joined  # the source broke this sentence over two lines
    notes = [line for line in text.splitlines() if "不加锁时" in line or "就是讲义里的写法" in line]
    assert len(notes) == 2  # --verbose adds the notes, each item where it starts
    for line in text.splitlines():
        if re.search(r"[\u4e00-\u9fff]", line) and "racekit replay" not in line and not line.startswith("racekit "):
            assert cell_len(line) <= 100 or " " not in line.strip(), line  # output that is no terminal: 100 columns
            assert line.strip()[0] not in NO_LINE_START, line
