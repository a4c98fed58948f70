"""YAML read safely, with every node's position kept.

racekit composes YAML into nodes (``yaml.compose`` on a safe loader) instead of
loading it into plain values, for two reasons: every later error can then point
at ``line:col`` in the file, and duplicate keys can be rejected (PyYAML's
loaders silently keep the last one). Values are built from nodes here with safe
semantics only: no Python tags, no custom tags, recursive aliases refused.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from typing import Any

import yaml

from racekit.errors import Problem

MAX_FILE_BYTES = 1_000_000
MAX_EXPANDED = 100_000  # items a value may hold once its aliases are expanded

_YAML = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_YAML + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_SEQ_TAG = _YAML + "seq"
_MAP_TAG = _YAML + "map"
_MERGE_TAG = _YAML + "merge"


@dataclass
class Reader:
    """Turns one file's nodes into values, collecting problems instead of raising."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    # Key nodes by dotted path ("variants.locked.threads"), for errors found later.
    positions: dict[str, yaml.Node] = field(default_factory=dict)
    # Dotted paths whose value was present but invalid (already reported).
    invalid: set[str] = field(default_factory=set)
    _constructor: yaml.constructor.SafeConstructor = field(
        default_factory=yaml.constructor.SafeConstructor, repr=False
    )
    _expansion_reported: bool = False

    def error(self, node_or_mark: Any, message: str) -> None:
        line, col = position(node_or_mark)
        self.problems.append(Problem(self.path, line, col, message))

    # -- structure ---------------------------------------------------------

    def foreign_tag(self, node: yaml.Node) -> bool:
        """Report a tag plain YAML does not give its node (``!!python/...``, ``!custom``, ``!!map [1]``).

        Checked before the node's shape, so that ``!!python/name:os.system``
        is called a Python tag wherever it appears, not "a string where a
        mapping was expected"; and so that no node reaches a reader whose
        kind its tag contradicts (``!!int [1]``).
        """
        if isinstance(node, yaml.ScalarNode) and node.tag in _SCALAR_TAGS:
            return False
        if node.tag == {yaml.SequenceNode: _SEQ_TAG, yaml.MappingNode: _MAP_TAG}.get(type(node)):
            return False
        self._report_tag(node)
        return True

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]] | None:
        """The ``(key, key_node, value_node)`` items of a mapping node, in order.

        Rejects duplicate and non-string keys; resolves ``<<`` merge keys the way
        YAML 1.1 does (explicit keys win over merged ones).
        """
        return self._mapping(node, what, set())

    def _mapping(self, node: yaml.Node, what: str, merging: set[int]) -> list[tuple[str, yaml.Node, yaml.Node]] | None:
        # ``merging`` holds the mappings whose ``<<`` is being resolved: a merge
        # of a mapping into itself (``&x {<<: *x}``) would otherwise recurse forever.
        if self.foreign_tag(node):
            return None
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping, got {describe_node(node)}")
            return None
        if not self._check_tag(node, _MAP_TAG):
            return None
        explicit: dict[str, tuple[str, yaml.Node, yaml.Node]] = {}
        merged: dict[str, tuple[str, yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                for source in self._merge_sources(value_node):
                    if id(source) in merging or source is node:
                        self.error(source, "a recursive alias (an anchor used inside itself) is not supported")
                        continue
                    for item in self._mapping(source, "a merged mapping (<<)", merging | {id(node)}) or ():
                        merged.setdefault(item[0], item)
                continue
            if self.foreign_tag(key_node):
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _YAML + "str":
                self.error(key_node, f"keys must be strings, got {describe_node(key_node)} in {what}")
                continue
            key = key_node.value
            if key in explicit:
                first_line, first_col = position(explicit[key][1])
                self.error(
                    key_node,
                    f"duplicate key {key!r} in {what} (first defined at line {first_line}, "
                    f"column {first_col})",
                )
                continue
            explicit[key] = (key, key_node, value_node)
        merged.update(explicit)
        return list(merged.values())

    def _merge_sources(self, node: yaml.Node) -> list[yaml.Node]:
        if self.foreign_tag(node):
            return []
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        return [node]

    # -- values ------------------------------------------------------------

    def value(self, node: yaml.Node) -> Any:
        """A plain Python value for any node (lists, dicts, scalars), safely."""
        if _expanded_size(node, {}, set()) > MAX_EXPANDED:
            # Aliases share one object here, but printing it (JSON, a report,
            # a case's own code) would expand every copy.
            if not self._expansion_reported:  # once: the values after it grow from the same anchors
                self._expansion_reported = True
                self.error(node, f"this value expands to more than {MAX_EXPANDED:,} items (YAML aliases repeat what "
                                 "they point to); racekit refuses it")
            return None
        return self._value(node, {}, set())

    def _value(self, node: yaml.Node, done: dict[int, Any], active: set[int]) -> Any:
        # Aliases make the node graph a DAG (or a cycle): memoise so that a
        # "billion laughs" document costs linear time, and refuse cycles.
        if id(node) in done:
            return done[id(node)]
        if id(node) in active:
            self.error(node, "a recursive alias (an anchor used inside itself) is not supported")
            return None
        if isinstance(node, yaml.ScalarNode):
            result = self.scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            if not self._check_tag(node, _SEQ_TAG):
                return None
            active.add(id(node))
            result = [self._value(child, done, active) for child in node.value]
            active.discard(id(node))
        else:
            items = self.mapping(node, "a mapping")
            active.add(id(node))
            result = {key: self._value(child, done, active) for key, _, child in items or ()}
            active.discard(id(node))
        done[id(node)] = result
        return result

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, f"expected a single value, got {describe_node(node)}")
            return None
        if node.tag not in _SCALAR_TAGS:
            self._check_tag(node, _YAML + "str")
            return None
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            self.error(node, f"cannot read {node.value!r} as {node.tag.removeprefix(_YAML)}: {exc}")
            return None
        except (LookupError, AttributeError, TypeError):
            # An explicit tag (`!!bool x`, `!!int ""`) skips the pattern check
            # that implicit typing does first, and PyYAML's constructors then
            # fail in their own ways.
            self.error(node, f"cannot read {node.value!r} as {node.tag.removeprefix(_YAML)}")
            return None

    def _check_tag(self, node: yaml.Node, expected: str) -> bool:
        tag = node.tag or ""
        if tag == expected or tag in _SCALAR_TAGS and isinstance(node, yaml.ScalarNode):
            return True
        self._report_tag(node)
        return False

    def _report_tag(self, node: yaml.Node) -> None:
        tag = node.tag or ""
        if tag.startswith(_YAML + "python/") or tag.startswith("!!python"):
            self.error(node, f"Python tags are not allowed ({shorten_tag(tag)}): racekit only reads plain YAML")
        else:
            self.error(node, f"unsupported YAML tag {shorten_tag(tag)}: use plain YAML values")


def compose(path: str, data: bytes) -> tuple[yaml.Node | None, str, list[Problem]]:
    """Decode and compose one YAML document; problems instead of exceptions."""
    if len(data) > MAX_FILE_BYTES:
        return None, "", [Problem(path, 1, 1, f"file is too large ({len(data)} bytes; a case file may have at most {MAX_FILE_BYTES})")]
    # The BOM is dropped before decoding so that the error offset below counts
    # from the text's start (``utf-8-sig`` reports offsets without the BOM).
    body = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = body.rfind(b"\n", 0, exc.start) + 1
        line = body.count(b"\n", 0, exc.start) + 1
        # Columns count characters, as in every other message (and in editors):
        # the bytes before the bad one on its line are valid UTF-8.
        col = len(body[start:exc.start].decode("utf-8")) + 1
        return None, "", [Problem(path, line, col, f"not valid UTF-8 (byte 0x{body[exc.start]:02x}); save the file as UTF-8")]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        detail = exc.problem or exc.context or "syntax error"
        if exc.context and exc.problem:
            # PyYAML reports where it noticed the problem (often the end of the
            # file); where the unclosed bracket or quote began is what to fix.
            context, where = exc.context, exc.context_mark
            if where and context.startswith("while ") and exc.problem_mark and (where.line, where.column) != (exc.problem_mark.line, exc.problem_mark.column):
                context += f" at line {where.line + 1}, column {where.column + 1}"
            # "expected a single document, but found another document" is one sentence.
            detail = f"{context}, {exc.problem}" if exc.problem.startswith("but ") else f"{exc.problem} ({context})"
        if "'\\t'" in detail:
            detail += "; indent with spaces, YAML does not allow tabs"
        elif (exc.context in ("while parsing a flow mapping", "while parsing a flow sequence")
              and "<stream end>" not in detail):
            # `outcome: {n: d["k"], xs: sorted(xs)}`: Python inside {…} or […].
            detail += ("; inside {…} or […] quote a value that holds brackets, commas or colons "
                       "(\"d['k']\"), or write the mapping one key per line")
        return None, text, [Problem(path, line, col, f"invalid YAML: {detail}")]
    except yaml.reader.ReaderError as exc:
        line, col = offset_position(text, exc.position)
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return None, text, [Problem(path, line, col, f"invalid YAML: the control character U+{char:04X} is not allowed; remove it")]
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML's other errors all carry marks
        return None, text, [Problem(path, 1, 1, f"invalid YAML: {exc}")]
    except RecursionError:
        return None, text, [Problem(path, 1, 1, "invalid YAML: nested too deeply")]
    return node, text, []


def position(node_or_mark: Any) -> tuple[int, int]:
    """1-based ``(line, col)`` of a node, a mark, or a ``(line, col)`` pair."""
    if isinstance(node_or_mark, tuple):
        return node_or_mark
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    if mark is None:
        return 1, 1
    return mark.line + 1, mark.column + 1


def offset_position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def describe_node(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping" if node.value else "an empty mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list" if node.value else "an empty list"
    if node.tag == _YAML + "null":
        return "nothing (null)"
    kind = node.tag.removeprefix(_YAML)
    kind = {"str": "string", "int": "integer", "bool": "boolean"}.get(kind, kind)
    return f"{kind} {node.value!r}"


def shorten_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag


def _expanded_size(node: yaml.Node, sizes: dict[int, int], active: set[int]) -> int:
    """How many items ``node`` holds with every alias expanded (memoised: linear in the graph)."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in active:
        return 1  # a cycle: reported by _value
    active.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded_size(child, sizes, active) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded_size(k, sizes, active) + _expanded_size(v, sizes, active) for k, v in node.value)
    else:
        total = 1
    active.discard(id(node))
    sizes[id(node)] = min(total, MAX_EXPANDED + 1)
    return sizes[id(node)]
