"""The notes a trial can attach to its result, as templates.

They travel in English in results and JSON; kept in one place so the report
can recognise each one and say it in the reader's language
(racekit.report.messages.localized_note).
"""

from __future__ import annotations

PROCESSES = ("processes run truly in parallel (one interpreter and GIL each, on {cores} cores): their races need no "
             "forced switch points; mode {mode} applied only inside each process.")
START_DEFAULT = "children started with {method}, this interpreter's default start method."
START_NAMED = "children started with {method}, as named (this interpreter's default is {default})."
START_NAMED_FORK = ("children started with fork, as named: the case's code starts processes of its own that run "
                    "{work} ({api}, line {line}), and only a fork child inherits what setup defines.")
ADDRESSES = ("outcomes showed memory addresses, which differ in every run; racekit wrote them as 0x… so that equal "
             "outcomes count as one.")
SCRIPT = "a script runs as its own program: racekit's modes do not apply inside it (mode {mode} was ignored)."
TIMING = "timing cases measure real threads and processes: mode {mode} was ignored."
TRACER = ("{mode} mode replaced another trace function ({tracer}, e.g. coverage.py) in the case threads: that tool "
          "saw nothing they ran. On Python 3.12+ racekit uses sys.monitoring and both work.")
