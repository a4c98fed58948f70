"""The transparency oracle: a package's own test suite, run with the package rewritten.

racekit promises that its rewrite adds scheduling points and never changes
what a program computes. The strongest check of that promise is other
people's tests: a package's own suite, run once plainly and once with every
module of the package rewritten by racekit's import hook, must pass and fail
the same tests. This pytest plugin makes the second run::

    RACEKIT_REWRITE=cachetools pytest -p racekit.transparency tests/

Every module whose top-level name is in ``RACEKIT_REWRITE`` (comma-separated)
is rewritten as in a controlled trial, and its ``__racekit__`` does what a
controlled trial's hooks do at each announcement, short of scheduling: it
looks at the object (which attribute or item, whether it is data, a lock or
code; the value a trace would show) and iterates shared containers through
racekit's own stepping iterator. So the suite exercises the rewrite and the
hooks' inspection of real objects; a difference from the plain run is a
fault of racekit's. ``benchmarks/transparency.py`` runs both halves for a
pinned list of packages and compares them test by test.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import threading
import types
from typing import Any, Iterator

from racekit.runtime import import_hook, peek
from racekit.runtime.controlled.controller import short_value
from racekit.runtime.hooks import (_ITERABLE_CONTAINERS, Pending, PlainHooks, _indexes_data, _item, _Pending,
                                   is_container, stepping)
from racekit.runtime.instrument import HOOK

_rewritten: dict[str, str] = {}  # module name -> file, as this process rewrote them


class ObservingHooks(PlainHooks):
    """A controlled trial's hooks without the scheduler: every announcement is
    inspected as a trial would inspect it, nothing waits, nothing is logged."""

    def __init__(self, namespace: dict[str, Any]):
        super().__init__(namespace)
        self._pending = Pending()

    def _prune(self) -> None:
        self._pending.prune(_getframe(2))

    def at(self, obj: Any, name: str, line: int) -> Any:
        self._prune()
        found = peek.read(obj, name)
        if found.kind == peek.DATA:
            short_value(found.value)
        return obj

    def st(self, obj: Any, name: str, line: int, update: bool = False) -> Any:
        peek.written(obj, name)
        return obj

    dl = st

    def ar(self, obj: Any, name: str, line: int) -> Any:
        self.at(obj, name, line)
        self._push((_frame(), obj, name))
        return obj

    def _push(self, entry: tuple) -> None:
        self._pending.push(_Pending(entry[0], entry[1] if len(entry) > 1 else None,
                                    entry[2] if len(entry) > 2 else ""))

    def _pop(self, frame: Any) -> Any:
        entry = self._pending.pop(frame)
        return None if entry is None else (entry.frame, entry.obj, entry.name)

    def co(self, obj: Any) -> Any:
        self._prune()
        self._push((_frame(), obj))
        return obj

    def ik(self, key: Any, line: int) -> Any:
        frame = _frame()
        entry = self._pop(frame)
        if entry is not None and _indexes_data(entry[1]):
            short_value(key)
        self._push((frame, None))
        return key

    def iv(self, value: Any) -> Any:
        self._pop(_frame())
        short_value(value)
        return value

    def sk(self, key: Any, line: int, update: bool = False) -> Any:
        entry = self._pop(_frame())
        if entry is not None and _indexes_data(entry[1]):
            short_value(key)
            _item(entry[1], key)
        return key

    def dk(self, key: Any, line: int) -> Any:
        self._pop(_frame())
        return key

    def ak(self, key: Any, line: int) -> Any:
        frame = _frame()
        entry = self._pop(frame)
        if entry is not None and _indexes_data(entry[1]):
            short_value(_item(entry[1], key))
        self._push((frame, None, key))
        return key

    def ga(self, name: str, line: int) -> None:
        self._prune()
        self._push((_frame(), self.ns, name))
        return None

    def aw(self, value: Any, line: int) -> Any:
        entry = self._pop(_frame())
        if entry is not None and entry[1] is not None:
            peek.written(entry[1], entry[2])
        return value

    def me(self, obj: Any, name: str, line: int, now: bool = False, key: Any = None) -> Any:
        self._prune()
        if not is_container(obj):
            peek.function_code(obj, name)
        if not now:
            self._push((_frame(), obj))
        return obj

    def la(self, value: Any) -> Any:
        self._pop(_frame())
        return value

    def fn(self, function: Any, line: int) -> Any:
        return function

    def lk(self, obj: Any, line: int, how: str = "") -> Any:
        if is_container(obj):
            short_value(obj)
        return obj

    tc = lk

    def it(self, obj: Any, line: int) -> Any:
        if type(obj) not in _ITERABLE_CONTAINERS:
            return obj
        return stepping(iter(obj), _steps(obj))

    def gr(self, name: str, line: int) -> None:
        short_value(self.ns.get(name, None))
        return None


_getframe = sys._getframe  # (a program may take sys._getframe away: attrs' tests do)


def _frame() -> Any:
    return _getframe(2)


def _steps(obj: Any) -> Iterator[None]:
    """The steps a controlled trial takes while iterating: here, a look at the container."""
    while True:
        short_value(obj)
        yield None


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, names: frozenset[str]):
        self.names = names

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        spec.loader = _Loader(fullname, spec.origin)
        return spec


class _Loader(importlib.machinery.SourceFileLoader):
    """Rewrites; leaves running the module to importlib (no frame of racekit's in between)."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name)
        vars(module)[HOOK] = ObservingHooks(vars(module))
        _rewritten[spec.name] = self.path
        return module

    def get_code(self, fullname: str) -> types.CodeType:  # type: ignore[override]
        return import_hook.rewritten_code(self.path, self.get_data(self.path))


def install(names: frozenset[str]) -> None:
    """Rewrite the named packages from now on (already imported modules stay as they are)."""
    if names and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(names))


def _names() -> frozenset[str]:
    return frozenset(n.strip() for n in os.environ.get("RACEKIT_REWRITE", "").split(",") if n.strip())


# Installed when pytest imports this plugin (``-p racekit.transparency``): before
# the suite's conftest files and test modules import the package.
install(_names())


def pytest_report_header(config: Any) -> str:
    names = ", ".join(sorted(_names())) or "nothing (RACEKIT_REWRITE is empty)"
    return f"racekit.transparency: rewriting {names}"


def pytest_sessionfinish(session: Any) -> None:
    output = getattr(session.config, "workeroutput", None)
    if output is not None:  # an xdist worker: its count goes to the controller
        output["racekit_rewritten"] = sorted(_rewritten)


def pytest_testnodedown(node: Any, error: Any) -> None:
    for name in getattr(node, "workeroutput", {}).get("racekit_rewritten", []):
        _rewritten.setdefault(name, "")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(f"racekit.transparency: rewrote {len(_rewritten)} modules "
                                f"of {', '.join(sorted(_names())) or 'nothing'}")
