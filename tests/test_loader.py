"""The case loader on valid files: what a case file means once loaded.

Malformed files and their messages are in ``test_loader_errors.py``; the
loader's robustness on arbitrary input is in ``test_loader_property.py``.
"""

from __future__ import annotations

import datetime
import pickle
import textwrap
from pathlib import Path

import pytest

from racekit.case.loader import discover, load_case, load_paths, parse_case
from racekit.case.model import (
    DEFAULT_RUNS,
    DEFAULT_TIMEOUT,
    Case,
    Expectation,
    Source,
    ThreadSpec,
    Variant,
)
from racekit.errors import CaseError

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = sorted((ROOT / "cases").glob("*.yaml"))


def case(text: str, path: str = "case.yaml") -> Case:
    return parse_case(textwrap.dedent(text).lstrip("\n").encode("utf-8"), path)


def only(c: Case) -> Variant:
    assert len(c.variants) == 1
    return c.variants[0]


def codes(v: Variant) -> dict[str, str]:
    return {t.name: t.code.text for t in v.threads}


MINIMAL = """
    racekit: 1
    name: minimal
    threads:
      t: x = 1
    outcome: 1
    expect: 1
"""


# -- a case without variants ---------------------------------------------------


def test_top_level_only_case_has_one_variant_named_default():
    c = case(
        """
        racekit: 1
        name: balance
        title: Lost updates
        description: |
          Two threads share one account.
        notes: Lock it.
        params: {iterations: 1000}
        setup: |
          balance = 0
          lock = threading.Lock()
        threads:
          depositor: |
            for _ in range(iterations):
                balance += 1
          withdrawer: balance -= 1
        outcome: balance
        expect: 0
        timeout: 2.5
        runs: 50
        racy: true
        """
    )
    assert (c.name, c.path, c.kind, c.title, c.notes) == ("balance", "case.yaml", "threads", "Lost updates", "Lock it.")
    assert c.description == "Two threads share one account.\n"
    v = only(c)
    assert v.name == "default"
    assert v.id == "balance[default]"
    assert (v.case, v.path, v.kind) == ("balance", "case.yaml", "threads")
    assert v.params == {"iterations": 1000}
    assert v.setup is not None and v.setup.text == "balance = 0\nlock = threading.Lock()\n"
    assert codes(v) == {
        "depositor": "for _ in range(iterations):\n    balance += 1\n",
        "withdrawer": "balance -= 1",
    }
    assert [t.count for t in v.threads] == [1, 1]
    assert isinstance(v.outcome, Source) and v.outcome.text == "balance"
    assert v.expect == Expectation("value", (0,))
    assert (v.timeout, v.runs, v.racy) == (2.5, 50, True)
    assert isinstance(v.timeout, float)
    assert (v.title, v.description, v.notes) == ("Lost updates", "Two threads share one account.\n", "Lock it.")
    assert c.variant("default") is v
    with pytest.raises(KeyError):
        c.variant("other")


def test_defaults_of_optional_keys():
    c = case(MINIMAL)
    v = only(c)
    assert c.title == "minimal"  # the name stands in for a missing title
    assert (c.description, c.notes, c.i18n) == ("", "", {})
    assert (v.params, v.setup, v.title, v.description, v.notes, v.i18n) == ({}, None, "", "", "", {})
    assert (v.timeout, v.runs, v.racy) == (DEFAULT_TIMEOUT, DEFAULT_RUNS, False)
    assert c.name_at == (2, 1)


def test_an_integer_timeout_becomes_a_float():
    v = only(case(MINIMAL + "    timeout: 3\n"))
    assert v.timeout == 3.0 and isinstance(v.timeout, float)


def test_parse_case_accepts_text_and_a_utf8_bom():
    text = textwrap.dedent(MINIMAL).lstrip("\n")
    assert parse_case(text).name == "minimal"
    assert parse_case(text).path == "<case>"
    assert parse_case(b"\xef\xbb\xbf" + text.encode()).name == "minimal"


def test_keys_may_come_in_any_order_and_kind_threads_is_accepted():
    c = case(
        """
        expect: 2
        outcome: n
        threads: {t: pass}
        kind: threads
        name: any-order_1
        racekit: 1
        """
    )
    assert (c.name, c.kind) == ("any-order_1", "threads")


def test_loaded_cases_pickle_for_worker_processes():
    c = load_case(ROOT / "cases" / "balance.yaml")
    assert pickle.loads(pickle.dumps(c)) == c


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.name)
def test_every_library_case_loads(path):
    c = load_case(path)
    assert c.name == path.stem
    assert c.variants
    for v in c.variants:
        assert isinstance(v.expect, Expectation)
        if c.kind in ("threads", "processes"):
            assert v.threads and v.outcome is not None
        elif c.kind == "script":
            assert v.script and Path(v.script).is_file()
        else:
            assert c.kind == "timing" and v.work


def test_balance_library_case():
    c = load_case(ROOT / "cases" / "balance.yaml")
    assert [v.name for v in c.variants] == ["unlocked", "locked", "locked_fine"]
    assert [v.racy for v in c.variants] == [True, False, False]
    assert all(v.params == {"iterations": 1000} and v.runs == 200 for v in c.variants)
    unlocked, locked, fine = c.variants
    assert codes(unlocked)["depositor"] == "for _ in range(iterations):\n    account.balance += 1\n"
    assert codes(locked)["depositor"].startswith("lock.acquire()\n")
    assert "with lock:" in codes(fine)["withdrawer"]
    assert c.text("title", "zh") == "共享余额的丢失更新"


# -- variants deep-merge over the top level -------------------------------------

BASE = """
    racekit: 1
    name: merged
    title: Top
    i18n:
      zh: {title: 顶层}
    params: {a: 1, b: 2, nested: {x: 1, y: 2}}
    setup: s = 0
    threads:
      one: s += 1
      two:
        code: s -= 1
        count: 2
    outcome: {total: s, half: s // 2}
    expect: {total: 0, half: 0}
    runs: 10
"""


def test_variants_are_listed_in_file_order_and_inherit_the_top_level():
    c = case(BASE + "    variants:\n      zeta: {}\n      alpha:\n      mid: {racy: true}\n")
    assert [v.name for v in c.variants] == ["zeta", "alpha", "mid"]
    zeta, alpha, mid = c.variants
    assert zeta.id == "merged[zeta]"
    # An empty (or null) variant is the top level as it is.
    for v in (zeta, alpha):
        assert v.params == {"a": 1, "b": 2, "nested": {"x": 1, "y": 2}}
        assert codes(v) == {"one": "s += 1", "two": "s -= 1"}
        assert v.runs == 10 and v.racy is False and v.title == "Top"
    assert mid.racy is True


def test_mappings_merge_key_by_key_and_deeply():
    c = case(
        BASE
        + """
    variants:
      v:
        params: {b: 20, c: 30, nested: {y: 22}}
        i18n:
          zh: {notes: 变体}
          pt-BR: {title: Topo}
    """
    )
    v = only(c)
    assert v.params == {"a": 1, "b": 20, "c": 30, "nested": {"x": 1, "y": 22}}
    assert v.i18n == {"zh": {"title": "顶层", "notes": "变体"}, "pt-BR": {"title": "Topo"}}
    assert v.text("title", "zh") == "顶层" and v.text("notes", "zh") == "变体"


def test_a_variant_replaces_one_thread_and_keeps_the_others():
    c = case(BASE + "    variants:\n      v:\n        threads:\n          one: |\n            with lock:\n                s += 1\n")
    v = only(c)
    assert codes(v) == {"one": "with lock:\n    s += 1\n", "two": "s -= 1"}
    assert [(t.name, t.count) for t in v.threads] == [("one", 1), ("two", 2)]
    assert v.threads[0].code.label == "variants.v.threads.one"
    assert v.threads[1].code.label == "threads.two.code"


def test_a_variant_may_change_only_the_count_of_a_thread():
    c = case(BASE + "    variants:\n      more:\n        threads: {one: {count: 3}, two: {count: 1}}\n")
    v = only(c)
    top_level = case(BASE)
    assert [(t.name, t.count) for t in v.threads] == [("one", 3), ("two", 1)]
    # The code is the top level's own Source, position and all.
    assert [t.code for t in v.threads] == [t.code for t in only(top_level).threads]
    assert v.threads[0].instance_names() == ["one-1", "one-2", "one-3"]
    assert v.threads[1].instance_names() == ["two"]
    assert v.thread_count() == 4


def test_a_variant_may_add_threads():
    v = only(case(BASE + "    variants:\n      v:\n        threads: {three: {code: s = 3, count: 2}}\n"))
    assert [(t.name, t.count) for t in v.threads] == [("one", 1), ("two", 2), ("three", 2)]


def test_expect_is_replaced_whole_not_merged():
    c = case(
        BASE
        + """
    variants:
      value:
        expect: {total: 5}
      any:
        expect: {any_of: [1, 2]}
      check:
        expect:
          check: outcome["total"] > 0
    """
    )
    value, any_, check = c.variants
    assert value.expect == Expectation("value", ({"total": 5},))
    assert any_.expect == Expectation("any_of", (1, 2))
    assert check.expect.kind == "check" and check.expect.check.text == 'outcome["total"] > 0'


def test_outcome_expression_in_a_variant_replaces_the_top_level_mapping():
    v = only(case(BASE.replace("expect: {total: 0, half: 0}", "expect: 0") + "    variants:\n      v: {outcome: s}\n"))
    assert isinstance(v.outcome, Source) and v.outcome.text == "s"


def test_null_in_a_variant_removes_an_inherited_key():
    c = case(
        BASE
        + """
    variants:
      v:
        title: null
        setup: null
        runs: null
        params: {b: null, nested: {x: null}}
        threads: {two: ~}
        outcome: {half: null}
        expect: {total: 0}
        i18n: {zh: null}
    """
    )
    v = only(c)
    assert v.title == "" and v.setup is None and v.runs == DEFAULT_RUNS
    assert v.params == {"a": 1, "nested": {"y": 2}}
    assert codes(v) == {"one": "s += 1"}
    assert set(v.outcome) == {"total"}
    assert v.i18n == {}
    assert c.title == "Top"  # the case's own title is the top level's


def test_null_in_a_variant_can_remove_a_whole_mapping():
    v = only(case(BASE + "    variants:\n      v:\n        params: null\n"))
    assert v.params == {}


def test_variant_texts():
    c = case(MINIMAL + "    title: Case\n    variants:\n      v: {title: Variant, description: D, notes: N}\n")
    v = only(c)
    assert (c.title, v.title, v.description, v.notes) == ("Case", "Variant", "D", "N")


# -- threads ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "names"),
    [
        ("t: pass", ["t"]),
        ("t: {code: pass}", ["t"]),
        ("t: {code: pass, count: 1}", ["t"]),
        ("t: {code: pass, count: 2}", ["t-1", "t-2"]),
        ("worker.a: {code: pass, count: 4}", ["worker.a-1", "worker.a-2", "worker.a-3", "worker.a-4"]),
    ],
)
def test_count_starts_copies_named_name_1_to_name_n(entry, names):
    v = only(case(MINIMAL.replace("t: x = 1", entry)))
    assert v.threads[0].instance_names() == names
    assert v.thread_count() == len(names)


def test_count_256_is_the_limit():
    v = only(case(MINIMAL.replace("t: x = 1", "t: {code: pass, count: 256}")))
    assert len(v.threads[0].instance_names()) == 256


def test_thread_names_may_use_capitals_digits_dots_and_dashes():
    v = only(case(MINIMAL.replace("t: x = 1", "Reader_1: pass\n      2nd.writer-b: pass")))
    assert [t.name for t in v.threads] == ["Reader_1", "2nd.writer-b"]


def test_thread_code_may_return_and_define_generators():
    v = only(
        case(
            MINIMAL.replace(
                "t: x = 1",
                "t: |\n        def gen():\n            yield 1\n        if not list(gen()):\n            return\n",
            )
        )
    )
    assert "yield 1" in v.threads[0].code.text


def test_thread_spec_instance_names_directly():
    src = Source("pass", "f.yaml", 1, 0, "threads.w")
    assert ThreadSpec("w", src).instance_names() == ["w"]
    assert ThreadSpec("w", src, 3).instance_names() == ["w-1", "w-2", "w-3"]


# -- outcome and expect ---------------------------------------------------------------


def test_outcome_as_an_expression():
    v = only(case(MINIMAL.replace("outcome: 1", "outcome: len(items) + 1")))
    assert isinstance(v.outcome, Source)
    assert (v.outcome.text, v.outcome.label) == ("len(items) + 1", "outcome")


def test_outcome_as_a_literal_is_still_an_expression():
    v = only(case(MINIMAL.replace("outcome: 1", "outcome: 42")))
    assert isinstance(v.outcome, Source) and v.outcome.text == "42"


def test_outcome_as_a_mapping_of_names_to_expressions():
    v = only(
        case(
            MINIMAL.replace("outcome: 1", "outcome:\n      total: a + b\n      count: len(log)").replace(
                "expect: 1", "expect: {total: 0}"
            )
        )
    )
    assert isinstance(v.outcome, dict)
    assert {k: s.text for k, s in v.outcome.items()} == {"total": "a + b", "count": "len(log)"}
    assert v.outcome["count"].label == "outcome.count"
    assert v.expect == Expectation("value", ({"total": 0},))  # a subset of the names is fine


@pytest.mark.parametrize(
    ("yaml_value", "value"),
    [
        ("0", 0),
        ("-3", -3),
        ("2.5", 2.5),
        ("hello", "hello"),
        ("'0'", "0"),
        ("true", True),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ("{a: 1, b: [x]}", {"a": 1, "b": ["x"]}),
    ],
)
def test_expect_a_value(yaml_value, value):
    v = only(case(MINIMAL.replace("expect: 1", f"expect: {yaml_value}")))
    assert v.expect.kind == "value"
    assert v.expect.values == (value,) and type(v.expect.values[0]) is type(value)
    assert v.expect.to_json() == value


def test_expect_any_of():
    v = only(case(MINIMAL.replace("expect: 1", "expect:\n      any_of: [0, 1, [2, 3]]")))
    assert v.expect == Expectation("any_of", (0, 1, [2, 3]))
    assert v.expect.to_json() == {"any_of": [0, 1, [2, 3]]}
    assert v.expect.describe() == "one of 0, 1, [2, 3]"


def test_expect_check():
    v = only(case(MINIMAL.replace("expect: 1", "expect:\n      check: >\n        outcome >= 0 and\n        outcome < 10\n")))
    assert v.expect.kind == "check" and v.expect.values == ()
    assert v.expect.check is not None
    assert v.expect.check.text == "outcome >= 0 and outcome < 10\n"
    assert v.expect.check.label == "expect.check"
    assert v.expect.to_json() == {"check": "outcome >= 0 and outcome < 10\n"}


def test_expect_check_with_a_literal_expression():
    v = only(case(MINIMAL.replace("expect: 1", "expect: {check: true}")))
    assert v.expect.kind == "check" and v.expect.check.text == "true"


# -- i18n and params ---------------------------------------------------------------


def test_i18n_translates_title_description_and_notes():
    c = case(
        MINIMAL
        + """
    title: Counter
    description: Two threads count.
    i18n:
      zh:
        title: 计数器
        description: 两个线程计数。
      pt-BR: {notes: Use um lock.}
    """
    )
    assert c.i18n == {"zh": {"title": "计数器", "description": "两个线程计数。"}, "pt-BR": {"notes": "Use um lock."}}
    assert c.text("title", "zh") == "计数器"
    assert c.text("description", "zh") == "两个线程计数。"
    assert c.text("notes", "zh") == ""  # no translation: the original (empty) text
    assert c.text("title", "fr") == "Counter" and c.text("title", None) == "Counter"
    assert only(c).text("notes", "pt-BR") == "Use um lock."


def test_params_hold_any_plain_values():
    v = only(
        case(
            MINIMAL
            + """
    params:
      iterations: 1000
      delay: 0.001
      name: bank
      flags: [a, b]
      limits: {low: 1, high: null}
      enabled: false
      _private: 1
    """
        )
    )
    assert v.params == {
        "iterations": 1000,
        "delay": 0.001,
        "name": "bank",
        "flags": ["a", "b"],
        "limits": {"low": 1, "high": None},
        "enabled": False,
        "_private": 1,
    }
    assert v.with_params({"iterations": 5}).params["iterations"] == 5
    assert v.params["iterations"] == 1000  # with_params copies


# -- YAML features -----------------------------------------------------------------------


def test_yaml_merge_keys_and_aliases():
    c = case(
        """
        racekit: 1
        name: anchors
        threads:
          a: &incr |
            n += 1
          b: *incr
          c:
            <<: &copies {count: 2}
            code: n -= 1
        outcome: n
        expect: 0
        runs: 5
        variants:
          base: &base
            racy: true
            runs: 7
            params: {k: 1}
          more:
            <<: *base
            runs: 9
          both:
            <<: [{timeout: 2}, *base]
            params: {j: 2}
          threads_too:
            threads:
              a:
                <<: *copies
        """
    )
    base, more, both, threads_too = c.variants
    assert codes(base) == {"a": "n += 1\n", "b": "n += 1\n", "c": "n -= 1"}
    assert [t.code.label for t in base.threads] == ["threads.a", "threads.b", "threads.c.code"]
    assert [t.count for t in base.threads] == [1, 1, 2]
    assert (base.racy, base.runs, base.params) == (True, 7, {"k": 1})
    assert (more.racy, more.runs, more.params) == (True, 9, {"k": 1})  # explicit keys win over merged ones
    assert (both.racy, both.runs, both.timeout, both.params) == (True, 7, 2.0, {"j": 2})
    assert [(t.name, t.count) for t in threads_too.threads] == [("a", 2), ("b", 1), ("c", 2)]
    assert threads_too.threads[0].code.text == "n += 1\n"


def test_yaml_1_1_scalars_follow_safe_load():
    v = only(case(MINIMAL + "    racy: yes\n    params: {big: 1_000, hex: 0x10, when: 2024-01-02, switch: off}\n"))
    assert v.racy is True
    assert v.params == {"big": 1000, "hex": 16, "when": datetime.date(2024, 1, 2), "switch": False}


def test_comments_and_windows_line_endings():
    text = textwrap.dedent(MINIMAL).lstrip("\n").replace("\n", "  # note\n").replace("t: x = 1  # note", "t: |\n    x = 1")
    c = parse_case(text.replace("\n", "\r\n").encode(), "crlf.yaml")
    v = only(c)
    assert v.threads[0].code.text == "x = 1\n"
    assert (v.threads[0].code.line, v.threads[0].code.col) == (5, 4)


# -- where code sits in the file ----------------------------------------------------------


def assert_points_into_file(src: Source, file_text: str) -> None:
    """``Source.line`` is the file line of the code's first line; ``col`` the 0-based column of the code.

    Checked for every line of a block (a folded ``>`` block only has its first
    line where the text says, as folding joins lines).
    """
    lines = file_text.split("\n")
    for offset, code_line in enumerate(src.text.rstrip("\n").split("\n")):
        assert lines[src.line - 1 + offset][src.col :].startswith(code_line), (src, offset)


SOURCES = """\
racekit: 1
name: positions
setup: |
  import itertools
  shared = []
threads:
  plain: shared.append(1)
  block: |
    for i in range(3):
        shared.append(i)
  nested:
    count: 2
    code: |
          x = 1
          shared.append(x)
  quoted: 'shared.append(2)'
  dquoted: "shared.append(3)"
  stripped: |-
    shared.append(4)
  flow: {code: shared.append(5), count: 2}
outcome: len(shared)
expect:
  check: >-
    outcome > 0
variants:
  v:
    outcome:
      size: len(shared)
      last: 'shared[-1]'
"""


def test_source_line_and_col_map_each_code_block_to_the_file():
    c = parse_case(SOURCES.encode(), "positions.yaml")
    v = only(c)
    got = {t.name: (t.code.line, t.code.col) for t in v.threads}
    assert got == {
        "plain": (7, 9),
        "block": (9, 4),
        "nested": (14, 10),
        "quoted": (16, 11),
        "dquoted": (17, 12),
        "stripped": (19, 4),
        "flow": (20, 15),
    }
    assert (v.setup.line, v.setup.col) == (4, 2)
    assert v.expect.check is not None and (v.expect.check.line, v.expect.check.col) == (24, 4)
    assert {k: (s.line, s.col) for k, s in v.outcome.items()} == {"size": (28, 12), "last": (29, 13)}
    for src in [*(t.code for t in v.threads), v.setup, v.expect.check, *v.outcome.values()]:
        assert src.path == "positions.yaml"
        assert_points_into_file(src, SOURCES)
    # A position inside the code maps to the file: line 2, column 5 of `block`.
    block = v.threads[1].code
    assert block.file_position(2, 5) == (10, 9)
    assert SOURCES.split("\n")[9][8:].startswith("shared.append(i)")


def test_source_positions_in_the_library_cases():
    for path in LIBRARY:
        text = path.read_text(encoding="utf-8")
        c = load_case(path)
        for v in c.variants:
            sources = [t.code for t in v.threads] + ([v.setup] if v.setup else []) + list(v.work.values())
            sources += list(v.outcome.values()) if isinstance(v.outcome, dict) else [v.outcome] if v.outcome else []
            sources += [v.expect.check] if v.expect.check else []
            for src in sources:
                assert_points_into_file(src, text)


def test_parsing_with_file_lines_gives_the_file_lines():
    v = only(parse_case(SOURCES.encode(), "positions.yaml"))
    block = v.threads[1].code
    tree = block.parse("exec")
    assert tree.body[0].lineno == 9 and tree.body[0].body[0].lineno == 10


# -- folders and suites ----------------------------------------------------------------------

CASE_FILE = """\
racekit: 1
name: {name}
threads: {{t: pass}}
outcome: 1
expect: 1
"""


@pytest.fixture
def suite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "suite"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.yaml").write_text(CASE_FILE.format(name="alpha"))
    (root / "sub" / "b.yml").write_text("# a comment first\n" + CASE_FILE.format(name="beta"))
    (root / "sub" / "deeper" / "c.yaml").write_text(CASE_FILE.format(name="gamma"))
    (root / "profile.yaml").write_text("mode: opcode\nruns: 5\n")  # YAML, but not a case
    (root / "nested-key.yaml").write_text("config:\n  racekit: 1\n")  # racekit: not at the top level
    (root / "notes.txt").write_text(CASE_FILE.format(name="text"))  # not a YAML file
    return root


def test_load_paths_on_a_folder_picks_only_case_files(suite):
    cases = load_paths(["suite"])
    assert [(c.name, c.path) for c in cases] == [
        ("alpha", "suite/a.yaml"),
        ("beta", "suite/sub/b.yml"),
        ("gamma", "suite/sub/deeper/c.yaml"),
    ]
    assert discover(["suite"]) == [Path("suite/a.yaml"), Path("suite/sub/b.yml"), Path("suite/sub/deeper/c.yaml")]


def test_load_paths_named_files_and_folders_once_each(suite):
    cases = load_paths(["suite/sub/b.yml", "suite", "suite/a.yaml"])
    assert [c.name for c in cases] == ["beta", "alpha", "gamma"]


def test_load_paths_takes_a_named_file_even_if_it_does_not_look_like_a_case(suite):
    (suite / "odd.txt").write_text(CASE_FILE.format(name="odd"))
    assert [c.name for c in load_paths(["suite/odd.txt"])] == ["odd"]


def test_load_paths_reports_duplicate_case_names(suite):
    (suite / "sub" / "again.yaml").write_text("\n" + CASE_FILE.format(name="alpha"))
    with pytest.raises(CaseError) as info:
        load_paths(["suite"])
    assert str(info.value) == "suite/sub/again.yaml:3:1: error: case name 'alpha' is already used by suite/a.yaml"


def test_load_paths_reports_every_broken_file(suite):
    (suite / "broken.yaml").write_text("racekit: 1\nname: Broken\n")
    (suite / "sub" / "bad.yaml").write_text("racekit: 1\nname: bad\nthreads: {t: pass}\noutcome: 1\nexpect: 1\nrunz: 3\n")
    with pytest.raises(CaseError) as info:
        load_paths(["suite"])
    assert str(info.value).splitlines() == [
        "suite/broken.yaml:1:1: error: the case has no 'expect' (the correct outcome); add it to the top level or to the variant",
        "suite/broken.yaml:1:1: error: the case has no 'outcome' (an expression read after the threads end); add it to the top level or to the variant",
        "suite/broken.yaml:1:1: error: the case has no 'threads' (the code each thread runs); add it to the top level or to the variant",
        "suite/broken.yaml:2:7: error: name 'Broken' is not a valid name: use lowercase letters, digits, '_' and '-'",
        "suite/sub/bad.yaml:6:1: error: unknown key 'runz' in the case (did you mean 'runs'?)",
    ]


def test_discover_errors_on_a_missing_path(suite):
    with pytest.raises(CaseError) as info:
        discover(["suite", "missing.yaml", "nowhere/"])
    assert str(info.value).splitlines() == [
        "missing.yaml:1:1: error: no such file or directory",
        "nowhere/:1:1: error: no such file or directory",
    ]
    with pytest.raises(CaseError):
        load_paths(["missing.yaml"])


def test_load_case_shows_paths_relative_to_the_working_directory(suite):
    assert load_case(suite / "a.yaml").path == "suite/a.yaml"
    assert load_case("suite/a.yaml").path == "suite/a.yaml"
