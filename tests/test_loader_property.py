"""Property: whatever the input, ``parse_case`` returns a Case or raises CaseError.

A student's half-written file must never crash racekit with a traceback, and
every problem must carry a usable (1-based) position.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racekit.case.loader import parse_case
from racekit.case.model import Case
from racekit.errors import CaseError

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [(ROOT / "cases" / name).read_bytes() for name in ("balance.yaml", "global_counter.yaml", "local_vs_shared.yaml")]

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

# Line breaks as PyYAML counts them (it reports the positions of YAML errors).
_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def check(data: bytes | str) -> Case | None:
    """Load ``data``; anything but a Case or a CaseError fails the property."""
    try:
        return parse_case(data, "prop.yaml")
    except CaseError as exc:
        assert exc.problems, "a CaseError lists at least one problem"
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        text = raw.decode("utf-8", "replace")
        max_line = len(_BREAKS.split(text)) + 1
        for p in exc.problems:
            assert p.path == "prop.yaml"
            assert p.line >= 1 and p.col >= 1, p
            assert p.line <= max_line, (p, max_line)
            assert p.message and "\n" not in p.message, p
            assert str(p).startswith(f"prop.yaml:{p.line}:{p.col}: error: ")
        return None


# -- arbitrary input ------------------------------------------------------------------


@FAST
@given(st.text())
def test_arbitrary_text(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: not text a file can hold
        return
    check(text)


@FAST
@given(st.binary())
def test_arbitrary_bytes(data):
    check(data)


# Whole YAML tokens, so that mutations also produce tags, anchors, aliases and merges.
TOKENS = st.sampled_from(
    [b"!!python/tuple ", b"!!python/name:os.system ", b"!custom ", b"!!set ", b"!!binary ", b"!!map ", b"!!seq ",
     b"!!str ", b"!!int ", b"!!float ", b"!!bool ", b"!!null ", b"!!timestamp ", b"!!merge ", b"!!omap ", b"&a ", b"*a ",
     b"<<: *a\n", b"<<: ", b"? ", b"- ", b": ", b"---\n", b"...\n", b"|\n", b">-\n", b"{", b"}", b"[", b"]", b"'", b'"',
     b"\\0", b"#", b"\t", b"\r", b"\r\n", "\u2028".encode(), b"\xef\xbb\xbf", b"null", b"~", b"=", b".inf", b"1e400"]
)
YAMLISH = st.sampled_from(list(b" \n\t:-|>[]{}&*!#'\"?,%@`\\~=+()0123456789abcxyz_.") + [0x00, 0x07, 0x80, 0xC3, 0xE9, 0xFF])


@st.composite
def mutated_case(draw):
    """A real case file with random deletions, insertions and replacements."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["delete", "insert", "replace"]))
        at = draw(st.integers(0, len(data)))
        chunk = draw(
            st.one_of(
                st.lists(YAMLISH, min_size=1, max_size=6).map(bytes),
                TOKENS,
                st.text(min_size=1, max_size=4).map(lambda t: t.encode("utf-8", "surrogatepass")),
            )
        )
        if op == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif op == "insert":
            data[at:at] = chunk
        else:
            data[at : at + len(chunk)] = chunk
    return bytes(data)


@FAST
@given(mutated_case())
def test_mutated_case_files(data):
    check(data)


@st.composite
def mutated_lines(draw):
    """A real case file with whole lines dropped, duplicated, swapped or re-indented."""
    lines = draw(st.sampled_from(SEEDS)).split(b"\n")
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "duplicate", "swap", "indent", "dedent"]))
        if op == "drop":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            lines[i] = b" " * draw(st.integers(1, 4)) + lines[i]
        else:
            lines[i] = lines[i][draw(st.integers(1, 4)) :]
        if not lines:
            break
    return b"\n".join(lines)


@FAST
@given(mutated_lines())
def test_line_level_mutations_of_case_files(data):
    check(data)


# -- well-formed YAML with arbitrary structure ------------------------------------------

KEYS = st.sampled_from(
    ["racekit", "name", "kind", "title", "description", "notes", "i18n", "params", "setup", "threads", "outcome",
     "expect", "timeout", "runs", "racy", "variants", "code", "count", "any_of", "check", "zh", "t", "x", "<<"]
) | st.text(max_size=5)
CODE = st.sampled_from(["pass", "x = 1", "x +=", "yield 1", "return", "(", "outcome == 1", "x", "1 +", "\0", "def f(:\n  pass"])
SCALARS = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8) | CODE
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5), max_leaves=15)


@st.composite
def structured_case(draw):
    """A YAML mapping that starts like a case, with arbitrary (often wrong) values."""
    doc = {"racekit": draw(st.sampled_from([1, 1, 1, 2, "1", None])), "name": draw(st.sampled_from(["demo", "Bad Name", 3]))}
    doc.update(draw(st.dictionaries(KEYS, VALUES, max_size=8)))
    if draw(st.booleans()):
        doc["threads"] = draw(st.dictionaries(st.sampled_from(["a", "b", "c d", "1"]), CODE | VALUES, min_size=0, max_size=3))
    if draw(st.booleans()):
        doc["variants"] = draw(st.dictionaries(st.sampled_from(["v", "w", "X"]), st.dictionaries(KEYS, VALUES, max_size=4) | VALUES,
                                               max_size=3))
    style = draw(st.sampled_from([None, False, True]))
    return yaml.safe_dump(doc, default_flow_style=style, allow_unicode=draw(st.booleans()), sort_keys=False)


@settings(FAST, max_examples=150)  # generating and dumping these is the slow part
@given(structured_case())
def test_structured_yaml_with_arbitrary_values(text):
    check(text)


def test_seed_files_load():
    for data in SEEDS:
        assert isinstance(check(data), Case)


# -- explicit tags everywhere ---------------------------------------------------------------

TAGS = ["!!map", "!!seq", "!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!omap", "!!pairs", "!!merge",
        "!!binary", "!!set", "!!python/tuple", "!local"]
PLACES = ["runs: {}", "params: {}", "params: {{p: {}}}", "expect: {{any_of: {}}}", "outcome: {}", "threads: {{a: {}}}",
          "variants: {{v: {}}}", "{} : 1", "<<: {}", "expect: {}", "name: {}", "racekit: {}", "expect: {{check: {}}}",
          "threads: {{a: {{code: pass, count: {}}}}}", "i18n: {{zh: {}}}"]


def test_explicit_tags_on_values_of_every_kind_in_every_place():
    """An explicit tag skips PyYAML's own typing checks: ``!!bool x``, ``!!int []``."""
    base = "racekit: 1\nname: demo\nthreads: {a: pass}\noutcome: x\n"
    for tag in TAGS:
        for value in ["x", "", "3", "[1]", "{a: 1}", "'s'"]:
            for place in PLACES:
                line = place.format(f"{tag} {value}")
                text = base + line + "\n" + ("" if place.startswith("expect") else "expect: 0\n")
                check(text)
