"""The report's words: every message in both languages, facts worded without
English verbs in Chinese, and Chinese broken between characters."""

from __future__ import annotations

import re
import string

from rich.cells import cell_len

from racekit.report.messages import MESSAGES, message
from racekit.report.sentences import (
    deadlock_sentence,
    operation,
    row_mark,
    race_pair,
    schedule_misfit,
    search_sentences,
    shown_outcome,
    story_sentences,
    why_lines,
)
from racekit.report.wrapping import NO_LINE_START, join_wide_lines, wrap, wrap_markdown


def words(lang: str):
    return lambda key, **fields: message(lang, key, **fields)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


# English grammar that Chinese does not need: plural endings, was/were.
GRAMMAR = {"s", "plural", "were", "runs_s", "top_s", "max_s", "max_were", "rs", "ps", "cs", "wait", "has"}
# Words a language may choose differently for the same fact ("wrote" / 的写入).
FORMS = {"first_kind", "second_kind", "first_act", "second_act", "access_kind", "access_act"}


def test_every_message_exists_in_both_languages_with_the_same_facts():
    assert set(MESSAGES["en"]) == set(MESSAGES["zh"])
    for key, english in MESSAGES["en"].items():
        chinese = {"outcome" if field == "outcome_result" else field for field in _fields(MESSAGES["zh"][key])}
        difference = _fields(english) ^ chinese  # "X 的结果" is the outcome, worded
        assert difference <= GRAMMAR | FORMS, (key, difference)


class _Anything:
    """A field value that takes any format spec (``{seconds:.1f}``, ``{n:,}``)."""

    def __format__(self, spec: str) -> str:
        return "X"


def test_every_message_formats_in_both_languages():
    for lang in ("en", "zh"):
        for key, template in MESSAGES[lang].items():
            text = message(lang, key, **{name: _Anything() for name in _fields(template)})
            assert "{" not in text.replace("{}", ""), (lang, key)


RACE = {"first": "withdrawer", "first_kind": "read", "what": "account.balance", "first_line": 5,
        "second": "depositor", "second_kind": "write", "second_line": 9}
DEADLOCK = {"kind": "deadlock",
            "waiting": [{"thread": "alice", "kind": "acquire", "what": "b.lock"},
                        {"thread": "bob", "kind": "get", "what": "jobs"}],
            "held": [{"what": "b.lock", "by": "bob"}]}


def test_a_race_reads_with_past_verbs_in_english_and_chinese_verbs_in_chinese():
    assert race_pair(RACE, words("en")) == ("withdrawer read account.balance (line 5) and depositor wrote it (line 9)")
    chinese = race_pair(RACE, words("zh"))
    assert "读取了" in chinese and "写入了" in chinese and " read " not in chinese and "wrote" not in chinese


STEPS = {"kind": "unordered steps", "first": "a", "first_kind": "read", "what": "items", "first_what": "items",
         "first_line": 11, "second": "b", "second_kind": "call", "second_what": "items.pop()", "second_line": 16,
         "right": False, "cause": "shown", "outcome": "error: IndexError: pop from empty list"}


def test_a_check_then_act_on_a_list_is_two_atomic_steps_in_no_fixed_order_not_a_data_race():
    english = story_sentences(STEPS, words("en"))
    assert english[0] == ("a read items (line 11) and b called items.pop() (line 16). Each step is atomic, but "
                          "nothing orders the two: no lock, queue, event or join puts one before the other.")
    assert "other way round, racekit saw it end right" in english[1]
    chinese = story_sentences(STEPS, words("zh"))
    assert chinese[0].startswith("a 读取了 items（第 11 行），b 调用了 items.pop()（第 16 行）。每一步本身都是原子的")
    assert "数据竞争" not in chinese[0] and not any("data race" in sentence for sentence in english)


def test_steps_a_hand_over_does_not_order_say_what_it_orders_instead():
    ordering = {"what": "q", "gap": "after", "releaser": "worker", "release_kind": "task-done", "release_line": 54,
                "acquirer": "boss", "acquire_kind": "join-tasks", "acquire_line": 25, "access_kind": "call",
                "access_what": "results.append()", "access_line": 55}
    english = story_sentences({**STEPS, "ordering": ordering}, words("en"))[0]
    assert english.endswith("and worker called results.append() only after that (line 55), so the two steps may "
                            "come in either order.")
    assert "no lock" not in english
    chinese = story_sentences({**STEPS, "ordering": ordering}, words("zh"))[0]
    assert "而 worker 是在那之后才调用 results.append() 的（第 55 行）" in chinese


def test_a_semaphores_counter_after_a_step_is_said_as_such():
    row = {"kind": "acquire", "what": "sem", "value": "1"}
    assert operation(row, words("en")) == "acquire sem (counter now 1)"
    assert "计数变为 1" in operation(row, words("zh"))
    assert operation({"kind": "acquire", "what": "lock", "value": ""}, words("en")) == "acquire lock"


def test_a_deadlock_says_who_waits_for_what_and_who_holds_it():
    assert why_lines(DEADLOCK, words("en")) == ["No thread can move:", "  alice waits to acquire b.lock",
                                                "  bob waits to get from jobs", "  b.lock is held by bob"]
    assert why_lines(DEADLOCK, words("zh")) == ["没有线程能继续：", "  alice 卡在「获取 b.lock」",
                                                "  bob 卡在「从 jobs 取出元素」", "  b.lock 被 bob 持有"]


def test_no_chinese_wait_line_says_wait_twice():
    for kind in ("be-notified", "wait", "cond-wait", "join", "acquire", "get", "pass", "arrive"):
        line = why_lines({"kind": "deadlock", "waiting": [{"thread": "b", "kind": kind, "what": "x"}]}, words("zh"))[1]
        assert "等待等待" not in line and "在等待等待" not in line, line


def deadlock(cause: dict, lang: str) -> str:
    return deadlock_sentence({"kind": "deadlock", "waiting": [], "cause": cause}, words(lang))


def test_a_self_deadlock_is_a_thread_waiting_for_itself_fixed_by_an_rlock_not_a_lock_order():
    cause = {"kind": "self", "thread": "a", "lock": "lock"}
    english, chinese = deadlock(cause, "en"), deadlock(cause, "zh")
    assert english.startswith("a tries to acquire lock, which it already holds: a Lock is not re-entrant")
    assert "RLock" in english and "order" not in english and "another" not in english
    assert "a 试图获取它自己已经持有的 lock" in chinese and "RLock" in chinese and "顺序" not in chinese


def test_a_lock_cycle_names_each_link_and_the_global_order_fix():
    cause = {"kind": "cycle", "links": [{"thread": "alice", "lock": "b.lock", "holder": "bob"},
                                        {"thread": "bob", "lock": "a.lock", "holder": "alice"}]}
    assert deadlock(cause, "en").startswith("alice waits for b.lock, which bob holds; bob waits for a.lock, "
                                            "which alice holds: each thread holds a lock the next one waits for")
    assert "one global order" in deadlock(cause, "en")
    assert deadlock(cause, "zh").startswith("alice 在等待 bob 持有的 b.lock；bob 在等待 alice 持有的 a.lock：")


def test_a_lost_wakeup_says_the_notify_came_first_and_who_can_no_longer_give_one():
    cause = {"kind": "notified_before", "thread": "consumer", "condition": "cond", "notifiers": ["producer"],
             "finished": ["producer"]}
    english = deadlock(cause, "en")
    assert ("consumer waits to be notified on cond, but the notify by producer came before consumer began to "
            "wait, when nobody was waiting: it woke nobody and is lost. producer has finished since") in english
    assert "wait_for" in english and "each waits" not in english and "another waiting thread" not in english
    chinese = deadlock(cause, "zh")
    assert "producer 的 notify 发生在 consumer 开始等待之前" in chinese and "producer 此后已经结束" in chinese
    still_running = deadlock({**cause, "finished": []}, "en")
    assert "finished" not in still_running and "is lost. A notification" in still_running


def test_a_barrier_short_of_a_party_says_how_many_it_needs_and_that_nobody_is_left():
    cause = {"kind": "missing_party", "barrier": "barrier", "parties": 3, "arrived": 2, "threads": ["a", "b"]}
    assert deadlock(cause, "en").startswith("barrier lets threads through only when 3 have arrived; 2 did (a, b), "
                                            "and no other thread is left to arrive")
    assert "只到达了 2 个（a、b）" in deadlock(cause, "zh")


def test_other_waits_claim_nothing_about_locks_or_who_could_give_what():
    cause = {"kind": "nobody_left", "threads": ["a"], "finished": ["b"]}
    assert deadlock(cause, "en") == ("No thread will ever do what a waits for: every other thread has finished "
                                     "or waits too.")
    assert deadlock({**cause, "threads": ["a", "b"]}, "zh").startswith("a、b 等待的事永远不会有线程去做")


def test_a_trace_ends_on_the_operation_each_stuck_thread_never_performs():
    row = {"thread": "a", "kind": "acquire", "what": "lock", "value": "", "blocked": True}
    assert operation(row, words("en")) == "waits to acquire lock, never can"
    assert operation(row, words("zh")) == "想要获取 lock，永远等不到"
    assert row_mark(row) == ("blocked", "‖ ")


def test_a_synchronisations_value_is_in_the_readers_language():
    row = {"thread": "a", "kind": "notify", "what": "cond", "value": "nobody waiting"}
    assert operation(row, words("en")) == "notify cond (nobody waiting)"
    assert operation(row, words("zh")) == "通知 cond（没有线程在等待）"


def test_a_livelock_names_what_each_spinning_thread_re_reads():
    livelock = {"kind": "livelock", "spinning": [{"thread": "waiter", "reads": [
        {"what": "flag", "value": "False"}, {"what": "", "value": "", "clock": "sleep"}]}]}
    assert why_lines(livelock, words("en"))[1] == (
        "  waiter keeps re-reading flag (= False), the clock (sleep), in a state it was already in")
    assert "flag（= False）、时钟（sleep）" in why_lines(livelock, words("zh"))[1]


def test_budgets_and_misfits_are_sentences_with_their_numbers():
    budget = {"kind": "step_budget", "steps": 2_000_000, "factor": 20, "minimum": 1_000_000}
    assert "2,000,000 scheduling steps" in why_lines(budget, words("en"))[0]
    assert "2,000,000 个调度步骤" in why_lines(budget, words("zh"))[0]
    misfit = {"kind": "schedule_threads", "declared": 3, "threads": 2}
    assert schedule_misfit(misfit, "en") == ("error: the schedule does not fit this case. "
                                             "The schedule is for 3 threads; this case starts 2.")
    assert why_lines({"kind": "from_a_newer_racekit"}, words("en")) == []


def test_trace_operations_and_unknown_kinds():
    assert operation({"kind": "read", "what": "x", "value": "1"}, words("zh")) == "读取 x → 1"
    assert operation({"kind": "acquire", "what": "lock", "value": "timed out"}, words("en")) == "acquire lock (timed out)"
    assert operation({"kind": "teleport", "what": "x"}, words("zh")) == "teleport x"  # shown, not dropped


def test_story_and_search_sentences():
    lost = {"kind": "lost update", "reader": "a", "what": "x", "read_value": "0", "read_line": 3, "writer": "b",
            "written_value": "1", "write_line": 3, "overwrites": 1, "final_value": "1", "final_line": 3}
    english = story_sentences(lost, words("en"))
    assert english[0].endswith("1 update by b was lost.")
    reversed_story = {"kind": "data race", **RACE, "right": False, "outcome": "-1", "reversed": RACE}
    zh = story_sentences(reversed_story, words("zh"))
    assert "depositor 对 account.balance 的写入（第 9 行）发生在 withdrawer 的读取（第 5 行）之前" in zh[0]
    partial = {"schedules": 20000, "complete": False, "bound": 2, "stopped": "schedule_cap", "limit": 20000}
    assert "stopped after 20,000 schedules" in search_sentences(partial, words("en"))[0]
    assert "在 20,000 种调度后停止" in search_sentences(partial, words("zh"))[0]
    assert "odd_code" in search_sentences({**partial, "stopped": "odd_code"}, words("en"))[0]


# Every outcome racekit makes itself (grep the runtime for Status.CRASH / ERROR /
# INCONCLUSIVE): English in the histogram's key, the reader's language on screen.
RACEKIT_OUTCOMES = {
    "deadlock": "死锁",
    "error: the schedule does not fit this case": "错误：这个调度不适用于这个用例",
    "error: not a racekit schedule": "错误：这不是 racekit 的调度",
    "error: forcing was switched off during the trial": "错误：试验期间强制切换被关闭了",
    "crash: garbled racekit's channel": "崩溃：racekit 的通信通道被写乱了",
    "crash: stopped responding": "崩溃：失去响应",
    "crash: killed by signal SIGSEGV": "崩溃：被信号 SIGSEGV 终止",
    "crash: exited with code 3": "崩溃：以退出码 3 退出",
    "error in setup: NameError: name 'x' is not defined": "setup 中出错：NameError: name 'x' is not defined",
    "error in work.fast: ValueError": "work.fast 中出错：ValueError",
    "error in starting the processes: PicklingError: no": "启动进程时出错：PicklingError: no",
    "inconclusive: step budget": "无定论：超出步数预算",
}


def test_outcomes_racekit_names_itself_are_in_the_readers_language():
    for outcome, chinese in RACEKIT_OUTCOMES.items():
        assert shown_outcome(outcome, words("zh")) == chinese
        assert shown_outcome(outcome, words("en")) == outcome  # the English words are the key itself


def test_each_way_forcing_went_away_is_a_line_in_both_languages():
    problems = [{"kind": "switch_interval", "now": 0.005, "set": 1e-6},
                {"kind": "tracer_replaced", "thread": "a", "by": "coverage.CTracer"},
                {"kind": "tracer_replaced", "thread": "b", "by": None},
                {"kind": "never_traced", "thread": "c"}, {"kind": "tool_taken", "tool": 3},
                {"kind": "callback_replaced", "by": None}, {"kind": "switch_points_removed", "functions": ["f", "g"]}]
    english = why_lines({"kind": "forcing_off", "problems": problems}, words("en"))
    assert english[1:] == [
        "  the switch interval was changed to 5 ms during the trial (racekit set 1 µs)",
        "  in thread a, the trace function was replaced by coverage.CTracer (a debugger, a coverage tool, or the case itself)",
        "  in thread b, the trace function was removed (a debugger, a coverage tool, or the case itself)",
        "  thread c never ran case code under racekit's tracer",
        "  sys.monitoring tool 3 was taken from racekit during the trial",
        "  racekit's sys.monitoring callback was removed",
        "  switch points were removed from f, g"]
    chinese = why_lines({"kind": "forcing_off", "problems": problems}, words("zh"))
    assert len(chinese) == 8 and chinese[1] == "  试验期间切换间隔被改成了 5 ms（racekit 设置的是 1 µs）"
    assert all(re.search(r"[\u4e00-\u9fff]", line) for line in chinese)


def test_the_cases_own_outcomes_are_shown_as_they_are():
    for outcome in ("0", "'error in setup'", "error: ZeroDivisionError: division by zero", "{'a': 1}", "crash"):
        assert shown_outcome(outcome, words("zh")) == outcome


def test_chinese_breaks_between_characters_never_before_a_closing_mark():
    text = "锁顺序颠倒：a.lock → b.lock → a.lock。线程以相反的顺序获取这些锁，即使这些运行中没有死锁，也可能发生死锁。"
    lines = wrap(text, 30).splitlines()
    assert len(lines) > 2 and all(cell_len(line) <= 30 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing lost, nothing added
    assert not any(line[0] in NO_LINE_START for line in lines)
    assert all("a.loc" not in line or "a.lock" in line for line in lines)  # identifiers stay whole


def test_wrapping_keeps_indentation_and_english_words():
    assert wrap("  alice 在等待获取 b.lock，然后一直等待下去", 16).splitlines()[1].startswith("  ")
    assert wrap("one two three", 7) == "one two\nthree"


def test_the_terminal_report_fills_chinese_lines_instead_of_breaking_at_the_one_space():
    import io

    from rich.console import Console

    from racekit.report.terminal import TerminalReport

    out = io.StringIO()
    report = TerminalReport(Console(file=out, width=60, color_system=None), "zh")
    report.say("锁顺序颠倒：a.lock → b.lock → a.lock。线程以相反的顺序获取这些锁，即使这些运行中没有死锁，也可能发生死锁。", 4)
    lines = out.getvalue().rstrip("\n").splitlines()
    assert len(lines) == 2 and cell_len(lines[0].rstrip()) >= 56, lines  # rich alone broke after "b.lock →"
    assert all(line.startswith("    ") for line in lines)


def test_a_closing_mark_at_the_width_takes_the_character_before_it_along_and_nothing_is_lost():
    # The terminal crops what sticks out past its width: "（第 41 行）。" at the edge lost its "）。".
    texts = ["甲" * 9 + "（第 41 行）。然后 adder-1 根据过时的 999 写入了 1000：", "counter = 1000（第 41 行）。然后",
             "甲乙）。丙丁", "x = 1（第 3 行）：丙丁丙丁丙丁"]
    for text in texts:
        for width in range(8, 40):
            out = wrap(text, width)
            assert out.replace("\n", "").replace(" ", "") == text.replace(" ", ""), (width, out)
            for line in out.split("\n"):
                assert cell_len(line) <= width or len(line.split()) == 1, (width, line)
                assert line[0] not in NO_LINE_START, (width, out)


def test_chinese_markdown_joins_its_source_lines_and_leaves_code_and_list_items_alone():
    text = ("第一句写在\n  两行上，`x += 1`\n  不是原子的。\n\n- 第一项\n- 第二项 lock\n  继续\n\n"
            "```python\nx = 1\ny = 2\n```\n")
    out = wrap_markdown(text, 80)
    assert out.startswith("第一句写在两行上，`x += 1` 不是原子的。\n\n")  # no space between Chinese characters
    assert "- 第一项\n- 第二项 lock 继续\n" in out  # list items stay items; Latin keeps its space
    assert "```python\nx = 1\ny = 2\n```" in out  # code as written
    narrow = wrap_markdown("一二三四五六七八九十，一二三四五六七八九十。", 12)
    assert [line.rstrip() for line in narrow.split("\n")] == ["一二三四五六", "七八九十，一", "二三四五六七", "八九十。"]


def test_the_trace_shows_each_steps_code_where_the_width_allows_and_leaves_it_out_where_not():
    from rich.console import Console

    from racekit.report.messages import message
    from racekit.report.terminal import trace_table

    rows = [{"step": 1, "thread": "a", "kind": "read", "what": "x.v", "value": "0", "line": 3, "source": "x.v += 1"},
            {"step": 2, "thread": "b", "kind": "write", "what": "x.v", "value": "1", "line": 3, "source": "x.v += 1",
             "preempted": True}]

    def shown(width: int) -> str:
        console = Console(width=width, record=True, color_system=None)
        console.print(trace_table(rows, lambda key, **f: message("en", key, **f), ["a", "b"], width))
        return console.export_text()

    wide = shown(100)
    assert "CODE" in wide and "x.v += 1" in wide and "⇢ write x.v ← 1" in wide
    narrow = shown(48)
    assert "CODE" not in narrow and "x.v += 1" not in narrow and "⇢ write x.v ← 1" in narrow


def test_a_race_past_an_event_says_what_the_event_orders_and_which_access_it_misses():
    story = {"kind": "data race", "first": "reader", "first_kind": "read", "what": "data.x", "first_line": 17,
             "second": "writer", "second_kind": "write", "second_line": 14, "right": True,
             "ordering": {"what": "ready", "gap": "after", "releaser": "writer", "release_kind": "set",
                          "release_line": 13, "acquirer": "reader", "acquire_kind": "wait", "acquire_line": 16,
                          "access_kind": "write", "access_line": 14}}
    english = story_sentences(story, words("en"))[0]
    assert "no lock, queue, event or join" not in english
    assert ("ready orders only what writer did before `set ready` (line 13) before what reader does after "
            "`wait for ready` (line 16); writer wrote data.x after that (line 14)") in english
    chinese = story_sentences(story, words("zh"))[0]
    assert "ready 只保证 writer 在「设置 ready」（第 13 行）之前做的事" in chinese
    assert "而 writer 是在那之后才写入 data.x 的（第 14 行）" in chinese


def test_a_line_break_between_chinese_and_code_is_one_space_and_between_two_chinese_characters_none():
    text = "每个\n线程并执行\ncounter += 1\n然后结束。"
    assert wrap_markdown(text, 80) == "每个线程并执行 counter += 1 然后结束。"  # the terminal: not "并执行counter"
    assert join_wide_lines(text) == "每个线程并执行\ncounter += 1\n然后结束。"  # the page: no "每个 线程"
    assert join_wide_lines("```\n一\n二\n```") == "```\n一\n二\n```"  # code is left as written


def test_code_in_a_sentence_is_set_as_code_never_shown_with_backticks():
    from racekit.report.html_report import html_code
    from racekit.report.sentences import plain_code

    sentence = "Use `cond.wait_for(...)` or `while not ready: cond.wait()` <here>."
    assert plain_code(sentence) == "Use cond.wait_for(...) or while not ready: cond.wait() <here>."
    assert html_code(sentence) == ("Use <code>cond.wait_for(...)</code> or <code>while not ready: cond.wait()</code> "
                                   "&lt;here&gt;.")
    assert operation({"thread": "main", "kind": "join-tasks", "what": "q", "value": ""}, words("zh")) == \
        "等待 q 中的所有任务完成"
    assert "begin" not in operation({"thread": "t", "kind": "begin", "what": "Thread-1", "value": ""}, words("zh"))


def test_the_step_that_ends_a_loop_says_there_was_no_item():
    row = {"thread": "a", "kind": "read", "what": "words", "value": "no more items"}
    assert operation(row, words("en")) == "read words: no more items"
    assert operation(row, words("zh")) == "读取 words：没有下一个元素了"


def test_a_schedule_that_stops_fitting_is_said_in_the_schedules_own_letters():
    # The runtime's facts are thread indices; the user holds a string like 4:b18c12d18c6.
    why = {"kind": "mismatch", "wanted": 1, "position": 19, "enabled": [2, 3, 0]}
    assert why_lines(why, words("en")) == [
        "The schedule asks for thread b at its choice 19, but only a, c, d can move there: was it recorded with "
        "other --param or --instrument values, or another version of the case?"]
    assert "运行线程 b" in why_lines(why, words("zh"))[0]
