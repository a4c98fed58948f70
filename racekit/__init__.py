"""racekit: find and teach race conditions in Python.

The package root stays import-light on purpose: ``racekit --help`` and the
pytest plugin import it, and neither should pay for the runtime or rich.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
