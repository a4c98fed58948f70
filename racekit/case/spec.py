"""The case format, declared once: it both validates YAML nodes and renders JSON Schema.

Each spec reads one node with a :class:`~racekit.case.yamlsource.Reader`,
returning a value or :data:`INVALID` after recording a positioned problem; the
same object answers :meth:`Spec.json_schema`, so ``racekit schema`` can never
drift from what the loader accepts.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from racekit.case.model import Source, thread_function
from racekit.case.yamlsource import Reader, describe_node
from racekit.errors import Problem

INVALID: Any = type("Invalid", (), {"__repr__": lambda self: "INVALID", "__bool__": lambda self: False})()


class Spec:
    description: str = ""

    def load(self, node: yaml.Node, r: Reader, where: str) -> Any:
        """Read a node; a problem already reported by the reader yields INVALID."""
        if r.foreign_tag(node):
            return INVALID
        try:
            return self.read(node, r, where)
        except _Reported:
            return INVALID

    def read(self, node: yaml.Node, r: Reader, where: str) -> Any:
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def _doc(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.description:
            schema["description"] = self.description
        return schema


class _Reported(Exception):
    """The node was already reported (e.g. a forbidden tag): say nothing more."""


def _scalar(node: yaml.Node, r: Reader) -> tuple[bool, Any]:
    """``(is_scalar, value)``; raises _Reported when reading it already failed."""
    if not isinstance(node, yaml.ScalarNode):
        return False, None
    before = len(r.problems)
    value = r.scalar(node)
    if len(r.problems) > before:
        raise _Reported
    return True, value


@dataclass
class Text(Spec):
    description: str = ""

    def read(self, node, r, where):
        ok, value = _scalar(node, r)
        if ok and isinstance(value, str):
            return value
        r.error(node, f"{where} must be a string, got {describe_node(node)}")
        return INVALID

    def json_schema(self):
        return self._doc({"type": "string"})


@dataclass
class Name(Spec):
    pattern: str = r"[a-z0-9_-]+"
    hint: str = "lowercase letters, digits, '_' and '-'"
    description: str = ""

    def read(self, node, r, where):
        value = Text().read(node, r, where)
        if value is INVALID:
            return INVALID
        if not re.fullmatch(self.pattern, value):
            r.error(node, f"{where} {value!r} is not a valid name: use {self.hint}")
            return INVALID
        return value

    def json_schema(self):
        return self._doc({"type": "string", "pattern": f"^{self.pattern}$"})


@dataclass
class Integer(Spec):
    minimum: int | None = None
    maximum: int | None = None
    description: str = ""

    def read(self, node, r, where):
        ok, value = _scalar(node, r)
        if not ok or isinstance(value, bool) or not isinstance(value, int):
            r.error(node, f"{where} must be an integer{self._range()}, got {describe_node(node)}")
            return INVALID
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            r.error(node, f"{where} must be an integer{self._range()}, got {value}")
            return INVALID
        return value

    def _range(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f" from {self.minimum} to {self.maximum}"
        if self.minimum is not None:
            return f" >= {self.minimum}"
        return ""

    def json_schema(self):
        schema: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return self._doc(schema)


@dataclass
class Seconds(Spec):
    maximum: float = 24 * 3600
    description: str = ""

    def read(self, node, r, where):
        ok, value = _scalar(node, r)
        if not ok or isinstance(value, bool) or not isinstance(value, (int, float)):
            r.error(node, f"{where} must be a number of seconds, got {describe_node(node)}")
            return INVALID
        if not math.isfinite(value) or not 0 < value <= self.maximum:
            r.error(node, f"{where} must be more than 0 and at most {self.maximum:g} seconds, got {value}")
            return INVALID
        return float(value)

    def json_schema(self):
        return self._doc({"type": "number", "exclusiveMinimum": 0, "maximum": self.maximum})


@dataclass
class Boolean(Spec):
    description: str = ""

    def read(self, node, r, where):
        ok, value = _scalar(node, r)
        if not ok or not isinstance(value, bool):
            r.error(node, f"{where} must be true or false, got {describe_node(node)}")
            return INVALID
        return value

    def json_schema(self):
        return self._doc({"type": "boolean"})


@dataclass
class Choice(Spec):
    choices: tuple[Any, ...] = ()
    description: str = ""

    def read(self, node, r, where):
        ok, value = _scalar(node, r)
        if ok and not isinstance(value, bool) and value in self.choices:
            return value
        # A value of the wrong type (`racekit: "1"`, `racekit: true`) is named
        # with its type; "did you mean" only helps with a misspelling.
        same_type = ok and any(type(value) is type(c) for c in self.choices)
        shown = repr(value) if same_type else describe_node(node)
        hint = _did_you_mean(str(value), [str(c) for c in self.choices]) if same_type else ""
        options = ", ".join(repr(c) for c in self.choices)
        r.error(node, f"{where} must be one of {options}, got {shown}{hint}")
        return INVALID

    def json_schema(self):
        return self._doc({"enum": list(self.choices)})


@dataclass
class AnyValue(Spec):
    description: str = ""

    def read(self, node, r, where):
        return r.value(node)

    def json_schema(self):
        return self._doc({})


_LITERAL_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool"}


@dataclass
class Code(Spec):
    """A block of Python; parsed now so syntax errors point into the YAML."""

    mode: Literal["exec", "eval", "body"] = "exec"
    description: str = ""

    def read(self, node, r, where):
        is_text = isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str"
        # `outcome: 42` or `check: true` are still Python expressions.
        is_literal = isinstance(node, yaml.ScalarNode) and node.tag in _LITERAL_TAGS and self.mode == "eval"
        if not (is_text or is_literal):
            what = "a Python expression" if self.mode == "eval" else "Python code (a string; use `|` for a block)"
            r.error(node, f"{where} must be {what}, got {describe_node(node)}")
            return INVALID
        source = source_of(node, r, where)
        if not source.text.strip():
            r.error(node, f"{where} is empty")
            return INVALID
        check_syntax(source, self.mode, r)
        return source

    def json_schema(self):
        return self._doc({"type": "string"})


def source_of(node: yaml.ScalarNode, r: Reader, where: str) -> Source:
    """A :class:`Source` whose line/col map code positions back into the file."""
    text = node.value
    if node.style in ("|", ">"):
        # Block content starts on the line after the indicator; its
        # indentation is whatever the first content line carries in the file.
        line = node.start_mark.line + 2
        col = _block_indent(node, text)
    else:
        line = node.start_mark.line + 1
        col = node.start_mark.column + (1 if node.style in ("'", '"') else 0)
    exact = node.style == "|" or (node.style is None and "\n" not in text.rstrip("\n"))
    return Source(text=text, path=r.path, line=line, col=col, label=where, columns_exact=exact)


def _block_indent(node: yaml.ScalarNode, text: str) -> int:
    buffer = node.start_mark.buffer or ""
    file_lines = buffer.split("\n")
    code_lines = text.split("\n")
    first = node.start_mark.line + 1
    for offset, code_line in enumerate(code_lines):
        if code_line.strip() and first + offset < len(file_lines):
            raw = file_lines[first + offset].rstrip("\r")
            if raw.endswith(code_line):
                return len(raw) - len(code_line)
            break
    return node.start_mark.column + 2


def check_syntax(source: Source, mode: Literal["exec", "eval", "body"], r: Reader) -> None:
    nul = source.text.find("\0")
    if nul >= 0:
        # Only a "\0" escape puts one here; CPython rejects it with a ValueError
        # (3.10, 3.11) or a position-less SyntaxError (3.12+): say it the same way.
        head = source.text[:nul]
        line, col = source.file_position(head.count("\n") + 1, nul - head.rfind("\n"))
        r.problems.append(Problem(source.path, line, col, f"cannot compile {source.label}: the code contains a NUL character (\\0)"))
        return
    try:
        # Lines relative to the code, so that parse and compile errors map alike.
        tree = thread_function(source, in_file=False) if mode == "body" else source.parse(mode, in_file=False)
        compile(tree, source.path, "eval" if mode == "eval" else "exec", dont_inherit=True)
    except SyntaxError as exc:
        code_line, offset = exc.lineno or 1, exc.offset or 0
        if offset < 1:
            # CPython gives offset 0 for an expression that ends too early
            # (`outcome ==`): the problem is at the end of that line.
            lines = source.text.split("\n")
            offset = len(lines[code_line - 1]) + 1 if 0 < code_line <= len(lines) else 1
        line, col = source.file_position(code_line, offset)
        # CPython's own "on line N" counts the code's lines; the file's are
        # what the student sees, and the code's line is named separately.
        message = re.sub(r"\bline (\d+)\b", lambda m: f"line {source.line + int(m.group(1)) - 1}", exc.msg)
        where = source.label
        if "\n" in source.text.strip("\n"):
            where += f" (line {code_line} of the code)"
        r.problems.append(Problem(source.path, line, col, f"Python syntax error in {where}: {message}"))
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        line, col = source.file_position(1, 1)
        message = str(exc) or type(exc).__name__
        if isinstance(exc, RecursionError):
            message = "nested too deeply"
        r.problems.append(Problem(source.path, line, col, f"cannot compile {source.label}: {message}"))


@dataclass
class Field:
    spec: Spec
    required: bool = False


@dataclass
class Fields(Spec):
    """A mapping with a fixed set of keys: unknown keys are errors, with a hint."""

    fields: dict[str, Field]
    what: str = "this mapping"
    description: str = ""

    def read(self, node, r, where):
        items = r.mapping(node, where or self.what)
        if items is None:
            return INVALID
        result: dict[str, Any] = {}
        for key, key_node, value_node in items:
            if key not in self.fields:
                hint = _did_you_mean(key, list(self.fields))
                r.error(key_node, f"unknown key {key!r} in {where or self.what}{hint}")
                continue
            if _is_null(value_node) and not self.fields[key].required and where.startswith("variant"):
                result[key] = None  # in a variant, null removes an inherited key
                continue
            value = self.fields[key].spec.load(value_node, r, _join(where, key))
            if value is INVALID:
                r.invalid.add(_join(where, key))
            else:
                result[key] = value
            r.positions[_join(where, key)] = key_node
        return result

    def missing(self, present: dict[str, Any]) -> list[str]:
        return [k for k, f in self.fields.items() if f.required and present.get(k) is None]

    def json_schema(self):
        return self._doc(
            {
                "type": "object",
                "properties": {k: f.spec.json_schema() for k, f in self.fields.items()},
                "required": [k for k, f in self.fields.items() if f.required],
                "additionalProperties": False,
            }
        )


@dataclass
class MapOf(Spec):
    """A mapping from names the user chooses to values of one spec."""

    key: Name
    value: Spec
    what: str = "this mapping"
    min_items: int = 0
    description: str = ""

    def read(self, node, r, where):
        before = len(r.problems)
        items = r.mapping(node, where or self.what)
        if items is None:
            return INVALID
        result: dict[str, Any] = {}
        for key, key_node, value_node in items:
            if self.key.load(key_node, r, f"{_singular(where)} name") is INVALID:
                continue
            if _is_null(value_node) and where.startswith("variant"):
                result[key] = None
                continue
            value = self.value.load(value_node, r, _join(where, key))
            if value is INVALID:
                r.invalid.add(_join(where, key))
            else:
                result[key] = value
            r.positions[_join(where, key)] = key_node
        if len(items) < self.min_items and len(r.problems) == before and not where.startswith("variant"):
            r.error(node, f"{where} needs at least {self.min_items} entr{'y' if self.min_items == 1 else 'ies'}")
        if len(r.problems) > before:
            # Reported already (an empty mapping, a bad name, a bad entry): the
            # mapping is present but wrong, not "missing", so say nothing more.
            r.invalid.add(where)
        return result

    def json_schema(self):
        schema: dict[str, Any] = {
            "type": "object",
            "propertyNames": self.key.json_schema(),
            "additionalProperties": self.value.json_schema(),
        }
        if self.min_items:
            schema["minProperties"] = self.min_items
        return self._doc(schema)


@dataclass
class Either(Spec):
    """A scalar form or a mapping form of the same setting (``threads`` entries, ``outcome``)."""

    scalar: Spec
    mapping: Spec
    description: str = ""

    def read(self, node, r, where):
        if isinstance(node, yaml.MappingNode):
            return self.mapping.load(node, r, where)
        return self.scalar.load(node, r, where)

    def json_schema(self):
        return self._doc({"oneOf": [self.scalar.json_schema(), self.mapping.json_schema()]})


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _singular(where: str) -> str:
    last = where.rsplit(".", 1)[-1]
    return {"threads": "thread", "params": "param", "variants": "variant", "outcome": "outcome", "i18n": "language"}.get(last, last)


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
