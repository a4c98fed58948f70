"""How a trace row shows a value (controller.short_value): short, and never misleading."""

from __future__ import annotations

from racekit.runtime.controlled.controller import short_value


def test_a_cut_value_keeps_its_length_so_lists_of_20_and_21_differ():
    assert short_value(list(range(20))) != short_value(list(range(21)))
    assert short_value(list(range(21))) == "[0, 1, 2, 3, 4, 5, 6, 7, ...] len=21"
    assert short_value("x" * 80).endswith("... len=80") and short_value([1, 2]) == "[1, 2]"


def test_an_object_is_shown_by_its_type_never_by_its_own_repr():
    class Account:
        def __repr__(self):
            raise AssertionError("racekit ran the program's __repr__")

    assert short_value(Account()) == "<Account>"

