"""Schedules as text: the choices of a controlled run, short enough to paste.

``2:a3b2a`` is two threads, then a, a, a, b, b, a (threads a, b, … by index;
``[27]`` past z). Run-length encoded because a thread usually runs on for
many choices; the thread count first so that a schedule is never replayed
against a case with another number of threads by mistake. The choices come
from the case's source operations, not its bytecode, so a schedule replays
on any CPython.
"""

from __future__ import annotations

import re

# What a schedule string's choices mean; 2: a thread's start is a choice and
# spinning threads wait (schedules of format 1 are never replayed).
SCHEDULE_FORMAT = 2
MAX_SCHEDULE_CHOICES = 100_000_000  # what any schedule a run can record stays below

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def encode_schedule(choices: list[int], threads: int) -> str:
    """Run-length encoded choices: ``a3b2a`` is a,a,a,b,b,a (threads a, b, … by index).

    The thread count comes first (``2:``) so a schedule cannot be replayed
    against a case with a different number of threads by mistake."""
    out = [f"{threads}:"]
    i = 0
    while i < len(choices):
        j = i
        while j < len(choices) and choices[j] == choices[i]:
            j += 1
        out.append(_thread_code(choices[i]) + (str(j - i) if j - i > 1 else ""))
        i = j
    return "".join(out)


def decode_schedule(text: str) -> tuple[int, list[int]]:
    match = re.fullmatch(r"\s*(\d+):((?:(?:[a-z]|\[\d+\])\d*)*)\s*", text)
    if not match:
        raise ValueError(f"not a racekit schedule: {text!r} (expected e.g. '2:a3b2a')")
    threads = int(match.group(1))
    choices: list[int] = []
    pairs = re.findall(r"([a-z]|\[\d+\])(\d*)", match.group(2))
    total = sum(int(count) if count else 1 for _code, count in pairs)
    if total > MAX_SCHEDULE_CHOICES:
        raise ValueError(f"schedule {text[:40]!r}… makes {total:,} choices; a run makes at most "
                         f"{MAX_SCHEDULE_CHOICES:,}")
    for code, count in pairs:
        index = _LETTERS.index(code) if len(code) == 1 else int(code[1:-1])
        if index >= threads:
            raise ValueError(f"schedule {text!r} names thread {index + 1}, but declares {threads} threads")
        choices.extend([index] * (int(count) if count else 1))
    return threads, choices


def _thread_code(index: int) -> str:
    return _LETTERS[index] if index < len(_LETTERS) else f"[{index}]"
