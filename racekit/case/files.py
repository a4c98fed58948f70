"""Which files are case files: cheap enough for pytest to ask about every file.

A case file is a ``.yaml``/``.yml`` file with a top-level ``racekit:`` key. The
check reads text, not YAML, so that a broken case file still counts as one
(and gets its errors reported) while other YAML files are left alone.
"""

from __future__ import annotations

import re
from pathlib import Path

CASE_SUFFIXES = (".yaml", ".yml")
_CASE_MARKER = re.compile(rb"^racekit\s*:", re.MULTILINE)


def is_case_file(path: Path) -> bool:
    return case_file_status(path) == "case"


def case_file_status(path: Path) -> str:
    """``case``, ``other`` (not a case file), or ``unreadable`` (a YAML file racekit
    cannot open: said, never skipped in silence)."""
    if path.suffix not in CASE_SUFFIXES or not path.is_file():  # never open a FIFO or a device
        return "other"
    try:
        with path.open("rb") as f:
            return "case" if _CASE_MARKER.search(f.read(256 * 1024)) else "other"
    except OSError:
        return "unreadable"
