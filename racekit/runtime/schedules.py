"""Failing schedules kept between runs, so a race found once stays found.

Like Hypothesis's example database: ``.racekit/schedules.json`` in the
working directory maps a fingerprint of a variant (its code, params and
expectation) to the failing schedules controlled mode found for it; the next
controlled run replays them first. Editing the case changes the fingerprint,
so schedules of old code are never replayed against new code. Set
``RACEKIT_DATABASE`` to another path, or to ``off``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from racekit.case.model import Variant

MAX_PER_VARIANT = 5


def database() -> Path | None:
    setting = os.environ.get("RACEKIT_DATABASE", "")
    if setting.lower() in ("off", "none", "0"):
        return None
    return Path(setting) if setting else Path(".racekit") / "schedules.json"


def fingerprint(variant: Variant) -> str:
    """What a schedule depends on: the code every thread runs, in order, and its inputs."""
    from racekit.runtime.controlled import SCHEDULE_FORMAT

    # The format too: a schedule means other choices once the scheduler's rules change.
    parts = [f"format {SCHEDULE_FORMAT}", variant.id, repr(sorted(variant.params.items(), key=lambda kv: kv[0]))]
    parts += [variant.setup.text if variant.setup else ""]
    parts += [f"{t.name}*{t.count}:{t.code.text}" for t in variant.threads]
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=12)
    return f"{variant.id}:{digest.hexdigest()}"


def load(variant: Variant) -> list[str]:
    path = database()
    if path is None or not path.is_file():
        return []
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # a damaged database is only a lost cache
    found = stored.get(fingerprint(variant), []) if isinstance(stored, dict) else []
    return [s for s in found if isinstance(s, str)][:MAX_PER_VARIANT]


def save(variant: Variant, schedule: str) -> None:
    path = database()
    if path is None:
        return
    try:
        stored = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        if not isinstance(stored, dict):
            stored = {}
        key = fingerprint(variant)
        kept = [s for s in stored.get(key, []) if s != schedule]
        stored[key] = ([schedule] + kept)[:MAX_PER_VARIANT]
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(stored, indent=1, sort_keys=True), encoding="utf-8")
        temporary.replace(path)
    except OSError:
        pass  # a read-only folder only costs the cache
