"""Text from a case, made safe for a terminal.

Outcomes, tracebacks and what case code printed can hold control characters:
an escape sequence that recolours the terminal, retitles its window, or moves
the cursor to overwrite racekit's own verdict. A report shows each such
character as a visible escape (``\\x1b``) instead; newlines and tabs stay.
JSON needs none of this: its encoder escapes them already.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def made_visible(value: Any) -> Any:
    """A copy of ``value`` (results, their rows, dicts, lists) with every string made visible."""
    if isinstance(value, str):
        return visible(value) if _CONTROL.search(value) else value
    if isinstance(value, dict):
        return {made_visible(k): made_visible(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(made_visible(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: made_visible(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value
