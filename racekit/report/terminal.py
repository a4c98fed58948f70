"""The terminal report: per case, a jcstress-style histogram per variant and mode,
a verdict, and sentences a student can read.

rich decides about colour and width: ``NO_COLOR`` and non-terminal output get
plain text. Colour marks meaning only: green for what was expected, red for
what was not.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from rich.cells import cell_len
from rich.console import Console
from rich.markdown import Markdown
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from racekit.analysis.results import CaseResult, Grade, RunResult, VariantResult, Verdict
from racekit.records import Note
from racekit.report.messages import has_message, message
from racekit.report.modes import describe_mode
from racekit.report.notes import say_note
from racekit.report.sentences import (auto_sentences, plain_code, operation, python_words, race_pair, row_mark,
                                      search_sentences, shown_outcome, story_details, story_sentences, thread_columns,
                                      trace_title, why_lines)
from racekit.report.visible import made_visible
from racekit.report.wrapping import wrap, wrap_markdown

MAX_ROWS = 8
BAR_WIDTH = 24
_GRADE_STYLE = {Grade.EXPECTED: "green", Grade.WRONG: "red", Grade.DEADLOCK: "magenta", Grade.LIVELOCK: "magenta",
                Grade.CRASH: "magenta", Grade.ERROR: "yellow", Grade.INCONCLUSIVE: "yellow"}


def untested_sentence(python: dict, lang: str) -> str:
    """What a report says on an interpreter racekit's CI does not run."""
    from racekit import TESTED_PYTHONS

    low, high = (".".join(map(str, v)) for v in TESTED_PYTHONS)
    name = "CPython" if python.get("implementation") == "cpython" else python.get("implementation")
    return message(lang, "untested", python=f"{name} {python.get('version')}", low=low, high=high)


class TerminalReport:
    def __init__(self, console: Console, lang: str = "en", verbose: bool = False, reproduce: bool = True):
        self.console = console
        self.lang = lang
        self.verbose = verbose
        self.reproduce = reproduce  # a replay's report: its schedule line is how to run it again
        self._noted: set[Note] = set()  # notes already printed for the current case: said once
        self.gil_enabled = True  # of the interpreter that ran the trials (header, render)

    def say(self, text: str, indent: int, style: str = "") -> None:
        """Prose, indented; Chinese broken between characters, not only at spaces."""
        if self.lang == "zh":
            width = max(self.console.width - indent, 20)
            text = wrap(text, width)
            self.console.print(Padding(Text(text, style=style, no_wrap=True, overflow="fold"), (0, 0, 0, indent),
                                       expand=False))
        else:
            self.console.print(Padding(Text(text, style=style), (0, 0, 0, indent), expand=False))

    def t(self, key: str, **fields: object) -> str:
        if "outcome" in fields:
            generic = fields["outcome"] == "the outcome"
            if generic:
                fields["outcome"] = message(self.lang, "the_outcome")
            # Chinese says "X 的结果", or plain "结果" when there is no expression to name (not "结果 的结果").
            fields["outcome_result"] = fields["outcome"] if generic else message(self.lang, "outcome_of",
                                                                                  outcome=fields["outcome"])
        return message(self.lang, key, **fields)

    # -- whole run -----------------------------------------------------------

    def header(self, facts: dict) -> None:
        """The run's first lines, from the engine's header facts."""
        python, seed, workers = facts["python"], facts["seed"], facts["workers"]
        self.gil_enabled = bool(python.get("gil_enabled", True))
        py = python_words(python, self.t)
        from racekit import __version__

        self.console.print(self.t("header", version=__version__, python=py, seed=seed, workers=workers,
                                  plural="" if workers == 1 else "s"), style="dim", highlight=False)
        for mode, mode_facts in facts["modes"].items():
            detail = describe_mode(mode_facts, self.lang)
            self.say(self.t("mode_line", mode=mode, help=self.t("help_" + mode), detail=detail), 0, "dim")
        if not python.get("gil_enabled", True):
            self.console.print(self.t("free_threaded"), style="yellow", highlight=False)
        if not python.get("tested", True):
            self.console.print(untested_sentence(python, self.lang), style="yellow", highlight=False)
        self.console.print()

    def render(self, result: RunResult) -> None:
        result = made_visible(result)  # no escape sequence from a case reaches the terminal
        self.gil_enabled = bool(result.python.get("gil_enabled", True))
        for case in result.cases:
            self.case(case)
        self.footer(result)

    def case(self, case: CaseResult) -> None:
        title = case.text("title", self.lang)
        head = Text.assemble((case.name, "bold"), " — " if title != case.name else "", (title if title != case.name else "", ""))
        head.append(f"  ({case.file})", style="dim")
        self.console.print(head)
        description = case.text("description", self.lang).strip()
        if description:  # what the case teaches ("`+= 1` is three steps"), before what happened
            self.console.print(Padding(self._markdown(description, 2), (0, 0, 1, 2), expand=False))
        modes = list(dict.fromkeys(v.mode for v in case.variants))
        self._noted = set()
        if len(modes) > 1:
            self.say(self.t("compare_title", case=case.name), 2)
            self.console.print(Padding(self._comparison(case, modes), (0, 0, 1, 2), expand=False))
        for variant in case.variants:
            self.variant(variant, show_mode=len(modes) > 1)
        summary = self._case_summary(case)
        if summary:
            self.say(summary, 2)
        notes = case.text("notes", self.lang).strip()
        if notes and self.verbose:
            self.console.print(Padding(self._markdown(notes, 2), (0, 0, 0, 2), expand=False))
        if summary or (notes and self.verbose):
            self.console.print()

    def _markdown(self, text: str, indent: int) -> Markdown:
        if self.lang == "zh":
            text = wrap_markdown(text, self.console.width - indent - 2)  # - 2: a list item's bullet
        return Markdown(text)

    def footer(self, result: RunResult) -> None:
        variants = result.variants
        ok = sum(1 for v in variants if v.ok)
        if result.interrupted:
            self.console.print(self.t("interrupted"), style="yellow")
        line = self.t("footer", variants=len(variants), plural="" if len(variants) == 1 else "s", ok=ok,
                      bad=len(variants) - ok, seconds=result.duration)
        if result.interrupted:
            line += self.t("footer_interrupted")
        self.console.print(line, style="bold green" if result.ok else "bold red", highlight=False)

    # -- one variant ---------------------------------------------------------

    def variant(self, v: VariantResult, show_mode: bool = True, reproduce: bool = True) -> None:
        v = made_visible(v)
        tag = self.t("timing_tag") if v.timing else self.t("racy_tag") if v.racy else self.t("safe_tag")
        label = v.case if v.name == "default" else v.name
        head = Text.assemble(("  " + label, "bold"), (" · " + tag, "dim"))
        if show_mode:
            head.append(" · " + self.t("mode_tag", mode=v.mode), style="dim")
        self.console.print(head)
        if v.timing:
            self.console.print(Padding(self._timing(v), (0, 0, 0, 4), expand=False))
        elif v.runs:  # a variant that could not even start has no outcomes to show
            self.console.print(Padding(self._histogram(v), (0, 0, 0, 4), expand=False))
        verdict = Text("    ")
        mark = "✓" if v.ok else "✗"
        label = (self.t("verdict_measured") if v.timing else self.t("verdict_not_run") if _not_run(v)
                 else self.t("verdict_" + v.verdict.value))
        verdict.append(f"{label} {mark} ", style="bold green" if v.ok else "bold red")
        judgement = self.t("as_expected") if v.ok else self.t("not_as_expected")
        verdict.append(self.t("verdict_note", judgement=judgement), style="green" if v.ok else "red")
        verdict.append(f"  {self.t('found_by', mode=v.mode, runs=v.runs, runs_s='' if v.runs == 1 else 's')}", style="dim")
        self.console.print(verdict)
        for sentence in self.sentences(v):
            self.say(plain_code(sentence), 4)
        for warning in v.warnings:
            if warning in self._noted:
                continue
            self._noted.add(warning)
            self.say(self.t("warning", text=say_note(warning, self.lang)), 4, "yellow")
        self._printed(v)
        if v.trace or v.story:
            self._explanation(v)
        elif not v.ok or v.verdict in (Verdict.DEADLOCK, Verdict.ERROR) or (self.verbose and v.samples):
            self._samples(v)  # with --verbose, an expected race's failures too
        if not v.ok and reproduce and self.reproduce:
            # One unbroken line, so it can be copied and pasted.
            self.console.print("    " + self.t("reproduce", command=reproduce_command(v)), style="dim", soft_wrap=True)
        self.console.print()

    def _histogram(self, v: VariantResult) -> Table:
        table = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False, show_edge=False, header_style="bold")
        table.add_column(self.t("col_outcome"), overflow="ellipsis", no_wrap=True, max_width=48)
        table.add_column(self.t("col_runs"), justify="right", no_wrap=True, min_width=4)
        table.add_column(self.t("col_freq"), justify="right", no_wrap=True, min_width=6)
        table.add_column(self.t("col_expect"), no_wrap=True)
        table.add_column("", no_wrap=True, min_width=BAR_WIDTH)
        rows = list(v.rows)
        shown, rest = rows[:MAX_ROWS], rows[MAX_ROWS:]
        total = max(v.runs, 1)
        for row in shown:
            style = _GRADE_STYLE[row.grade]
            table.add_row(Text(shown_outcome(row.outcome, self.t)), str(row.count), f"{100 * row.count / total:.1f}%",
                          Text(self.t("grade_" + row.grade.value), style=style), Text(bar(row.count / total), style=style))
        if rest:
            count = sum(r.count for r in rest)
            wrong = all(r.grade is not Grade.EXPECTED for r in rest)
            style = "red" if wrong else ""
            table.add_row(Text(self.t("more_rows", count=len(rest)), style="dim"), str(count),
                          f"{100 * count / total:.1f}%", Text(self.t("grade_wrong") if wrong else "", style=style),
                          Text(bar(count / total), style=style))
        for value in v.never_observed:
            table.add_row(Text(value), "0", "0.0%", Text(self.t("grade_expected"), style="green"), "")
        return table

    def sentences(self, v: VariantResult) -> list[str]:
        out: list[str] = []
        if v.timing:
            return self.timing_sentences(v)
        if v.verdict is Verdict.RACE:
            # Runs racekit could not judge are not wrong ones (said apart, below).
            wrong_rows = [r for r in v.rows if r.grade not in (Grade.EXPECTED, Grade.INCONCLUSIVE)]
            lost = v.lost_updates
            # Exact counts: only if the wrong runs themselves lost updates (a
            # stale check, say, goes wrong without losing any).
            if lost is not None and lost.exact and not lost.max_when_wrong:
                lost = None
            elsewhere = lost is not None and lost.exact and bool(lost.where) and v.outcome_text not in lost.where
            if lost is not None and lost.max > 0:
                # Updates lost elsewhere than in the outcome (a stock's count when the
                # outcome is the number sold) are named: the outcome's deviation is no count of them.
                key = "race_numeric_exact_elsewhere" if elsewhere else "race_numeric_exact" if lost.exact else "race_numeric"
                # Exact figures are over the wrong runs only: a right run may have lost
                # updates that cancelled (a lost += 1 and a lost -= 1), said apart.
                worst = lost.max_when_wrong if lost.exact and lost.max_when_wrong is not None else lost.max
                typical = lost.median_when_wrong if lost.exact and lost.median_when_wrong is not None else \
                    lost.median_of_wrong
                out.append(self.t(key + ("_one" if lost.exact and v.wrong == 1 else ""), wrong=v.wrong, runs=v.runs,
                                  where=self.t("list_sep").join(lost.where), outcome=v.outcome_text,
                                  expect_not=_negate(v, self.t), max=_n(worst), max_s="" if worst == 1 else "s",
                                  max_were="was" if worst == 1 else "were", typical=_n(round(typical))))
                if lost.exact and lost.right_with_loss:
                    out.append(self.t("lost_cancelled", count=lost.right_with_loss,
                                      s="" if lost.right_with_loss == 1 else "s"))
            elif wrong_rows:
                top = wrong_rows[0]
                out.append(self.t("race_plain", wrong=v.wrong, runs=v.runs, top=shown_outcome(top.outcome, self.t), top_count=top.count,
                                  top_s="" if top.count == 1 else "s"))
        elif v.verdict is Verdict.NO_RACE and v.runs:
            # Runs racekit could not judge are no evidence either way: "all" is said of the judged ones.
            judged = v.runs - v.inconclusive
            some = "right_judged" if v.inconclusive else None
            if v.expect_text.startswith("= 'error: "):
                out.append(self.t(some and some + "_error" or ("right_all_error" if v.runs > 1 else "right_one_error"),
                                  runs=judged, total=v.runs, error=v.expect_text[len("= 'error: "):-1]))
            elif v.expect_text.startswith("= "):
                key = some or ("right_all" if v.runs > 1 else "right_one")
                generic = v.outcome_text == "the outcome"  # no expression to name: "the outcome was", "的结果是"
                out.append(self.t(key + ("_outcome" if generic else ""), outcome=v.outcome_text,
                                  expect=v.expect_text[2:], runs=judged, total=v.runs))
            elif isinstance(v.expected, dict) and "any_of" in v.expected:
                out.append(self.t(some and some + "_any_of" or ("right_all_any_of" if v.runs > 1 else "right_one_any_of"),
                                  outcome=v.outcome_text, runs=judged, total=v.runs,
                                  values=self.t("list_sep").join(repr(x) for x in v.expected["any_of"])))
            else:
                out.append(self.t(some and some + "_check" or ("right_all_check" if v.runs > 1 else "right_one_check"),
                                  outcome=v.outcome_text, check=v.expect_text, runs=judged, total=v.runs))
        elif v.verdict is Verdict.DEADLOCK and _scheduled(v):
            deadlocks = sum(r.count for r in v.rows if r.grade is Grade.DEADLOCK)
            livelocks = sum(r.count for r in v.rows if r.grade is Grade.LIVELOCK)
            if deadlocks:
                out.append(self.t("deadlock_controlled", count=deadlocks, runs=v.runs))
            if livelocks:
                out.append(self.t("livelock_controlled", count=livelocks, runs=v.runs))
        elif v.verdict is Verdict.DEADLOCK:
            out.append(self.t("deadlock", timeout=f"{v.timeout:g}"))
        elif v.verdict is Verdict.ERROR and v.racekit_failure:
            fault = v.racekit_failure
            out.append(self.t("racekit_failed", error=fault.get("error", "?"), where=fault.get("where", "?"),
                              runs=fault.get("runs", 1), total=v.runs))
        elif v.verdict is Verdict.ERROR and v.serial_failure:
            failure = v.serial_failure
            order = failure["order"]
            key = "serial_failure_alone" if len(order) == 1 else \
                "serial_failure_processes" if v.start_method is not None else "serial_failure"
            out.append(self.t(key, order=self.t("list_sep").join(order) or "?",
                              outcome=shown_outcome(failure["outcome"], self.t)))
        elif v.verdict is Verdict.ERROR:
            out.append(self.t("error", reason=shown_outcome(v.reason or "?", self.t)))
        if v.verdict is Verdict.RACE and not v.wrong and v.witnesses:
            out.append(self.t("witness", count=v.witnesses, outcome=shown_outcome(v.witness_outcome or "?", self.t)))
        if v.type_hint:
            out.append(self.t("type_hint", **v.type_hint))
        if v.inconclusive:
            rows = [r for r in v.rows if r.grade is Grade.INCONCLUSIVE]
            why = {"inconclusive: step budget": "why_budget", "inconclusive: memory budget": "why_memory",
                   "inconclusive: blocked outside the scheduler": "why_blocked",
                   "inconclusive: did not finish in time": "why_time",
                   "inconclusive: a thread ran outside racekit's scheduler": "why_unscheduled",
                   }.get(rows[0].outcome if rows else "", "why_time")
            out.append(self.t("inconclusive_runs", count=v.inconclusive, runs=v.runs, why=self.t(why)))
        if v.verdict is Verdict.INCONCLUSIVE and not v.inconclusive:
            where = (self.t("unseen_code", code="; ".join(v.unseen[:3])) if v.unseen else self.t("unseen_nothing"))
            out.append(self.t("unseen_none", where=where))
        if v.unscheduled and not (v.search and v.search.get("unscheduled")):
            out.append(self.t("unscheduled", threads="; ".join(v.unscheduled[:3])))
        if _not_run(v):
            out.append(self.t("not_run"))
        elif v.verdict is Verdict.INCONCLUSIVE:
            # Runs that ended right but prove nothing (unseen code, unscheduled threads) were judged.
            out.append(self.t("inconclusive_advice" if v.inconclusive == v.runs else "inconclusive_advice_unproven"))
        elif v.racy and v.verdict is Verdict.NO_RACE:
            searched = v.search or {}
            if v.unseen:
                # Its threads ran code racekit never scheduled: neither "it cannot go
                # wrong" nor "more runs" is true; seeing into that code is (said below).
                out.append(self.t("racy_missed_unseen"))
            elif v.mode == "controlled" and searched.get("complete"):
                out.append(self.t("racy_never"))  # no interleaving racekit sees goes wrong: no scheduler to suggest
            elif v.mode == "controlled" and searched:
                out.append(self.t("racy_missed_bound"))
            else:
                out.append(self.t("racy_missed", suggest="opcode" if v.mode in ("native", "line") else
                                  "controlled --strategy exhaustive --preemptions 4" if v.mode == "auto" else
                                  "controlled --strategy exhaustive" if v.mode == "controlled" else "controlled"))
            if v.mode == "native":
                out.append(self.t("native_hint"))
        elif not v.racy and not v.ok and v.verdict is not Verdict.ERROR:
            out.append(self.t("safe_failed"))
        if v.stop_reason and v.runs < v.planned_runs and not v.search:
            out.append(self.t("stopped", runs=v.runs, planned=v.planned_runs, reason=self._stop_reason(v.stop_reason)))
        lost = v.lost_updates
        if lost is not None and lost.exact and lost.max > 0 and v.verdict is not Verdict.RACE:
            out.append(self.t("lost_exact", max=_n(lost.max), s="" if lost.max == 1 else "s", total=_n(lost.total)))
        if v.data_races and v.race_example and v.verdict is not Verdict.RACE:  # a race shown needs no hedging
            # Out of the runs whose accesses racekit logged: real threads log none, so cannot show one.
            logged = v.logged_runs if v.logged_runs is not None else v.runs
            # "no run showed them doing harm" only where no run went wrong at all.
            key = "races_harmless" if v.harmless_races else "races_seen" if not v.wrong else "races_noted"
            out.append(self.t(key + ("_logged" if logged != v.runs else ""), count=v.data_races, runs=logged,
                              example=race_pair(v.race_example, self.t), harmless=v.harmless_races))
        deadlocked = any(r.grade is Grade.DEADLOCK for r in v.rows)
        for cycle in v.lock_cycles[:3]:
            # Two locks: opposite orders; more: a cycle of orders. "Even where no run did" only if none did.
            key = ("lock_cycle" if len(cycle) == 2 else "lock_cycle_n") + ("_seen" if deadlocked else "")
            out.append(self.t(key, cycle=" → ".join([*cycle, cycle[0]])))
        # Real threads force switches only in code in racekit's scope: not in code it does not rewrite.
        unforced = bool(v.unseen) or any(note.code == "unforced" for note in v.warnings)
        if v.mode_facts.get("phases"):
            out.extend(auto_sentences(v.mode_facts, v.search, self.t, unforced, bool(v.unseen)))
        elif v.search:
            out.extend(search_sentences(v.search, self.t, bool(v.unseen)))
        if v.unseen:  # whatever the mode: a verdict over code racekit did not see says so
            out.append(self.t("search_unseen", code="; ".join(v.unseen[:3])))
        return out

    def _stop_reason(self, reason: str) -> str:
        """The JSON's stop reason ("deadlock", "first failure found", …) in the report's language."""
        key = "stop_" + reason.replace(" ", "_")
        return self.t(key) if has_message(key) else reason

    def _timing(self, v: VariantResult) -> Table:
        n = v.workers or 0
        table = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False, show_edge=False, header_style="bold")
        for column in (self.t("col_work"), self.t("col_sequential", n=n), self.t("col_threads", n=n),
                       self.t("col_processes", n=n), self.t("col_speedup_threads"), self.t("col_speedup_processes")):
            table.add_column(column, justify="left" if column == self.t("col_work") else "right")
        for work, t in (v.timing or {}).items():
            threads, processes = t["sequential"] / max(t["threads"], 1e-9), t["sequential"] / max(t["processes"], 1e-9)
            table.add_row(work, f"{t['sequential']:.3f} s", f"{t['threads']:.3f} s", f"{t['processes']:.3f} s",
                          Text(f"{threads:.1f}x", style="green" if threads > 1.3 else ""),
                          Text(f"{processes:.1f}x", style="green" if processes > 1.3 else ""))
        return table

    def timing_sentences(self, v: VariantResult) -> list[str]:
        """What the numbers show on this machine, in words: nothing a textbook says
        is assumed, each sentence follows from a measured speed-up."""
        import os

        out = [self.t("timing_machine", cores=os.cpu_count(), n=v.workers or 0)]
        for work, t in (v.timing or {}).items():
            threads, processes = t["sequential"] / max(t["threads"], 1e-9), t["sequential"] / max(t["processes"], 1e-9)
            out.append(self.t("timing_work", work=work, n=v.workers or 0, threads=f"{threads:.1f}",
                              processes=f"{processes:.1f}"))
            if threads < 1.3 <= processes:
                out.append(self.t("timing_gil" if self.gil_enabled else "timing_no_gil_contended", work=work))
            elif threads >= 1.3:
                out.append(self.t("timing_threads_help", work=work))
        return out

    def _explanation(self, v: VariantResult) -> None:
        """Controlled mode: the failing interleaving as a table, then what it means."""
        preemptions = v.schedule_preemptions or 0
        if v.trace:
            self.say(trace_title(list(v.trace), preemptions, self.lang, self.t), 4)
            order = (v.story or {}).get("threads")
            self.console.print(Padding(trace_table(v.trace, self.t, order, self.console.width - 6), (0, 0, 0, 6),
                                       expand=False))
        for sentence in story_sentences(v.story, self.t):
            self.say(plain_code(sentence), 4)
        traceback, waits = story_details(v.story, v.samples, self.t)
        if traceback:  # the traceback the README promises
            self.say("\n".join(traceback.splitlines()[:24]), 6, "dim")
        if waits:
            self.say("\n".join(waits), 6, "dim")
        if v.schedule:
            shrunk = self.t("shrunk", count=v.shrunk_from) if v.shrunk_from and v.shrunk_from > preemptions else ""
            command = replay_command(v)
            self.console.print("    " + self.t("schedule_line", schedule=v.schedule, preemptions=preemptions,
                                               s="" if preemptions == 1 else "s", shrunk=shrunk, command=command),
                               soft_wrap=True, highlight=False)

    def _printed(self, v: VariantResult) -> None:
        """print() in case code: never swallowed; the whole tail with --verbose."""
        lines = v.printed.rstrip().splitlines()
        if not lines:
            return
        if not self.verbose:
            self.say(self.t("printed_hint", lines=len(lines), s="" if len(lines) == 1 else "s"), 4, "dim")
            return
        self.say(self.t("printed_title"), 4)
        self.say("\n".join(lines[-20:]), 6, "dim")

    def _samples(self, v: VariantResult) -> None:
        story_kind = (v.story or {}).get("kind")
        lines = why_lines(v.why, self.t) if story_kind not in ("deadlock", "livelock") else []
        for line in lines:  # each line wrapped under its own indentation
            self.say(line.lstrip(), 6 + len(line) - len(line.lstrip()), "dim")
        for sample in v.samples[: 1 if not self.verbose else None]:
            if sample.strip() == (v.reason or "").strip():
                continue  # the verdict's sentence has just said it
            lines = sample.strip().splitlines()
            if len(lines) > 24 and not self.verbose:
                lines = lines[:22] + ["…"]
            self.say("\n".join(lines), 6, "dim")

    def _comparison(self, case: CaseResult, modes: list[str]) -> Table:
        table = Table(box=None, padding=(0, 3, 0, 0), pad_edge=False, show_edge=False, header_style="bold")
        table.add_column(self.t("col_variant"))
        for mode in modes:
            table.add_column(mode, justify="right")
        names = list(dict.fromkeys(v.name for v in case.variants))
        for name in names:
            cells: list[Text | str] = [name]
            for mode in modes:
                match = [v for v in case.variants if v.name == name and v.mode == mode]
                if not match:
                    cells.append("")
                    continue
                v = match[0]
                style = "green" if v.ok else "red"
                label = (v.verdict.value if v.verdict in (Verdict.DEADLOCK, Verdict.ERROR, Verdict.INCONCLUSIVE)
                         else f"{v.wrong}/{v.runs}")
                cells.append(Text(label, style=style))
            table.add_row(*cells)
        return table

    def _case_summary(self, case: CaseResult) -> str:
        if len(case.variants) < 2:
            return ""
        parts = []
        for v in case.variants:
            name = v.name if len({x.mode for x in case.variants}) == 1 else f"{v.name} ({v.mode})"
            if _not_run(v):
                parts.append(self.t("summary_not_run", variant=name))
            elif v.verdict is Verdict.INCONCLUSIVE:
                parts.append(self.t("summary_inconclusive", variant=name))
            elif v.verdict is Verdict.DEADLOCK:
                parts.append(self.t("summary_deadlock", variant=name))
            elif v.verdict is Verdict.ERROR and v.racekit_failure:
                parts.append(self.t("summary_racekit_failed", variant=name))
            elif v.verdict is Verdict.ERROR and v.serial_failure:
                parts.append(self.t("summary_serial", variant=name))  # it ran: wrong with no interleaving at all
            elif v.verdict is Verdict.ERROR:
                errors = sum(r.count for r in v.rows if r.grade in (Grade.ERROR, Grade.CRASH))
                parts.append(self.t("summary_error", variant=name, errors=errors, runs=v.runs))
            elif v.wrong:
                parts.append(self.t("summary_wrong", variant=name, wrong=v.wrong, runs=v.runs))
            elif v.inconclusive:
                parts.append(self.t("summary_right_judged", variant=name, runs=v.runs - v.inconclusive, total=v.runs))
            else:
                parts.append(self.t("summary_right" if v.runs > 1 else "summary_right_one", variant=name, runs=v.runs))
        sep = "；" if self.lang == "zh" else "; "
        return self.t("summary_case", parts=sep.join(parts))


SOURCE_COLUMN = 28  # cells: the source line beside each step, cut with "…" beyond
MIN_SOURCE_COLUMN = 12  # narrower than this the source column is left out (a terminal too narrow)
_MARK_STYLE = {"lost": "red", "stale": "bold red", "preempted": "yellow", "blocked": "bold", "raised": "bold red", "": ""}


def trace_table(rows: Iterable[dict], t, order: list[str] | None = None, width: int = 94) -> Table:
    """One column per thread, one row per operation, in the order they happened;
    beside each step its source line, cut with "…" to what ``width`` leaves."""
    rows = list(rows)
    threads = thread_columns(rows, order)
    widest = {name: cell_len(name) for name in threads}
    for row in rows:
        if "thread" in row:
            widest[row["thread"]] = max(widest[row["thread"]], cell_len(row_mark(row)[1] + operation(row, t)))
    steps = max([cell_len(t("col_step"))] + [cell_len(str(r.get("step", ""))) for r in rows])
    lines = max([cell_len(t("col_line"))] + [cell_len(_where(r)) for r in rows])
    # Each column is followed by 2 cells of padding, the last one by none.
    room = width - (steps + 2) - (lines + 2) - sum(w + 2 for w in widest.values()) + 2
    code = min(SOURCE_COLUMN, max((cell_len(r.get("source", "")) for r in rows), default=0))
    sources = code > 0 and room >= MIN_SOURCE_COLUMN + 2
    table = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False, show_edge=False, header_style="bold")
    table.add_column(t("col_step"), justify="right", min_width=steps, no_wrap=True)
    table.add_column(t("col_line"), justify="right", min_width=lines, no_wrap=True)
    source_width = max(cell_len(t("col_source")), min(code, room - 2)) if sources else 0
    if sources:
        table.add_column(t("col_source"), style="dim", width=source_width)
    # An operation stays on its row: where the threads' columns do not fit, the
    # widest are narrowed and their operations cut with "…" (a long value), never
    # wrapped so that "write state.inside ←" stands on one row and its value on the next.
    fits = _fair_widths(widest, width - (steps + 2) - (lines + 2) - (source_width + 2 if sources else 0) + 2)
    for name in threads:
        table.add_column(name, width=fits[name])  # fixed: the table never grows past the line
    for row in rows:
        if "skipped" in row:
            note = t("skipped", count=row["skipped"], s="" if row["skipped"] == 1 else "s",
                     threads=t("list_sep").join(row["threads"]))
            table.add_row("", "", *([""] if sources else []), Text(note, style="dim"), *[""] * (len(threads) - 1))
            continue
        cells: list[Text | str] = [""] * len(threads)
        text = operation(row, t)
        kind, marker = row_mark(row)
        # A stuck wait or a raise has no value to cut: it folds onto a second
        # line, so "never can" or the error is not lost; any other operation stays on its row.
        cell = marker + text if row.get("blocked") or row.get("raised") else _cut(marker + text, fits[row["thread"]])
        cells[threads.index(row["thread"])] = Text(cell, style=_MARK_STYLE[kind])
        table.add_row(str(row.get("step") or ""), _where(row),
                      *([Text(row.get("source", ""), no_wrap=True, overflow="ellipsis")] if sources else []), *cells)
    return table


LINE_COLUMN = 26  # cells; a longer file:line (a library's deep path) keeps only the file's name


def _where(row: dict) -> str:
    """A row's LINE cell: the line, or file:line for code outside the case file,
    short enough to leave the threads their columns (``_base.py:520``)."""
    line = str(row.get("line") or "")
    if not row.get("file"):
        return line
    where = f"{row['file']}:{line}"
    return where if cell_len(where) <= LINE_COLUMN else f"{row['file'].rsplit('/', 1)[-1]}:{line}"


def _fair_widths(widest: dict[str, int], room: int) -> dict[str, int]:
    """Each thread column's width: its widest operation where all fit in ``room``,
    else the narrow ones keep theirs and the wide ones share what is left."""
    fits: dict[str, int] = {}
    left = room
    names = sorted(widest, key=lambda name: widest[name])
    for i, name in enumerate(names):
        share = left // (len(names) - i) - 2  # each column is followed by 2 cells of padding
        fits[name] = max(min(widest[name], share), min(widest[name], 12))
        left -= fits[name] + 2
    return fits


def _cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, cut with "…" at the end (where a value is)."""
    if cell_len(text) <= width:
        return text
    while text and cell_len(text) > width - 1:
        text = text[:-1]
    return text + "…"


def _scheduled(v: VariantResult) -> bool:
    """Whether the variant's failure came from the controlled scheduler (its
    deadlocks are states no thread can leave, not a timeout)."""
    return v.mode == "controlled" or v.mode_facts.get("found_by") in ("search", "saved", "pct", "sample")


def _not_run(v: VariantResult) -> bool:
    """A variant that an interrupted run never reached: not judged at all."""
    return v.runs == 0 and v.stop_reason == "interrupted"


def replay_command(v: VariantResult) -> str:
    parts = ["racekit", "replay", *_case_args(v), "--schedule", v.schedule or "", *_param_args(v)]
    return " ".join(shlex.quote(p) for p in parts)


def _case_args(v: VariantResult) -> list[str]:
    """How a command names the variant: a case file and ``--variant``, or a
    Python file's ``@race_test`` function as ``FILE::NAME``."""
    if v.file.endswith(".py"):
        return [f"{v.file}::{v.case}"]
    return [v.file, "--variant", v.name]


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A histogram bar in eighths of a character, so small counts stay visible."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    if fraction > 0 and eighths == 0:
        eighths = 1
    full, part = divmod(eighths, 8)
    return "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")


def reproduce_command(v: VariantResult) -> str:
    parts = ["racekit", "run", *_case_args(v), "--mode", v.mode, "--seed", str(v.seed)]
    if v.mode == "auto":  # the phases follow from the options given, not from the trials they ran
        asked = v.mode_facts.get("asked", {})
        parts += [arg for key, flag in (("runs", "--runs"), ("max_runs", "--max-runs")) if key in asked
                  for arg in (flag, str(asked[key]))]
    else:
        parts += ["--runs", str(v.total_runs or v.planned_runs)]
    facts = v.mode_facts
    if v.mode == "controlled" and facts.get("strategy") not in (None, "random"):
        # Another strategy is another run: the line must name the one that ran.
        parts += ["--strategy", str(facts["strategy"])]
        if facts["strategy"] == "pct" and facts.get("depth") is not None:
            parts += ["--depth", str(facts["depth"])]
        if facts["strategy"] == "exhaustive" and facts.get("preemptions") is not None:
            parts += ["--preemptions", str(facts["preemptions"])]
    if v.shard:
        parts += ["--shard", f"{v.shard[0]}/{v.shard[1]}"]
    if v.start_method:  # another interpreter may default to another one
        parts += ["--start-method", v.start_method]
    return " ".join(shlex.quote(p) for p in parts + _param_args(v))


def _param_args(v: VariantResult) -> list[str]:
    import json

    params = [part for k, value in v.param_overrides.items() for part in ("--param", f"{k}={json.dumps(value)}")]
    return params + (["--instrument", ",".join(v.instrument)] if v.instrument else [])


def _negate(v: VariantResult, t) -> str:
    """What a wrong outcome was not, in the reader's language: "≠ 0", "none of 1, 2"."""
    expected = v.expected
    if isinstance(expected, dict) and "any_of" in expected:
        return t("expect_not_any_of", values=t("list_sep").join(repr(x) for x in expected["any_of"]))
    if v.expect_text.startswith("= "):
        return "≠ " + v.expect_text[2:]
    return t("expect_not_check", check=v.expect_text)


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"
