"""Stands in for a case's namespace in a process that does not have it.

racekit runs a case's setup in a module registered as ``racekit._case``, so
that the functions and classes it defines pickle by name. Where racekit built
that module (its workers, the children it starts, any ``fork`` child), this file
is never imported: ``sys.modules`` already holds the module. It runs only in a
process started by ``spawn`` or ``forkserver`` from the case's own code (a
``Pool``'s worker, a ``Process``), which is a fresh interpreter that was asked
to run something of the case. It cannot, so it says why: to the parent trial,
through the notice file that it watches (it ends the trial at once), and as
this import's error.
"""

from __future__ import annotations

import multiprocessing

from racekit.runtime.startmethod import notice_path

_method = multiprocessing.get_start_method(allow_none=True) or "spawn"
_who = multiprocessing.current_process().name
_SUMMARY = f"a process that the case's code started with {_method} cannot run code defined in the case"
_DETAIL = (
    f"{_who} was started with the {_method} start method and asked to run something the case's setup defines. "
    f"A {_method} child is a fresh interpreter: it has only what it can import, and the case's setup is not "
    "importable (only a fork child inherits it). Name `start_method: fork` in the case, or take the work from "
    "an importable module."
)
try:
    with open(notice_path(), "a", encoding="utf-8") as _notice:
        _notice.write(f"{_SUMMARY}\n{_DETAIL}\n")
except OSError:
    pass
raise ImportError(f"{_SUMMARY}: {_DETAIL}")
