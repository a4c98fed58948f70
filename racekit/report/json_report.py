"""The JSON report: the results contract (the README's "JSON output",
``racekit schema --results``), plus the few words it carries.

The results are facts (``RunResult.to_json``, notes as codes and fields); the
few fields of words the JSON keeps for its readers (each variant's
``mode_detail`` and ``warnings``, the run's ``warnings``) are written here, in
English, by the same tables as every other word racekit writes.
"""

from __future__ import annotations

import json
from typing import Any

from racekit.analysis.results import RunResult
from racekit.report.modes import describe_mode
from racekit.report.notes import say_note


def results_document(result: RunResult) -> dict[str, Any]:
    document = result.to_json()
    document["warnings"] = [say_note(note, "en") for note in result.warnings]
    for case, case_result in zip(document["cases"], result.cases):
        for variant, variant_result in zip(case["variants"], case_result.variants):
            variant["mode_detail"] = describe_mode(variant.get("mode_facts") or {}, "en")
            variant["warnings"] = [say_note(note, "en") for note in variant_result.warnings]
    return document


def results_json(result: RunResult) -> str:
    # allow_nan=False: NaN and Infinity are no JSON; racekit's facts never hold them (a ValueError here is a bug).
    return json.dumps(results_document(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
