"""Run profiles (``--config quick``): named sets of ``racekit run`` options.

A profile is a small YAML file read with the same strict machinery as case
files (unknown keys, wrong types and duplicates are positioned errors).
Command-line flags override it; it overrides each case's own defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from racekit.case.spec import INVALID, Boolean, Choice, Field, Fields, Integer, Seconds, Spec, Text
from racekit.case.yamlsource import Reader, compose
from racekit.errors import CaseError, Problem, UsageError
from racekit.report.messages import LANGS

_PACKAGE = Path(__file__).resolve().parent
SEARCH_DIRS = (Path("configs"), _PACKAGE / "_configs", _PACKAGE.parent / "configs")


class _ModeList(Spec):
    """``mode: opcode`` or ``mode: [native, opcode]``."""

    def read(self, node: yaml.Node, r: Reader, where: str) -> Any:
        if isinstance(node, yaml.SequenceNode):
            modes = [Text().load(item, r, where) for item in node.value]
            return INVALID if INVALID in modes else ",".join(modes)
        return Text().load(node, r, where)

    def json_schema(self) -> dict[str, Any]:
        return {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


PROFILE = Fields(
    {
        "description": Field(Text()),
        "mode": Field(_ModeList()),
        "runs": Field(Integer(1, 10_000_000)),
        "max_runs": Field(Integer(1, 10_000_000)),
        "seed": Field(Integer(0, 2**64 - 1)),
        "switch_interval": Field(Seconds(maximum=10.0)),
        "timeout": Field(Seconds()),
        "jobs": Field(Integer(1, 256)),
        "format": Field(Choice(("text", "json", "html"))),
        "lang": Field(Choice(LANGS)),
        "verbose": Field(Boolean()),
        "fail_fast": Field(Boolean()),
    },
    what="the profile",
)


def find_profile(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if path.is_file():
            return path
        raise UsageError(f"--config: no such file {name_or_path!r}")
    for folder in SEARCH_DIRS:
        candidate = folder / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for folder in SEARCH_DIRS if folder.is_dir() for p in folder.glob("*.yaml")})
    raise UsageError(f"--config: no profile named {name_or_path!r}; profiles: {', '.join(known) or 'none found'}")


def load_profile(name_or_path: str) -> dict[str, Any]:
    path = find_profile(name_or_path)
    shown = os.path.relpath(path) if not path.is_absolute() or str(path).startswith(os.getcwd()) else str(path)
    node, _text, problems = compose(shown, path.read_bytes())
    if problems:
        raise CaseError(problems)
    if node is None:
        return {}
    reader = Reader(shown)
    values = PROFILE.load(node, reader, "")
    if reader.problems:
        raise CaseError(reader.problems)
    if values is INVALID:  # pragma: no cover - INVALID always comes with a problem
        raise CaseError([Problem(shown, 1, 1, "invalid profile")])
    return values


# What a run uses when neither the command line nor the profile says.
DEFAULTS: dict[str, Any] = {"switch_interval": 1e-6, "format": "text", "lang": "en", "verbose": False,
                            "fail_fast": False, "strategy": "random"}


def settings(given: dict[str, Any], profile: dict[str, Any]) -> dict[str, Any]:
    """The run's settings: each flag given on the command line, else the
    profile's value, else racekit's default (None: the case decides)."""
    merged: dict[str, Any] = {}
    for name in {*given, *DEFAULTS}:
        value = given.get(name)
        merged[name] = value if value is not None else profile.get(name, DEFAULTS.get(name))
    return merged
