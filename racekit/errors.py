"""The one exception family racekit raises at its users.

Every user-facing error is a :class:`RacekitError`; the CLI turns it into exit
code 2 and a message without a traceback. Errors about a file carry a list of
:class:`Problem` records so that *all* problems of a file are reported at once,
each as ``path:line:col: error: message`` (1-based), the format compilers and
editors already understand.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in an input file, at a 1-based line and column."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: error: {self.message}"


class RacekitError(Exception):
    """Base class of the errors racekit reports to a user (exit code 2)."""


class UsageError(RacekitError, ValueError):
    """A command-line or API argument that cannot be honoured."""


class CaseError(RacekitError, ValueError):
    """A case (or profile) file that cannot be loaded; lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class ScheduleError(RacekitError):
    """A replayed schedule that does not fit the case (other code, other
    ``--param`` values, another number of threads). ``why`` holds the facts;
    the report words them."""

    MISFITS = frozenset({"mismatch", "schedule_threads", "schedule_choices", "not_a_schedule"})

    def __init__(self, why: dict):
        self.why = why
        super().__init__(f"the schedule does not fit this case ({why.get('kind')})")


class OutputError(Exception):
    """Standard output refused the report (``> /dev/full``, a full disk under a
    redirect): no verdict can be given, so racekit says so in one line (exit 2)."""

    def __init__(self, cause: OSError):
        super().__init__(cause.strerror or str(cause))
        self.cause = cause
