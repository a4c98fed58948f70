"""The JSON report: the results contract (DESIGN.md), plus the few words it carries.

The results are facts (``RunResult.to_json``); the one field of words that the
JSON keeps, each variant's ``mode_detail``, is written here, in English, like
every other word racekit writes.
"""

from __future__ import annotations

import json
from typing import Any

from racekit.analysis.results import RunResult
from racekit.report.modes import describe_mode


def results_document(result: RunResult) -> dict[str, Any]:
    document = result.to_json()
    for case in document["cases"]:
        for variant in case["variants"]:
            variant["mode_detail"] = describe_mode(variant.get("mode_facts") or {}, "en")
    return document


def results_json(result: RunResult) -> str:
    return json.dumps(results_document(result), indent=2, ensure_ascii=False) + "\n"
