"""The controlled engine: one case thread runs at a time, a strategy picks who moves.

- :mod:`.controller` passes the token, keeps the enabled set and each thread's
  typed pending operation, finds deadlocks and livelocks at once;
- :mod:`.strategies` one module per strategy behind the ``Strategy`` protocol;
- :mod:`.run` the one driver (``drive``) and a trial (``run_controlled``),
  :mod:`.search` exhaustive search, :mod:`.explain` traces and story facts,
  :mod:`.schedule` schedules as text, :mod:`.standins` the scheduler-aware
  ``threading``/``queue``/``time``.
"""
