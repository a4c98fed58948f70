"""A case written in Python (``@racekit.race_test``), run in a worker process.

The worker imports the test module again, finds the decorated function, and
calls it once per trial to build that trial's state and threads. Forcing
reaches the test module and the user's code under the scope roots (the
project), never the standard library or site-packages.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import random
import sys
from typing import Any

from racekit.case.model import Variant
from racekit.options import ModeSpec
from racekit.runtime import import_hook, modes
from racekit.runtime.forcing import Scope
from racekit.runtime.judging import CaseFailure, Prepared
from racekit.runtime.trial import Program


class PythonProgram(Program):
    def __init__(self, variant: Variant, forcing: Any, spec: Any):
        super().__init__(variant, forcing)
        self.spec = spec

    @classmethod
    def compile(cls, variant: Variant, mode: ModeSpec, roots: tuple[str, ...] = ()) -> PythonProgram:
        from racekit.pycase import spec_of

        target = variant.target
        assert target is not None
        for entry in reversed(target.sys_path):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        function: Any = _import(target.module, target.path)
        for part in target.qualname.split("."):
            function = getattr(function, part)
        spec = spec_of(function)
        if spec is None:
            raise TypeError(f"{target.module}.{target.qualname} is no longer a @racekit.race_test function")
        scope = Scope([spec.builder.__code__], [os.path.dirname(target.path), *roots], variant.instrument)
        return cls(variant, modes.mode(mode.name).make_forcing(mode, scope), spec)

    def prepare(self, seed: int, modules: dict[str, Any] | None = None) -> Prepared:
        from racekit.pycase import Race

        random.seed(seed)
        race = Race()
        spec = self.spec
        try:
            if import_hook.active() is not None:
                # Controlled and yield modes: the test module imported afresh, rewritten,
                # so that its threads' code (and the user's code it imports) is seen.
                spec = self._fresh_spec()
            names = _calling_keeping_locals(spec.builder, race)
            if race.outcome_reader is None:
                raise ValueError("the case function never called race.outcome(...)")
        except BaseException as exc:  # noqa: BLE001 - anything the case raises is a result
            raise CaseFailure("setup", exc) from None
        reader = race.outcome_reader
        expected = spec.expect
        number_expected = isinstance(expected, (int, float)) and not isinstance(expected, bool)
        return Prepared(
            threads=race.threads,
            outcome=reader,
            judge=spec.judge,
            target=(lambda: expected) if number_expected else (lambda: None),
            names=names,
        )

    def _fresh_spec(self) -> Any:
        from racekit.pycase import spec_of

        target = self.variant.target
        assert target is not None
        function: Any = import_hook.import_fresh(target.module, target.path)
        for part in target.qualname.split("."):
            function = getattr(function, part)
        return spec_of(function) or self.spec


def _calling_keeping_locals(function: Any, *args: Any) -> dict[str, Any]:
    """Call ``function``; its local variables as it returned. The case function's
    ``account = Account()`` then names that object "account" in traces."""
    captured: dict[str, Any] = {}
    code = function.__code__
    previous = sys.getprofile()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code is code:
            captured.update(frame.f_locals)

    sys.setprofile(profile)
    try:
        function(*args)
    finally:
        sys.setprofile(previous)
    return captured


def _import(module: str, path: str) -> Any:
    """The module by its name (as pytest imported it), else from its file."""
    imported = import_hook.imported_by_name(module, path)
    if imported is not None:
        return imported
    spec = importlib.util.spec_from_file_location(f"racekit_case_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    imported = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = imported
    spec.loader.exec_module(imported)
    return imported
