"""The JSON Schema of racekit's results (``racekit schema --results``), and the check
``racekit merge`` applies to every file before it adds anything up.

A results file is input like any other: hand-edited, truncated, written by
another tool. Each problem is reported with its place in the document
(``cases[0].variants[1].histogram[2].count``), never as a traceback, and a
count that is negative or does not add up is refused rather than summed.
The checker reads the subset of JSON Schema this schema uses (type, enum,
required, properties, items, minimum, maximum, pattern, maxItems), so the schema
that is published is exactly the one that is enforced.
"""

from __future__ import annotations

import re
from typing import Any

from racekit.analysis.results import Grade, Verdict
from racekit.options import MODES

MAX_COUNT = 10_000_000_000
MAX_SHARDS = 10_000

_COUNT = {"type": "integer", "minimum": 0, "maximum": MAX_COUNT}
_TEXT = {"type": "string"}
# What racekit noted about how trials ran, as facts: a code and its fields
# (the report words them; "warnings" holds the English words, for readers).
NOTES = {"type": "array", "maxItems": 100, "items": {
    "type": "object", "required": ["code"], "additionalProperties": _TEXT,
    "properties": {"code": {"type": "string", "pattern": r"^[a-z_]{1,40}$"}}}}

VARIANT = {
    "type": "object",
    "required": ["name", "mode", "runs", "histogram", "trial_range", "verdict", "racy", "seed"],
    "properties": {
        "name": _TEXT,
        "mode": {"enum": list(MODES)},
        "runs": _COUNT,
        "planned_runs": _COUNT,
        "total_runs": _COUNT,
        "fingerprint": {"type": "string", "maxLength": 200},
        "instrument": {"type": "array", "maxItems": 1000, "items": _TEXT},
        "outcomes": {"type": "object", "additionalProperties": _COUNT},
        "histogram": {"type": "array", "maxItems": 100_000, "items": {
            "type": "object", "required": ["outcome", "count", "grade"],
            "properties": {"outcome": _TEXT, "count": _COUNT, "grade": {"enum": [g.value for g in Grade]}}}},
        "wrong": _COUNT,
        "verdict": {"enum": [v.value for v in Verdict]},
        "racy": {"type": "boolean"},
        "ok": {"type": "boolean"},
        "seed": _COUNT | {"maximum": 2**64},
        "schedule": {"type": ["string", "null"]},
        "trial_range": {"type": "array", "minItems": 2, "maxItems": 2, "items": _COUNT},
        "samples": {"type": "array", "maxItems": 100, "items": _TEXT},
        "warnings": {"type": "array", "maxItems": 100, "items": _TEXT},
        "notes": NOTES,
        "why": {"type": ["object", "null"]},
        "race_example": {"type": ["object", "null"]},
        "lost_update_histogram": {"type": ["object", "null"], "additionalProperties": _COUNT},
        "data_races": _COUNT,
        "logged_runs": {"type": ["integer", "null"], "minimum": 0},
        "witnesses": _COUNT,
        "harmless_races": _COUNT,
        "inconclusive": _COUNT,
        "stopped": {"type": ["string", "null"]},
        "reason": {"type": ["string", "null"]},
        "unscheduled": {"type": "array", "maxItems": 1000, "items": _TEXT},
        "racekit_failure": {"type": ["object", "null"], "properties": {
            "error": _TEXT, "where": _TEXT, "during": _TEXT, "traceback": _TEXT, "runs": _COUNT}},
        "duration": {"type": "number", "minimum": 0},
        "timeout": {"type": "number", "minimum": 0},
    },
}

RESULTS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "racekit results (racekit run --format json)",
    "type": "object",
    "required": ["racekit", "python", "cases"],
    "properties": {
        "racekit": _TEXT,
        "python": {"type": "object", "required": ["version", "implementation", "gil_enabled"], "properties": {
            "version": _TEXT, "implementation": _TEXT, "gil_enabled": {"type": "boolean"},
            "tested": {"type": "boolean"}}},
        "seed": _COUNT | {"maximum": 2**64},
        "interrupted": {"type": "boolean"},
        "ok": {"type": "boolean"},
        "duration": {"type": "number", "minimum": 0},
        "notes": NOTES,
        "shard": {"type": ["string", "null"], "pattern": r"^[1-9][0-9]{0,4}/[1-9][0-9]{0,4}$"},
        "cases": {"type": "array", "maxItems": 100_000, "items": {
            "type": "object", "required": ["name", "file", "variants"],
            "properties": {"name": _TEXT, "file": _TEXT, "title": _TEXT, "description": _TEXT, "notes": _TEXT,
                           "translations": {"type": "object", "additionalProperties": {
                               "type": "object", "additionalProperties": _TEXT}},
                           "variants": {"type": "array", "maxItems": 100_000, "items": VARIANT}}}},
    },
}

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def problems(doc: Any) -> list[str]:
    """Every way ``doc`` is not a racekit results document, each with its place."""
    found: list[str] = []
    _check(doc, RESULTS_SCHEMA, "", found)
    if found:
        return found
    shard = doc.get("shard")
    if shard:
        k, n = (int(x) for x in shard.split("/"))
        if not 1 <= k <= n <= MAX_SHARDS:
            found.append(f"shard: {shard!r} is not K/N with 1 <= K <= N <= {MAX_SHARDS:,}")
    for c, case in enumerate(doc["cases"]):
        for v, variant in enumerate(case["variants"]):
            where = f"cases[{c}].variants[{v}]"
            counted = sum(row["count"] for row in variant["histogram"])
            if counted != variant["runs"]:
                found.append(f"{where}: the histogram counts {counted} runs, but runs is {variant['runs']}")
            low, high = variant["trial_range"]
            if low > high:
                found.append(f"{where}.trial_range: {low}-{high} ends before it starts")
    return found


def _check(value: Any, schema: dict[str, Any], where: str, found: list[str]) -> None:
    if len(found) >= 20:
        return
    place = where or "the document"
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{place}: {_shown(value)} is not one of {', '.join(map(str, schema['enum']))}")
        return
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is(value, kind) for kind in kinds):
            found.append(f"{place} must be {' or '.join(kinds)}, got {_shown(value)}")
            return
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{place} must be at least {schema['minimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{place} must be at most {schema['maximum']:,}, got {value:,}")
    if isinstance(value, str) and "pattern" in schema and not re.fullmatch(schema["pattern"], value):
        found.append(f"{place}: {_shown(value)} is not in the expected form")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                found.append(f"{place} has no {key!r}")
        for key, child in value.items():
            sub = schema.get("properties", {}).get(key, schema.get("additionalProperties"))
            if isinstance(sub, dict):
                _check(child, sub, f"{where}.{key}" if where else str(key), found)
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            found.append(f"{place} has {len(value):,} items, more than {schema['maxItems']:,}")
            return
        if "minItems" in schema and len(value) < schema["minItems"]:
            found.append(f"{place} has {len(value)} items, fewer than {schema['minItems']}")
        for i, child in enumerate(value):
            if "items" in schema:
                _check(child, schema["items"], f"{where}[{i}]", found)


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
