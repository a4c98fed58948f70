"""Rewrite the user's own modules when an instrumented trial imports them.

``controlled`` and ``yield`` modes see a shared access only where the code was
rewritten (:mod:`racekit.runtime.instrument`). A case's threads mostly call the
user's code (``setup: from shop.cache import Cache``), so the rewrite must
reach the modules they import, in the manner of pytest's assertion rewriting:
a finder on ``sys.meta_path`` hands the modules in scope to a loader that
rewrites their functions and methods; importlib's own ``exec_module`` runs
them, so no frame of racekit's sits between an import and the module's code
(``warnings`` and ``sys._getframe`` see what they see in the plain program).

In scope: modules under the case's folder and the project (the scope roots),
and modules named with ``instrument:`` / ``--instrument`` (even when installed
in site-packages); never racekit itself, and never the standard library or
site-packages unless named.

A worker imports each module in scope once (a :class:`ModuleSet` per scope
keeps it), whatever the bytecode-cache settings: a package of thousands of
lines is not executed again for every schedule of a search. Each execution
(one trial, one schedule) is a :class:`Session`: it puts the set's modules in
``sys.modules`` (hiding plain copies), points their ``__racekit__`` at that
execution's hooks, and afterwards takes them out again and puts back what the
execution changed of them: module-level names, class attributes, and the
contents of built-in containers they hold (a lazy singleton's ``_instance``,
a ``calls`` counter, a registry dict start over). Objects they refer to are
not copied: state inside other objects may carry over to the next execution,
as it does between tests in one pytest process. The rewritten code is also
cached by source hash, interpreter and optimisation level where CPython keeps
bytecode (``__pycache__`` or ``PYTHONPYCACHEPREFIX``), as pytest does.
"""

from __future__ import annotations

import ast
import collections
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import marshal
import os
import sys
import tempfile
import types
from typing import Any, Callable

from racekit.own_files import read_own
from racekit.runtime.instrument import HOOK, instrument_setup, written_globals

# Why a cached rewrite may be stale although the source is not: racekit's rewrite changed.
_REWRITER_FILES = ("instrument.py", "import_hook.py")
_HEADER = 16 + 32  # interpreter magic (4), padding (12), sha256 of source + rewriter (32)
MAX_CACHE_BYTES = 256 * 2**20  # a cached rewrite bigger than this is not one racekit wrote
_memory: dict[tuple[str, bytes], types.CodeType] = {}
_rewriter_digest: bytes | None = None
_active: Session | None = None
_sets: dict[tuple, ModuleSet] = {}

MakeHooks = Callable[[dict[str, Any], str], Any]  # (module namespace, file) -> the object behind __racekit__
_CONTAINERS = (list, dict, set, bytearray, collections.deque, collections.defaultdict, collections.OrderedDict,
               collections.Counter)


class ModuleSet:
    """The rewritten modules of one scope in this worker, each imported once,
    with the state its import left it in."""

    def __init__(self) -> None:
        self.modules: dict[str, types.ModuleType] = {}
        self.files: dict[str, str] = {}  # module file -> as traces show it
        self._snapshots: dict[str, _Snapshot] = {}

    def loaded(self, namespace: dict[str, Any]) -> None:
        """The module's code ran to its end: what it made is what every execution starts from."""
        name = namespace.get("__name__")
        if isinstance(name, str):
            self._snapshots[name] = _Snapshot(namespace)

    def complete(self, name: str) -> bool:
        """Whether the module's code ran to its end."""
        return name in self._snapshots

    def restore(self) -> None:
        for name, module in self.modules.items():
            snapshot = self._snapshots.get(name)
            if snapshot is not None:
                snapshot.restore(vars(module))


class _Snapshot:
    """A module's names, its classes' attributes, and the contents of the built-in
    containers either holds, as they were once its code had run."""

    def __init__(self, namespace: dict[str, Any]):
        from racekit.runtime.peek import instance_dict

        self.names = dict(namespace)
        module = namespace.get("__name__")
        self.classes = {cls: dict(vars(cls)) for cls in namespace.values()
                        if issubclass(type(cls), type) and vars(cls).get("__module__") == module}
        held = list(self.names.values()) + [v for attrs in self.classes.values() for v in attrs.values()]
        self.contents = {id(c): (c, _contents(c)) for c in held if type(c) in _CONTAINERS}
        # Objects the module holds (a singleton's wrapper, a registry): their own
        # attributes, one level deep, as the module's code left them.
        self.objects = {}
        for value in held:
            if issubclass(type(value), (type, types.ModuleType)) or type(value) in _CONTAINERS:
                continue
            attributes = instance_dict(value)
            if attributes is not None and id(value) not in self.objects:
                self.objects[id(value)] = (value, dict(attributes))
        self.caches = [v for v in held if type(v).__name__ == "_lru_cache_wrapper" and hasattr(v, "cache_clear")]

    def restore(self, namespace: dict[str, Any]) -> None:
        if len(namespace) != len(self.names) or any(namespace.get(k, _GONE) is not v for k, v in self.names.items()):
            for name in [n for n in namespace if n not in self.names and n != HOOK]:
                del namespace[name]
            for name, value in self.names.items():
                if name != HOOK and namespace.get(name, _GONE) is not value:
                    namespace[name] = value
        for cls, attributes in self.classes.items():
            current = vars(cls)
            for name in [n for n in current if n not in attributes]:
                try:
                    type.__delattr__(cls, name)
                except (AttributeError, TypeError):
                    pass
            for name, value in attributes.items():
                if current.get(name, _GONE) is not value and name not in ("__dict__", "__weakref__"):
                    try:
                        type.__setattr__(cls, name, value)
                    except (AttributeError, TypeError):
                        pass
        for container, saved in self.contents.values():
            if _contents(container) != saved:
                _refill(container, saved)
        for value, saved in self.objects.values():
            from racekit.runtime.peek import instance_dict

            attributes = instance_dict(value)
            if attributes is not None and (len(attributes) != len(saved)
                                           or any(attributes.get(k, _GONE) is not v for k, v in saved.items())):
                attributes.clear()
                attributes.update(saved)
        for cache in self.caches:
            cache.cache_clear()  # an @lru_cache of the module's starts empty, as after its import


_GONE = object()


def _contents(container: Any) -> tuple:
    """A container's contents by identity (never the program's ``__eq__``)."""
    if isinstance(container, dict):
        return tuple((id(k), k, id(v), v) for k, v in dict.items(container))
    if isinstance(container, bytearray):
        return (bytes(container),)
    return tuple((id(v), v) for v in container)


def _refill(container: Any, saved: tuple) -> None:
    if isinstance(container, dict):
        dict.clear(container)
        dict.update(container, ((k, v) for _, k, _, v in saved))
    elif isinstance(container, bytearray):
        container[:] = saved[0]
    elif isinstance(container, set):
        set.clear(container)
        set.update(container, (v for _, v in saved))
    else:
        container.clear()
        container.extend(v for _, v in saved)


def module_set(key: tuple) -> ModuleSet:
    """The rewritten modules this worker keeps for a scope."""
    found = _sets.get(key)
    if found is None:
        found = _sets[key] = ModuleSet()
    return found


class Session:
    """One instrumented execution: which modules are rewritten, and with what they run."""

    def __init__(self, covers_file: Callable[[str], bool], named: tuple[str, ...] = (), base: str = "",
                 verdicts: dict[tuple[str, str], bool] | None = None, modules: ModuleSet | None = None):
        self._covers_file = covers_file
        # (module name, file) -> in scope: kept by the program across its executions,
        # so hiding the modules in scope costs a lookup per module, not a path check.
        self._verdicts = verdicts if verdicts is not None else {}
        self.named = named
        self.base = base  # the case's folder: traces name module files relative to it
        self.set = modules if modules is not None else ModuleSet()
        self.make_hooks: MakeHooks | None = None
        self._hidden: dict[str, types.ModuleType] = {}
        self._finder = _Finder()
        self._outer: Session | None = None

    @property
    def files(self) -> dict[str, str]:
        return self.set.files

    @property
    def rewritten(self) -> dict[str, str]:
        return {name: getattr(module, "__file__", "") for name, module in self.set.modules.items()}

    def use(self, make_hooks: MakeHooks, stand_ins: Any = None) -> None:
        """What the rewritten modules announce to from now on (set once the trial's scheduler exists)."""
        self.make_hooks = make_hooks
        for module in self.set.modules.values():
            namespace = vars(module)
            namespace[HOOK] = make_hooks(namespace, self.set.files.get(namespace.get("__file__", ""), ""))

    def hooks_for(self, namespace: dict[str, Any], path: str) -> Any:
        shown = self.set.files.setdefault(path, shown_path(path, self.base))
        if self.make_hooks is not None:
            hooks = self.make_hooks(namespace, shown)
        else:
            from racekit.runtime.hooks import PlainHooks

            hooks = PlainHooks(namespace).bound_to(namespace, shown)
        hooks._on_loaded = self.set.loaded
        return hooks

    def wants(self, name: str, origin: str) -> bool:
        if not origin.endswith(".py") or origin.startswith(_RACEKIT):
            return False
        if any(name == n or name.startswith(n + ".") for n in self.named):
            return True
        return self._covers_file(origin)

    def __enter__(self) -> Session:
        global _active
        self._outer = _active  # a trial's own executions (a shrink, a reversal) each enter too
        verdicts = self._verdicts
        for name, module in list(sys.modules.items()):
            if self.set.modules.get(name) is module:
                continue
            file = getattr(module, "__file__", None)
            if not file:
                continue
            wanted = verdicts.get((name, file))
            if wanted is None:
                wanted = verdicts[(name, file)] = self.wants(name, os.path.abspath(file))
            if wanted:
                self._hidden[name] = sys.modules.pop(name)
        sys.modules.update(self.set.modules)
        sys.meta_path.insert(0, self._finder)
        _active = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        _active = self._outer
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        from racekit.runtime.hooks import PlainHooks

        for name, module in list(self.set.modules.items()):
            if sys.modules.get(name) is module:
                del sys.modules[name]
            elif not self.set.complete(name):
                del self.set.modules[name]  # its import failed: nothing to keep
                continue
            namespace = vars(module)
            namespace[HOOK] = PlainHooks(namespace).bound_to(namespace, namespace[HOOK].file)
        self.set.restore()
        sys.modules.update(self._hidden)
        self._hidden.clear()


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
    """The module at ``path`` as the active session has it: by its name when
    that finds this very file (rewritten if in scope, and imported once), else
    from the file."""
    module = imported_by_name(name, path)
    if module is not None:
        return module
    session = _active
    if session is not None and name in session.set.modules:
        return session.set.modules[name]
    loader: Any = (_RewritingLoader(name, path, session) if session is not None and session.wants(name, os.path.abspath(path))
                   else None)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
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
    """A source loader whose code is the rewrite. It makes the module itself (to
    give it its ``__racekit__`` before its code runs) and leaves running it to
    importlib, so that the module's code sees importlib's frames, not racekit's."""

    def __init__(self, fullname: str, path: str, session: Session):
        super().__init__(fullname, path)
        self.session = session

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name)
        namespace = vars(module)
        namespace[HOOK] = self.session.hooks_for(namespace, self.path)
        self.session.set.modules[spec.name] = module
        return module

    def get_code(self, fullname: str) -> types.CodeType:  # type: ignore[override]
        return rewritten_code(self.path, self.get_data(self.path))


_own_modules: frozenset[str] | None = None


def racekit_modules() -> frozenset[str]:
    """The modules a racekit worker has imported before it runs any case:
    racekit's own and the standard library and packages they need. Asked of a
    fresh interpreter (this process may hold the user's modules too), once."""
    global _own_modules
    if _own_modules is None:
        import subprocess

        from racekit.runtime.pool import WORKER_PATH, worker_pythonpath

        probe = WORKER_PATH + ("import racekit.runtime.worker, racekit.runtime.controlled.run, racekit.runtime.hooks; "
                               "print('\\n'.join(sys.modules))")
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": worker_pythonpath(os.environ)})
        _own_modules = frozenset(done.stdout.split()) if done.returncode == 0 else frozenset()
    return _own_modules


def shown_path(path: str, base: str) -> str:
    """A file as a reader finds it: relative to the case's folder, else to the
    working folder, when under it; an installed package's relative to site-packages."""
    if "site-packages" + os.sep in path:
        return path.rsplit("site-packages" + os.sep, 1)[1]
    for folder in (base, os.getcwd()):
        if folder:
            relative = os.path.relpath(path, folder)
            if not relative.startswith(".."):
                return relative
    return path


def rewritten_code(path: str, source: bytes) -> types.CodeType:
    """The module at ``path`` with its functions rewritten: from memory, from
    ``__pycache__``, or rewritten now (and cached, when that is allowed)."""
    digest = hashlib.sha256(source + _digest_of_rewriter() + b"optimize %d" % sys.flags.optimize).digest()
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
    # Once the module's code has run: what every execution starts from.
    done = ast.Expr(ast.Call(ast.Attribute(ast.Name(HOOK, ast.Load()), "loaded", ast.Load()), [], []))
    tree.body.append(ast.copy_location(done, tree.body[-1]) if tree.body else done)
    return compile(ast.fix_missing_locations(tree), path, "exec", dont_inherit=True)


def cache_path(path: str) -> str:
    """Where the rewrite of ``path`` is kept: where CPython keeps its own
    bytecode for this interpreter and optimisation level (``__pycache__``, or
    under ``PYTHONPYCACHEPREFIX``), under a name that says it is racekit's (so
    it is never mistaken for the plain bytecode, and racekit only ever
    replaces its own files): ``mod.cpython-311-racekit.pyc``,
    ``mod.cpython-311.opt-1-racekit.pyc`` under ``-O``."""
    try:
        plain = importlib.util.cache_from_source(path)
    except NotImplementedError:  # no cache tag: an interpreter without bytecode files
        folder, name = os.path.split(path)
        plain = os.path.join(folder, "__pycache__", (name[:-3] if name.endswith(".py") else name) + ".python.pyc")
    return plain[:-len(".pyc")] + "-racekit.pyc"


def _read_cache(path: str, digest: bytes) -> types.CodeType | None:
    try:
        # A link (or a device, a FIFO) in the cache's place is not racekit's file:
        # not read, and replaced on write.
        data, _ = read_own(cache_path(path), MAX_CACHE_BYTES)
    except OSError:
        return None
    if len(data) <= _HEADER or data[:4] != importlib.util.MAGIC_NUMBER or data[16:_HEADER] != digest:
        return None  # another interpreter's, another source's, or damaged: rewrite
    try:
        code = marshal.loads(data[_HEADER:])
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(code, types.CodeType):
        return None
    # Written in another checkout (a copied project, a restored CI cache): its
    # code objects name that file. CPython's importer renames them on load; so does racekit.
    return code if code.co_filename == path else _renamed(code, path)


def _renamed(code: types.CodeType, path: str) -> types.CodeType:
    consts = tuple(_renamed(c, path) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=path, co_consts=consts)


def _write_cache(path: str, digest: bytes, code: types.CodeType) -> None:
    """Written as CPython writes bytecode: to a temporary file of an unpredictable
    name, created exclusively and never through a link, then renamed into place."""
    if sys.dont_write_bytecode:
        return
    target = cache_path(path)
    folder = os.path.dirname(target)
    temporary = None
    try:
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=os.path.basename(target) + ".", suffix=".tmp")
        with os.fdopen(handle, "wb") as f:
            f.write(importlib.util.MAGIC_NUMBER + bytes(12) + digest + marshal.dumps(code))
        os.replace(temporary, target)  # whole or not at all, whoever else writes it; a link there is replaced
    except OSError:  # a read-only tree, a full disk: the rewrite stays in memory
        if temporary is not None:
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
