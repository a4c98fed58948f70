"""Explaining a controlled trial: the trace around what went wrong, and the facts behind it.

The facts (who read, who wrote, which update was lost, who waits for what)
go into the trial's ``story``; the trace is the operations around them, one
row each. Both are facts: the report writes the sentences and the verbs.
"""

from __future__ import annotations

import linecache
from typing import Any

from racekit.analysis.accesses import DataRace, data_races, lost_updates, missed_ordering
from racekit.records import Op, Status, Trial
from racekit.runtime.controlled.controller import NOBODY_WAITING, Controller
from racekit.runtime.hooks import NO_MORE_ITEMS
from racekit.runtime.controlled.schedule import encode_schedule

TRACE_CONTEXT = 3  # operations shown before and after the interesting ones


def race_facts(race: DataRace, names: list[str]) -> dict[str, Any]:
    """A data race's two accesses: who, what kind, where."""
    return {"first": names[race.first.thread], "first_kind": race.first.kind, "what": race.first.what,
            **place("first", race.first), "second": names[race.second.thread], "second_kind": race.second.kind,
            **place("second", race.second)}


def place(prefix: str, op: Op) -> dict[str, Any]:
    """Where an operation happened: ``{prefix}_line``, and ``{prefix}_file`` when
    that is not the case's own file (a module of the user's that racekit rewrote)."""
    facts: dict[str, Any] = {f"{prefix}_line": op.line}
    if op.file:
        facts[f"{prefix}_file"] = op.file
    return facts


def explain(trial: Trial, controller: Controller, reversed_from: Controller | None = None,
            race: DataRace | None = None) -> None:
    """Attach the trace rows around what went wrong, and the facts behind it;
    for the witness of a race reversal, also which pair was reversed; with
    ``race``, that pair is the one explained (its reversal was shown to decide
    the outcome), not the log's first."""
    log = controller.log
    names = [t.name for t in controller.threads]
    losses = lost_updates(log)
    focus: list[Op] = []
    story: dict[str, Any] | None = None
    lost_steps: set[int] = set()
    stale: set[int] = set()
    if losses:
        lost = losses[0]
        focus = [lost.read, lost.overwritten[0], lost.overwritten[-1], lost.write]
        lost_steps = {id(op) for op in lost.overwritten}
        stale = {id(lost.write)}
        other = lost.overwritten[0]
        story = {"kind": "lost update", "reader": names[lost.read.thread], "what": lost.read.what,
                 "read_value": lost.read.value, **place("read", lost.read),
                 "writer": names[other.thread], "written_value": other.value, **place("write", other),
                 "overwrites": len(lost.overwritten), "final_value": lost.write.value, **place("final", lost.write)}
    elif trial.status is Status.DEADLOCK:
        focus = _deadlock_focus(log, names, (trial.why or {}).get("cause") or {}) or log[-2 * TRACE_CONTEXT:]
        story = {"kind": trial.outcome, "blocked": trial.why}  # a deadlock or a livelock: who waits for what
    else:
        races = [race] if race is not None else data_races(log, len(names), getattr(controller, "guest_log", ()),
                                                           controller.case_threads())
        if races:
            race = races[0]
            focus = [race.first, race.second]
            story = {"kind": "data race", **race_facts(race, names), "right": trial.matches, "outcome": trial.outcome}
            if "call" in (race.first.kind, race.second.kind) or race.first.location != race.second.location:
                # Two atomic steps on a container (`if items:` and `items.pop()`, a loop's next item and
                # an insert): no data race on one location, yet their order decided it.
                story.update(kind="unordered steps", first_what=race.first.what, second_what=race.second.what)
            missed = missed_ordering(log, race)
            if missed is not None:
                # An event (a lock, a queue) does lie between them: what it orders, and why not this pair.
                story["ordering"] = {"what": missed.release.what, "gap": missed.gap,
                                     "releaser": names[missed.release.thread], "release_kind": missed.release.kind,
                                     **place("release", missed.release), "acquirer": names[missed.acquire.thread],
                                     "acquire_kind": missed.acquire.kind, **place("acquire", missed.acquire),
                                     "access_kind": missed.access.kind, "access_what": missed.access.what,
                                     **place("access", missed.access)}
        else:
            focus = [op for op in log if op.preempted][:4] or log[-2 * TRACE_CONTEXT:]
            story = {"kind": "wrong outcome", "outcome": trial.outcome, "preemptions": controller.preemptions}
    raised = controller.raised[0] if controller.raised and trial.status is not Status.DEADLOCK else None
    if raised is not None:
        # The thread that raised gets its column: its last operation, then the raise.
        index = names.index(raised["thread"]) if raised["thread"] in names else None
        focus = focus + [op for op in log if op.thread == index][-1:]
    trial.trace = trace_rows(log, names, focus, lost_steps, stale)
    if trial.status is Status.DEADLOCK:
        trial.trace += _stuck_rows((trial.why or {}).get("waiting") or [], names)
    if raised is not None:
        # Right after the operation that raised (else the thread's last one shown): where it happened, not at the end.
        raising = _raising_row(trial.trace, raised)
        at = next((i + 1 for i, row in enumerate(trial.trace) if row is raising), None) or max(
            (i + 1 for i, row in enumerate(trial.trace) if row.get("thread") == raised["thread"]
             and row.get("step") is not None), default=len(trial.trace))
        trial.trace.insert(at, _row_of(raised["thread"], "raise", raised["error"], raised["line"], raised.get("file", ""),
                                       raised=True))
    _add_source(trial.trace, controller)
    trial.story = {**(story or {}), "threads": names}
    if raised is not None:
        # Its traceback is this run's (another run's thread may have raised the same error elsewhere).
        trial.story["raised"] = {"thread": raised["thread"], "error": raised["error"], "raised_line": raised["line"],
                                 "traceback": raised.get("traceback", ""),
                                 **({"raised_file": raised["file"]} if raised.get("file") else {})}
    races = getattr(reversed_from, "races", None)
    if races:
        trial.story["reversed"] = race_facts(races[0], names)
    trial.preemptions = controller.preemptions
    trial.schedule = encode_schedule(controller.choices, len(names))


def _deadlock_focus(log: list[Op], names: list[str], cause: dict[str, Any]) -> list[Op]:
    """The operations a deadlock's cause rests on: the acquire of the lock a
    thread then waits for (its own, or another's in a cycle), the notification
    that woke nobody and the wait that began after it, a barrier's arrivals."""
    kind = cause.get("kind")
    index = {name: i for i, name in enumerate(names)}
    if kind in ("self", "held_by_finished"):
        holder = index.get(cause.get("holder", cause.get("thread")))
        return [op for op in log if op.kind == "acquire" and op.what == cause["lock"] and op.thread == holder][-1:]
    if kind == "cycle":  # each holder's acquire of the lock the next one waits for (none logged: setup held it)
        return [op for link in cause["links"] for op in [
            op for op in log if op.kind == "acquire" and op.what == link["lock"] and op.thread == index.get(link["holder"])
        ][-1:]]
    if kind == "notified_before":
        waiter = index.get(cause["thread"])
        return [op for op in log if op.what == cause["condition"] and (
            op.kind == "notify" and op.value == NOBODY_WAITING or op.kind == "cond-wait" and op.thread == waiter)]
    if kind == "missing_party":
        return [op for op in log if op.kind == "arrive" and op.what == cause["barrier"]][-cause["arrived"]:]
    return []


def _stuck_rows(waiting: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """The operations the deadlocked threads wait to perform, after the last
    step: the trace ends where each thread stopped, not on its last success."""
    return [_row_of(w["thread"], w["kind"], w["what"], w.get("line", 0), w.get("file", ""), blocked=True)
            for w in waiting if w["thread"] in names]


def _row_of(thread: str, kind: str, what: str, line: int, file: str, step: int | None = None,
            **marks: Any) -> dict[str, Any]:
    """A trace row for what the log has no operation of (a stuck wait, a raise)."""
    return {"step": step, "thread": thread, "kind": kind, "what": what, "value": "", "line": line,
            "preempted": False, "lost": False, "stale": False, **marks, **({"file": file} if file else {})}


SOURCE_WIDTH = 60  # characters of a trace row's source line kept (the report may shorten it more)


def _add_source(rows: list[dict[str, Any]], controller: Controller, paths: bool = False) -> None:
    """Each row's source line as written, so a student sees ``balance += 1``
    beside "read balance → 5" without opening the file at that line; with
    ``paths``, a user module's file on disk too (the lecture shows the lines around it)."""
    files = {shown: path for path, shown in controller.module_files.items()}
    for row in rows:
        line = row.get("line")
        path = files.get(row["file"], row["file"]) if row.get("file") else controller.case_file
        if paths and row.get("file"):
            row["path"] = path
        if not line or not path:
            continue
        text = linecache.getline(path, line).strip()
        if text:
            row["source"] = text if len(text) <= SOURCE_WIDTH else text[:SOURCE_WIDTH - 1] + "…"


def tape_facts(controller: Controller) -> dict[str, Any]:
    """Every operation of a run as a trace row, each lost update's steps, and
    where a paused replay stopped: what ``racekit lecture`` and ``play`` walk."""
    log = controller.log
    names = [t.name for t in controller.threads]
    losses = lost_updates(log)
    steps = {id(op): i + 1 for i, op in enumerate(log)}
    marked = {id(op) for lost in losses for op in lost.overwritten}
    stale = {id(lost.write) for lost in losses}
    rows = [_row(i, op, names, marked, stale) for i, op in enumerate(log)]
    raised = _raising_step(rows, controller.raised[0]) if controller.raised else None
    _add_source(rows, controller, paths=True)
    facts: dict[str, Any] = {
        "threads": names, "ops": rows, "schedule": encode_schedule(controller.choices, len(names)),
        "preemptions": controller.preemptions,
        "finished": [t.name for t in controller.threads if t.completed],
        "waiting": {done: [names[i] for i in who] for done, who in controller.waiting_at.items() if who},
        "lost": [{"read": steps[id(lost.read)], "overwritten": [steps[id(op)] for op in lost.overwritten],
                  "write": steps[id(lost.write)], "what": lost.write.what} for lost in losses]}
    if raised is not None:
        facts["raised"] = raised
    if controller.paused:
        pending = [{**entry, "thread": names[entry["thread"]]} for entry in controller.paused["next"]]
        _add_source(pending, controller, paths=True)
        facts["paused"] = {"enabled": [names[i] for i in controller.paused["enabled"]],
                           "current": names[controller.paused["current"]] if controller.paused["current"] is not None
                           else None, "next": pending}
    return facts


def _row(i: int, op: Op, names: list[str], marked: set[int], stale: set[int]) -> dict[str, Any]:
    row = {"step": i + 1, "thread": names[op.thread], "kind": op.kind, "what": op.what, "value": op.value,
           "line": op.line, "preempted": op.preempted, "lost": id(op) in marked, "stale": id(op) in stale}
    if op.file:
        row["file"] = op.file
    if op.after:
        row["after"] = op.after
    return row


def _raising_row(rows: list[dict[str, Any]], raised: dict[str, Any]) -> dict[str, Any] | None:
    """The row of the operation that raised: the thread's last one at the line
    that raised, before the releases its ``with`` blocks made as the exception
    left them (``with cond: items.pop()`` raises, then releases ``cond``)."""
    mine = [row for row in rows if row.get("thread") == raised["thread"] and row.get("step") is not None]
    while mine and mine[-1]["kind"] == "release" and mine[-1]["line"] != raised["line"]:
        mine.pop()
    last = mine[-1] if mine else None
    if last is not None and last["line"] == raised["line"] and last.get("file", "") == raised.get("file", ""):
        if last["kind"] == "read" and last.get("value") == NO_MORE_ITEMS:
            last["value"] = ""  # the next() that raised (a dict changed size) found no item, nor the loop's end
        return last
    return None


def _raising_step(rows: list[dict[str, Any]], raised: dict[str, Any]) -> dict[str, Any]:
    """The step at which a thread raised, as its own: the thread's last operation
    when that is the line that raised (``items.pop()`` on an empty list), else a
    step of its own after it (the exception came from code between shared accesses)."""
    last = _raising_row(rows, raised)
    if last is not None:
        last["raises"] = raised["error"]
        step = last["step"]
    else:
        step = len(rows) + 1
        rows.append(_row_of(raised["thread"], "raise", raised["error"], raised["line"], raised.get("file", ""), step,
                            raises=raised["error"]))
    return {"thread": raised["thread"], "error": raised["error"], "step": step}


def trace_rows(log: list[Op], names: list[str], focus: list[Op], marked: set[int],
               stale: set[int] = frozenset()) -> list[dict[str, Any]]:
    """The operations from just before the first focus operation to just after the
    last, one row each; longer stretches in between are summarised."""
    if not log:
        return []
    positions = {id(op): i for i, op in enumerate(log)}
    wanted = sorted({positions[id(op)] for op in focus if id(op) in positions})
    if not wanted:
        wanted = [len(log) - 1]
    keep: set[int] = set()
    for position in wanted:
        keep.update(range(max(0, position - TRACE_CONTEXT), min(len(log), position + TRACE_CONTEXT + 1)))
    keep.update(i for i, op in enumerate(log) if op.preempted and wanted[0] <= i <= wanted[-1])
    rows: list[dict[str, Any]] = []
    previous = -1
    for i in sorted(keep):
        if i > previous + 1:
            skipped = log[previous + 1:i]
            by = sorted({names[op.thread] for op in skipped})
            rows.append({"skipped": len(skipped), "threads": by})
        rows.append(_row(i, log[i], names, marked, stale))
        previous = i
    if previous < len(log) - 1:
        rows.append({"skipped": len(log) - 1 - previous, "threads": sorted({names[op.thread] for op in log[previous + 1:]})})
    return rows
