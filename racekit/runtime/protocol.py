"""What the parent and a worker process share: the messages and the marker file.

The marker names the trial the worker runs now, so that the parent can blame
the right one when the worker dies (results travel in batches), and carries
the worker's beat and its budget, so that the parent can stop a trial that
outlasts it (racekit.runtime.pool). Both sides read these layouts from here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

# Seconds the hard stop grants beyond a trial's own timeout before the parent
# dumps every stack and ends the worker.
HARD_STOP_GRACE = 2.0
# Results are sent when this many are ready, or when the oldest waited this long.
BATCH_SIZE = 32
BATCH_DELAY = 0.05
MARKER = struct.Struct("<qq")  # (job key, trial index) running now; key -1: none
BEAT = struct.Struct("<qd")  # after MARKER: (beat, budget in seconds); each trial or schedule beats once
MARKER_FILE_SIZE = MARKER.size + BEAT.size


# -- messages ---------------------------------------------------------------------------
# Each is a small frozen record; both sides dispatch on its type with ``match``.
# Parent to worker:


@dataclass(frozen=True)
class Task:
    """Run these plans of a job (compiling its variant once per worker)."""

    key: int
    variant: Any
    mode: Any
    roots: tuple[str, ...]
    sys_path: list[str]
    plans: list[Any]


@dataclass(frozen=True)
class Cancel:
    """Drop the job's plans still queued here."""

    key: int


@dataclass(frozen=True)
class Stop:
    """Exit after the current trial."""


# Worker to parent:


@dataclass(frozen=True)
class Ready:
    interpreter: dict[str, Any]  # the worker interpreter's facts (version, GIL…)


@dataclass(frozen=True)
class Trials:
    batch: list[tuple[int, Any]]  # (job key, Trial), in the order they ran


@dataclass(frozen=True)
class Cancelled:
    key: int
    dropped: int


@dataclass(frozen=True)
class Failed:
    """The job's variant could not be compiled here; none of its plans ran."""

    key: int
    reason: str
    plans: int


@dataclass(frozen=True)
class Explained:
    """A failure reported earlier has been shrunk: the trial's fields that change."""

    key: int
    index: int
    fields: dict[str, Any] | None


@dataclass(frozen=True)
class Searched:
    """An exhaustive search has ended: its summary (schedules, completeness…)."""

    key: int
    summary: dict[str, Any]
