"""Case files: the format (``format``), its YAML reading (``yamlsource``, ``spec``),
the loaded records (``model``) and the loader that ties them together."""

from racekit.case.loader import discover, load_case, load_paths, parse_case
from racekit.case.model import Case, Expectation, Source, ThreadSpec, Variant

__all__ = ["Case", "Expectation", "Source", "ThreadSpec", "Variant", "discover", "load_case", "load_paths", "parse_case"]
