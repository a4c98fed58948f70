"""What instrumented code calls at each visible operation (``__racekit__``).

:mod:`racekit.runtime.instrument` rewrites ``obj.attr`` into
``__racekit__.at(obj, "attr", LINE).attr`` and so on: each hook is told what
is about to happen, may make it a scheduling point and log it, and returns its
argument, so that the operation itself then happens in the program's own frame.
A hook never runs the program's code: what an access touches is found by
:mod:`racekit.runtime.peek`, and values are shown with :func:`short_value`,
which calls no ``__repr__`` of the program's.

- :class:`ControlledHooks` (``controlled`` mode) asks the scheduler before each
  operation and logs it;
- :class:`YieldHooks` (``yield`` mode) logs it on real threads and then, at
  random, gives up the CPU with ``os.sched_yield()``;
- :class:`PlainHooks` lets everything happen (outside any trial thread, and in
  modules imported while no trial runs).
"""

from __future__ import annotations

import collections
import copy
import os
import random
import sys
import threading
import types
from typing import Any, Iterator

from racekit.records import Op
from racekit.runtime import peek
from racekit.runtime.controlled.controller import Controller, short_value
from racekit.runtime.judging import yours

_getframe = sys._getframe


class PlainHooks:
    """Operations performed as written: every announcement returns what it was given."""

    def __init__(self, namespace: dict[str, Any]):
        self.ns = namespace
        self.file = ""

    def at(self, obj: Any, name: str, line: int) -> Any:
        return obj

    def st(self, obj: Any, name: str, line: int, update: bool = False) -> Any:
        return obj

    def dl(self, obj: Any, name: str, line: int) -> Any:
        return obj

    def co(self, obj: Any) -> Any:
        return obj

    def ik(self, key: Any, line: int) -> Any:
        return key

    def sk(self, key: Any, line: int, update: bool = False) -> Any:
        return key

    def dk(self, key: Any, line: int) -> Any:
        return key

    def me(self, obj: Any, name: str, line: int, now: bool = False) -> Any:
        return obj

    def la(self, value: Any) -> Any:
        return value

    def rv(self, value: Any) -> Any:
        return value

    def fn(self, function: Any, line: int) -> Any:
        return function

    def lk(self, obj: Any, line: int, how: str = "") -> Any:
        return obj

    def tc(self, obj: Any, line: int) -> Any:
        return obj

    def it(self, obj: Any, line: int) -> Any:
        return obj

    def gr(self, name: str, line: int) -> None:
        return None

    def gw(self, name: str, line: int, update: bool = False) -> None:
        return None

    def gd(self, name: str, line: int) -> None:
        return None

    @staticmethod
    def sl(lower: Any, upper: Any, step: Any) -> slice:
        return slice(lower, upper, step)

    _on_loaded: Any = None  # import_hook: keeps the state a module's code left

    def loaded(self) -> None:
        """The module's code ran to its end (its rewrite's last statement calls this)."""
        if self._on_loaded is not None:
            self._on_loaded(self.ns)

    def bound_to(self, namespace: dict[str, Any], file: str) -> PlainHooks:
        """These hooks for a rewritten module: its globals, its file."""
        hooks = copy.copy(self)
        hooks.ns, hooks.file = namespace, file
        return hooks


class Labels:
    """Readable names for objects in traces: ``account.balance``, ``items[0]``."""

    def __init__(self, namespace: dict[str, Any] | None = None):
        self._names: dict[int, str] = {}
        self._numbers: dict[int, int] = {}
        if namespace:
            self.learn(namespace)

    def learn(self, namespace: dict[str, Any]) -> None:
        """Name the objects ``namespace`` holds by its names (the first name wins)."""
        for name, value in namespace.items():
            if name.startswith("_") or (id(value) in self._names and id(value) not in self._numbers):
                continue  # a name given already wins; a number given before the name was known does not
            if peek.is_a(value, _sync_type()):
                value._name(name)  # `lock = threading.Lock()` is called "lock" in traces
            if not peek.is_a(value, (types.ModuleType, types.FunctionType, type, int, float, str, bool, type(None))):
                self._names[id(value)] = name

    def of(self, obj: Any) -> str:
        name = self._names.get(id(obj))
        if name is None and peek.is_a(obj, (type, types.ModuleType, types.FunctionType)):
            name = obj.__qualname__ if peek.is_a(obj, (type, types.FunctionType)) else obj.__name__
        if name is None and peek.is_a(obj, dict) and id(obj) in self._modules:
            name = self._modules[id(obj)]
        if name is None:
            number = self._numbers.setdefault(id(obj), len(self._numbers) + 1)
            name = f"{type(obj).__name__}#{number}"
            self._names[id(obj)] = name
        return name

    @property
    def _modules(self) -> dict[int, str]:
        """Module namespaces by id: a module global reached as ``mod.x`` is named ``mod.x``."""
        found = self.__dict__.get("_module_names")
        if found is None:
            found = self.__dict__["_module_names"] = {}
        return found

    def module(self, namespace: dict[str, Any], name: str) -> None:
        self._modules[id(namespace)] = name

    def reached(self, value: Any, label: str) -> None:
        """Name a container no name holds by the way the code reached it
        (``groups['a'].append()``, not ``list#1.append()``); a name it has,
        even a number already shown, stays, so one trace never renames it."""
        if id(value) not in self._names:
            self._names[id(value)] = label

    def attribute(self, obj: Any, attr: str) -> str:
        return f"{self.of(obj)}.{attr}"

    def item(self, obj: Any, key: Any) -> str:
        return f"{self.of(obj)}[{short_value(key)}]"


class _Pending:
    """A thread's announced subscript or call, waiting for its key or last argument."""

    __slots__ = ("frame", "obj", "name", "line")

    def __init__(self, frame: Any, obj: Any, name: str = "", line: int = 0):
        self.frame, self.obj, self.name, self.line = frame, obj, name, line


class ControlledHooks(PlainHooks):
    """Every operation waits for the scheduler's choice, then is logged and happens."""

    def __init__(self, namespace: dict[str, Any], controller: Controller, labels: Labels,
                 rewritten_files: dict[str, str] | None = None, case_file: str = ""):
        super().__init__(namespace)
        self.ctl = controller
        self.labels = labels
        self._local = controller._local
        self._rewritten = rewritten_files if rewritten_files is not None else {}  # modules' files whose code is rewritten (live): calls into others are unseen
        self._case_file = case_file
        self.unseen: dict[str, None] = {}  # Python code the threads called that racekit cannot see into
        self._seen_code: dict[types.CodeType, bool] = {}

    def _mine(self) -> bool:
        return getattr(self._local, "index", None) is not None

    def _step(self, kind: str, what: str, location: tuple[int, str], subject: Any, wide: bool = False) -> None:
        """The decision before an operation on shared state (``subject``: the object it touches).
        ``wide``: the step may also look into the container it reads (see :meth:`_read_object`)."""
        self.ctl.point(kind, what, location=location, subject=subject, wide=wide)

    def _read_object(self, value: Any) -> None:
        """A read returned ``value``: if it is a shared container, the operation
        that looks into it next (``len``, ``in``, a truth test) belongs to this
        step, as long as no operation happened in between."""
        if is_container(value):
            self._local.fresh = (id(value), len(self.ctl.log))

    def _fresh(self, obj: Any) -> bool:
        return getattr(self._local, "fresh", None) == (id(obj), len(self.ctl.log))

    def _stack(self) -> list[_Pending]:
        stack = getattr(self._local, "pending", None)
        if stack is None:
            stack = self._local.pending = []
        return stack

    def _pop(self, frame: Any) -> _Pending | None:
        """The announcement this frame made last (one left behind by an exception is dropped)."""
        stack = self._stack()
        while stack:
            entry = stack.pop()
            if entry.frame is frame:
                return entry
        return None

    # -- attributes ----------------------------------------------------------------

    def at(self, obj: Any, name: str, line: int) -> Any:
        if not self._mine() or peek.is_a(obj, _PRIVATE):
            return obj
        found = peek.read(obj, name)
        if found.kind != peek.DATA or peek.is_a(found.value, _sync_type()):
            if found.kind in (peek.REF, peek.DATA) and peek.is_a(found.value, _sync_type()):
                # A lock, a queue: reaching it shares no data; its name is how the code reached it.
                found.value._name(self.labels.attribute(obj, name))
            return obj
        location = (id(found.owner), name)
        what = self._attribute_label(obj, found.owner, name)
        wide = is_container(found.value)
        steps = self.ctl.steps
        self._step("read", what, location, found.owner, wide)
        # The value now: another thread may have changed it while this one waited.
        value = found.value if self.ctl.steps == steps else peek.stored(obj, name)
        self.ctl.record("read", what, location=location, value=_shown(value), line=line, file=self.file)
        if wide and value is not peek.MISSING:
            self.labels.reached(value, what)
            self._read_object(value)
        return obj

    def st(self, obj: Any, name: str, line: int, update: bool = False) -> Any:
        if not self._mine() or peek.is_a(obj, _PRIVATE):
            return obj
        found = peek.written(obj, name)
        if found.kind != peek.DATA:
            return obj
        location = (id(found.owner), name)
        what = self._attribute_label(obj, found.owner, name)
        self._step("write", what, location, found.owner)
        op = self.ctl.record("write", what, location=location, line=line, file=self.file, update=update)
        self.ctl.settle(op, lambda: _shown(peek.stored(obj, name)))  # the value, once stored
        return obj

    def dl(self, obj: Any, name: str, line: int) -> Any:
        if not self._mine() or peek.is_a(obj, _PRIVATE):
            return obj
        found = peek.written(obj, name)
        if found.kind != peek.DATA:
            return obj
        location = (id(found.owner), name)
        what = self._attribute_label(obj, found.owner, name)
        self._step("delete", what, location, found.owner)
        self.ctl.record("write", what, location=location, value="<deleted>", line=line, file=self.file)
        return obj

    def _attribute_label(self, obj: Any, owner: Any, name: str) -> str:
        if peek.is_a(obj, types.ModuleType):
            return f"{obj.__name__}.{name}"
        return self.labels.attribute(obj, name)

    # -- subscripts ----------------------------------------------------------------

    def co(self, obj: Any) -> Any:
        if self._mine():
            self._stack().append(_Pending(_getframe(1), obj))
        return obj

    def ik(self, key: Any, line: int) -> Any:
        if not self._mine():
            return key
        entry = self._pop(_getframe(1))
        if entry is None or not _indexes_data(entry.obj):
            return key
        obj = entry.obj
        what = self.labels.item(obj, key)
        location = (id(obj), _key(key))
        wide = _may_hold_container(obj, key)
        self._step("read", what, location, obj, wide)
        value = _item(obj, key)
        op = self.ctl.record("read", what, location=location, value=_shown(value), line=line, file=self.file)
        if value is peek.MISSING:
            self.ctl.settle(op, lambda: _shown(_item(obj, key)))  # a defaultdict fills it in as it is read
        elif wide:
            self.labels.reached(value, what)
            self._read_object(value)
        return key

    def sk(self, key: Any, line: int, update: bool = False) -> Any:
        if not self._mine():
            return key
        entry = self._pop(_getframe(1))
        if entry is None or not _indexes_data(entry.obj):
            return key
        obj = entry.obj
        what = self.labels.item(obj, key)
        location = (id(obj), _key(key))
        self._step("write", what, location, obj)
        op = self.ctl.record("write", what, location=location, line=line, file=self.file, update=update)
        self.ctl.settle(op, lambda: _shown(_item(obj, key)))
        return key

    def dk(self, key: Any, line: int) -> Any:
        if not self._mine():
            return key
        entry = self._pop(_getframe(1))
        if entry is None or not _indexes_data(entry.obj):
            return key
        obj = entry.obj
        what = self.labels.item(obj, key)
        location = (id(obj), _key(key))
        self._step("delete", what, location, obj)
        self.ctl.record("write", what, location=location, value="<deleted>", line=line, file=self.file)
        return key

    # -- calls ---------------------------------------------------------------------

    def me(self, obj: Any, name: str, line: int, now: bool = False) -> Any:
        if not self._mine():
            return obj
        container = is_container(obj)
        if not container:
            self._note_unseen(peek.function_code(obj, name), name)
        if now:
            if container:
                self._container_call(obj, name, line)
        else:
            self._stack().append(_Pending(_getframe(1), obj if container else None, name, line))
        return obj

    def la(self, value: Any) -> Any:
        if not self._mine():
            return value
        entry = self._pop(_getframe(1))
        if entry is not None and entry.obj is not None:
            self._container_call(entry.obj, entry.name, entry.line)
        return value

    def rv(self, value: Any) -> Any:
        op = getattr(self._local, "call_op", None)
        if op is not None:
            self._local.call_op = None
            op.value = _shown(value) if value is not None else ""
        return value

    def _container_call(self, obj: Any, name: str, line: int) -> None:
        what = f"{self.labels.of(obj)}.{name}()"
        if not (name in READ_ONLY_METHODS and self._fresh(obj)):
            self._step("call", what, (id(obj), "*"), obj)
        kind = "read" if name in READ_ONLY_METHODS else "call"
        self._local.call_op = self.ctl.record(kind, what, location=(id(obj), "*"), line=line, file=self.file)

    def fn(self, function: Any, line: int) -> Any:
        if self._mine() and peek.is_a(function, types.FunctionType):
            self._note_unseen(function.__code__, function.__qualname__)
        return function

    def _note_unseen(self, code: types.CodeType | None, name: str) -> None:
        """Python code that the threads call but racekit does not rewrite: its shared
        accesses are invisible to the scheduler (the report says which)."""
        if code is None:
            return
        known = self._seen_code.get(code)
        if known is not None:
            return
        file = code.co_filename
        self._seen_code[code] = True
        if (file == self._case_file or file in self._rewritten or file.startswith(("<", _RACEKIT))
                or file.startswith(_STDLIB)):
            return  # the case's own code, racekit's stand-ins, the standard library
        if len(self.unseen) < 8:
            self.unseen[f"{code.co_qualname if hasattr(code, 'co_qualname') else name} "
                        f"({file}:{code.co_firstlineno})"] = None

    # -- whole containers ------------------------------------------------------------

    def lk(self, obj: Any, line: int, how: str = "") -> Any:
        if self._mine() and is_container(obj):
            self.look(obj, line)
        return obj

    def tc(self, obj: Any, line: int) -> Any:
        if self._mine() and is_container(obj):
            self.look(obj, line)
        return obj

    def look(self, obj: Any, line: int) -> None:
        """A step that reads a whole shared container (its length, its members)."""
        if self._fresh(obj):
            return  # just read from a shared location, in this very step
        what = self.labels.of(obj)
        self._step("read", what, (id(obj), "*"), obj)
        self.ctl.record("read", what, location=(id(obj), "*"), value=_contents(obj), line=line, file=self.file)

    def it(self, obj: Any, line: int) -> Any:
        if not self._mine() or type(obj) not in _ITERABLE_CONTAINERS:
            return obj
        return self._items(obj, line)

    def _items(self, obj: Any, line: int) -> Iterator[Any]:
        """Iteration over a shared container: creating the iterator and taking
        each item are steps, as ``GET_ITER`` and each ``FOR_ITER`` are in CPython
        (a dict's iterator fails once the dict changed size; a list may grow)."""
        what = self.labels.of(obj)
        location = (id(obj), "*")
        self._step("read", what, location, obj)
        iterator = iter(obj)
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                self.ctl.record("read", what, location=location, value="(end)", line=line, file=self.file)
                return
            except Exception as exc:  # the program's iteration failed (a dict changed size): its error
                self.ctl.record("read", what, location=location, value=f"<{type(exc).__name__}>", line=line,
                                file=self.file)
                raise yours(exc) from None
            self.ctl.record("read", what, location=location, value=_shown(item), line=line, file=self.file)
            yield item
            self._step("read", what, location, obj)

    # -- globals -------------------------------------------------------------------

    def gr(self, name: str, line: int) -> None:
        if not self._mine():
            return None
        ns = self.ns
        current = ns.get(name, peek.MISSING)
        wide = is_container(current)
        self._step("read", name, (id(ns), name), ns, wide)
        value = ns.get(name, peek.MISSING)
        self.ctl.record("read", name, location=(id(ns), name), value=_shown(value), line=line, file=self.file)
        if wide and value is not peek.MISSING:
            self._read_object(value)
        return None

    def gw(self, name: str, line: int, update: bool = False) -> None:
        if not self._mine():
            return None
        ns = self.ns
        self._step("write", name, (id(ns), name), ns)
        op = self.ctl.record("write", name, location=(id(ns), name), line=line, file=self.file, update=update)
        self.ctl.settle(op, lambda: _shown(ns.get(name, peek.MISSING)))
        return None

    def gd(self, name: str, line: int) -> None:
        if not self._mine():
            return None
        ns = self.ns
        self._step("delete", name, (id(ns), name), ns)
        self.ctl.record("write", name, location=(id(ns), name), value="<deleted>", line=line, file=self.file)
        return None


# Containers whose methods are single steps in CPython (each runs under the
# GIL as one C call): controlled mode schedules around them, but they never
# race with each other (list.append from two threads is safe). Subclasses
# (defaultdict, OrderedDict, Counter) are containers too.
CONTAINERS = (list, dict, set, bytearray, collections.deque)
# Iteration with a step per item: the containers whose iterator is CPython's own.
_ITERABLE_CONTAINERS = frozenset({list, dict, set, bytearray, collections.deque, collections.defaultdict,
                                  collections.OrderedDict, collections.Counter})
# Methods that only look: a step that reads the container, not one that changes it.
READ_ONLY_METHODS = frozenset({"get", "keys", "values", "items", "count", "index", "copy", "issubset", "issuperset",
                               "isdisjoint", "union", "intersection", "difference", "symmetric_difference",
                               "__len__", "__contains__", "__getitem__", "__iter__", "most_common"})
_RACEKIT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_STDLIB = os.path.dirname(os.__file__)
# Per-thread storage: every thread sees its own attributes, so nothing there is shared.
_PRIVATE = (threading.local,)
# Values whose subscripts never change (nothing to race on).
_IMMUTABLE = (str, bytes, tuple, range, frozenset, int, float, complex, memoryview, type)


def _indexes_data(obj: Any) -> bool:
    """Whether ``obj[key]`` reads or writes data held by ``obj`` without running
    the program's code: a built-in container's item, or a C type's (an array)."""
    if is_container(obj):
        return True
    if peek.is_a(obj, _IMMUTABLE):
        return False
    _, getitem = peek.lookup(type(obj), "__getitem__")
    return getitem is not peek.MISSING and not peek.is_a(getitem, types.FunctionType)


def _item(obj: Any, key: Any) -> Any:
    """``obj[key]`` now, read without running the program's code (MISSING when that cannot be done)."""
    try:
        if type(obj) is dict or (peek.is_a(obj, dict) and _plain_key(key)):
            return dict.get(obj, key, peek.MISSING) if _plain_key(key) else peek.MISSING
        if peek.is_a(obj, (list, collections.deque, bytearray)) and type(key) is int:
            return type(obj).__getitem__(obj, key) if peek.is_a(obj, collections.deque) else list.__getitem__(
                obj, key) if peek.is_a(obj, list) else bytearray.__getitem__(obj, key)
        if peek.is_a(obj, list) and type(key) is slice:
            return list.__getitem__(obj, key)
    except (IndexError, KeyError, TypeError):
        return peek.MISSING
    return peek.MISSING


def _plain_key(key: Any) -> bool:
    """A key whose hash and equality are CPython's own (no program code runs in a lookup)."""
    if type(key) in (int, str, bytes, float, bool, type(None)):
        return True
    return type(key) is tuple and all(_plain_key(k) for k in key)


def _may_hold_container(obj: Any, key: Any) -> bool:
    """Whether ``obj[key]`` may be a shared container, judged without running
    any of the case's code."""
    value = _item(obj, key)
    return is_container(value) if value is not peek.MISSING else not peek.is_a(obj, (str, bytes, bytearray))


def is_container(value: Any) -> bool:
    return peek.is_a(value, CONTAINERS)


def _shown(value: Any) -> str:
    return "" if value is peek.MISSING else short_value(value)


def _contents(obj: Any) -> str:
    """A shared container as a trace shows it, bounded however large it is."""
    return short_value(obj)


def _key(key: Any) -> str:
    return short_value(key, whole=True)


def _sync_type() -> type:
    """The stand-ins' base class (imported late: the stand-ins use these hooks' helpers)."""
    global _SYNC
    if _SYNC is None:
        from racekit.runtime.controlled.standins import _Sync

        _SYNC = _Sync
    return _SYNC


_SYNC: type | None = None


class YieldHooks(PlainHooks):
    """Real threads at full speed; before each shared access, at random, ``os.sched_yield()``.

    Each access is logged as it is announced, under one lock, and happens as
    the hook returns, in the program's frame: on a GIL build nothing the
    thread does between the two lets another thread in (no call, no loop,
    no function entry), so the log's order is the order of the accesses,
    which an exact lost-update count needs. ``time.sleep(0)`` would cost
    ~75 µs on 3.11+; ``sched_yield`` costs well under one and also lets the
    GIL go."""

    def __init__(self, namespace: dict[str, Any], labels: Labels, seed: int, probability: float = 0.5):
        super().__init__(namespace)
        self.labels = labels
        self.log: list[Op] = []
        self._lock = threading.Lock()
        self._seed = seed
        self._probability = probability
        self._local = threading.local()
        self.threads: dict[int, int] = {}  # thread ident -> thread index

    def register(self, index: int) -> None:
        """Called by each trial thread as it starts."""
        self._local.index = index
        self._local.rng = random.Random(self._seed * 1_000_003 + index)

    def _access(self, kind: str, what: str, location: tuple[int, str], value: Any, line: int,
                update: bool = False) -> None:
        index = getattr(self._local, "index", None)
        if index is None:
            return
        if self._local.rng.random() < self._probability:
            os.sched_yield()
        self._lock.acquire()
        self.log.append(Op(len(self.log), index, kind, what, location, _shown(value), line, update=update,
                           file=self.file))
        self._lock.release()

    def at(self, obj: Any, name: str, line: int) -> Any:
        if getattr(self._local, "index", None) is None or peek.is_a(obj, _PRIVATE):
            return obj
        found = peek.read(obj, name)
        if found.kind == peek.DATA:
            self._access("read", self.labels.attribute(obj, name), (id(found.owner), name), found.value, line)
        return obj

    def st(self, obj: Any, name: str, line: int, update: bool = False) -> Any:
        if getattr(self._local, "index", None) is None or peek.is_a(obj, _PRIVATE):
            return obj
        found = peek.written(obj, name)
        if found.kind == peek.DATA:
            self._access("write", self.labels.attribute(obj, name), (id(found.owner), name), peek.MISSING, line,
                         update)
        return obj

    def co(self, obj: Any) -> Any:
        if getattr(self._local, "index", None) is not None:
            stack = getattr(self._local, "pending", None)
            if stack is None:
                stack = self._local.pending = []
            stack.append(_Pending(_getframe(1), obj))
        return obj

    def _popped(self, frame: Any) -> Any:
        stack = getattr(self._local, "pending", None) or []
        while stack:
            entry = stack.pop()
            if entry.frame is frame:
                return entry.obj
        return peek.MISSING

    def ik(self, key: Any, line: int) -> Any:
        if getattr(self._local, "index", None) is None:
            return key
        obj = self._popped(_getframe(1))
        if obj is not peek.MISSING and _indexes_data(obj):
            self._access("read", self.labels.item(obj, key), (id(obj), _key(key)), _item(obj, key), line)
        return key

    def sk(self, key: Any, line: int, update: bool = False) -> Any:
        if getattr(self._local, "index", None) is None:
            return key
        obj = self._popped(_getframe(1))
        if obj is not peek.MISSING and _indexes_data(obj):
            self._access("write", self.labels.item(obj, key), (id(obj), _key(key)), peek.MISSING, line, update)
        return key

    def dk(self, key: Any, line: int) -> Any:
        if getattr(self._local, "index", None) is None:
            return key
        self._popped(_getframe(1))
        return key

    def gr(self, name: str, line: int) -> None:
        self._access("read", name, (id(self.ns), name), self.ns.get(name, peek.MISSING), line)

    def gw(self, name: str, line: int, update: bool = False) -> None:
        self._access("write", name, (id(self.ns), name), peek.MISSING, line, update)

    def tc(self, obj: Any, line: int) -> Any:
        if is_container(obj):
            self._access("read", self.labels.of(obj), (id(obj), "*"), obj, line)
        return obj

    lk = tc
