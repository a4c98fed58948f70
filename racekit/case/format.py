"""Case format version 1, as data: the single description of every key.

The loader reads files with these specs and ``racekit schema`` renders them as
JSON Schema, so the two cannot disagree.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from racekit.case.model import KINDS, START_METHODS, Expectation
from racekit.options import MODES
from racekit.case.spec import (
    INVALID,
    AnyValue,
    Boolean,
    Choice,
    Code,
    Either,
    Field,
    Fields,
    Integer,
    MapOf,
    Name,
    Seconds,
    Spec,
    Text,
)
from racekit.case.yamlsource import Reader, describe_node

FORMAT_VERSION = 1
MAX_THREADS = 256
MAX_RUNS = 10_000_000

IDENTIFIER = Name(r"[A-Za-z_][A-Za-z0-9_]*", "a Python identifier")


@dataclass
class NormalizeRule(Spec):
    """``{pattern: REGEX, replace: TEXT}``: the replacement is checked against the
    pattern now (``\\2`` needs two groups), not when the first run fails."""

    description: str = ""
    rule: Spec = field(default_factory=lambda: Fields({"pattern": Field(Regex(), required=True),
                                                        "replace": Field(Text(), required=True)},
                                                       what="a normalize rule"))

    def read(self, node: yaml.Node, r: Reader, where: str) -> Any:
        rule = self.rule.load(node, r, where)
        if rule is INVALID:
            return INVALID
        missing = [key for key in ("pattern", "replace") if key not in rule]
        if missing:
            if not any(f"{where}.{key}" in r.invalid for key in missing):
                r.error(node, f"{where} needs {' and '.join(repr(k) for k in missing)}")
            return INVALID
        try:
            re.sub(rule["pattern"], rule["replace"], "")
        except (re.error, IndexError) as exc:
            r.error(r.positions.get(f"{where}.replace", node), f"{where}.replace does not fit its pattern: {exc}")
            return INVALID
        return rule

    def json_schema(self) -> dict[str, Any]:
        return self._doc(self.rule.json_schema())


@dataclass
class ListOf(Spec):
    """A YAML list of one kind of item."""

    item: Spec = field(default_factory=Text)
    description: str = ""

    def read(self, node: yaml.Node, r: Reader, where: str) -> Any:
        if not isinstance(node, yaml.SequenceNode):
            r.error(node, f"{where} must be a list, got {describe_node(node)}")
            return INVALID
        items = [self.item.load(child, r, f"{where}[{i}]") for i, child in enumerate(node.value)]
        return INVALID if any(i is INVALID for i in items) else tuple(items)

    def json_schema(self) -> dict[str, Any]:
        return self._doc({"type": "array", "items": self.item.json_schema()})


@dataclass
class Regex(Spec):
    """A Python regular expression, compiled now so mistakes point into the YAML."""

    description: str = ""

    def read(self, node: yaml.Node, r: Reader, where: str) -> Any:
        text = Text().load(node, r, where)
        if text is INVALID:
            return INVALID
        try:
            re.compile(text)
        except re.error as exc:
            r.error(node, f"{where} is not a valid regular expression: {exc}")
            return INVALID
        return text

    def json_schema(self) -> dict[str, Any]:
        return self._doc({"type": "string", "format": "regex"})


@dataclass
class Modes(Spec):
    """``mode: controlled`` or ``mode: [native, opcode]``."""

    description: str = ""

    def read(self, node: yaml.Node, r: Reader, where: str) -> Any:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if not items:
            r.error(node, f"{where} must name at least one mode")
            return INVALID
        modes = [Choice(MODES).load(item, r, where) for item in items]
        return INVALID if any(m is INVALID for m in modes) else tuple(dict.fromkeys(modes))

    def json_schema(self) -> dict[str, Any]:
        one = {"enum": list(MODES)}
        return self._doc({"oneOf": [one, {"type": "array", "items": one, "minItems": 1}]})


@dataclass
class Expect(Spec):
    """``expect``: a value, ``{any_of: [...]}`` or ``{check: "<expression over outcome>"}``."""

    description: str = (
        "The correct outcome: a value compared with ==, {any_of: [values]}, or "
        "{check: expression} evaluated with `outcome` bound to the observed outcome."
    )

    def read(self, node: yaml.Node, r: Reader, where: str) -> Any:
        items = None
        if isinstance(node, yaml.MappingNode):
            keys = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
            special = {"any_of", "check"} & set(keys)
            if not special and len(keys) == 1:
                # `{anyof: [0, 1]}` would silently be a dict the outcome must equal.
                close = difflib.get_close_matches(keys[0].lower().replace("-", "_").replace(" ", "_"),
                                                  ["any_of", "check"], n=1, cutoff=0.6)
                if close:
                    r.error(node.value[0][0], f"{where} has the key {keys[0]!r}: did you mean {close[0]!r}? (to "
                            f"expect a mapping with that key, write check: \"outcome == {{'{keys[0]}': ...}}\")")
                    return INVALID
            if len(special) == 2:
                r.error(node, f"{where} takes either any_of or check, not both")
                return INVALID
            if special:
                items = r.mapping(node, where)
                if items is None:
                    return INVALID
                if len(items) != 1:
                    others = sorted(k for k, _, _ in items if k not in special) or sorted(special)
                    # Point at the first key that does not belong, the one to remove.
                    extra = next((k_node for k, k_node, _ in items if k not in special), node)
                    r.error(extra, f"{where} with {' or '.join(sorted(special))} takes nothing else, found {', '.join(map(repr, others))}")
                    return INVALID
        if items is None:
            return Expectation("value", (r.value(node),))
        key, _key_node, value_node = items[0]
        if key == "check":
            source = Code("eval").load(value_node, r, f"{where}.check")
            return INVALID if source is INVALID else Expectation("check", (), source)
        if r.foreign_tag(value_node):
            return INVALID
        if not isinstance(value_node, yaml.SequenceNode) or not value_node.value:
            r.error(value_node, f"{where}.any_of must be a non-empty list of outcomes, got {describe_node(value_node)}")
            return INVALID
        return Expectation("any_of", tuple(r.value(value_node)))

    def json_schema(self) -> dict[str, Any]:
        return self._doc(
            {
                "anyOf": [
                    {"type": "object", "properties": {"any_of": {"type": "array", "minItems": 1}},
                     "required": ["any_of"], "additionalProperties": False},
                    {"type": "object", "properties": {"check": {"type": "string"}},
                     "required": ["check"], "additionalProperties": False},
                    {"not": {"type": "object", "anyOf": [{"required": ["any_of"]}, {"required": ["check"]}]}},
                ]
            }
        )


TEXTS = {
    "title": Field(Text(description="One line shown above the results.")),
    "description": Field(Text(description="Markdown: what the case shows, shown by reports and lectures.")),
    "notes": Field(Text(description="Markdown: the lesson, shown after the results.")),
    "challenge": Field(Text(description="What `racekit play` asks the student to do with this case (one or two sentences).")),
}

I18N = MapOf(
    Name(r"[a-z]{2,3}(-[A-Za-z0-9]+)*", "a language code such as 'zh' or 'pt-BR'"),
    Fields(dict(TEXTS), what="a translation"),
    what="i18n",
    description="Translations of title/description/notes/challenge, by language code (e.g. zh).",
)

THREAD_ENTRY = Either(
    Code("body", description="The thread's code; it runs as a function body (assignments are thread-local)."),
    Fields(
        {
            "code": Field(Code("body", description="The thread's code."), required=True),
            "count": Field(Integer(1, MAX_THREADS, description="How many copies to start: name-1 … name-N.")),
        },
        what="a thread",
    ),
)

VARIANT_FIELDS: dict[str, Field] = {
    **TEXTS,
    "i18n": Field(I18N),
    "params": Field(MapOf(IDENTIFIER, AnyValue(), what="params",
                          description="Globals visible to setup, threads and outcome; --param NAME=VALUE overrides.")),
    "setup": Field(Code("exec", description="Python run once per trial in a fresh namespace: the shared state.")),
    "threads": Field(MapOf(Name(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", "letters, digits, '_', '.' and '-'"), THREAD_ENTRY,
                           what="threads", min_items=1,
                           description="Thread name -> code, or {code:, count:} to start several copies.")),
    "outcome": Field(Either(Code("eval"), MapOf(IDENTIFIER, Code("eval"), what="outcome", min_items=1),
                            description="Expression read after all threads joined, or a mapping name -> expression.")),
    "expect": Field(Expect()),
    "timeout": Field(Seconds(description="Seconds one trial may take before it counts as a deadlock (default 10).")),
    "runs": Field(Integer(1, MAX_RUNS, description="Default number of trials (the CLI's --runs overrides).")),
    "racy": Field(Boolean(description="This variant demonstrates a race: it passes when a failure is observed.")),
    "mode": Field(Modes(description="The scheduler(s) this case teaches best, used when the command line names "
                                    "none: native, line, opcode, yield, controlled (default opcode).")),
    "instrument": Field(ListOf(Name(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*",
                                    "a module or package name such as 'shop' or 'shop.cache'"),
                               description="More modules or packages (by name) whose code controlled and yield "
                                           "modes rewrite, even when installed in site-packages; the case's folder "
                                           "and the project are always in scope.")),
    # kind: processes
    "start_method": Field(Choice(START_METHODS,
                                 description="kind: processes: how children start (default: this Python's; name "
                                             "fork when the case's own processes run what setup defines).")),
    # kind: script
    "script": Field(Text(description="kind: script: the program to run, relative to the case file.")),
    "args": Field(ListOf(Text(), description="kind: script: command-line arguments.")),
    "output": Field(Choice(("stdout", "stderr", "both"),
                           description="kind: script: which output the outcome is read from (default stdout).")),
    "capture": Field(Either(Choice(("stdout", "last_line", "exit_code")),
                            Fields({"regex": Field(Regex(), required=True)}, what="capture"),
                            description="kind: script: the outcome: its stdout (default), its last line, its exit "
                                        "code, or {regex: PATTERN} (the first group, else the whole match).")),
    "normalize": Field(ListOf(NormalizeRule(),
                              description="kind: script: re.sub rules applied to the output first (pids, times).")),
    # kind: timing
    "work": Field(MapOf(IDENTIFIER, Code("body"), what="work", min_items=1,
                        description="kind: timing: name -> code of one unit of work, timed alone, in N threads and "
                                    "in N processes.")),
    "workers": Field(Integer(1, 64, description="kind: timing: N, the threads and processes to compare (default 4).")),
}

VARIANT = Fields(VARIANT_FIELDS, what="a variant")

CASE = Fields(
    {
        "racekit": Field(Choice((FORMAT_VERSION,), description="Format version; must be 1."), required=True),
        "name": Field(Name(description="The case id, unique in a suite."), required=True),
        "kind": Field(Choice(KINDS, description="threads (default) | processes | script | timing")),
        **VARIANT_FIELDS,
        "variants": Field(MapOf(Name(), VARIANT, what="variants",
                                description="Named variants; each deep-merges over the top level.")),
    },
    what="the case",
)


def json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of case files, for editors' YAML language servers."""
    from racekit import __version__

    schema = CASE.json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://racekit.invalid/schema/case-v{FORMAT_VERSION}.json",
        "title": f"racekit case file (format {FORMAT_VERSION}, racekit {__version__})",
        **schema,
    }
