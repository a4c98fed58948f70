"""Case files: the format (``format``), its YAML reading (``yamlsource``, ``spec``),
the loaded records (``model``) and the loader that ties them together.

Names are resolved lazily: worker processes unpickle ``model`` records and
should not pay for importing YAML and the loader.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "discover": "racekit.case.loader",
    "load_case": "racekit.case.loader",
    "load_paths": "racekit.case.loader",
    "parse_case": "racekit.case.loader",
    "Case": "racekit.case.model",
    "Expectation": "racekit.case.model",
    "Source": "racekit.case.model",
    "ThreadSpec": "racekit.case.model",
    "Variant": "racekit.case.model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'racekit.case' has no attribute {name!r}")
