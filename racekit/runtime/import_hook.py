"""Rewrite the user's own modules when an instrumented trial imports them.

``controlled`` and ``yield`` modes see a shared access only where the code was
rewritten (:mod:`racekit.runtime.instrument`). A case's threads mostly call the
user's code (``setup: from shop.cache import Cache``), so the rewrite must
reach the modules they import, in the manner of pytest's assertion rewriting:
a finder on ``sys.meta_path`` hands the modules in scope to a loader that
rewrites their functions and methods before they run.

In scope: modules under the case's folder and the project (the scope roots),
and modules named with ``instrument:`` / ``--instrument`` (even when installed
in site-packages); never racekit itself, and never the standard library or
site-packages unless named.

Each execution (one trial, one schedule of a search) is an :class:`Session`:
modules in scope that were imported before it are hidden, so the trial
imports fresh, rewritten copies whose ``import threading`` gives that trial's
scheduler-aware stand-ins and whose ``__racekit__`` is that trial's hooks;
afterwards the copies are dropped and the hidden modules come back. The
rewritten code is cached by source hash and interpreter, in memory and next to
the source in ``__pycache__`` (as pytest does), so only the first execution
pays for the rewrite.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import marshal
import os
import sys
import types
from typing import Any, Callable

from racekit.runtime.instrument import HOOK, instrument_setup, written_globals

# Why a cached rewrite may be stale although the source is not: racekit's rewrite changed.
_REWRITER_FILES = ("instrument.py", "import_hook.py")
_HEADER = 16 + 32  # interpreter magic (4), padding (12), sha256 of source + rewriter (32)
_memory: dict[tuple[str, bytes], types.CodeType] = {}
_rewriter_digest: bytes | None = None
_active: Session | None = None

MakeHooks = Callable[[dict[str, Any], str], Any]  # (module namespace, file) -> the object behind __racekit__


class Session:
    """One instrumented execution: which modules are rewritten, and with what they run."""

    def __init__(self, covers_file: Callable[[str], bool], named: tuple[str, ...] = (), base: str = "",
                 verdicts: dict[tuple[str, str], bool] | None = None):
        self._covers_file = covers_file
        # (module name, file) -> in scope: kept by the program across its executions,
        # so hiding the modules in scope costs a lookup per module, not a path check.
        self._verdicts = verdicts if verdicts is not None else {}
        self.named = named
        self.base = base  # the case's folder: traces name module files relative to it
        self.make_hooks: MakeHooks | None = None
        self.stand_ins: dict[str, types.ModuleType] = {}
        self.rewritten: dict[str, str] = {}  # module name -> file, imported rewritten in this execution
        self.files: dict[str, str] = {}  # their files: path -> as traces show it
        self._hidden: dict[str, types.ModuleType] = {}
        self._before: set[str] = set()
        self._finder = _Finder()
        self._outer: Session | None = None

    def use(self, make_hooks: MakeHooks, stand_ins: dict[str, types.ModuleType]) -> None:
        """What the modules imported from now on call and import (set once the trial's scheduler exists)."""
        self.make_hooks = make_hooks
        self.stand_ins = stand_ins

    def wants(self, name: str, origin: str) -> bool:
        if not origin.endswith(".py") or origin.startswith(_RACEKIT):
            return False
        if any(name == n or name.startswith(n + ".") for n in self.named):
            return True
        return self._covers_file(origin)

    def __enter__(self) -> Session:
        global _active
        self._outer = _active  # a trial's own executions (a shrink, a reversal) each import afresh too
        self._before = set(sys.modules)
        verdicts = self._verdicts
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if not file:
                continue
            wanted = verdicts.get((name, file))
            if wanted is None:
                wanted = verdicts[(name, file)] = self.wants(name, os.path.abspath(file))
            if wanted:
                self._hidden[name] = sys.modules.pop(name)
        sys.meta_path.insert(0, self._finder)
        _active = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        _active = self._outer
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        for name in set(sys.modules) - self._before:
            file = getattr(sys.modules.get(name), "__file__", None)
            if name in self.rewritten or (file and self.wants(name, os.path.abspath(file))):
                del sys.modules[name]
        sys.modules.update(self._hidden)
        self._hidden.clear()

    def builtins_for_module(self) -> Any:
        """Builtins whose ``import threading`` (``queue``, ``time``) gives this trial's stand-ins."""
        if not self.stand_ins:
            return builtins
        return importing(self.stand_ins)


def importing(stand_ins: dict[str, types.ModuleType]) -> dict[str, Any]:
    """A builtins table whose ``__import__`` answers ``stand_ins`` by name."""
    real_import = builtins.__import__

    def racekit_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if level == 0 and name in stand_ins:
            return stand_ins[name]
        return real_import(name, globals, locals, fromlist, level)

    table = dict(vars(builtins))
    table["__import__"] = racekit_import
    return table


def active() -> Session | None:
    return _active


def imported_by_name(name: str, path: str) -> types.ModuleType | None:
    """``import name``, if that finds this very file (a test module pytest
    imported, a package module); None when the name leads elsewhere or nowhere."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    if os.path.abspath(getattr(module, "__file__", "") or "") == os.path.abspath(path):
        return module
    return None


def import_fresh(name: str, path: str) -> types.ModuleType:
    """The module at ``path`` imported in the active session: by its name when
    that finds this very file (rewritten if in scope), else from the file."""
    module = imported_by_name(name, path)
    if module is not None:
        return module
    session = _active
    loader: Any = (_RewritingLoader(name, path, session) if session is not None and session.wants(name, os.path.abspath(path))
                   else None)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if session is not None:
        session.rewritten.setdefault(name, path)  # dropped when the execution ends
    spec.loader.exec_module(module)
    return module


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        session = _active
        if session is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if (spec is None or spec.origin is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader)
                or not session.wants(fullname, os.path.abspath(spec.origin))):
            return None
        spec.loader = _RewritingLoader(fullname, spec.origin, session)
        return spec


class _RewritingLoader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname: str, path: str, session: Session):
        super().__init__(fullname, path)
        self.session = session

    def get_code(self, fullname: str) -> types.CodeType:  # type: ignore[override]
        return rewritten_code(self.path, self.get_data(self.path))

    def exec_module(self, module: types.ModuleType) -> None:
        code = self.get_code(module.__name__)
        session = self.session
        namespace = module.__dict__
        namespace["__builtins__"] = session.builtins_for_module()
        shown = session.files.setdefault(self.path, shown_path(self.path, session.base))
        if session.make_hooks is not None:
            namespace[HOOK] = session.make_hooks(namespace, shown)
        else:
            from racekit.runtime.hooks import PlainHooks

            namespace[HOOK] = PlainHooks(namespace)
        session.rewritten[module.__name__] = self.path
        exec(code, namespace)


def shown_path(path: str, base: str) -> str:
    """A file as a reader finds it: relative to the case's folder, else to the
    working folder, when under it."""
    for folder in (base, os.getcwd()):
        if folder:
            relative = os.path.relpath(path, folder)
            if not relative.startswith(".."):
                return relative
    return path


def rewritten_code(path: str, source: bytes) -> types.CodeType:
    """The module at ``path`` with its functions rewritten: from memory, from
    ``__pycache__``, or rewritten now (and cached, when that is allowed)."""
    digest = hashlib.sha256(source + _digest_of_rewriter()).digest()
    key = (path, digest)
    code = _memory.get(key)
    if code is None:
        code = _read_cache(path, digest)
        if code is None:
            code = _rewrite(path, source)
            _write_cache(path, digest, code)
        _memory[key] = code
    return code


def _rewrite(path: str, source: bytes) -> types.CodeType:
    tree = ast.parse(source, filename=path)
    tree = instrument_setup(tree, written_globals([tree]))
    return compile(tree, path, "exec", dont_inherit=True)


def cache_path(path: str) -> str:
    """Where the rewrite of ``path`` is kept: beside CPython's own bytecode,
    under a name that says it is racekit's (so it is never mistaken for the
    plain bytecode, and racekit only ever replaces its own files)."""
    folder, name = os.path.split(path)
    stem = name[:-3] if name.endswith(".py") else name
    tag = sys.implementation.cache_tag or "python"
    return os.path.join(folder, "__pycache__", f"{stem}.{tag}-racekit.pyc")


def _read_cache(path: str, digest: bytes) -> types.CodeType | None:
    try:
        with open(cache_path(path), "rb") as f:
            data = f.read()
    except OSError:
        return None
    if len(data) <= _HEADER or data[:4] != importlib.util.MAGIC_NUMBER or data[16:_HEADER] != digest:
        return None  # another interpreter's, another source's, or damaged: rewrite
    try:
        code = marshal.loads(data[_HEADER:])
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def _write_cache(path: str, digest: bytes, code: types.CodeType) -> None:
    if sys.dont_write_bytecode:
        return
    target = cache_path(path)
    temporary = f"{target}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(temporary, "wb") as f:
            f.write(importlib.util.MAGIC_NUMBER + bytes(12) + digest + marshal.dumps(code))
        os.replace(temporary, target)  # whole or not at all, whoever else writes it
    except OSError:  # a read-only tree, a full disk: the rewrite stays in memory
        try:
            os.unlink(temporary)
        except OSError:
            pass


def _digest_of_rewriter() -> bytes:
    global _rewriter_digest
    if _rewriter_digest is None:
        h = hashlib.sha256()
        for name in _REWRITER_FILES:
            with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), name), "rb") as f:
                h.update(f.read())
        _rewriter_digest = h.digest()
    return _rewriter_digest


_RACEKIT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
