"""Consoles for reports: rich on a terminal, clean plain text elsewhere.

rich pads table cells and wrapped lines with spaces up to their width; on a
terminal that is invisible, but in CI logs and files it is noise, so output that
is not a terminal goes through a writer that drops trailing whitespace.
"""

from __future__ import annotations

import io
import sys
from typing import TextIO

from rich.console import Console

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
            self._target.write("".join(line.rstrip() + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._target.write(self._pending)
            self._pending = ""
        self._target.flush()


def report_console(file: TextIO | None = None, stderr: bool = False) -> Console:
    """A console for ``file`` (stdout by default) that suits where it goes."""
    target = file if file is not None else (sys.stderr if stderr else sys.stdout)
    probe = Console(file=target)
    if probe.is_terminal:
        return probe
    return Console(file=_StripTrailing(target), width=PLAIN_WIDTH, highlight=False, color_system=probe.color_system
                   if probe.color_system and not probe.no_color else None)
