"""Malformed case files: every message, exactly, with its ``path:line:col`` (1-based).

Each test writes a file, loads it, and compares the whole of ``str(CaseError)``
line by line. Where part of a message comes from CPython's compiler (its wording
changes between versions), the expected line is a :func:`cpython` pattern: the
position and racekit's prefix are still exact.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from racekit.case.loader import load_case, parse_case
from racekit.case.yamlsource import MAX_FILE_BYTES
from racekit.errors import CaseError, Problem

PATH = "case.yaml"


def cpython(prefix: str, contains: str = "") -> re.Pattern[str]:
    """An expected line whose end is CPython's wording: exact prefix, then any text containing ``contains``."""
    return re.compile(re.escape(prefix) + r"(?=\S).*" + (re.escape(contains) + ".*" if contains else ""))


def errors_of(data: bytes | str) -> list[str]:
    if isinstance(data, str):
        data = textwrap.dedent(data).lstrip("\n").encode("utf-8")
    with pytest.raises(CaseError) as info:
        parse_case(data, PATH)
    exc = info.value
    lines = str(exc).splitlines()
    # str(exc) is the problems, one a line, in file order.
    assert lines == [str(p) for p in exc.problems]
    assert exc.problems == sorted(exc.problems)
    assert all(isinstance(p, Problem) and p.path == PATH for p in exc.problems)
    assert "Traceback" not in str(exc)
    return lines


def assert_errors(data: bytes | str, expected: list[str | re.Pattern[str]]) -> None:
    got = errors_of(data)
    assert len(got) == len(expected), "\n".join(got)
    for line, want in zip(got, expected):
        if isinstance(want, str):
            assert line == want
        else:
            assert want.fullmatch(line), f"{line!r} does not match {want.pattern!r}"


# A valid case; lines 1-9. Tests append lines from line 10 on.
BASE = b"""\
racekit: 1
name: demo
setup: |
  x = 0
threads:
  a: |
    pass
outcome: x
expect: 0
"""


def with_thread(entry: bytes) -> bytes:
    """BASE with thread ``a`` (lines 6-7) replaced by ``entry``, which starts at line 6."""
    return BASE.replace(b"  a: |\n    pass\n", entry)


def test_base_is_valid():
    assert parse_case(BASE, PATH).variants[0].name == "default"


# -- YAML itself -------------------------------------------------------------------

YAML_ERRORS = [
    pytest.param(
        BASE + b"params: [1, 2\n",
        [("case.yaml:11:1: error: invalid YAML: expected ',' or ']', but got '<stream end>' "
          "(while parsing a flow sequence at line 10, column 9)")],
        id="unclosed-flow-list",
    ),
    pytest.param(
        BASE.replace(b"outcome: x\n", b'outcome: {n: d["k"], m: 1}\n'),
        [("case.yaml:8:15: error: invalid YAML: expected ',' or '}', but got '[' (while parsing a flow mapping "
          "at line 8, column 10); inside {…} or […] quote a value that holds brackets, commas or colons "
          "(\"d['k']\"), or write the mapping one key per line")],
        id="python-in-flow-mapping",
    ),
    pytest.param(
        b"racekit: 1\nname: demo\n  runs: 3\n",
        ["case.yaml:3:7: error: invalid YAML: mapping values are not allowed here"],
        id="bad-indentation",
    ),
    pytest.param(
        b"racekit: 1\nname: demo\nthreads:\n\ta: pass\n",
        [("case.yaml:4:1: error: invalid YAML: found character '\\t' that cannot start any token "
          "(while scanning for the next token); indent with spaces, YAML does not allow tabs")],
        id="tab-indentation",
    ),
    pytest.param(
        b'racekit: 1\nname: demo\ntitle: "unfinished\nruns: 3\n',
        [("case.yaml:5:1: error: invalid YAML: found unexpected end of stream "
          "(while scanning a quoted scalar at line 3, column 8)")],
        id="unclosed-quote",
    ),
    pytest.param(
        BASE + b"---\nracekit: 1\n",
        ["case.yaml:10:1: error: invalid YAML: expected a single document in the stream, but found another document"],
        id="two-documents",
    ),
    pytest.param(
        BASE + b"title: a\x07b\n",
        ["case.yaml:10:9: error: invalid YAML: the control character U+0007 is not allowed; remove it"],
        id="control-character",
    ),
    pytest.param(
        BASE + b"params: {p: *nowhere}\n",
        ["case.yaml:10:13: error: invalid YAML: found undefined alias 'nowhere'"],
        id="undefined-alias",
    ),
]


@pytest.mark.parametrize(("data", "expected"), YAML_ERRORS)
def test_yaml_errors(data, expected):
    assert_errors(data, expected)


ENCODING_ERRORS = [
    pytest.param(
        b"racekit: 1\nname: demo\ntitle: caf\xe9\n",
        ["case.yaml:3:11: error: not valid UTF-8 (byte 0xe9); save the file as UTF-8"],
        id="latin-1-byte",
    ),
    pytest.param(
        b"\xff\xfer\x00a\x00",
        ["case.yaml:1:1: error: not valid UTF-8 (byte 0xff); save the file as UTF-8"],
        id="utf-16",
    ),
    pytest.param(
        # Columns count characters: "标题" is 6 bytes but 2 characters.
        "racekit: 1\ntitle: 标题".encode() + b" \x80\n",
        ["case.yaml:2:11: error: not valid UTF-8 (byte 0x80); save the file as UTF-8"],
        id="after-multibyte-characters",
    ),
    pytest.param(
        # The BOM is not a column, and the byte shown is the bad one.
        b"\xef\xbb\xbfname: \xc0\n",
        ["case.yaml:1:7: error: not valid UTF-8 (byte 0xc0); save the file as UTF-8"],
        id="after-a-bom",
    ),
    pytest.param(
        b"racekit: 1\nname: demo\ntitle: \xe2\x82",
        ["case.yaml:3:8: error: not valid UTF-8 (byte 0xe2); save the file as UTF-8"],
        id="truncated-sequence",
    ),
]


@pytest.mark.parametrize(("data", "expected"), ENCODING_ERRORS)
def test_invalid_utf8_names_the_position_of_the_bad_byte(data, expected):
    assert_errors(data, expected)


EMPTY = ("case.yaml:1:1: error: the file is empty: a case needs at least `racekit: 1`, `name:`, "
         "`threads:`, `outcome:` and `expect:`")
NOT_A_MAPPING = "error: a case file must be a mapping of keys (racekit:, name:, threads:, …)"

SHAPE_ERRORS = [
    pytest.param(b"", [EMPTY], id="empty"),
    pytest.param(b"  \n\n   \n", [EMPTY], id="blank"),
    pytest.param(b"# racekit: 1\n# just a comment\n", [EMPTY], id="only-a-comment"),
    pytest.param(b"---\n", [EMPTY], id="empty-document"),
    pytest.param(b"- racekit: 1\n- name: demo\n", ["case.yaml:1:1: " + NOT_A_MAPPING], id="top-level-list"),
    pytest.param(b"\n\nhello\n", ["case.yaml:3:1: " + NOT_A_MAPPING], id="top-level-string"),
    pytest.param(b"null\n", ["case.yaml:1:1: " + NOT_A_MAPPING], id="top-level-null"),
    pytest.param(
        b"x" * (MAX_FILE_BYTES + 1),
        [f"case.yaml:1:1: error: file is too large ({MAX_FILE_BYTES + 1} bytes; a case file may have at most {MAX_FILE_BYTES})"],
        id="too-large",
    ),
]


@pytest.mark.parametrize(("data", "expected"), SHAPE_ERRORS)
def test_files_that_are_not_a_case_mapping(data, expected):
    assert_errors(data, expected)


# -- safe YAML only: tags, duplicates, aliases --------------------------------------

PY_TAG = "error: Python tags are not allowed ({}): racekit only reads plain YAML"

TAG_ERRORS = [
    pytest.param(
        BASE + b'params:\n  p: !!python/object/apply:os.system ["echo"]\n',
        ["case.yaml:11:6: " + PY_TAG.format("!!python/object/apply:os.system")],
        id="python-object-apply",
    ),
    pytest.param(
        BASE + b"params:\n  p: !!python/name:os.system\n",
        ["case.yaml:11:6: " + PY_TAG.format("!!python/name:os.system")],
        id="python-name",
    ),
    pytest.param(
        b'!!python/object/apply:os.system ["echo"]\n',
        ["case.yaml:1:1: " + PY_TAG.format("!!python/object/apply:os.system")],
        id="python-tag-as-the-whole-file",
    ),
    pytest.param(
        BASE.replace(b"outcome: x", b"outcome: !!python/name:os.system ''"),
        ["case.yaml:8:10: " + PY_TAG.format("!!python/name:os.system")],
        id="python-tag-where-code-goes",
    ),
    pytest.param(
        BASE + b"runs: !!python/int 3\n",
        ["case.yaml:10:7: " + PY_TAG.format("!!python/int")],
        id="python-tag-on-a-number",
    ),
    pytest.param(
        with_thread(b"  a: !!python/object:threading.Thread {}\n"),
        ["case.yaml:6:6: " + PY_TAG.format("!!python/object:threading.Thread")],
        id="python-tag-on-a-thread-mapping",
    ),
    pytest.param(
        BASE + b"<<: !!python/name:os.system ''\n",
        ["case.yaml:10:5: " + PY_TAG.format("!!python/name:os.system")],
        id="python-tag-merged",
    ),
    pytest.param(
        BASE.replace(b"expect: 0", b"expect: {any_of: !!python/tuple [1]}"),
        ["case.yaml:9:18: " + PY_TAG.format("!!python/tuple")],
        id="python-tag-on-any_of",
    ),
    pytest.param(
        BASE + b"? !!python/name:os.system\n: 1\n",
        ["case.yaml:10:3: " + PY_TAG.format("!!python/name:os.system")],
        id="python-tag-on-a-key",
    ),
    pytest.param(
        BASE + b"params:\n  p: !secret 3\n",
        ["case.yaml:11:6: error: unsupported YAML tag !secret: use plain YAML values"],
        id="custom-tag",
    ),
    pytest.param(
        BASE + b"params: !env {a: 1}\n",
        ["case.yaml:10:9: error: unsupported YAML tag !env: use plain YAML values"],
        id="custom-tag-on-a-mapping",
    ),
    pytest.param(
        BASE + b"params:\n  p: !!binary aGVsbG8=\n  q: !!set {a, b}\n",
        ["case.yaml:11:6: error: unsupported YAML tag !!binary: use plain YAML values",
         "case.yaml:12:6: error: unsupported YAML tag !!set: use plain YAML values"],
        id="non-plain-standard-tags",
    ),
    pytest.param(
        BASE.replace(b"expect: 0", b"expect: {any_of: !!map [1]}"),
        ["case.yaml:9:18: error: unsupported YAML tag !!map: use plain YAML values"],
        id="tag-of-another-kind-of-node",
    ),
    pytest.param(
        # An explicit tag skips PyYAML's own check of the value.
        BASE + b"runs: !!bool x\nparams: {p: !!int , q: !!timestamp 2024-13-01}\n",
        ["case.yaml:10:7: error: cannot read 'x' as bool",
         "case.yaml:11:13: error: cannot read '' as int",
         # The reason is datetime's own words (3.14 adds ", not 13").
         cpython("case.yaml:11:24: error: cannot read '2024-13-01' as timestamp: ", "month must be in 1..12")],
        id="explicit-tag-with-a-wrong-value",
    ),
]


@pytest.mark.parametrize(("data", "expected"), TAG_ERRORS)
def test_only_plain_yaml_tags(data, expected):
    assert_errors(data, expected)


def test_python_tags_never_run_anything(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    monkeypatch.chdir(tmp_path)
    data = BASE + f'params:\n  p: !!python/object/apply:os.system ["touch {marker}"]\n'.encode()
    errors_of(data)
    assert not marker.exists()


DUPLICATE_ERRORS = [
    pytest.param(
        BASE + b"name: other\n",
        ["case.yaml:10:1: error: duplicate key 'name' in the case (first defined at line 2, column 1)"],
        id="top-level",
    ),
    pytest.param(
        with_thread(b"  a: |\n    pass\n  a: pass\n"),
        ["case.yaml:8:3: error: duplicate key 'a' in threads (first defined at line 6, column 3)"],
        id="thread",
    ),
    pytest.param(
        BASE + b"variants:\n  v:\n    racy: true\n    racy: false\n",
        ["case.yaml:13:5: error: duplicate key 'racy' in variants.v (first defined at line 12, column 5)"],
        id="inside-a-variant",
    ),
    pytest.param(
        BASE + b"variants:\n  v: {}\n  v: {racy: true}\n",
        ["case.yaml:12:3: error: duplicate key 'v' in variants (first defined at line 11, column 3)"],
        id="variant",
    ),
    pytest.param(
        BASE + b"params:\n  deep: {a: 1, b: 2, a: 3}\n",
        ["case.yaml:11:22: error: duplicate key 'a' in a mapping (first defined at line 11, column 10)"],
        id="inside-a-param-value",
    ),
]


@pytest.mark.parametrize(("data", "expected"), DUPLICATE_ERRORS)
def test_duplicate_keys_are_errors(data, expected):
    assert_errors(data, expected)


RECURSIVE = "error: a recursive alias (an anchor used inside itself) is not supported"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(BASE + b"params:\n  a: &x [*x]\n", ["case.yaml:11:6: " + RECURSIVE], id="list"),
        pytest.param(BASE + b"params:\n  a: &x {b: *x}\n", ["case.yaml:11:6: " + RECURSIVE], id="mapping"),
        pytest.param(BASE + b"variants:\n  v: &v\n    <<: *v\n", ["case.yaml:11:6: " + RECURSIVE], id="merge-into-itself"),
    ],
)
def test_recursive_aliases(data, expected):
    assert_errors(data, expected)


def test_aliases_cannot_blow_up_memory():
    laughs = b"".join(b"  l%d: &l%d [%s]\n" % (i, i, b", ".join([b"*l%d" % (i - 1)] * 9)) for i in range(1, 12))
    data = BASE + b"params:\n  l0: &l0 [lol]\n" + laughs + b"runs: nope\n"
    # Refused where it first grows too big (once), and the rest of the file is still checked.
    assert_errors(data, ["case.yaml:16:7: error: this value expands to more than 100,000 items (YAML aliases repeat "
                         "what they point to); racekit refuses it",
                         "case.yaml:23:7: error: runs must be an integer from 1 to 10000000, got string 'nope'"])


# -- values of the wrong type or range ----------------------------------------------

VALUE_ERRORS = [
    pytest.param(b"runs: two", "10:7: error: runs must be an integer from 1 to 10000000, got string 'two'", id="runs-two"),
    pytest.param(b'runs: "5"', "10:7: error: runs must be an integer from 1 to 10000000, got string '5'", id="runs-quoted"),
    pytest.param(b"runs: 1.5", "10:7: error: runs must be an integer from 1 to 10000000, got float '1.5'", id="runs-float"),
    pytest.param(b"runs: true", "10:7: error: runs must be an integer from 1 to 10000000, got boolean 'true'", id="runs-bool"),
    pytest.param(b"runs: 0", "10:7: error: runs must be an integer from 1 to 10000000, got 0", id="runs-zero"),
    pytest.param(b"runs:", "10:6: error: runs must be an integer from 1 to 10000000, got nothing (null)", id="runs-null"),
    pytest.param(b"runs: [3]", "10:7: error: runs must be an integer from 1 to 10000000, got a list", id="runs-list"),
    pytest.param(b"runs: 10000001", "10:7: error: runs must be an integer from 1 to 10000000, got 10000001", id="runs-too-many"),
    pytest.param(b"timeout: -1", "10:10: error: timeout must be more than 0 and at most 86400 seconds, got -1", id="timeout-negative"),
    pytest.param(b"timeout: 0", "10:10: error: timeout must be more than 0 and at most 86400 seconds, got 0", id="timeout-zero"),
    pytest.param(b"timeout: .inf", "10:10: error: timeout must be more than 0 and at most 86400 seconds, got inf", id="timeout-inf"),
    pytest.param(b"timeout: .nan", "10:10: error: timeout must be more than 0 and at most 86400 seconds, got nan", id="timeout-nan"),
    pytest.param(b"timeout: soon", "10:10: error: timeout must be a number of seconds, got string 'soon'", id="timeout-text"),
    pytest.param(b"racy: yes please", "10:7: error: racy must be true or false, got string 'yes please'", id="racy-text"),
    pytest.param(b"racy: 1", "10:7: error: racy must be true or false, got integer '1'", id="racy-int"),
    pytest.param(b"title: 3", "10:8: error: title must be a string, got integer '3'", id="title-int"),
    pytest.param(b"description: [a]", "10:14: error: description must be a string, got a list", id="description-list"),
    pytest.param(b"params: [a, b]", "10:9: error: params must be a mapping, got a list", id="params-list"),
    pytest.param(b"i18n: zh", "10:7: error: i18n must be a mapping, got string 'zh'", id="i18n-string"),
    pytest.param(b"variants: []", "10:11: error: variants must be a mapping, got an empty list", id="variants-list"),
    pytest.param(b"variants: {}", "10:1: error: variants is empty: remove it or add at least one variant", id="variants-empty"),
    pytest.param(b"variants: {v: 3}", "10:15: error: variants.v must be a mapping, got integer '3'", id="variant-not-a-mapping"),
    pytest.param(b"kind: thread",
                 "10:7: error: kind must be one of 'threads', 'processes', 'script', 'timing', got 'thread' (did you mean 'threads'?)",
                 id="kind-misspelt"),
    pytest.param(b"script: demo.py", "10:1: error: 'script' is for kind: script, not kind: threads",
                 id="key-of-another-kind"),
    pytest.param(b"workers: 3", "10:1: error: 'workers' is for kind: timing, not kind: threads",
                 id="timing-key-in-threads"),
    pytest.param(b"params: {d: 2001-13-45}",
                 cpython(f"{PATH}:10:13: error: cannot read '2001-13-45' as timestamp: ", "month must be in 1..12"),
                 id="bad-date"),
]


@pytest.mark.parametrize(("line", "expected"), VALUE_ERRORS)
def test_values_of_the_wrong_type_or_range(line, expected):
    assert_errors(BASE + line + b"\n", [expected if isinstance(expected, re.Pattern) else f"{PATH}:{expected}"])


def test_a_script_case_names_what_it_lacks_and_what_does_not_belong():
    assert_errors(BASE + b"kind: script\n", [
        f"{PATH}:1:1: error: the case has no 'script' (the program to run); add it to the top level or to the variant",
        f"{PATH}:3:1: error: 'setup' is for kind: threads or processes, not kind: script",
        f"{PATH}:5:1: error: 'threads' is for kind: threads or processes, not kind: script",
        f"{PATH}:8:1: error: 'outcome' is for kind: threads or processes, not kind: script",
    ])


# -- names ----------------------------------------------------------------------------

NAME_ERRORS = [
    pytest.param(
        BASE.replace(b"name: demo", b"name: Bad Name"),
        ["case.yaml:2:7: error: name 'Bad Name' is not a valid name: use lowercase letters, digits, '_' and '-'"],
        id="case-name",
    ),
    pytest.param(
        BASE.replace(b"name: demo", b"name: 12"),
        ["case.yaml:2:7: error: name must be a string, got integer '12'"],
        id="case-name-number",
    ),
    pytest.param(
        BASE.replace(b"name: demo", b"name:"),
        ["case.yaml:2:6: error: name must be a string, got nothing (null)"],
        id="case-name-empty",
    ),
    pytest.param(
        with_thread(b"  my thread: |\n    pass\n"),
        ["case.yaml:6:3: error: thread name 'my thread' is not a valid name: use letters, digits, '_', '.' and '-'"],
        id="thread-name",
    ),
    pytest.param(
        with_thread(b"  -a: pass\n  b/c: pass\n"),
        ["case.yaml:6:3: error: thread name '-a' is not a valid name: use letters, digits, '_', '.' and '-'",
         "case.yaml:7:3: error: thread name 'b/c' is not a valid name: use letters, digits, '_', '.' and '-'"],
        id="thread-names",
    ),
    pytest.param(
        with_thread(b"  1: pass\n"),
        ["case.yaml:6:3: error: keys must be strings, got integer '1' in threads"],
        id="thread-name-number",
    ),
    pytest.param(
        BASE + b"variants:\n  Fast One: {racy: true}\n",
        ["case.yaml:11:3: error: variant name 'Fast One' is not a valid name: use lowercase letters, digits, '_' and '-'"],
        id="variant-name",
    ),
    pytest.param(
        BASE + b"i18n:\n  Chinese: {title: x}\n",
        ["case.yaml:11:3: error: language name 'Chinese' is not a valid name: use a language code such as 'zh' or 'pt-BR'"],
        id="language-code",
    ),
    pytest.param(
        BASE + b"params:\n  my-param: 3\n",
        ["case.yaml:11:3: error: param name 'my-param' is not a valid name: use a Python identifier"],
        id="param-name",
    ),
    pytest.param(
        BASE.replace(b"outcome: x", b"outcome: {total x: x}"),
        ["case.yaml:8:11: error: outcome name 'total x' is not a valid name: use a Python identifier"],
        id="outcome-name",
    ),
    pytest.param(
        BASE + b"3: x\n",
        ["case.yaml:10:1: error: keys must be strings, got integer '3' in the case"],
        id="top-level-key-number",
    ),
]


@pytest.mark.parametrize(("data", "expected"), NAME_ERRORS)
def test_bad_names(data, expected):
    assert_errors(data, expected)


COUNT = "case.yaml:7:12: error: threads.a.count must be an integer from 1 to 256, got {}"


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (b"0", "0"),
        (b"-1", "-1"),
        (b'"two"', "string 'two'"),
        (b"two", "string 'two'"),
        (b"1000", "1000"),
        (b"257", "257"),
        (b"2.0", "float '2.0'"),
        (b"true", "boolean 'true'"),
        (b"", "nothing (null)"),
    ],
)
def test_bad_thread_count(count, shown):
    data = with_thread(b"  a:\n    count: " + count + b"\n    code: pass\n")
    expected = COUNT.format(shown)
    if not count:
        expected = expected.replace(":7:12:", ":7:11:")
    assert_errors(data, [expected])


def test_too_many_threads_in_all():
    data = with_thread(b"  a: {code: pass, count: 200}\n  b: {code: pass, count: 57}\n")
    assert_errors(data, ["case.yaml:5:1: error: the case starts 257 threads; at most 256 are allowed"])


def test_too_many_threads_in_one_variant_only():
    data = with_thread(b"  a: {code: pass, count: 200}\n") + b"variants:\n  few: {}\n  many:\n    threads: {b: {code: pass, count: 100}}\n"
    assert_errors(data, ["case.yaml:12:5: error: variant 'many' starts 300 threads; at most 256 are allowed"])


# -- unknown keys -------------------------------------------------------------------------

UNKNOWN_KEYS = [
    pytest.param(BASE + b"treads: {}\n",
                 ["case.yaml:10:1: error: unknown key 'treads' in the case (did you mean 'threads'?)"], id="top-level"),
    pytest.param(BASE + b"expected: 0\n",
                 ["case.yaml:10:1: error: unknown key 'expected' in the case (did you mean 'expect'?)"], id="top-level-2"),
    pytest.param(BASE + b"colour: red\n",
                 ["case.yaml:10:1: error: unknown key 'colour' in the case"], id="top-level-no-hint"),
    pytest.param(BASE + b"variants:\n  v:\n    racey: true\n",
                 ["case.yaml:12:5: error: unknown key 'racey' in variants.v (did you mean 'racy'?)"], id="variant"),
    pytest.param(BASE + b"variants:\n  v: {name: other}\n",
                 ["case.yaml:11:7: error: unknown key 'name' in variants.v"], id="variant-cannot-rename"),
    pytest.param(with_thread(b"  a:\n    code: pass\n    cuont: 2\n"),
                 ["case.yaml:8:5: error: unknown key 'cuont' in threads.a (did you mean 'count'?)"], id="thread"),
    pytest.param(with_thread(b"  a:\n    cod: pass\n"),
                 ["case.yaml:6:3: error: thread 'a' has no 'code'",
                  "case.yaml:7:5: error: unknown key 'cod' in threads.a (did you mean 'code'?)"], id="thread-code-misspelt"),
    pytest.param(BASE + b"variants:\n  v:\n    threads:\n      a: {count: 2, cout: 3}\n",
                 ["case.yaml:13:21: error: unknown key 'cout' in variants.v.threads.a (did you mean 'count'?)"],
                 id="thread-in-a-variant"),
    pytest.param(BASE + b"i18n:\n  zh: {titel: x}\n",
                 ["case.yaml:11:8: error: unknown key 'titel' in i18n.zh (did you mean 'title'?)"], id="translation"),
]


@pytest.mark.parametrize(("data", "expected"), UNKNOWN_KEYS)
def test_unknown_keys(data, expected):
    assert_errors(data, expected)


# -- racekit: and name: -----------------------------------------------------------------------

HEADER_ERRORS = [
    pytest.param(BASE.replace(b"racekit: 1\n", b""),
                 ["case.yaml:1:1: error: missing required key 'racekit' (the format version: `racekit: 1`)"], id="no-racekit"),
    pytest.param(BASE.replace(b"name: demo\n", b""),
                 ["case.yaml:1:1: error: missing required key 'name'"], id="no-name"),
    pytest.param(BASE.replace(b"racekit: 1\nname: demo\n", b"\n"),
                 ["case.yaml:2:1: error: missing required key 'name'",
                  "case.yaml:2:1: error: missing required key 'racekit' (the format version: `racekit: 1`)"], id="neither"),
    pytest.param(BASE.replace(b"racekit: 1", b"racekit: 2"),
                 ["case.yaml:1:10: error: racekit must be one of 1, got 2"], id="racekit-2"),
    pytest.param(BASE.replace(b"racekit: 1", b"racekit: '1'"),
                 ["case.yaml:1:10: error: racekit must be one of 1, got string '1'"], id="racekit-quoted"),
    pytest.param(BASE.replace(b"racekit: 1", b"racekit: true"),
                 ["case.yaml:1:10: error: racekit must be one of 1, got boolean 'true'"], id="racekit-true"),
    pytest.param(BASE.replace(b"racekit: 1", b"racekit:"),
                 ["case.yaml:1:9: error: racekit must be one of 1, got nothing (null)"], id="racekit-empty"),
]


@pytest.mark.parametrize(("data", "expected"), HEADER_ERRORS)
def test_format_version_and_name(data, expected):
    assert_errors(data, expected)


# -- threads, outcome and expect: present, in the merged variant ------------------------------

NO_THREADS = "error: {} has no 'threads' (the code each thread runs); add it to the top level or to the variant"
NO_OUTCOME = "error: {} has no 'outcome' (an expression read after the threads end); add it to the top level or to the variant"
NO_EXPECT = "error: {} has no 'expect' (the correct outcome); add it to the top level or to the variant"

MISSING = [
    pytest.param(with_thread(b"").replace(b"threads:\n", b""), ["case.yaml:1:1: " + NO_THREADS.format("the case")],
                 id="threads"),
    pytest.param(BASE.replace(b"outcome: x\n", b""), ["case.yaml:1:1: " + NO_OUTCOME.format("the case")], id="outcome"),
    pytest.param(BASE.replace(b"expect: 0\n", b""), ["case.yaml:1:1: " + NO_EXPECT.format("the case")], id="expect"),
    pytest.param(b"racekit: 1\nname: demo\n",
                 ["case.yaml:1:1: " + NO_EXPECT.format("the case"), "case.yaml:1:1: " + NO_OUTCOME.format("the case"),
                  "case.yaml:1:1: " + NO_THREADS.format("the case")], id="all-three"),
    pytest.param(BASE.replace(b"expect: 0\n", b"") + b"variants:\n  one:\n    expect: 1\n  two:\n    racy: true\n",
                 ["case.yaml:12:3: " + NO_EXPECT.format("variant 'two'")], id="expect-in-one-variant-only"),
    pytest.param(b"racekit: 1\nname: demo\noutcome: 1\nexpect: 1\nvariants:\n  one:\n    racy: true\n  two:\n    threads: {a: pass}\n",
                 ["case.yaml:6:3: " + NO_THREADS.format("variant 'one'")], id="threads-in-one-variant-only"),
    pytest.param(b"racekit: 1\nname: demo\nvariants:\n  v:\n    threads: {a: pass}\n    expect: 1\n",
                 ["case.yaml:4:3: " + NO_OUTCOME.format("variant 'v'")], id="outcome-nowhere"),
    pytest.param(BASE + b"variants:\n  v:\n    expect: null\n", ["case.yaml:11:3: " + NO_EXPECT.format("variant 'v'")],
                 id="removed-by-a-variant"),
    pytest.param(BASE + b"variants:\n  v:\n    threads: {a: null}\n", ["case.yaml:11:3: " + NO_THREADS.format("variant 'v'")],
                 id="last-thread-removed-by-a-variant"),
    pytest.param(BASE + b"variants:\n  v:\n    threads: {zz: {count: 3}}\n", ["case.yaml:12:15: error: thread 'zz' has no 'code'"],
                 id="count-for-a-thread-that-does-not-exist"),
]


@pytest.mark.parametrize(("data", "expected"), MISSING)
def test_missing_threads_outcome_or_expect(data, expected):
    assert_errors(data, expected)


EMPTY_PARTS = [
    # Reported once, where it is wrong: not also as "the case has no 'threads'".
    pytest.param(with_thread(b"").replace(b"threads:\n", b"threads: {}\n"),
                 ["case.yaml:5:10: error: threads needs at least 1 entry"], id="threads-empty"),
    pytest.param(with_thread(b"").replace(b"threads:\n", b"threads:\n"),
                 ["case.yaml:5:9: error: threads must be a mapping, got nothing (null)"], id="threads-null"),
    pytest.param(with_thread(b"  a: ''\n"), ["case.yaml:6:6: error: threads.a is empty"], id="thread-code-empty"),
    pytest.param(with_thread(b"  a:\n"),
                 ["case.yaml:6:5: error: threads.a must be Python code (a string; use `|` for a block), got nothing (null)"],
                 id="thread-code-null"),
    pytest.param(with_thread(b"  a: 42\n"),
                 ["case.yaml:6:6: error: threads.a must be Python code (a string; use `|` for a block), got integer '42'"],
                 id="thread-code-number"),
    pytest.param(BASE.replace(b"setup: |\n  x = 0\n", b"setup: [x]\n"),
                 ["case.yaml:3:8: error: setup must be Python code (a string; use `|` for a block), got a list"],
                 id="setup-list"),
    pytest.param(BASE.replace(b"outcome: x", b"outcome: {}"), ["case.yaml:8:10: error: outcome needs at least 1 entry"],
                 id="outcome-empty-mapping"),
    pytest.param(BASE.replace(b"outcome: x", b"outcome:"),
                 ["case.yaml:8:9: error: outcome must be a Python expression, got nothing (null)"], id="outcome-null"),
    pytest.param(BASE.replace(b"outcome: x", b"outcome: [a, b]"),
                 ["case.yaml:8:10: error: outcome must be a Python expression, got a list"], id="outcome-list"),
]


@pytest.mark.parametrize(("data", "expected"), EMPTY_PARTS)
def test_empty_or_wrong_threads_setup_and_outcome(data, expected):
    assert_errors(data, expected)


EXPECT_ERRORS = [
    pytest.param(b"expect:\n  any_of: [1, 2]\n  check: outcome > 0\n",
                 ["case.yaml:10:3: error: expect takes either any_of or check, not both"], id="any_of-and-check"),
    pytest.param(b"expect:\n  any_of: [1, 2]\n  also: 3\n",
                 ["case.yaml:11:3: error: expect with any_of takes nothing else, found 'also'"], id="any_of-and-more"),
    pytest.param(b"expect: {value: 1, check: outcome}\n",
                 ["case.yaml:9:10: error: expect with check takes nothing else, found 'value'"], id="check-and-more"),
    pytest.param(b"expect:\n  any_of: 3\n",
                 ["case.yaml:10:11: error: expect.any_of must be a non-empty list of outcomes, got integer '3'"],
                 id="any_of-not-a-list"),
    pytest.param(b"expect: {any_of: []}\n",
                 ["case.yaml:9:18: error: expect.any_of must be a non-empty list of outcomes, got an empty list"],
                 id="any_of-empty"),
    pytest.param(b"expect: {any_of: {a: 1}}\n",
                 ["case.yaml:9:18: error: expect.any_of must be a non-empty list of outcomes, got a mapping"],
                 id="any_of-mapping"),
    pytest.param(b"expect: {check: ''}\n", ["case.yaml:9:17: error: expect.check is empty"], id="check-empty"),
    pytest.param(b"expect: {check: [a]}\n",
                 ["case.yaml:9:17: error: expect.check must be a Python expression, got a list"], id="check-list"),
]


@pytest.mark.parametrize(("expect", "expected"), EXPECT_ERRORS)
def test_expect_errors(expect, expected):
    assert_errors(BASE.replace(b"expect: 0\n", expect), expected)


def test_expect_names_an_outcome_that_does_not_exist():
    data = BASE.replace(b"outcome: x", b"outcome: {a: x}").replace(b"expect: 0", b"expect: {a: 1, b: 2, c: 3}")
    assert_errors(data, ["case.yaml:9:1: error: expect names 'b', 'c', which outcome does not define"])


# -- params ---------------------------------------------------------------------------------

SHADOW = "error: param {!r} would hide a name racekit provides; rename it"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param(b"params:\n  threading: 3\n", ["case.yaml:11:3: " + SHADOW.format("threading")], id="threading"),
        pytest.param(b"params: {queue: 1, time: 2}\n",
                     ["case.yaml:10:10: " + SHADOW.format("queue"), "case.yaml:10:20: " + SHADOW.format("time")], id="queue-time"),
        pytest.param(b"params:\n  thread_index: 0\n", ["case.yaml:11:3: " + SHADOW.format("thread_index")], id="thread_index"),
        pytest.param(b"params:\n  thread_name: t\n", ["case.yaml:11:3: " + SHADOW.format("thread_name")], id="thread_name"),
        pytest.param(b"params:\n  _racekit_state: 0\n", ["case.yaml:11:3: " + SHADOW.format("_racekit_state")], id="internal"),
        pytest.param(b"variants:\n  v:\n    params: {threading: 1}\n", ["case.yaml:12:14: " + SHADOW.format("threading")],
                     id="in-a-variant"),
        pytest.param(b"params:\n  class: 1\n",
                     ["case.yaml:11:3: error: param 'class' is a Python keyword, so code cannot use it; rename it"], id="keyword"),
    ],
)
def test_params_that_shadow_or_cannot_be_used(params, expected):
    assert_errors(BASE + params, expected)


def test_a_shadowing_param_shared_by_several_variants_is_reported_once():
    data = BASE + b"params: {threading: 1}\nvariants:\n  a: {}\n  b: {racy: true}\n"
    assert_errors(data, ["case.yaml:10:10: " + SHADOW.format("threading")])


# -- Python syntax errors, positioned in the YAML -------------------------------------------


def syntax_error(position: str, where: str, contains: str = "") -> re.Pattern[str]:
    return cpython(f"case.yaml:{position}: error: Python syntax error in {where}: ", contains)


PYTHON_ERRORS = [
    pytest.param(
        with_thread(b"  a: |\n    for i in range(3):\n        x +=\n"),
        # Line 8 of the file, after `+=` (column 13): line 2 of the block.
        [syntax_error("8:13", "threads.a (line 2 of the code)", "invalid syntax")],
        id="thread-block",
    ),
    pytest.param(
        with_thread(b"  a:\n    count: 2\n    code: |\n          y = 1\n          y = = 2\n"),
        [syntax_error("10:15", "threads.a.code (line 2 of the code)", "invalid syntax")],
        id="thread-block-in-a-mapping-deeply-indented",
    ),
    pytest.param(
        with_thread(b"  a: x = (\n"),
        [syntax_error("6:10", "threads.a", "never closed")],
        id="thread-one-line",
    ),
    pytest.param(
        BASE.replace(b"setup: |\n  x = 0\n", b"setup: |\n  x = 0\n  def f(:\n      pass\n"),
        [syntax_error("5:9", "setup (line 2 of the code)", "invalid syntax")],
        id="setup",
    ),
    pytest.param(
        BASE.replace(b"setup: |\n  x = 0\n", b"setup: |\n  x = 0\n  return x\n"),
        [syntax_error("5:3", "setup (line 2 of the code)", "'return' outside function")],
        id="setup-return",
    ),
    pytest.param(
        BASE.replace(b"outcome: x", b"outcome: x +* 2"),
        [syntax_error("8:13", "outcome", "invalid syntax")],
        id="outcome",
    ),
    pytest.param(
        BASE.replace(b"outcome: x", b'outcome: "x +* 2"'),
        [syntax_error("8:14", "outcome", "invalid syntax")],
        id="outcome-quoted",
    ),
    pytest.param(
        BASE.replace(b"outcome: x", b"outcome: total = x"),
        [syntax_error("8:16", "outcome")],
        id="outcome-statement",
    ),
    pytest.param(
        BASE.replace(b"outcome: x", b"outcome:\n  total: x +\n  count: len(x)").replace(b"expect: 0", b"expect: {total: 0}"),
        # At the end of `x +`, where the expression stops too early.
        [syntax_error("9:13", "outcome.total", "invalid syntax")],
        id="outcome-mapping-entry",
    ),
    pytest.param(
        BASE.replace(b"expect: 0", b"expect:\n  check: outcome =="),
        [syntax_error("10:20", "expect.check", "invalid syntax")],
        id="check",
    ),
    pytest.param(
        BASE.replace(b"expect: 0", b"expect: {check: 'outcome = 1'}"),
        [syntax_error("9:26", "expect.check")],
        id="check-quoted-in-flow",
    ),
    pytest.param(
        BASE.replace(b"expect: 0", b"expect:\n  check: |\n    (outcome >\n     0 +)\n"),
        [syntax_error("12:9", "expect.check (line 2 of the code)", "invalid syntax")],
        id="check-block",
    ),
    pytest.param(
        with_thread(b"  a: |\n    if x:\n    pass\n"),
        # CPython's own "on line N" is made the file's line too.
        [syntax_error("8:5", "threads.a (line 2 of the code)", "on line 7")],
        id="thread-indentation",
    ),
    pytest.param(
        with_thread(b"  a: |\n    y = 1\n    s = 'abc\n"),
        [syntax_error("8:9", "threads.a (line 2 of the code)", "line 8")],
        id="thread-unterminated-string",
    ),
    pytest.param(
        with_thread(b'  a: "x = 1\\0"\n'),
        ["case.yaml:6:12: error: cannot compile threads.a: the code contains a NUL character (\\0)"],
        id="thread-nul-character",
    ),
    pytest.param(
        with_thread(b"  a: |\n    nonlocal x\n"),
        [syntax_error("7:5", "threads.a", "nonlocal")],
        id="thread-nonlocal",
    ),
    pytest.param(
        BASE + b"variants:\n  v:\n    threads:\n      a: |\n        x = 1\n        x = 2 +\n",
        [syntax_error("15:16", "variants.v.threads.a (line 2 of the code)", "invalid syntax")],
        id="thread-in-a-variant",
    ),
]


@pytest.mark.parametrize(("data", "expected"), PYTHON_ERRORS)
def test_python_syntax_errors_point_into_the_yaml(data, expected):
    assert_errors(data, expected)


YIELD = "thread code cannot use yield or await (it runs as a plain function)"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(b"  a: |\n    x = 1\n    yield x\n",
                     f"case.yaml:8:5: error: Python syntax error in threads.a (line 2 of the code): {YIELD}", id="yield"),
        pytest.param(b"  a: |\n    for i in range(3):\n        y = yield from g()\n",
                     f"case.yaml:8:13: error: Python syntax error in threads.a (line 2 of the code): {YIELD}", id="yield-from"),
        pytest.param(b"  a: await x\n", f"case.yaml:6:6: error: Python syntax error in threads.a: {YIELD}", id="await"),
    ],
)
def test_yield_in_thread_code(entry, expected):
    assert_errors(with_thread(entry), [expected])


def test_yield_inside_a_function_in_thread_code_is_fine():
    parse_case(with_thread(b"  a: |\n    def g():\n        yield 1\n    f = lambda: (yield)\n    list(g())\n"), PATH)


# -- several problems at once ------------------------------------------------------------------


def test_several_problems_in_one_file_are_reported_together_in_order():
    data = b"""\
racekit: 1
name: Demo
colour: red
runs: many
threads:
  a: |
    x +=
  b c: pass
outcome: x
expect:
  any_of: 3
variants:
  v:
    racey: true
    timeout: -5
"""
    assert_errors(
        data,
        [
            "case.yaml:2:7: error: name 'Demo' is not a valid name: use lowercase letters, digits, '_' and '-'",
            "case.yaml:3:1: error: unknown key 'colour' in the case",
            "case.yaml:4:7: error: runs must be an integer from 1 to 10000000, got string 'many'",
            syntax_error("7:9", "threads.a", "invalid syntax"),
            "case.yaml:8:3: error: thread name 'b c' is not a valid name: use letters, digits, '_', '.' and '-'",
            "case.yaml:11:11: error: expect.any_of must be a non-empty list of outcomes, got integer '3'",
            "case.yaml:14:5: error: unknown key 'racey' in variants.v (did you mean 'racy'?)",
            "case.yaml:15:14: error: variants.v.timeout must be more than 0 and at most 86400 seconds, got -5",
        ],
    )


def test_a_problem_in_top_level_code_is_reported_once_for_all_variants():
    data = with_thread(b"  a: x = (\n") + b"variants:\n  one: {}\n  two: {racy: true}\n"
    assert_errors(data, [syntax_error("6:10", "threads.a", "never closed")])


# -- through the file system -----------------------------------------------------------------


def test_load_case_names_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "bad.yaml").write_bytes(BASE + b"runs: 0\n")
    with pytest.raises(CaseError) as info:
        load_case(tmp_path / "cases" / "bad.yaml")
    assert str(info.value) == "cases/bad.yaml:10:7: error: runs must be an integer from 1 to 10000000, got 0"


def test_load_case_on_a_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CaseError) as info:
        load_case("nope.yaml")
    assert str(info.value) == "nope.yaml:1:1: error: cannot read file: No such file or directory"


def test_load_case_on_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(CaseError) as info:
        load_case("dir.yaml")
    assert str(info.value) == ("dir.yaml:1:1: error: not a regular file (a device, a pipe, a folder): racekit reads "
                               "case files only")


def test_case_error_is_a_value_error_with_problems():
    with pytest.raises(ValueError) as info:
        parse_case(b"racekit: 1\nname: x\nruns: 0\n", PATH)
    assert isinstance(info.value, CaseError)
    assert [(p.line, p.col) for p in info.value.problems] == [(1, 1), (1, 1), (1, 1), (3, 7)]


@pytest.mark.parametrize(("rules", "expected"), [
    pytest.param('[{pattern: "a"}]', "7:13: error: normalize[0] needs 'replace'", id="no-replace"),
    pytest.param('[{pattern: "a", replace: 5}]', "7:37: error: normalize[0].replace must be a string, got integer '5'",
                 id="replace-number"),
    pytest.param('[{pattern: "(a)", replace: "\\\\9"}]',
                 "7:30: error: normalize[0].replace does not fit its pattern: invalid group reference 9 at position 1",
                 id="no-such-group"),
    pytest.param('[{pattern: "a", replace: "\\\\g<name>"}]',
                 "7:28: error: normalize[0].replace does not fit its pattern: unknown group name 'name'",
                 id="no-such-named-group"),
])
def test_a_normalize_rule_is_checked_before_any_run(tmp_path, rules, expected):
    (tmp_path / "demo.py").write_text("print('hi')\n")
    case = tmp_path / "case.yaml"
    case.write_text(f"racekit: 1\nname: demo\nkind: script\nscript: demo.py\nexpect: hi\nruns: 1\nnormalize: {rules}\n")
    with pytest.raises(CaseError) as caught:
        load_case(case)
    assert [str(p) for p in caught.value.problems] == [f"{case}:{expected}"]


def test_a_timing_case_refuses_what_it_would_ignore(tmp_path):
    case = tmp_path / "case.yaml"
    case.write_text("racekit: 1\nname: demo\nkind: timing\nsetup: x = 1\nracy: true\nwork:\n  cpu: pass\n")
    with pytest.raises(CaseError) as caught:
        load_case(case)
    assert [str(p) for p in caught.value.problems] == [
        f"{case}:4:1: error: 'setup' is for kind: threads or processes, not kind: timing",
        f"{case}:5:1: error: 'racy' is for kind: threads or processes or script, not kind: timing"]
    case.write_text("racekit: 1\nname: demo\nkind: timing\nexpect: 5\nwork:\n  cpu: pass\n")
    with pytest.raises(CaseError) as caught:
        load_case(case)
    assert [str(p) for p in caught.value.problems] == [
        f"{case}:4:1: error: a timing case has no single correct outcome: give `expect: {{check: EXPR}}` over "
        "`speedup` (e.g. \"speedup['io']['threads'] > 2\"), or no expect"]
    case.write_text("racekit: 1\nname: demo\nkind: timing\nwork:\n  cpu: pass\n")
    assert load_case(case).variants[0].runs == 3
