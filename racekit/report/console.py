"""Consoles for reports: rich on a terminal, clean plain text elsewhere.

rich pads table cells and wrapped lines with spaces up to their width; on a
terminal that is invisible, but in CI logs and files it is noise, so output that
is not a terminal goes through a writer that drops trailing whitespace.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from typing import TextIO

from rich.console import Console

from racekit.errors import OutputError

PLAIN_WIDTH = 100


class _StripTrailing(io.TextIOBase):
    def __init__(self, target: TextIO):
        self._target = target
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        if lines:
            with _said_as_output_error(self._target):
                self._target.write("".join(line.rstrip() + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        with _said_as_output_error(self._target):
            if self._pending:
                self._target.write(self._pending)
                self._pending = ""
            self._target.flush()


@contextlib.contextmanager
def _said_as_output_error(target: TextIO) -> Iterator[None]:
    """A failed write to standard output is racekit's OutputError (one line, exit 2), not a traceback."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        if target is sys.stdout or target is sys.__stdout__:
            raise OutputError(exc) from None
        raise


def write_stdout(text: str) -> None:
    """``text`` to standard output, its failure said as an OutputError."""
    with _said_as_output_error(sys.stdout):
        sys.stdout.write(text)
        sys.stdout.flush()


def report_console(file: TextIO | None = None, stderr: bool = False) -> Console:
    """A console for ``file`` (stdout by default) that suits where it goes."""
    target = file if file is not None else (sys.stderr if stderr else sys.stdout)
    probe = Console(file=target)
    if probe.is_terminal:
        return probe
    return Console(file=_StripTrailing(target), width=PLAIN_WIDTH, highlight=False, color_system=probe.color_system
                   if probe.color_system and not probe.no_color else None)
