"""racekit: find and teach race conditions in Python.

The package root stays import-light on purpose: ``racekit --help``, worker
processes and the pytest plugin import it, and none of them should pay for the
runtime or rich. The public names load on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
# The CPython minor versions this release's CI runs its suite on. Newer ones
# install and run; their report header says they are untested.
TESTED_PYTHONS = ((3, 10), (3, 15))

_LAZY = {"race_test": "racekit.pycase", "any_of": "racekit.pycase", "Race": "racekit.pycase",
         "explore": "racekit.api", "replay": "racekit.api", "load": "racekit.api", "Result": "racekit.api",
         "CaseError": "racekit.errors"}

__all__ = ["CaseError", "Race", "Result", "__version__", "any_of", "explore", "load", "race_test", "replay"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'racekit' has no attribute {name!r}")
