"""A variant compiled for execution in this process: one module per kind of case.

``threads`` (YAML thread cases, and the base the others build on), ``processes``,
``script``, ``timing``, and ``python`` (cases written with ``@racekit.race_test``).
Each compiles its code with the case file's name and lines, so tracebacks show
the YAML lines the student wrote.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from racekit.case.model import Variant
from racekit.options import ModeSpec

if TYPE_CHECKING:
    from racekit.runtime.trial import Program

# kind -> "module:class"; loaded on first use.
KINDS = {
    "threads": "racekit.runtime.programs.threads:CaseProgram",
    "processes": "racekit.runtime.programs.processes:ProcessProgram",
    "script": "racekit.runtime.programs.script:ScriptProgram",
    "timing": "racekit.runtime.programs.timing:TimingProgram",
    "python": "racekit.runtime.programs.python:PythonProgram",
}


def compile_program(variant: Variant, mode: ModeSpec, roots: tuple[str, ...] = ()) -> Program:
    """The program for any variant: a YAML case, or a case written in Python."""
    kind = "python" if variant.target is not None else variant.kind
    module, _, name = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name).compile(variant, mode, roots)
