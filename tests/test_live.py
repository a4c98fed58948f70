"""racekit lecture and racekit play, as a class sees them: keys pressed in the
real app (Textual's pilot, headless, 80×24), the screen read after each one.

Every screen shows a run racekit's scheduler really made (a recorded tape, or
one replay per choice in play), so the tests check it against what the run
must be: the values read and written, the step the update is lost at, the
fewest preemptions (against the serial runs, which must all end right).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import CASES, ROOT, TEST_CASES, racekit

pytest.importorskip("textual")

from racekit.case.loader import load_case, load_paths  # noqa: E402
from racekit.errors import UsageError  # noqa: E402
from racekit.runtime.pool import Pool  # noqa: E402
from racekit.teach import PlaySession, prepare_lecture  # noqa: E402
from racekit.report.live import LectureApp, PlayApp  # noqa: E402

SIZE = (80, 24)


def line_of(case: str, text: str, nth: int = 1) -> int:
    """The case file's line number of the ``nth`` line holding ``text`` (tests
    do not hard-code where a case's code sits)."""
    found = [i for i, line in enumerate((CASES / case).read_text().splitlines(), 1) if line.strip() == text]
    return found[nth - 1]


DEPOSIT = line_of("balance.yaml", "account.balance += 1")
WITHDRAW = line_of("balance.yaml", "account.balance -= 1")
TRANSFER = line_of("deadlock.yaml", "with source.lock:")


@pytest.fixture(scope="module")
def pool():
    pool = Pool(1)
    yield pool
    pool.close()


class Screen(str):
    """A screen's text; ``in`` ignores where the lines broke (a sentence wraps)."""

    def __contains__(self, text: object) -> bool:
        return " ".join(str(text).split()) in " ".join(self.split())


def keys(app, presses: list[str], wait_for_workers: bool = False, size: tuple[int, int] = SIZE) -> list[Screen]:
    """The screen's text after mounting and after each key in ``presses``."""
    screens: list[Screen] = []

    async def drive() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            screens.append(Screen(app.screen_text()))
            for key in presses:
                await pilot.press(key)
                await pilot.pause()
                if wait_for_workers:
                    await app.workers.wait_for_complete()
                    await pilot.pause()
                screens.append(Screen(app.screen_text()))

    asyncio.run(drive())
    return screens


def header(screen: str) -> str:
    return screen.splitlines()[0]


# -- lecture ----------------------------------------------------------------------


def test_the_lecture_walks_balance_to_its_lost_update(pool):
    lesson = prepare_lecture(load_case(CASES / "balance.yaml"), None, None, {"iterations": 3}, pool)
    # The search grows its preemption bound from 0: one preemption, and the serial orders end right.
    assert lesson.origin == "search" and lesson.search.fewest and lesson.search.preemptions == 1
    start, first, preempted, back, failure, home = keys(LectureApp(lesson, "en"), ["right", "p", "left", "f", "r"])
    assert "step 0/12" in header(start) and "Before the first step" in start
    assert f"This is the failing schedule racekit found ({lesson.schedule}). It needs 1 preemption" in start
    assert "(no shared location touched yet)" in start
    assert "▶" in start and "account.balance += 1" in start and "account.balance -= 1" in start

    assert "step 1/12" in header(first)
    assert f"Step 1 · depositor: read account.balance → 0 (line {DEPOSIT})" in first
    assert "account.balance = 0" in first

    # p: the next preemption, where the withdrawer takes over mid-update.
    step = int(re.search(r"step (\d+)/12", header(preempted)).group(1))
    assert step == lesson.walk.preemption_steps()[0]
    assert "⇢ A preemption: withdrawer takes over although depositor could have gone on." in preempted
    assert "preemptions 1/1" in header(preempted)
    assert f"step {step - 1}/12" in header(back) and "preemptions 0/1" in header(back)

    # f: the stale write; the depositor's pane said what it was about to write.
    assert "step 12/12" in header(failure)
    assert "✗ Lost update: depositor wrote account.balance = 3, computed from the 2 it read at step 5." in failure
    assert "The 3 updates withdrawer made in between were erased." in failure
    assert "The run has ended wrong: account.balance = 3; the right outcome is 0." in failure
    assert "step 0/12" in header(home)


def test_the_lecture_names_where_each_thread_stands(pool):
    lesson = prepare_lecture(load_case(CASES / "balance.yaml"), None, None, {"iterations": 3}, pool)
    screens = keys(LectureApp(lesson, "en"), ["p"])
    # The depositor has read 2 and waits to write back 3: its pane says so before it happens.
    assert "next: write account.balance ← 3" in screens[1]
    assert "next: read account.balance" in screens[0]


def test_the_lecture_in_chinese(pool):
    lesson = prepare_lecture(load_case(CASES / "balance.yaml"), None, None, {"iterations": 3}, pool)
    start, first, failure = keys(LectureApp(lesson, "zh"), ["right", "f"])
    assert "第 0/12 步" in header(start) and "第一步之前" in start and "共享丢失更新" not in start
    assert "共享余额的丢失更新" in start  # the case's own title, translated
    assert f"第 1 步 · depositor：读取 account.balance → 0（第 {DEPOSIT} 行）" in first
    assert "丢失更新：depositor 写入了 account.balance = 3" in failure
    assert "运行结束，结果错了" in failure
    assert "→ 下一步" in failure and "q 退出" in failure
    assert not re.search(r"\b(Step|step|the run|preemption)\b", failure.split("[shared]")[0].split("\n", 1)[1])


def test_a_case_the_lecture_cannot_walk_is_refused_within_seconds(pool, tmp_path):
    # A thread that spins without a shared access: before, the search and the
    # recording each waited a minute (and a worker spun on). Now a few seconds each.
    from test_controlled import SPINNER

    case = tmp_path / "spinner.yaml"
    case.write_text(SPINNER)
    started = time.monotonic()
    with pytest.raises(UsageError, match="inconclusive: did not finish in time"):
        prepare_lecture(load_case(case), None, None, {}, pool)
    assert time.monotonic() - started < 30


def test_escape_sequences_and_markup_in_a_case_reach_the_screen_as_text(pool, tmp_path):
    case = tmp_path / "esc.yaml"
    case.write_text('racekit: 1\nname: esc\ntitle: "Evil \\e]2;pwned\\a [bold]title[/bold]"\n'
                    "setup: |\n  class B:\n      v = 0\nthreads:\n  a: B.v += 1\n  b: B.v += 1\n"
                    "outcome: B.v\nexpect: 2\n")
    lesson = prepare_lecture(load_case(case), None, None, {}, pool)
    (start,) = keys(LectureApp(lesson, "en"), [])
    assert "\x1b" not in start and "\a" not in start
    assert "Evil \\x1b]2;pwned" in start and "[bold]title[/bold]" in start  # as written: no escape, no markup


def test_the_lecture_of_a_deadlock_marks_who_waits_for_which_lock(pool):
    lesson = prepare_lecture(load_case(CASES / "deadlock.yaml"), None, None, {}, pool)
    assert lesson.schedule == "2:ab" and lesson.search.fewest
    (end,) = keys(LectureApp(lesson, "en", start=lesson.walk.last), [])
    assert "Deadlock: no thread can move, and none ever will." in end
    assert "alice_to_bob waits to acquire b.lock" in end and "bob_to_alice waits to acquire a.lock" in end
    assert "a.lock held by alice_to_bob" in end and "b.lock held by bob_to_alice" in end
    assert end.count("▶") == 2 and "with target.lock:" in end

    # Before bob_to_alice takes b.lock nobody holds it: alice_to_bob's next step is
    # to acquire it, not a wait (the scheduler's record, not the deadlock's end).
    (first,) = keys(LectureApp(lesson, "en", start=1), [])
    assert "next: acquire b.lock" in first and "waits to acquire b.lock" not in first
    for moment in lesson.walk.moments:
        for place in moment.places:
            if place.kind == "acquire" and not place.can_move and not place.done:
                assert place.what in moment.held, (moment.index, place)


def test_a_lecture_of_a_correct_variant_says_no_schedule_went_wrong(pool):
    lesson = prepare_lecture(load_case(CASES / "balance.yaml"), "locked_fine", None, {"iterations": 2}, pool)
    assert lesson.origin == "no failure" and lesson.search.complete
    start, end = keys(LectureApp(lesson, "en"), ["end"])
    assert re.search(r"racekit ran all \d+ interleavings and none goes wrong", " ".join(start.split()))
    assert "The run has ended: account.balance = 0, as expected (0)." in end
    assert "lock held by" in start or "lock held by" in keys(LectureApp(lesson, "en"), ["right", "right"])[2]


def test_a_given_schedule_is_walked_as_given_and_one_that_does_not_fit_is_refused(pool):
    from racekit.errors import ScheduleError

    case = load_case(CASES / "balance.yaml")
    serial = "2:b2"  # the withdrawer reads and writes; then only the depositor is left: no more choices
    lesson = prepare_lecture(case, "unlocked", serial, {"iterations": 1}, pool)
    assert lesson.origin == "given" and lesson.schedule == serial
    (start,) = keys(LectureApp(lesson, "en"), [])
    assert f"This is the schedule you gave ({serial})." in start
    assert lesson.walk.ops[0]["thread"] == "withdrawer" and lesson.trial.outcome == "0"
    # The start of a run is run on to its end without a preemption, and the screen says both.
    started = prepare_lecture(case, "unlocked", "2:ab", {"iterations": 1}, pool)
    assert started.given == "2:ab" and started.schedule == "2:ab2" and started.trial.preemptions == 1
    (start,) = keys(LectureApp(started, "en"), [])
    assert "This is the schedule you gave (2:ab), run on to its end without a preemption (2:ab2)." in start
    with pytest.raises(ScheduleError):  # a schedule for three threads
        prepare_lecture(case, "unlocked", "3:abc", {"iterations": 1}, pool)


def test_in_a_lecture_a_thread_whose_lock_is_held_waits(pool):
    case = load_case(TEST_CASES / "live_three.yaml")
    session = PlaySession(case, None, {}, pool)
    session.choose("waiter")
    session.finish()  # the waiter takes the lock first, then everyone runs on without a preemption
    lesson = prepare_lecture(case, None, session.schedule, {}, pool)
    (after_acquire,) = keys(LectureApp(lesson, "en", start=1), [])
    assert "lock held by waiter" in after_acquire and "waits to acquire lock" in after_acquire


# -- play ------------------------------------------------------------------------


def test_a_student_loses_balances_update_with_the_fewest_preemptions(pool):
    """The session the README shows: the depositor reads, the withdrawer takes
    over (1 preemption), and everything runs on to the end. The replay line
    printed at the end makes the same run again."""
    session = PlaySession(load_case(CASES / "balance.yaml"), None, {"iterations": 1000}, pool)
    app = PlayApp(session, "en", "cases/balance.yaml")
    start, read, preempt, end = keys(app, ["enter", "2", "e"], wait_for_workers=True)
    assert "You are the scheduler" in start and "Who moves next?" in start
    assert f"1  depositor: read account.balance (line {DEPOSIT})" in start
    assert f"2  withdrawer: read account.balance (line {WITHDRAW})" in start
    assert f"Step 1 · depositor: read account.balance → 0 (line {DEPOSIT})" in read
    assert f"1  depositor: write account.balance (line {DEPOSIT})  ← running" in read
    assert "preemptions 1" in header(preempt) and "⇢ A preemption" in preempt
    assert "The run has ended wrong: account.balance = 1000; the right outcome is 0." in end
    assert ("You made it go wrong with 1 preemption; racekit needs 1 preemption, and no schedule with fewer "
            "goes wrong.") in end
    schedule = session.schedule
    assert f"Your schedule: {schedule}. Replay it:" in end
    command = f"racekit replay cases/balance.yaml --variant unlocked --schedule {schedule} --param iterations=1000"
    assert command in end
    replayed = racekit("replay", "cases/balance.yaml", "--variant", "unlocked", "--schedule", schedule,
                       "--param", "iterations=1000", "-f", "json")
    assert replayed.returncode == 1
    import json

    variant = json.loads(replayed.stdout)["cases"][0]["variants"][0]
    assert variant["outcomes"] == {"1000": 1} and variant["schedule_preemptions"] == 1


def test_no_schedule_without_a_preemption_loses_an_update(pool):
    """The oracle behind "no schedule with fewer goes wrong": with no preemption
    a thread runs to its end once it starts, so the only such runs are the two
    serial orders; both end right."""
    for first in ("1", "2"):
        session = PlaySession(load_case(CASES / "balance.yaml"), None, {"iterations": 3}, pool)
        end = keys(PlayApp(session, "en"), [first, "e"], wait_for_workers=True)[-1]
        assert session.turn.preemptions == 0 and session.turn.trial.outcome == "0"
        assert "It ended right this time, but it can go wrong: racekit needs 1 preemption" in end


def test_a_student_who_finds_what_racekits_short_search_missed_is_told_so(pool):
    from racekit.teach import Search

    session = PlaySession(load_case(CASES / "balance.yaml"), None, {"iterations": 1}, pool)
    session._search = Search(None, None, False, False, 7)  # as if the 5-second search had found nothing
    end = keys(PlayApp(session, "en"), ["1", "2", "e"])[-1]
    assert session.turn.trial.outcome != "0"
    assert ("You made it go wrong with 1 preemption, where racekit's search (at most 5 seconds) found no failing "
            "schedule in 7 schedules.") in end


def test_a_student_deadlocks_the_transfers_in_chinese(pool):
    session = PlaySession(load_case(CASES / "deadlock.yaml"), None, {}, pool)
    start, first, end = keys(PlayApp(session, "zh", "cases/deadlock.yaml"), ["1", "2"], wait_for_workers=True)
    assert "下一步由谁执行？" in start and f"1  alice_to_bob：获取 a.lock（第 {TRANSFER} 行）" in start
    assert "a.lock 由 alice_to_bob 持有" in first
    assert "死锁：没有线程能继续" in end and "alice_to_bob 卡在「获取 b.lock」" in end
    assert "你用 1 次抢占让它出错了" in end and "你的调度：2:ab。" in end
    assert "racekit replay cases/deadlock.yaml --variant opposite_order --schedule 2:ab" in end


def test_a_thread_that_waits_cannot_be_chosen_and_undo_goes_back(pool):
    session = PlaySession(load_case(TEST_CASES / "live_three.yaml"), None, {}, pool)
    # The holder takes the lock: the waiter must wait, the other may still move.
    start, holding, refused, undone = keys(PlayApp(session, "en"), ["1", "2", "u"])
    assert "3  other: read box['log']" in start
    assert "waiter waits to acquire lock" in holding and "lock held by holder" in holding
    assert "1  holder: read box['n']" in holding and "3  other: read box['log']" in holding
    assert "2  waiter" not in holding
    assert "waiter cannot move now: it waits to acquire lock." in refused and "step 1" in header(refused)
    assert "step 0" in header(undone) and "lock held by" not in undone


def test_the_locked_variant_cannot_be_made_to_fail_and_racekit_says_so(pool):
    session = PlaySession(load_case(CASES / "balance.yaml"), "locked_fine", {"iterations": 2}, pool)
    end = keys(PlayApp(session, "en"), ["2", "1", "e"], wait_for_workers=True)[-1]
    assert "The run has ended: account.balance = 0, as expected (0)." in end
    assert re.search(r"racekit ran every interleaving \(\d+\) and none goes wrong: no scheduler can make this "
                     r"variant fail\.", " ".join(end.split()))


def test_an_outcome_that_raises_is_a_wrong_end_said_as_an_error_and_a_failed_setup_is_refused(pool):
    from racekit.errors import UsageError

    case = load_case(TEST_CASES / "live_errors.yaml")
    session = PlaySession(case, "outcome_raises", {}, pool)
    end = keys(PlayApp(session, "en"), ["1", "2", "e"])[-1]
    assert "The run has ended with an error: error in outcome: KeyError: 1." in end
    assert "You made it go wrong with 1 preemption; racekit needs 1 preemption" in end
    with pytest.raises(UsageError, match="error in setup: ZeroDivisionError"):
        PlaySession(case, "setup_fails", {}, pool)
    with pytest.raises(UsageError, match="error in setup: ZeroDivisionError"):
        prepare_lecture(case, "setup_fails", None, {}, pool)


def test_threads_the_case_starts_itself_can_be_played_and_the_schedule_counts_them(pool):
    session = PlaySession(load_case(CASES / "thread_introspection.yaml"), None, {}, pool)
    app = PlayApp(session, "en")
    end = keys(app, ["e"])[-1]
    threads = session.turn.walk.threads
    assert len(threads) == 2 and session.schedule.startswith("2:")
    assert all(f"[{name}]" in end for name in threads)  # a pane for the thread the case started


# -- the case library ------------------------------------------------------------


def test_every_racy_case_has_a_challenge_in_english_and_chinese():
    for case in load_paths([CASES]):
        for variant in case.variants:
            if variant.racy:
                assert variant.challenge.strip(), f"{variant.id} has no challenge"
                assert variant.text("challenge", "zh") != variant.challenge, f"{variant.id}: no Chinese challenge"
                assert re.search("[\u4e00-\u9fff]", variant.text("challenge", "zh"))


def test_play_shows_the_case_challenge(pool):
    case = load_case(CASES / "balance.yaml")
    session = PlaySession(case, None, {"iterations": 1}, pool)
    (start,) = keys(PlayApp(session, "en"), [])
    assert " ".join(case.variants[0].challenge.split())[:40] in " ".join(start.split())


# -- the commands ----------------------------------------------------------------


@pytest.mark.parametrize("command", ["lecture", "play"])
def test_without_a_terminal_the_commands_say_so(command):
    proc = racekit(command, "cases/balance.yaml")
    assert proc.returncode == 2 and "needs a terminal" in proc.stderr and "Traceback" not in proc.stderr


def test_a_case_the_scheduler_cannot_step_is_refused_clearly(pool):
    from racekit.errors import UsageError

    with pytest.raises(UsageError, match="kind: processes"):
        PlaySession(load_case(CASES / "processes_share_nothing.yaml"), None, {}, pool)
    with pytest.raises(UsageError, match="kind: processes"):
        prepare_lecture(load_case(CASES / "mp_value.yaml"), "unlocked", None, {}, pool)
    with pytest.raises(UsageError, match="no variant 'nope'"):
        prepare_lecture(load_case(CASES / "balance.yaml"), "nope", None, {}, pool)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_the_lecture_in_a_real_80_by_24_terminal_in_tmux(tmp_path):
    """The command itself, in tmux (a real terminal of 80×24): it draws, every
    line fits, keys move it, q ends it."""
    session = f"racekit-test-{int(time.time() * 1000)}"
    command = f"{sys.executable} -m racekit lecture cases/balance.yaml --param iterations=3"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", str(ROOT), command],
                   check=True)
    try:
        def screen() -> str:
            return subprocess.run(["tmux", "capture-pane", "-t", session, "-p"], capture_output=True,
                                  text=True).stdout

        deadline = time.monotonic() + 60
        while "step 0/12" not in screen() and time.monotonic() < deadline:
            time.sleep(0.2)
        first = screen()
        assert "step 0/12" in first and "q quit" in first
        assert all(len(line) <= 80 for line in first.splitlines()) and len(first.splitlines()) <= 24
        deadline = time.monotonic() + 20
        while "step 12/12" not in screen() and time.monotonic() < deadline:
            # The first paint may come before the app reads keys: press again until it answers.
            subprocess.run(["tmux", "send-keys", "-t", session, "f"], check=True)
            time.sleep(0.5)
        # (tmux shows a mark such as ✗ as _ when its server's locale is not UTF-8.)
        assert "Lost update: depositor wrote" in screen() and "step 12/12" in screen()
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 20
        while subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0 \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode != 0
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None or shutil.which("pgrep") is None, reason="needs tmux and pgrep")
def test_closing_the_terminal_ends_play_and_its_worker():
    """A closed terminal window (SIGHUP) must not leave play running without
    it: it once did, reading nothing, at a quarter of a core each."""
    session = f"racekit-test-{int(time.time() * 1000)}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", str(ROOT),
                    f"{sys.executable} -m racekit play cases/deadlock.yaml"], check=True)
    try:
        deadline = time.monotonic() + 60
        while "Who moves next?" not in subprocess.run(["tmux", "capture-pane", "-t", session, "-p"],
                                                      capture_output=True, text=True).stdout:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        shell = int(subprocess.run(["tmux", "display", "-p", "-t", session, "#{pane_pid}"], capture_output=True,
                                   text=True).stdout)
        racekit_pids = _descendants(shell)
        assert racekit_pids
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    deadline = time.monotonic() + 20
    while any(process_alive(pid) for pid in racekit_pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(process_alive(pid) for pid in racekit_pids)


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split()
        found += [int(c) for c in children]
        frontier += [int(c) for c in children]
    return found


def process_alive(pid: int) -> bool:
    from conftest import process_ended

    return not process_ended(pid)


def test_a_challenge_in_a_variant_keeps_the_case_translations():
    """The library writes each challenge into its racy variant (so the code's
    line numbers stay as the docs cite them); the variant's ``i18n`` merges
    into the case's, it does not replace it."""
    document = yaml.safe_load((CASES / "balance.yaml").read_text())
    assert "challenge" in document["variants"]["unlocked"]
    variant = load_case(CASES / "balance.yaml").variant("unlocked")
    assert variant.text("title", "zh") == "共享余额的丢失更新" and "调度器" in variant.text("challenge", "zh")


TEACH = TEST_CASES / "teach"


def test_the_lecture_shows_a_container_as_a_call_left_it_and_stops_f_where_a_thread_raised(pool):
    # a preempted before its pop, b pops and goes on, a pops an empty list: b still has a step after the raise.
    lesson = prepare_lecture(load_case(TEACH / "raising.yaml"), None, "2:a2b2a1", {}, pool)
    raising = lesson.walk.raised["step"]
    screens = keys(LectureApp(lesson, "en"), ["right"] * lesson.walk.last)
    popped = next(s for s in screens if "b: call items.pop() (1)" in s)
    assert "items = []" in popped  # not still [1]: the pop changed it
    (failure,) = keys(LectureApp(lesson, "en"), ["f"])[1:]
    assert raising < lesson.walk.last  # b goes on after a raised: f stops at the raise, not at the end
    assert f"step {raising}/" in header(failure)
    assert "✗ a raised IndexError: pop from empty list here: its thread ends." in failure
    assert "raised IndexError: pop from empty list" in Screen(failure.split("[b]")[0])  # a's pane, not "finished"


def test_a_thread_with_no_shared_access_is_said_to_have_run_to_its_end_and_narrow_panes_fold(pool):
    lesson = prepare_lecture(load_case(TEACH / "quiet.yaml"), None, None, {}, pool)
    start, *_ = keys(LectureApp(lesson, "en"), ["right", "right"], size=(100, 30))
    assert "finished: it touches no shared state, so it ran to its end before the first step" in start
    screens = keys(LectureApp(lesson, "en"), ["right"] * lesson.walk.last, size=(100, 30))
    # Three panes side by side: the status folds onto the rows below, never cut with "…".
    assert any(re.search(r"next: write account\.balance ← \d", " ".join(s.split())) for s in screens)
    assert not any("next: write account.balance …" in s for s in screens)


@pytest.mark.slow
def test_ctrl_c_while_the_lecture_searches_ends_it_with_130_within_seconds(tmp_path):
    # A terminal of its own (lecture draws full screen); Ctrl-C while racekit still
    # searches a case it cannot walk: before, it went on for 20 s and more, then exit 2.
    import os
    import pty
    import select
    import signal

    from test_controlled import SPINNER

    case = tmp_path / "spinner.yaml"
    case.write_text(SPINNER)
    script = Path(sys.executable).with_name("racekit")
    if not script.exists():
        pytest.skip("racekit's console script is not installed beside this interpreter")
    pid, fd = pty.fork()
    if pid == 0:  # the child: racekit, as a teacher starts it
        os.environ["RACEKIT_DATABASE"] = "off"
        os.execv(str(script), ["racekit", "lecture", str(case)])
    started = time.monotonic()
    pressed = None
    while True:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                if not os.read(fd, 4096):
                    break
            except OSError:
                break
        if pressed is None and time.monotonic() - started > 1.5:
            os.write(fd, b"\x03")
            pressed = time.monotonic()
        if time.monotonic() - started > 60:
            os.kill(pid, signal.SIGKILL)
            break
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 130
    assert pressed is not None and time.monotonic() - pressed < 15
