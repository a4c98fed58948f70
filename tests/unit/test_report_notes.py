"""Notes are facts until the report words them: every code in both languages,
fields filled in, and nothing lost when a merged file brings a code this
racekit does not know."""

from __future__ import annotations

import string

from racekit.records import Note
from racekit.report.notes import NOTES, say_note


def _fields(template: str) -> dict[str, str]:
    return {name: f"<{name}>" for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_note_code_is_worded_in_both_languages_with_the_same_fields():
    assert set(NOTES["en"]) == set(NOTES["zh"])
    for code, english in NOTES["en"].items():
        assert _fields(english) == _fields(NOTES["zh"][code]), code


def test_a_note_reads_with_its_values_in_the_readers_language():
    note = Note.of("processes", cores=2, mode="opcode")
    assert say_note(note, "en").startswith("processes run truly in parallel (one interpreter and GIL each, on 2 cores)")
    chinese = say_note(note, "zh")
    assert "本机 2 个核" in chinese and "opcode 模式" in chinese and "{" not in chinese


def test_an_unknown_code_or_missing_field_is_shown_not_dropped():
    assert say_note(Note.of("from_the_future", x=1), "zh") == "from_the_future; x=1"
    assert say_note(Note.of("processes"), "en") == "processes"


def test_notes_are_equal_by_value_so_a_repeated_note_is_said_once():
    one, again = Note.of("tracer", mode="line", tracer="CTracer"), Note.of("tracer", tracer="CTracer", mode="line")
    assert one == again and len({one, again}) == 1
    assert Note.from_json(one.as_json()) == one
