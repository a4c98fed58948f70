"""The words for racekit's notes (``racekit.records.Note``), in each language.

The runtime says *that* something happened (a code and its fields); this table
says it to a person. A code no table knows (a results file from a newer
racekit, merged here) is shown as its code and fields, never dropped.
"""

from __future__ import annotations

from racekit.records import Note
from racekit.report.messages import message
from racekit.report.sentences import why_lines

NOTES: dict[str, dict[str, str]] = {
    "en": {
        "processes": "processes run truly in parallel (one interpreter and GIL each, on {cores} cores): their races "
                     "need no forced switch points; mode {mode} applied only inside each process.",
        "start_default": "children started with {method}, this interpreter's default start method.",
        "start_named": "children started with {method}, as named (this interpreter's default is {default}).",
        "start_named_fork": "children started with fork, as named: the case's code starts processes of its own that "
                            "run {work} ({api}, line {line}), and only a fork child inherits what setup defines.",
        "addresses": "outcomes showed memory addresses, which differ in every run; racekit wrote them as 0x… so that "
                     "equal outcomes count as one.",
        "script": "a script runs as its own program: racekit's modes do not apply inside it (mode {mode} was ignored).",
        "timing": "timing cases measure real threads and processes: mode {mode} was ignored.",
        "thread_died": "thread {thread}, which the program started, died with {error} (its traceback is in what the "
                       "case printed; --verbose shows it): the outcome does not show that.",
        "tracer": "{mode} mode replaced another trace function ({tracer}, e.g. coverage.py) in the case threads: that "
                  "tool saw nothing they ran. On Python 3.12+ racekit uses sys.monitoring and both work.",
        "unforced": "thread {thread} ran no code in racekit's scope, so mode {mode} added no switch points to it "
                    "(its code lives in a library racekit does not instrument): name the library with "
                    "--instrument, or instrument=[...] in @race_test, to force switches inside it.",
        "replay_end_varied": "the replayed run made the schedule's choices except at its very end, where the program's "
                             "own order varies (a set of threads or futures iterates by address): there the running "
                             "thread went on.",
        "db_stale": "skipped a saved schedule of {variant} that no longer fits it ({detail})",
        "db_unreadable": "could not read the saved schedules of {variant} in {folder}: {reason}",
        "db_damaged": "skipped a damaged saved schedule of {variant}: {path}",
        "db_not_ours": "skipped {path} in the schedule database: a symbolic link or special file racekit did not make (it follows and changes nothing there)",
        "db_unsaved": "could not save a failing schedule of {variant} in {folder}: {reason}",
        "text": "{text}",
    },
    "zh": {
        "processes": "进程是真正并行运行的（每个进程有自己的解释器和 GIL，本机 {cores} 个核）：它们的竞态不需要"
                     "强制切换点；{mode} 模式只在每个进程内部生效。",
        "start_default": "子进程以 {method} 方式启动，这是这个解释器默认的启动方式。",
        "start_named": "子进程按指定以 {method} 方式启动（这个解释器默认的启动方式是 {default}）。",
        "start_named_fork": "子进程按指定以 fork 方式启动：用例自己的代码会启动运行 {work} 的进程"
                            "（{api}，第 {line} 行），而只有 fork 出来的子进程才会继承 setup 中定义的东西。",
        "addresses": "结果中出现了内存地址，每次运行都不同；racekit 把它们写成 0x…，这样相同的结果只算一种。",
        "script": "脚本作为独立的程序运行：racekit 的模式在其中不起作用（忽略了 {mode} 模式）。",
        "timing": "计时用例测量的是真实的线程和进程：忽略了 {mode} 模式。",
        "thread_died": "程序启动的线程 {thread} 因 {error} 而终止（它的回溯在用例打印的内容里，用 --verbose 可以看到）："
                       "结果并没有反映这一点。",
        "tracer": "{mode} 模式替换了用例线程中的另一个跟踪函数（{tracer}，例如 coverage.py）：那个工具看不到这些线程"
                  "执行的任何代码。在 Python 3.12+ 上 racekit 使用 sys.monitoring，两者可以同时工作。",
        "unforced": "线程 {thread} 没有运行 racekit 作用范围内的任何代码，所以 {mode} 模式没有给它加入任何切换点"
                    "（它的代码位于 racekit 不做插桩的库中）：用 --instrument（或 @race_test 的 instrument=[...]）"
                    "指明这个库，才能在其中强制切换。",
        "replay_end_varied": "重放的运行按调度做了选择，只有最后几步例外：程序自身的顺序在那里会变化（例如按地址遍历的"
                             "一组线程或 future），在那里让正在运行的线程继续运行。",
        "db_stale": "跳过了 {variant} 的一个已保存调度：它已经不适用于这个变体（{detail}）",
        "db_unreadable": "无法读取 {variant} 在 {folder} 中保存的调度：{reason}",
        "db_damaged": "跳过了 {variant} 的一个已损坏的保存调度：{path}",
        "db_not_ours": "跳过了调度数据库中的 {path}：它是符号链接或特殊文件，不是 racekit 创建的（racekit 不会跟随它，也不会改动那里的任何东西）",
        "db_unsaved": "无法把 {variant} 的失败调度保存到 {folder}：{reason}",
        "text": "{text}",
    },
}


def say_note(note: Note, lang: str) -> str:
    table = NOTES.get(lang, NOTES["en"])
    template = table.get(note.code) or NOTES["en"].get(note.code)
    fields = {name: value for name, value in note.fields if not name.startswith("why.")}
    why = {name[4:]: value for name, value in note.fields if name.startswith("why.")}
    if why:  # a trial's why, carried in the note: worded like everywhere else
        fields["detail"] = " ".join(why_lines(why, lambda key, **f: message(lang, key, **f))).rstrip("。.")
    elif note.code == "db_stale":
        fields.setdefault("detail", "?")
    if template is None:
        return note.code + "".join(f"; {name}={value}" for name, value in note.fields)
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError):  # a merged file's note lacks a field this racekit expects
        return note.code + "".join(f"; {name}={value}" for name, value in note.fields)
