"""Sentences from facts: a trial's story, its race, why it stopped, a search's reach.

The runtime hands over facts (who read what at which line, who waits for
which lock); every verb and every sentence is chosen here, through ``t``
(a message lookup in the reader's language), so that the same facts read
naturally in English and in Chinese.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from racekit.report.messages import has_message as _has

Words = Callable[..., str]  # message key and fields -> text in the report's language


def plain_code(sentence: str) -> str:
    """A sentence for the terminal: its `code` spans without their backticks (the
    catalog marks code so that the HTML page can set it as code)."""
    return CODE_SPAN.sub(r"\1", sentence)


CODE_SPAN = re.compile(r"`([^`\n]+)`")  # a code span of the catalog's sentences (the page sets it as code)


def did(kind: str, t: Words) -> str:
    """An operation as something a thread did: "read", "wrote", "acquired"."""
    return _known(t, "did_" + kind.replace("-", "_"), kind)


def to_do(kind: str, what: str, t: Words) -> str:
    """An operation a thread is waiting to perform: "acquire lock", "get from queue"."""
    return _known(t, "todo_" + kind.replace("-", "_"), kind, what=what)


def operation(row: dict[str, Any], t: Words) -> str:
    """One trace row's operation: "read account.balance → 5"."""
    kind, what, value = row["kind"], row["what"], row.get("value", "")
    if row.get("blocked"):
        return t("trace_blocked", op=to_do(kind, what, t))
    if row.get("raised") or kind == "raise":
        return t("trace_raised", error=what)
    if kind == "read" and value == "no more items":
        return t("trace_read_end", what=what)
    if kind == "read" and value == "not set":
        return t("trace_read_not_set", what=what)
    if kind == "read":
        return t("trace_read", what=what, value=value) if value else t("trace_read_bare", what=what)
    if kind == "write":
        return t("trace_write", what=what, value=value)
    text = to_do(kind, what, t)
    if value in _VALUE_WORDS:
        value = t(_VALUE_WORDS[value])
    elif kind in ("acquire", "release") and value.isdigit():
        value = t("value_count", count=value)  # a semaphore's counter, as the step left it
    return t("trace_other", op=text, value=value) if value else text


# What the scheduler logs as a synchronisation's value, in the reader's language.
_VALUE_WORDS = {"timed out": "value_timed_out", "busy": "value_busy", "nobody waiting": "value_nobody_waiting",
                "try": "value_try", "no more items": "value_no_more_items"}


def row_mark(row: dict[str, Any]) -> tuple[str, str]:
    """A trace row's mark, as a kind and its symbol: ("lost", "✗ "), ("", "")."""
    for kind, symbol in (("lost", "✗ "), ("stale", "! "), ("preempted", "⇢ "), ("blocked", "‖ "), ("raised", "✗ ")):
        if row.get(kind):
            return kind, symbol
    return "", ""


def thread_columns(rows: list[dict[str, Any]], order: list[str] | None) -> list[str]:
    """The threads a trace shows, in the story's order, then as they appear."""
    present = [r["thread"] for r in rows if "thread" in r]
    threads = [name for name in (order or []) if name in present]
    return threads + [name for name in dict.fromkeys(present) if name not in threads]


def trace_title(trace: list[dict[str, Any]], preemptions: int, lang: str, t: Words) -> str:
    """ "The interleaving, step by step (…)", its legend naming only the marks this trace shows."""
    marks = [t("legend_" + mark) for mark in ("preempted", "lost", "stale") if any(row.get(mark) for row in trace)]
    legend = ("；" if lang == "zh" else "; ") + ("，" if lang == "zh" else ", ").join(marks) if marks else ""
    return t("trace_title", preemptions=preemptions, legend=legend, s="" if preemptions == 1 else "s")


def python_words(python: dict[str, Any], t: Words) -> str:
    """ "CPython 3.13.0, GIL enabled" from the results' ``python`` facts."""
    implementation = python.get("implementation")
    build = f"{'CPython' if implementation == 'cpython' else implementation} {python.get('version')}"
    return t("python_and_gil", python=build, gil=t("gil_on") if python.get("gil_enabled", True) else t("gil_off"))


# Outcomes racekit makes with a part of their own: the histogram key stays as
# the results contract has it; the report words the fixed part.
_OUTCOME_FORMS = (
    (re.compile(r"error: racekit failed: (?P<error>.*)"), "outcome_racekit_failed"),
    (re.compile(r"crash: killed by signal (?P<signal>\S+)"), "outcome_crash_signal"),
    (re.compile(r"crash: exited with code (?P<code>-?\d+)"), "outcome_crash_exit"),
    (re.compile(r"error in (?P<where>setup|outcome|expect|work\.\S+|starting the processes): (?P<error>.*)",
                re.DOTALL), "outcome_error_in"),
)


def shown_outcome(outcome: str, t: Words) -> str:
    """An outcome as the histogram shows it: the case's own values (and the
    exceptions its code raised) as they are; the outcomes racekit names itself
    (a deadlock, a crash, a run it could not finish) in the reader's language."""
    key = "outcome_" + outcome.replace(": ", "_").replace(" ", "_")
    if _has(key):
        return t(key)
    for form, key in _OUTCOME_FORMS:
        found = form.fullmatch(outcome)
        if found:
            fields = found.groupdict()
            if "where" in fields:
                where = fields["where"]
                fields["where"] = (t("where_work", name=where.removeprefix("work.")) if where.startswith("work.")
                                   else t("where_" + where.replace(" ", "_")))
            return t(key, **fields)
    return outcome


def race_pair(race: dict[str, Any], t: Words) -> str:
    """Two unordered accesses: "withdrawer read x (line 5) and depositor wrote it (line 9)"."""
    return t("race_pair", **_race_words(race, t))


def why_lines(why: dict[str, Any] | None, t: Words) -> list[str]:
    """Why a trial ended as it did (who waits for what, a budget, a misfit), as lines."""
    if not why:
        return []
    kind = why.get("kind")
    if kind == "deadlock":
        lines = [t("why_deadlock")]
        lines += ["  " + (t("why_barrier", thread=w["thread"], what=w["what"], arrived=w["arrived"], parties=w["parties"])
                          if "parties" in w else t("why_waits", thread=w["thread"], op=to_do(w["kind"], w["what"], t)))
                  for w in why["waiting"]]
        lines += ["  " + t("why_held", what=h["what"], by=h["by"]) for h in why.get("held", [])]
        return lines
    if kind == "livelock":
        lines = [t("why_livelock")]
        for spinner in why["spinning"]:
            reads = [_read(r, t) for r in spinner["reads"]] or [t("why_nothing")]
            lines.append("  " + t("why_spins", thread=spinner["thread"], reads=t("list_sep").join(reads)))
        return lines
    if kind == "forcing_off":
        return [t("why_forcing_off")] + ["  " + _forcing_problem(p, t) for p in why["problems"]]
    if kind == "mismatch":  # threads as the schedule writes them (2:ab → a, b), choices counted from 1
        return [t("why_mismatch", wanted=_schedule_letter(why["wanted"]), position=f"{why['position']:,}",
                  enabled=t("list_sep").join(_schedule_letter(i) for i in sorted(why["enabled"])))]
    fields = {k: (f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in why.items()}
    key = "why_" + str(kind)
    return [t(key, **fields)] if _has(key) else []


def _schedule_letter(index: int) -> str:
    """A thread as a schedule string names it (the schedule format: a–z, then [26], [27], …)."""
    return chr(ord("a") + index) if index < 26 else f"[{index}]"


def deadlock_sentence(why: dict[str, Any], t: Words) -> str:
    """Why no thread can move, from the cause racekit read off the wait-for facts
    (a thread waiting for itself, a cycle of lock holders, a notification given
    before anyone waited, a barrier short of parties, or nothing anyone left will do)."""
    cause = why.get("cause") or {}
    kind = cause.get("kind")
    sep = t("list_sep")
    if kind == "self":
        return t("story_deadlock_self", thread=cause["thread"], lock=cause["lock"])
    if kind == "cycle":
        return t("story_deadlock_cycle", links=t("clause_sep").join(t("deadlock_link", **link) for link in cause["links"]))
    if kind == "held_by_finished":
        return t("story_deadlock_held_by_finished", thread=cause["thread"], lock=cause["lock"], holder=cause["holder"])
    if kind == "notified_before":
        gone = cause.get("finished") or []
        return t("story_deadlock_notified_before", thread=cause["thread"], condition=cause["condition"],
                 notifiers=sep.join(cause["notifiers"]),
                 gone=t("deadlock_notifier_gone", names=sep.join(gone), has="has" if len(gone) == 1 else "have")
                 if gone else "")
    if kind == "notified_other":
        return t("story_deadlock_notified_other", thread=cause["thread"], condition=cause["condition"],
                 notifiers=sep.join(cause["notifiers"]))
    if kind == "missing_party":
        return t("story_deadlock_missing_party", barrier=cause["barrier"], parties=cause["parties"],
                 arrived=cause["arrived"], threads=sep.join(cause["threads"]))
    if not cause and why.get("held"):  # results from before racekit recorded the cause (a merged JSON)
        return t("story_deadlock_fix")
    threads = cause.get("threads") or [w["thread"] for w in why.get("waiting", [])]
    return t("story_deadlock_other", threads=sep.join(threads), wait="waits" if len(threads) == 1 else "wait")


def story_sentences(story: dict | None, t: Words) -> list[str]:
    if not story:
        return []
    kind = story.get("kind")
    out = [t("story_reversed", **_race_words(story["reversed"], t))] if story.get("reversed") else []
    if kind == "lost update":
        n = story["overwrites"]
        out += [t("story_lost", **{**_places(story, t), "s": "" if n == 1 else "s", "were": "was" if n == 1 else "were"}),
                t("story_lost_fix")]
    elif kind == "deadlock":
        out.append(deadlock_sentence(story.get("blocked") or {}, t))
    elif kind == "livelock":
        out.append(t("story_livelock"))
    elif kind in ("data race", "unordered steps"):
        ordering = story.get("ordering")
        if ordering:
            prefix = "story_steps_sync_" if kind == "unordered steps" else "story_race_sync_"
            out.append(t(prefix + ordering["gap"], **_race_words(story, t), sync=ordering["what"],
                         access_what=ordering.get("access_what", story["what"]),
                         releaser=ordering["releaser"], acquirer=ordering["acquirer"],
                         release=to_do(ordering["release_kind"], ordering["what"], t),
                         acquire=to_do(ordering["acquire_kind"], ordering["what"], t),
                         access_kind=did(ordering["access_kind"], t),
                         access_act=_known(t, "act_" + ordering["access_kind"], ordering["access_kind"]),
                         **{k: v for k, v in _places(ordering, t).items() if k.endswith("_at")}))
        elif kind == "unordered steps":
            out.append(t("story_steps", **_race_words(story, t)))
        else:
            out.append(t("story_race", **_race_words(story, t)))
        if not story.get("right", True):
            cause = story.get("cause", "shown")  # results written before racekit checked: as they said
            key = {"shown": "story_race_wrong", "not shown": "story_race_not_cause",
                   "masked": "story_race_masked"}.get(cause, "story_race_wrong_untried")
            out.append(t(key, outcome=story.get("outcome", "?")))
        else:
            out.append(t("story_race_fix") if story.get("reversal") == "harmless" else t("story_race_untried"))
    elif kind == "wrong outcome":
        n = story.get("preemptions") or 0
        out.append(t("story_wrong", outcome=story["outcome"], preemptions=n, s="" if n == 1 else "s"))
    raised = story.get("raised")
    if raised:
        out.append(t("story_raised", thread=raised["thread"], error=raised["error"],
                     raised_at=_places(raised, t).get("raised_at", "?")))
    return out


def story_details(story: dict[str, Any] | None, samples: Iterable[str], t: Words) -> tuple[str, list[str]]:
    """What a report shows verbatim under the story: the traceback of the thread
    that raised (this run's; for results saved before it was kept, the sample
    that ends in its error), and who waits for what in a deadlock or livelock."""
    story = story or {}
    raised = story.get("raised") or {}
    traceback = raised.get("traceback") or next(
        (s for s in samples if raised and s.strip().splitlines()[-1:] == [raised["error"]]), "")
    waits = why_lines(story.get("blocked"), t) if story.get("kind") in ("deadlock", "livelock") else []
    return traceback.strip(), waits


def search_sentences(search: dict, t: Words, unseen: bool = False) -> list[str]:
    """What a search covered. A complete search is "complete" only over what racekit
    saw: with code it did not rewrite, or threads it did not schedule, it says so."""
    seen_only = "_seen" if unseen or search.get("unscheduled") else ""
    bound = search.get("bound")
    bound_text = t("search_bound", bound=bound, s="" if bound == 1 else "s") if bound is not None and not search.get(
        "complete") else ""
    plural = "" if search.get("schedules") == 1 else "s"
    reduced = search.get("reduced_from")
    if search.get("reduction") and reduced is not None:
        fields = {"schedules": f"{search['schedules']:,}", "s": plural, "reduced_from": reduced,
                  "rs": "" if reduced == 1 else "s"}
        out = [t("search_complete_reduced" + seen_only, **fields) if search.get("complete") else
               t("search_partial_reduced", **fields, stopped=search_stop(search.get("stopped"), search.get("limit"), t))]
        found = search.get("found_preemptions")
        if found is not None:
            out.append(t("search_found_reduced", count=found, s="" if found == 1 else "s", reduced_from=reduced,
                         rs="" if reduced == 1 else "s"))
        return out + coverage_sentences(search, t)
    if search.get("complete") and search.get("schedules") == 1:
        out = [t("search_complete_one" + seen_only)]  # not "all 1 schedule"
    elif search.get("complete"):
        out = [t("search_complete" + seen_only, schedules=search["schedules"], bound=bound_text, s=plural)]
    else:
        out = [t("search_partial", schedules=search["schedules"], bound=bound_text, s=plural,
                 stopped=search_stop(search.get("stopped"), search.get("limit"), t))]
    first = search.get("first_wrong_preemptions")
    race_first = search.get("first_failure_preemptions")
    if first is not None:
        out.append(t("search_first", count=first, s="" if first == 1 else "s"))
    elif race_first is not None:  # nothing went wrong: only unordered accesses were seen
        out.append(t("search_first_race", count=race_first, s="" if race_first == 1 else "s"))
    return out + coverage_sentences(search, t)


def coverage_sentences(search: dict, t: Words) -> list[str]:
    """What a search did not cover, whatever it says of itself."""
    out = []
    if search.get("unscheduled"):
        out.append(t("search_unscheduled", threads="; ".join(search["unscheduled"][:3])))
    if search.get("guest_waited") and search.get("stopped") != "guest_waited":
        out.append(t("search_guest"))
    return out


def auto_sentences(facts: dict[str, Any], search: dict | None, t: Words, unforced: bool = False,
                   unseen: bool = False) -> list[str]:
    """Mode auto: what each phase covered, and which engine settled the verdict."""
    out: list[str] = []
    phases = facts.get("phases", [])
    pct = next((p for p in phases if p.get("phase") == "pct"), None)
    for phase in phases:
        name, runs = phase.get("phase"), phase.get("runs", 0)
        if name == "search":
            if phase.get("replayed"):
                n = phase["replayed"]
                out.append(t("auto_replayed", count=n, s="" if n == 1 else "s"))
            if search:
                out.extend(search_sentences(search, t, unseen))
        elif name == "sample" and pct is not None:  # the two sampling phases of one round: one sentence
            changes, pct_runs = max(0, pct.get("depth", 1) - 1), pct.get("runs", 0)
            out.append(t("auto_sampling", pct=f"{pct_runs:,}", ps="" if pct_runs == 1 else "s", changes=changes,
                         cs="" if changes == 1 else "s", runs=f"{runs:,}", s="" if runs == 1 else "s"))
        elif name == "sample":
            out.append(t("auto_sample", runs=f"{runs:,}", s="" if runs == 1 else "s"))
        elif name == "real_threads":
            out.append(t("auto_real_threads_unforced" if unforced else "auto_real_threads", runs=f"{runs:,}",
                         s="" if runs == 1 else "s"))
    found = facts.get("found_by")
    if found:
        out.append(t("auto_found_" + found))
    return out


def search_stop(code: str | None, limit: int | None, t: Words) -> str:
    """Why a search stopped; a code this racekit has no words for is shown as it came."""
    if not code:
        return ""
    key = "search_stop_" + code
    shown = f"{limit:,}" if isinstance(limit, int) else f"{limit:g}" if isinstance(limit, float) else limit
    return t(key, limit=shown) if _has(key) else code


def _race_words(race: dict[str, Any], t: Words) -> dict[str, Any]:
    """A race's facts with its two kinds of access worded: as done ("wrote") and as a noun ("写入")."""
    first, second = race["first_kind"], race["second_kind"]
    return {**_places(race, t), "first_kind": did(first, t), "second_kind": did(second, t),
            "first_act": _known(t, "act_" + first, first), "second_act": _known(t, "act_" + second, second)}


def _places(facts: dict[str, Any], t: Words) -> dict[str, Any]:
    """Each ``X_line`` fact also worded as ``X_at``: "line 6", or "line 6 of shop/counter.py"
    when the code was not the case file's own."""
    placed = dict(facts)
    for key, line in facts.items():
        if key.endswith("_line"):
            prefix = key[:-len("_line")]
            file = facts.get(prefix + "_file")
            placed[prefix + "_at"] = t("at_file_line", line=line, file=file) if file else t("at_line", line=line)
    return placed


def _read(read: dict[str, str], t: Words) -> str:
    if read.get("clock"):
        return t("why_clock")
    if not read.get("what"):
        return t("why_shared_value")
    return t("why_read_value", what=read["what"], value=read["value"]) if read.get("value") else read["what"]


def _forcing_problem(problem: dict[str, Any], t: Words) -> str:
    """One way the forced switch points went away during a trial (the runtime's self-check)."""
    fields = dict(problem)
    kind = fields.pop("kind")
    if kind == "switch_interval":
        fields = {"now": format_interval(fields["now"]), "set": format_interval(fields["set"])}
    if "by" in fields and fields["by"] is None:  # no function in its place: tracing was switched off
        kind = kind.replace("_replaced", "_removed")
        del fields["by"]
    if "functions" in fields:
        fields["functions"] = ", ".join(fields["functions"])
    return _known(t, "forcing_" + kind, kind, **fields)


def format_interval(seconds: float) -> str:
    """A switch interval as people write it: 1 µs, 5 ms, 2 s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:g} µs"
    if seconds < 1:
        return f"{seconds * 1e3:g} ms"
    return f"{seconds:g} s"


def _known(t: Words, key: str, fallback: str, **fields: object) -> str:
    """``key``'s words, or the raw kind (with its object) when racekit has none for it."""
    if _has(key):
        return t(key, **fields)
    return " ".join(str(p) for p in (fallback, *fields.values()) if p)


def schedule_misfit(why: dict[str, Any], lang: str) -> str:
    """The error line of a replayed schedule that does not fit its case."""
    from racekit.report.messages import message

    def t(key: str, **fields: object) -> str:
        return message(lang, key, **fields)

    return t("schedule_misfit", why=" ".join(why_lines(why, t)))
