"""``racekit lecture`` and ``racekit play``: one interleaving on a full screen.

Each thread's code side by side, the line where it stands marked, the shared
locations and the locks as the run changes them, and what the last step did
in words. The lecture walks a recorded run (:class:`racekit.teach.Lesson`)
forwards and back; in play the student is the scheduler and every choice is
a real replay (:class:`racekit.teach.PlaySession`). Built on Textual (by the
makers of rich, which racekit's reports already use): it draws in any
terminal and tmux, redraws on resize, and its test pilot presses keys in a
headless app, so the screens are tested as a student sees them.
"""

from __future__ import annotations

import asyncio
import linecache
import shlex
import signal
from typing import Any

from rich.console import Console
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Static

from racekit.analysis.walk import Moment, Place, Walk, ended_wrong
from racekit.case.model import Variant
from racekit.report.messages import message
from racekit.report.sentences import operation, shown_outcome, to_do, why_lines
from racekit.report.visible import visible
from racekit.report.wrapping import wrap, wrap_markdown

CSS = """
Screen { layout: vertical; }
#header { height: 1; background: $primary-background; color: $text; text-style: bold; padding: 0 1; }
#threads { height: 1fr; min-height: 5; }
.pane { width: 1fr; height: 100%; border: round $secondary; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
.pane.moving { border: heavy $accent; }
#shared { height: auto; max-height: 5; border: round $secondary; padding: 0 1; }
#story { height: auto; min-height: 3; max-height: 14; padding: 0 1; }
#prompt { height: auto; max-height: 6; padding: 0 1; }
#keys { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
"""


class SourceBook:
    """The lines a pane shows: the block of the case file a line belongs to
    (a thread's code, the setup), or the lines around it in a user's module."""

    def __init__(self, variant: Variant):
        self.case_file = variant.path
        self.blocks: list[tuple[int, int, int]] = []  # first line, last line, indentation of the YAML block
        for source in [variant.setup, *(t.code for t in variant.threads)]:
            if source is not None:
                last = source.line + len(source.text.rstrip("\n").splitlines()) - 1
                self.blocks.append((source.line, last, source.col))

    def window(self, place: Place, height: int) -> list[tuple[int, str]]:
        """Up to ``height`` numbered lines around ``place``'s line, from its block
        (as the code reads, without the case file's indentation of the block)."""
        path = place.path or self.case_file
        line = place.line
        if not line:
            return []
        low, high, indent = next((b for b in self.blocks if b[0] <= line <= b[1]), (line - height, line + height, 0)) \
            if not place.path else (line - height, line + height, 0)
        low = max(low, 1)
        start = max(low, min(line - height // 2, high - height + 1))
        lines = []
        for number in range(start, min(high, start + height - 1) + 1):
            text = linecache.getline(path, number).rstrip()
            lines.append((number, text[indent:] if text[:indent].isspace() else text.lstrip() if indent else text))
        return lines


_MEASURE = Console(width=200)  # only measures text (rich's wrap needs a console), never prints


def _fold(line: str, width: int) -> list[str]:
    """``line`` in pieces of at most ``width`` cells (all of it when width is unknown)."""
    if width <= 0:
        return [line]
    return [piece.plain for piece in Text(line).wrap(_MEASURE, width, overflow="fold")] or [""]


class ThreadPane(Static):
    """One thread's pane; it draws at the size it has, so a resize redraws it whole."""

    def __init__(self, app: "_LiveApp", **options: Any):
        super().__init__(**options)
        self.live = app
        self.state: tuple[Place, dict[str, Any] | None, bool] | None = None

    def show(self, place: Place, next_row: dict[str, Any] | None, moving: bool) -> None:
        self.state = (place, next_row, moving)
        self.refresh(layout=False)

    def render(self) -> Text:
        if self.state is None:
            return Text()
        return self.live.pane_text(*self.state, self.content_size.height, self.content_size.width)


class _LiveApp(App):
    """The screen both commands share: header, thread panes, shared state, story, keys."""

    CSS = CSS
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, variant: Variant, threads: list[str], lang: str):
        super().__init__()
        self.variant = variant
        self.threads = threads
        self.lang = lang
        self.book = SourceBook(variant)
        self.signalled: int | None = None  # the SIGTERM or SIGHUP that ended the app

    def _on_mount(self) -> None:
        # A closed terminal (SIGHUP) or a kill (SIGTERM) ends the app: left
        # running without its terminal, it would read nothing forever.
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if number is not None:
                loop.add_signal_handler(number, self._ended_by, number)

    def _ended_by(self, number: int) -> None:
        self.signalled = number
        self.exit()

    def on_mount(self) -> None:
        self.call_after_refresh(self.show)

    def on_resize(self) -> None:
        self.call_after_refresh(self.show)

    def show(self) -> None:
        raise NotImplementedError

    def t(self, name: str, /, **fields: object) -> str:
        return message(self.lang, name, **fields)

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        with Horizontal(id="threads"):
            for i, name in enumerate(self.threads):
                yield self._pane(i, name)
        shared = Static(id="shared")
        shared.border_title = self.t("live_shared")
        yield shared
        yield Static(id="story")
        yield Static(id="prompt")
        yield Static(id="keys")

    def _pane(self, index: int, thread: str) -> ThreadPane:
        pane = ThreadPane(self, id=f"pane-{index}", classes="pane")
        pane.border_title = Text(visible(thread))
        return pane

    def screen_text(self) -> str:
        """Everything the screen shows, as plain text (what the tests read)."""
        parts = []
        for widget in self.query(Static):
            title = widget.border_title
            parts.append((f"[{title}]\n" if title else "") + str(widget.render()))
        return "\n".join(parts)

    # -- drawing -----------------------------------------------------------------

    def draw(self, moment: Moment, moving: str | None, header: str, story: list[Text],
             prompt: Text | None, keys: str, upcoming: dict[str, dict[str, Any]] | None = None) -> None:
        # Words from the case file (its name, title, code) are shown as text: an
        # escape sequence there never reaches the terminal, a [tag] is no markup.
        self.query_one("#header", Static).update(Text(visible(header)))
        panes = len(self.query(ThreadPane))
        if len(moment.places) > panes:  # the case's own code started more threads
            for i in range(panes, len(moment.places)):
                self.query_one("#threads").mount(self._pane(i, moment.places[i].thread))
            self.call_after_refresh(self.show)
            return
        for i, place in enumerate(moment.places):
            pane = self.query_one(f"#pane-{i}", ThreadPane)
            pane.set_class(place.thread == moving, "moving")
            pane.show(place, (upcoming or {}).get(place.thread), place.thread == moving)
        self.query_one("#shared", Static).update(self._shared(moment))
        # Broken here, not by the widget: Chinese lines break between characters
        # and never before a closing mark (racekit.report.wrapping).
        width = max(self.size.width - 2, 20)
        self.query_one("#story", Static).update(Text("\n").join(Text(wrap(visible(line.plain), width), style=line.style)
                                                                for line in story))
        prompt_widget = self.query_one("#prompt", Static)
        prompt_widget.display = prompt is not None
        prompt_widget.update(prompt or "")
        self.query_one("#keys", Static).update(keys)

    def pane_text(self, place: Place, next_row: dict[str, Any] | None, moving: bool, height: int,
                  width: int = 0) -> Text:
        """A thread's pane: what it does next, then the code around its line (as
        many lines as the pane has room for). In a narrow pane (three threads
        side by side) the status and the thread's own line fold onto the rows
        below rather than being cut: they are what the class must read."""
        text = Text(no_wrap=True, overflow="ellipsis")  # other lines are cut, never wrapped onto the next
        status = _fold(visible(self._status(place, next_row)), width)
        text.append("\n".join(status), style="bold" if moving else "")
        room = max(height - len(status), 1)
        window = self.book.window(place, room) if not place.done else []
        for number, source in window:
            source = visible(source)
            here = number == place.line
            text.append(f"\n{'▶' if here else ' '}{number:>3} ", style="bold" if here else "dim")
            style = ("reverse bold" if moving else "underline") if here else ""
            if here and width and len(window) < room:
                # The lines below the window are free: the current line folds into them.
                pieces = _fold(source, width - 5)[:room - len(window) + 1]
                text.append(pieces[0], style=style)
                for piece in pieces[1:]:
                    text.append("\n     ")
                    text.append(piece, style=style)
            else:
                text.append(source, style=style)
        return text

    def _status(self, place: Place, next_row: dict[str, Any] | None) -> str:
        if place.done and place.raised:
            return self.t("live_raised", error=place.raised)
        if place.done and place.unshared:
            return self.t("live_done_unshared")
        if place.done:
            return self.t("live_done")
        if place.stopped:
            return self.t("live_stopped")
        if not place.can_move:
            return self.t("live_waits", op=to_do(place.kind, place.what, self.t))
        # A write's value is computed before the write happens, so the tape's is
        # already true here (the stale value about to be written); a read's is not yet.
        value = (next_row or {}).get("value") if place.kind == "write" else None
        shown = operation({"kind": "write", "what": place.what, "value": value}, self.t) if value \
            else to_do(place.kind, place.what, self.t)
        return self.t("live_next", op=shown)

    def _shared(self, moment: Moment) -> Text:
        text = Text()
        items = [f"{what} = {value}" for what, value in moment.values.items()]
        items += [self.t("live_held", lock=lock, thread=self.t("list_sep").join(owners))
                  for lock, owners in moment.held.items()]
        text.append("   ".join(items) if items else self.t("live_nothing_shared"))
        return text

    # -- sentences ---------------------------------------------------------------

    def step_story(self, walk: Walk, moment: Moment) -> list[Text]:
        """What the last step did, and what it means for the run (a preemption, a lost update)."""
        op = moment.op
        if op is None:
            return [Text(self.t("live_start"))]
        lines = [Text(self.t("live_step", step=op["step"], thread=op["thread"], op=operation(op, self.t),
                             line=op.get("line", 0)))]
        if op.get("preempted"):
            previous = walk.ops[op["step"] - 2]["thread"] if op["step"] >= 2 else ""
            lines.append(Text("⇢ " + self.t("live_preempted", thread=op["thread"], other=previous),
                              style="bold yellow"))
        loss = moment.lost_here
        if loss is not None:
            writers = self._writers(walk, loss.overwritten)
            lines.append(Text("✗ " + self.t("live_lost_here", thread=op["thread"], what=loss.what, value=op["value"],
                                            read_value=walk.ops[loss.read - 1]["value"], read=loss.read,
                                            count=len(loss.overwritten), writers=writers,
                                            s="" if len(loss.overwritten) == 1 else "s",
                                            were="was" if len(loss.overwritten) == 1 else "were"),
                              style="bold red"))
        elif moment.loss_begins is not None and walk.paused is None:
            loss = moment.loss_begins
            lines.append(Text(self.t("live_loss_begins", thread=op["thread"], what=loss.what, value=op["value"],
                                     write=loss.write, writers=self._writers(walk, loss.overwritten),
                                     count=len(loss.overwritten), s="" if len(loss.overwritten) == 1 else "s"),
                              style="yellow"))
        elif op.get("lost"):
            write = next(loss.write for loss in walk.losses if op["step"] in loss.overwritten)
            lines.append(Text(self.t("live_overwritten", write=write), style="red"))
        if op.get("raises"):
            lines.append(Text("✗ " + self.t("live_raises", thread=op["thread"], error=op["raises"]), style="bold red"))
        return lines

    def _writers(self, walk: Walk, steps: tuple[int, ...]) -> str:
        names = dict.fromkeys(walk.ops[s - 1]["thread"] for s in steps)
        return self.t("list_sep").join(names)

    def end_story(self, trial: Any) -> list[Text]:
        """How the run ended, when the walk reaches its end."""
        if trial.status.value == "deadlock":
            key = "live_end_livelock" if trial.outcome == "livelock" else "live_end_deadlock"
            # Who holds which lock is on the screen already (the shared panel): only who waits for what.
            waits = [w for w in (trial.why or {}).get("waiting", [])]
            lines = [Text(self.t(key), style="bold red")]
            if waits:
                return lines + [Text("  " + self.t("why_waits", thread=w["thread"], op=to_do(w["kind"], w["what"], self.t)))
                                for w in waits]
            return lines + [Text(line) for line in why_lines(trial.why, self.t)[1:]]
        if trial.outcome.startswith("error") or trial.status.value == "error":
            # A thread or the outcome raised: say so, not "outcome = error: …".
            lines = [Text(self.t("live_end_error", outcome=trial.outcome.removeprefix("error: ")), style="bold red")]
            return lines + [Text("  " + error.strip().splitlines()[-1]) for error in trial.errors[:2] if error.strip()]
        if trial.status.value != "done":
            return [Text(self.t("live_end_other", outcome=trial.outcome), style="bold")]
        outcome = self.variant.outcome
        expect = self.variant.expect.describe().removeprefix("= ")
        shown = shown_outcome(trial.outcome, self.t)
        if hasattr(outcome, "text"):  # one expression: name it
            shown = f"{outcome.text.strip()} = {shown}"
        if trial.matches:
            return [Text(self.t("live_end_right", outcome=shown, expect=expect), style="bold green")]
        return [Text(self.t("live_end_wrong", outcome=shown, expect=expect), style="bold red")]


class LectureApp(_LiveApp):
    """Walk one recorded run forwards and back."""

    BINDINGS = [
        Binding("right,n,space", "step(1)", show=False),
        Binding("left,b", "step(-1)", show=False),
        Binding("p", "preemption", show=False),
        Binding("f", "failure", show=False),
        Binding("r,home", "goto(0)", show=False),
        Binding("end", "goto(-1)", show=False),
        Binding("q,escape,ctrl+c", "quit", show=False, priority=True),
    ]

    def __init__(self, lesson: Any, lang: str = "en", start: int = 0):
        super().__init__(lesson.variant, lesson.walk.threads, lang)
        self.lesson = lesson
        self.walk: Walk = lesson.walk
        self.index = start

    def show(self) -> None:
        walk, index = self.walk, self.index
        moment = walk.moment(index)
        moving = walk.ops[index]["thread"] if index < walk.last else None
        upcoming = _upcoming(walk, index)
        header = self.t("live_header", case=self.lesson.case.name, variant=self.variant.name,
                        step=index, steps=walk.last, preemptions=moment.preemptions,
                        total=len(walk.preemption_steps()))
        story = self.step_story(walk, moment)
        if index == 0:
            story = [Text(self.lesson.case.text("title", self.lang), style="bold"), *story,
                     Text(self._origin(), style="dim")]
        if index == walk.last:
            story += self.end_story(self.lesson.trial)
        self.draw(moment, moving, header, story, None, self.t("live_keys"), upcoming)

    def _origin(self) -> str:
        lesson = self.lesson
        if lesson.origin == "given":
            if lesson.given and lesson.given != lesson.schedule:
                return self.t("live_origin_given_completed", given=lesson.given, schedule=lesson.schedule)
            return self.t("live_origin_given", schedule=lesson.schedule)
        search = lesson.search
        if lesson.origin == "search":
            key = "live_origin_fewest" if search.fewest else "live_origin_search"
            return self.t(key, schedule=lesson.schedule, preemptions=search.preemptions,
                          s="" if search.preemptions == 1 else "s")
        complete = "live_origin_none_complete_one" if search.schedules == 1 else "live_origin_none_complete"
        return self.t(complete if search.complete else "live_origin_none",
                      schedules=search.schedules, schedule=lesson.schedule, s="" if search.schedules == 1 else "s")

    def action_step(self, delta: int) -> None:
        self.index = max(0, min(self.walk.last, self.index + delta))
        self.show()

    def action_goto(self, index: int) -> None:
        self.index = self.walk.last if index < 0 else index
        self.show()

    def action_preemption(self) -> None:
        step = self.walk.next_preemption(self.index)
        if step is not None:
            self.index = step
        self.show()

    def action_failure(self) -> None:
        self.index = self.walk.failure_step() if ended_wrong(self.lesson.trial) else self.walk.last
        self.show()


def _upcoming(walk: Walk, index: int) -> dict[str, dict[str, Any]]:
    """Each thread's next operation after moment ``index``, as the tape has it."""
    found: dict[str, dict[str, Any]] = {}
    for row in walk.ops[index:]:
        found.setdefault(row["thread"], row)
        if len(found) == len(walk.threads):
            break
    return found


class PlayApp(_LiveApp):
    """The student chooses who moves at every choice."""

    BINDINGS = [
        *[Binding(str(k), f"choose({k})", show=False) for k in range(1, 10)],
        Binding("enter,space", "go_on", show=False),
        Binding("e", "finish", show=False),
        Binding("u,backspace", "undo", show=False),
        Binding("r", "restart", show=False),
        Binding("q,escape,ctrl+c", "quit", show=False, priority=True),
    ]

    def __init__(self, session: Any, lang: str = "en", file: str = ""):
        super().__init__(session.variant, session.turn.walk.threads, lang)
        self.session = session
        self.file = file or session.variant.path
        self.notice: Text | None = None

    def show(self) -> None:
        turn = self.session.turn
        walk = turn.walk
        moment = walk.moment(walk.last)
        header = self.t("live_header_play", case=self.session.case.name,
                        variant=self.variant.name, step=walk.last, preemptions=turn.preemptions,
                        s="" if turn.preemptions == 1 else "s")
        story = self.step_story(walk, moment)
        if not self.session.history:  # before the student's first choice
            challenge = self.variant.text("challenge", self.lang).strip()
            goal = self.t("play_goal_racy" if self.variant.racy else "play_goal_correct")
            story = [Text(wrap_markdown(challenge, 10_000) if challenge else goal, style="bold"),
                     *([Text(goal)] if challenge else []), *story]
        if self.notice is not None:
            story.append(self.notice)
        if turn.finished:
            # racekit's own answer: searched once, before the game began (racekit play
            # does it behind its start-up spinner), so the screen never waits for it.
            story += self.end_story(turn.trial) + self.verdict_lines(self.session.search())
            prompt = None
            keys = self.t("play_keys_end")
        else:
            prompt = self._prompt(turn, moment)
            keys = self.t("play_keys", n=len(walk.threads))
        self.draw(moment, turn.running, header, story, prompt, keys)

    def _prompt(self, turn: Any, moment: Moment) -> Text:
        text = Text(self.t("play_prompt") + "\n", style="bold")
        for i, place in enumerate(moment.places):
            if place.done:
                continue
            op = to_do(place.kind, place.what, self.t)
            if place.thread in turn.enabled:
                line = self.t("play_option", number=i + 1, thread=place.thread, op=op, line=place.line)
                if place.thread == turn.running:
                    line += self.t("play_running")
                text.append(line + "\n")
            else:
                text.append(self.t("play_blocked", thread=place.thread, op=op) + "\n", style="dim")
        return text

    def _after(self) -> None:
        self.notice = None
        self.show()

    def verdict_lines(self, search: Any) -> list[Text]:
        turn = self.session.turn
        used = turn.preemptions
        wrong = ended_wrong(turn.trial)
        lines: list[Text] = []
        plural = "" if search.schedules == 1 else "s"
        if search.schedule is None and wrong:
            # The student found what racekit's few seconds of search did not.
            lines.append(Text(self.t("play_beat_search", used=used, s="" if used == 1 else "s",
                                     schedules=search.schedules, ps=plural), style="bold"))
        elif search.schedule is None:
            key = "play_search_none_complete" if search.complete else "play_search_none"
            lines.append(Text(self.t(key, schedules=search.schedules, s=plural), style="bold"))
        else:
            key = "play_fewest_proven" if search.fewest else "play_fewest_found"
            fewest = self.t(key, fewest=search.preemptions, s="" if search.preemptions == 1 else "s")
            if wrong:
                lines.append(Text(self.t("play_you_won", used=used, s="" if used == 1 else "s", fewest=fewest),
                                  style="bold"))
            else:
                lines.append(Text(self.t("play_try_again", fewest=fewest), style="bold"))
        schedule = self.session.schedule
        command = ["racekit", "replay", self.file, "--variant", self.variant.name, "--schedule", schedule]
        for name, value in self.session.params.items():
            command += ["--param", f"{name}={value}"]
        lines.append(Text(self.t("play_schedule", schedule=schedule)))
        lines.append(Text("  " + " ".join(shlex.quote(part) for part in command)))
        return lines

    def action_choose(self, number: int) -> None:
        turn = self.session.turn
        if turn.finished or number > len(turn.walk.threads):
            return
        thread = turn.walk.threads[number - 1]
        if thread not in turn.enabled:
            place = turn.walk.moment(turn.walk.last).places[number - 1]
            self.notice = Text(self.t("play_cannot_done", thread=thread) if place.done else
                               self.t("play_cannot", thread=thread, op=to_do(place.kind, place.what, self.t)),
                               style="bold red")
            self.show()
            return
        self.session.choose(thread)
        self._after()

    def action_go_on(self) -> None:
        if not self.session.turn.finished:
            self.session.go_on()
            self._after()

    def action_finish(self) -> None:
        if not self.session.turn.finished:
            self.session.finish()
            self._after()

    def action_undo(self) -> None:
        self.session.undo()
        self._after()

    def action_restart(self) -> None:
        self.session.restart()
        self._after()
