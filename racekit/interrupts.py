"""Ctrl-C, SIGTERM and SIGHUP all end a run the same way: gracefully, once.

What the first of them does depends on when it comes:

- while trials run (:func:`running`), it stops them: a KeyboardInterrupt in
  the main thread, which the engine turns into ``interrupted`` results that
  are then reported and written, and the worker processes and their folders
  are removed;
- before that (loading, starting), it is noted, and racekit exits quietly
  before the first trial;
- after that (the report is being written), it is noted and the writing goes on.

Any further signal is ignored (also during the interpreter's shutdown), so a
second Ctrl-C cannot cut the writing of results short (Ctrl-\\ still quits).
The exit status is 128 + the first signal's number: 130 for Ctrl-C, 143 for
SIGTERM, 129 for SIGHUP.

Installed first thing by the ``racekit`` command (racekit/__main__.py), before
the heavy imports, so that a Ctrl-C even in its first milliseconds ends
quietly, with no traceback.
"""

from __future__ import annotations

import os
import signal

SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)
_received: list[int] = []
_phase = ["starting"]  # starting | running | finishing


def install() -> None:
    for number in SIGNALS:
        try:
            if signal.getsignal(number) is signal.SIG_IGN:
                continue  # started with it ignored (nohup, a background job): keep ignoring it
            signal.signal(number, _handler)
        except (OSError, ValueError):  # not the main thread, or not allowed here
            pass


def _handler(number: int, _frame: object) -> None:
    _received.append(number)
    # From now on the signals are ignored (SIG_IGN also survives the
    # interpreter's shutdown, which would otherwise restore the default and
    # let a second Ctrl-C kill racekit while it writes). Ctrl-\\ still quits.
    for other in SIGNALS:
        try:
            signal.signal(other, signal.SIG_IGN)
        except (OSError, ValueError):
            pass
    if _phase[0] == "running":
        os.write(2, b"racekit: stopping; writing the results gathered so far\n")
        raise KeyboardInterrupt
    # Starting (loading, planning), or writing the results: noted, and acted on
    # where racekit can act safely (before the first trial, at the exit). An
    # exception raised here could land in any code, even one that swallows it.


class running:
    """The phase in which a signal stops the trials (the engine's pool run)."""

    def __enter__(self) -> None:
        _phase[0] = "running"
        if _received:  # a signal came while starting: no trial is begun
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        _phase[0] = "finishing"


def received() -> bool:
    return bool(_received)


def exit_code() -> int:
    """128 + the first signal's number (130 for Ctrl-C when none was recorded)."""
    return 128 + (_received[0] if _received else signal.SIGINT)
