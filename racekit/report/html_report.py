"""The run as one self-contained HTML page, for a projector or a course site.

Everything is inline (CSS, a small script, the bars as CSS widths): the file
opens from a USB stick in a lecture hall with no network. The words are the
text report's own (its sentences, in its language), so the page never says
something the terminal would not; what the page adds is layout: the
description rendered from Markdown, histograms as bars, and the failing
interleaving as a timeline, one column per thread with each step's source
line, that the arrow keys walk through one step at a time.

A case's texts and outcomes are the case author's, not racekit's: every one
is escaped, and the Markdown renderer is told to keep raw HTML as text.
"""

from __future__ import annotations

import html
import io
from typing import Any

from markdown_it import MarkdownIt
from rich.console import Console

from racekit import __version__
from racekit.analysis.results import CaseResult, Grade, RunResult, VariantResult
from racekit.report.messages import message
from racekit.report.modes import describe_mode
from racekit.report.sentences import (CODE_SPAN, operation, python_words, row_mark, shown_outcome, story_details,
                                      story_sentences, thread_columns, trace_title)
from racekit.report.terminal import MAX_ROWS, TerminalReport, replay_command
from racekit.report.visible import made_visible
from racekit.report.wrapping import join_wide_lines

_GRADE_CLASS = {Grade.EXPECTED: "expected", Grade.WRONG: "wrong", Grade.DEADLOCK: "deadlock",
                Grade.LIVELOCK: "deadlock", Grade.CRASH: "crash", Grade.ERROR: "error",
                Grade.INCONCLUSIVE: "inconclusive"}


def html_report(result: RunResult, lang: str = "en", verbose: bool = False) -> str:
    """The whole page for ``result``, in ``lang``."""
    result = made_visible(result)
    page = _Page(lang, verbose)
    body = [page.header(result), *(page.case(case) for case in result.cases), page.footer(result)]
    title = ", ".join(c.text("title", lang) or c.name for c in result.cases) or "racekit"
    return _TEMPLATE.format(lang="zh-CN" if lang == "zh" else "en", title=_e(title), style=_STYLE, script=_SCRIPT,
                            body="\n".join(body))


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


class _Page:
    def __init__(self, lang: str, verbose: bool):
        self.lang = lang
        self.verbose = verbose
        # The text report composes the sentences; its console output is not used.
        self.words = TerminalReport(Console(file=io.StringIO(), width=100), lang, verbose)
        self.markdown = MarkdownIt("commonmark", {"html": False})
        self.traces = 0

    def t(self, key: str, **fields: Any) -> str:
        return message(self.lang, key, **fields)

    def header(self, result: RunResult) -> str:
        """The run's line, then each mode it used and what that mode does, as the terminal's header says."""
        line = self.t("html_header", version=__version__, python=python_words(result.python, self.t), seed=result.seed)
        modes = {v.mode: v.mode_facts for v in result.variants if v.mode_facts}
        lines = [f'<p class="mode">{_e(self.t("mode_line", mode=mode, help=self.t("help_" + mode), detail=describe_mode(facts, self.lang)))}</p>'
                 for mode, facts in modes.items()]
        return f'<header><p class="run">{_e(line)}</p>{"".join(lines)}</header>'

    def footer(self, result: RunResult) -> str:
        variants = result.variants
        ok = sum(1 for v in variants if v.ok)
        line = self.t("footer", variants=len(variants), plural="" if len(variants) == 1 else "s", ok=ok,
                      bad=len(variants) - ok, seconds=result.duration)
        if result.interrupted:
            line = self.t("interrupted") + " " + line + self.t("footer_interrupted")
        return f'<footer class="{"ok" if result.ok else "bad"}">{_e(line)}</footer>'

    def case(self, case: CaseResult) -> str:
        title = case.text("title", self.lang)
        parts = [f'<section class="case"><h1>{_e(case.name)}'
                 + (f' — {_e(title)}' if title and title != case.name else "")
                 + f' <span class="file">{_e(case.file)}</span></h1>']
        description = case.text("description", self.lang).strip()
        if description:
            parts.append(f'<div class="description">{self.markdown.render(join_wide_lines(description))}</div>')
        modes = list(dict.fromkeys(v.mode for v in case.variants))
        if len(modes) > 1:
            parts.append(self.comparison(case, modes))
        parts.extend(self.variant(v, len(modes) > 1) for v in case.variants)
        notes = case.text("notes", self.lang).strip()
        if notes:
            parts.append(f'<details class="notes"{" open" if self.verbose else ""}><summary>{_e(self.t("html_notes"))}</summary>'
                         f'{self.markdown.render(join_wide_lines(notes))}</details>')
        parts.append("</section>")
        return "\n".join(parts)

    def comparison(self, case: CaseResult, modes: list[str]) -> str:
        rows = [f'<tr><th>{_e(self.t("col_variant"))}</th>' + "".join(f"<th>{_e(m)}</th>" for m in modes) + "</tr>"]
        for name in dict.fromkeys(v.name for v in case.variants):
            cells = []
            for mode in modes:
                match = [v for v in case.variants if v.name == name and v.mode == mode]
                cells.append(f'<td class="{"ok" if match[0].ok else "bad"}">{match[0].wrong} / {match[0].runs}</td>'
                             if match else "<td></td>")
            rows.append(f"<tr><th>{_e(name)}</th>{''.join(cells)}</tr>")
        return (f'<p>{_e(self.t("compare_title", case=case.name))}</p>'
                f'<table class="compare">{"".join(rows)}</table>')

    def variant(self, v: VariantResult, show_mode: bool) -> str:
        tag = self.t("timing_tag") if v.timing else self.t("racy_tag") if v.racy else self.t("safe_tag")
        label = v.case if v.name == "default" else v.name
        mode = f' · {_e(self.t("mode_tag", mode=v.mode))}' if show_mode else ""
        parts = [f'<article class="variant {"ok" if v.ok else "bad"}" id="{_e(v.case)}-{_e(v.name)}-{_e(v.mode)}">',
                 f'<h2>{_e(label)} <span class="tag">· {_e(tag)}{mode}</span></h2>']
        if v.runs and not v.timing:
            parts.append(self.histogram(v))
        verdict = self.t("verdict_" + v.verdict.value) if not v.timing else self.t("verdict_measured")
        judgement = self.t("as_expected") if v.ok else self.t("not_as_expected")
        parts.append(f'<p class="verdict"><strong>{_e(verdict)} {"✓" if v.ok else "✗"}</strong> '
                     f'{_e(self.t("verdict_note", judgement=judgement))} '
                     f'<span class="dim">{_e(self.t("found_by", mode=v.mode, runs=v.runs, runs_s="" if v.runs == 1 else "s"))}</span></p>')
        parts.extend(f"<p>{html_code(sentence)}</p>" for sentence in self.words.sentences(v))
        if v.trace:
            parts.append(self.trace(v))
        parts.extend(f'<p class="story">{html_code(sentence)}</p>' for sentence in story_sentences(v.story, self.t))
        traceback, waits = story_details(v.story, v.samples, self.t)  # verbatim, as the terminal shows them
        parts.extend(f'<pre class="detail">{_e(text)}</pre>' for text in (traceback, "\n".join(waits)) if text)
        if v.schedule:
            preemptions = v.schedule_preemptions or 0
            shrunk = self.t("shrunk", count=v.shrunk_from) if v.shrunk_from and v.shrunk_from > preemptions else ""
            line = self.t("schedule_line", schedule=v.schedule, preemptions=preemptions,
                          s="" if preemptions == 1 else "s", shrunk=shrunk, command="")
            parts.append(f'<p class="schedule">{_e(line.rstrip())} '
                         f'<code>{_e(replay_command(v))}</code></p>')
        parts.append("</article>")
        return "\n".join(parts)

    def histogram(self, v: VariantResult) -> str:
        total = max(v.runs, 1)
        head = "".join(f"<th>{_e(self.t(k))}</th>" for k in ("col_outcome", "col_runs", "col_freq", "col_expect"))
        rows = [f"<tr>{head}<th></th></tr>"]
        shown, rest = list(v.rows)[:MAX_ROWS], list(v.rows)[MAX_ROWS:]
        for row in shown:
            share = 100 * row.count / total
            grade = _GRADE_CLASS.get(row.grade, "wrong")
            rows.append(f'<tr class="{grade}"><td class="outcome">{_e(shown_outcome(row.outcome, self.t))}</td>'
                        f'<td class="num">{row.count}</td><td class="num">{share:.1f}%</td>'
                        f'<td>{_e(self.t("grade_" + row.grade.value))}</td>'
                        f'<td class="barcell"><div class="bar" style="width:{share:.1f}%"></div></td></tr>')
        if rest:
            count = sum(r.count for r in rest)
            grade = "wrong" if all(r.grade is not Grade.EXPECTED for r in rest) else "expected"
            rows.append(f'<tr class="{grade} more"><td class="outcome">{_e(self.t("more_rows", count=len(rest)))}</td>'
                        f'<td class="num">{count}</td><td class="num">{100 * count / total:.1f}%</td>'
                        f'<td>{_e(self.t("grade_wrong")) if grade == "wrong" else ""}</td>'
                        f'<td class="barcell"><div class="bar" style="width:{100 * count / total:.1f}%"></div></td></tr>')
        for value in v.never_observed:
            rows.append(f'<tr class="expected"><td class="outcome">{_e(value)}</td><td class="num">0</td>'
                        f'<td class="num">0.0%</td><td>{_e(self.t("grade_expected"))}</td><td></td></tr>')
        return f'<table class="histogram">{"".join(rows)}</table>'

    def trace(self, v: VariantResult) -> str:
        """The interleaving as a timeline: a column per thread, the source beside each step."""
        self.traces += 1
        title = trace_title(list(v.trace), v.schedule_preemptions or 0, self.lang, self.t)
        threads = thread_columns(list(v.trace), (v.story or {}).get("threads"))
        head = (f'<tr><th>{_e(self.t("col_step"))}</th><th>{_e(self.t("col_line"))}</th>'
                f'<th>{_e(self.t("col_source"))}</th>' + "".join(f"<th>{_e(n)}</th>" for n in threads) + "</tr>")
        rows = []
        for row in v.trace:
            if "skipped" in row:
                note = self.t("skipped", count=row["skipped"], s="" if row["skipped"] == 1 else "s",
                              threads=self.t("list_sep").join(row["threads"]))
                rows.append(f'<tr class="skipped"><td></td><td></td><td></td>'
                            f'<td colspan="{len(threads)}">{_e(note)}</td></tr>')
                continue
            kind, marker = row_mark(row)
            cells = [""] * len(threads)
            cells[threads.index(row["thread"])] = f'<span class="op {kind}">{_e(marker + operation(row, self.t))}</span>'
            line = f"{row['file']}:{row['line']}" if row.get("file") else str(row.get("line") or "")
            opening = (f'<tr class="step" data-step="{row["step"]}"><td class="num">{row["step"]}</td>'
                       if row.get("step") else '<tr class="blocked"><td class="num"></td>')  # a wait that never ended
            rows.append(opening +
                        f'<td class="num">{_e(line)}</td><td class="source"><code>{_e(row.get("source", ""))}</code></td>'
                        + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
        hint = self.t("html_keys")
        return (f'<p>{_e(title)}</p><p class="keys dim">{_e(hint)}</p>'
                f'<table class="trace" tabindex="0" id="trace-{self.traces}">{head}{"".join(rows)}</table>')


def html_code(sentence: str) -> str:
    """A sentence escaped, its `code` spans as <code> (never shown with their backticks)."""
    return CODE_SPAN.sub(lambda m: f"<code>{m.group(1)}</code>", _e(sentence))


# The first line is how racekit knows, before replacing a file, that it wrote it
# (racekit.output_files).
_TEMPLATE = """<!doctype html>
<!-- racekit report: one self-contained page -->
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="racekit">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
{body}
<script>{script}</script>
</body>
</html>
"""

_STYLE = """
body { font: 17px/1.5 system-ui, -apple-system, "Segoe UI", "Noto Sans", "PingFang SC", "Microsoft YaHei",
       "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Droid Sans Fallback",
       sans-serif;
       margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.5rem; margin: 2rem 0 .5rem; } h2 { font-size: 1.2rem; margin: 1.5rem 0 .3rem; }
.file, .tag, .dim, .run, .mode { color: #666; font-weight: normal; font-size: .9em; }
code, .trace, .histogram .outcome { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Noto Sans Mono CJK SC",
                                    "Noto Sans CJK SC", "WenQuanYi Zen Hei Mono", monospace; }
.description { border-left: 4px solid #ccd; padding: .2rem 1rem; background: #f7f7fb; }
table { border-collapse: collapse; margin: .5rem 0; }
th { text-align: left; font-weight: 600; padding: .15rem .8rem .15rem 0; }
td { padding: .15rem .8rem .15rem 0; vertical-align: top; }
td.num { text-align: right; }
.histogram .barcell { width: 16rem; } .bar { height: .9em; background: #2a7a2a; }
.histogram tr.wrong .bar, .histogram tr.crash .bar, .histogram tr.error .bar { background: #c62828; }
.histogram tr.deadlock .bar { background: #ad5f00; } .histogram tr.inconclusive .bar { background: #888; }
.verdict strong { color: #1d6b1d; } .variant.bad .verdict strong { color: #b71c1c; }
.trace { font-size: .95rem; } .trace td.source code { color: #555; }
.trace tr.step { cursor: pointer; } .trace tr.future { opacity: .25; }
.trace tr.current { background: #fff3c4; outline: 2px solid #e0b100; }
.op.preempted { color: #8a6d00; font-weight: 600; } .op.blocked { font-weight: 700; } .op.lost { color: #c62828; } .op.stale { color: #c62828; font-weight: 700; }
.skipped td { color: #777; font-style: italic; }
.schedule code { white-space: pre; }
pre.detail { margin-left: 1.5em; color: #555; overflow-x: auto; }
.compare td.ok { color: #1d6b1d; } .compare td.bad { color: #b71c1c; }
footer { margin: 2rem 0; font-weight: 600; } footer.ok { color: #1d6b1d; } footer.bad { color: #b71c1c; }
"""

# Arrow keys step through the focused trace: rows after the current one are
# dimmed, so a class sees the interleaving unfold one operation at a time.
_SCRIPT = r"""
(function () {
  var traces = Array.prototype.slice.call(document.querySelectorAll("table.trace"));
  var active = traces[0] || null;
  function steps(t) { return Array.prototype.slice.call(t.querySelectorAll("tr.step")); }
  function show(t, i) {
    var rows = steps(t); if (!rows.length) return;
    i = Math.max(0, Math.min(rows.length - 1, i)); t.dataset.current = i;
    rows.forEach(function (r, k) { r.classList.toggle("current", k === i); r.classList.toggle("future", k > i); });
    rows[i].scrollIntoView({block: "nearest"});
  }
  traces.forEach(function (t) {
    t.addEventListener("focus", function () { active = t; });
    steps(t).forEach(function (r, k) { r.addEventListener("click", function () { active = t; show(t, k); }); });
  });
  // A link to a step (report.html#step=12) opens the first trace at step 12: the row
  // whose step number it is (a trace leaves steps out), not its twelfth row.
  var wanted = /^#step=(\d+)$/.exec(location.hash);
  if (wanted && active) {
    var at = steps(active).findIndex(function (r) { return r.dataset.step === wanted[1]; });
    if (at >= 0) show(active, at);
  }
  document.addEventListener("keydown", function (e) {
    if (!active) return;
    var i = active.dataset.current === undefined ? -1 : parseInt(active.dataset.current, 10);
    var n = steps(active).length;
    if (e.key === "ArrowRight" || e.key === "ArrowDown" || e.key === "j") show(active, i + 1);
    else if (e.key === "ArrowLeft" || e.key === "ArrowUp" || e.key === "k") show(active, i - 1);
    else if (e.key === "Home") show(active, 0);
    else if (e.key === "End") show(active, n - 1);
    else if (e.key === "Escape") { steps(active).forEach(function (r) { r.classList.remove("current", "future"); });
                                   delete active.dataset.current; }
    else return;
    e.preventDefault();
  });
})();
"""
