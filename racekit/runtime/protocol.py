"""What the parent and a worker process share: the messages and the marker file.

The marker names the trial the worker runs now, so that the parent can blame
the right one when the worker dies (results travel in batches), and carries
the worker's beat and its budget, so that the parent can stop a trial that
outlasts it (racekit.runtime.pool). Both sides read these layouts from here.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from racekit.records import Shrunk

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
# Each is a small immutable record (a NamedTuple: a dataclass costs each worker
# half a millisecond to create); both sides dispatch on its type with ``match``.
# Parent to worker:


class Task(NamedTuple):
    """Run these plans of a job (compiling its variant once per worker)."""

    key: int
    variant: Any
    mode: Any
    roots: tuple[str, ...]
    sys_path: list[str]
    plans: list[Any]


class Cancel(NamedTuple):
    """Drop the job's plans still queued here."""

    key: int


class Stop(NamedTuple):
    """Exit after the current trial."""


# Worker to parent:


class Ready(NamedTuple):
    interpreter: dict[str, Any]  # the worker interpreter's facts (version, GIL…)


class Trials(NamedTuple):
    batch: list[tuple[int, Any]]  # (job key, Trial), in the order they ran


class Cancelled(NamedTuple):
    key: int
    dropped: int


class Failed(NamedTuple):
    """The job's variant could not be compiled here; none of its plans ran."""

    key: int
    reason: str
    plans: int


class Explained(NamedTuple):
    """A failure reported earlier has been shrunk (None: nothing smaller fails the same way)."""

    key: int
    index: int
    shrunk: Shrunk | None


class Searched(NamedTuple):
    """An exhaustive search has ended: its summary (schedules, completeness…)."""

    key: int
    summary: dict[str, Any]


# Every process a worker starts inherits this variable (unless it clears its
# environment), which lets racekit find them after they left its session; its
# value names the worker's own temporary folder.
TOKEN_VARIABLE = "RACEKIT_WORKER_TOKEN"
