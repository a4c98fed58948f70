"""What instrumented case code calls at each visible operation (``__racekit__``).

:mod:`racekit.runtime.instrument` rewrites ``obj.attr`` into
``__racekit__.get(obj, "attr", LINE)`` and so on; this module supplies the
object behind that name:

- :class:`ControlledHooks` (``controlled`` mode) asks the scheduler before each
  operation and logs it;
- :class:`YieldHooks` (``yield`` mode) performs it on real threads, logs it,
  and then, at random, gives up the CPU with ``os.sched_yield()``;
- :class:`PlainHooks` just performs it (outside any trial thread, e.g. while
  setup or the outcome calls an instrumented function).
"""

from __future__ import annotations

import builtins
import collections
import copy
import operator
import os
import random
import threading
import types
from typing import Any

from racekit.records import Op
from racekit.runtime.controlled.controller import Controller, short_value


class PlainHooks:
    """Operations performed as written; the in-place operators every hook needs."""

    iadd, isub, imul, imatmul, itruediv = operator.iadd, operator.isub, operator.imul, operator.imatmul, operator.itruediv
    ifloordiv, imod, ipow, ilshift, irshift = operator.ifloordiv, operator.imod, operator.ipow, operator.ilshift, operator.irshift
    ior, ixor, iand = operator.ior, operator.ixor, operator.iand

    def __init__(self, namespace: dict[str, Any]):
        self.ns = namespace

    def get(self, obj: Any, attr: str, line: int) -> Any:
        return getattr(obj, attr)

    def set(self, obj: Any, attr: str, value: Any, line: int, update: bool = False) -> None:
        setattr(obj, attr, value)

    def delattr(self, obj: Any, attr: str, line: int) -> None:
        delattr(obj, attr)

    def getitem(self, obj: Any, key: Any, line: int) -> Any:
        return obj[key]

    def setitem(self, obj: Any, key: Any, value: Any, line: int, update: bool = False) -> None:
        obj[key] = value

    def delitem(self, obj: Any, key: Any, line: int) -> None:
        del obj[key]

    def call(self, obj: Any, name: str, line: int, /, *args: Any, **kwargs: Any) -> Any:
        return getattr(obj, name)(*args, **kwargs)

    def fcall(self, func: Any, line: int, /, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    def touch(self, obj: Any, line: int) -> Any:
        return obj

    def iterate(self, obj: Any, line: int) -> Any:
        return obj

    def gget(self, name: str, line: int) -> Any:
        try:
            return self.ns[name]
        except KeyError:
            try:
                return getattr(builtins, name)
            except AttributeError:
                raise NameError(f"name {name!r} is not defined") from None

    def gset(self, name: str, value: Any, line: int, update: bool = False) -> None:
        self.ns[name] = value


class Labels:
    """Readable names for objects in traces: ``account.balance``, ``items[0]``."""

    def __init__(self, namespace: dict[str, Any] | None = None):
        self._names: dict[int, str] = {}
        self._numbers: dict[int, int] = {}
        if namespace:
            self.learn(namespace)

    def learn(self, namespace: dict[str, Any]) -> None:
        """Name the objects ``namespace`` holds by its names (the first name wins)."""
        from racekit.runtime.controlled.standins import _Sync

        for name, value in namespace.items():
            if name.startswith("_") or (id(value) in self._names and id(value) not in self._numbers):
                continue  # a name given already wins; a number given before the name was known does not
            if isinstance(value, _Sync):
                value._name(name)  # `lock = threading.Lock()` is called "lock" in traces
            if not isinstance(value, (types.ModuleType, types.FunctionType, type, int, float, str, bool, type(None))):
                self._names[id(value)] = name

    def of(self, obj: Any) -> str:
        name = self._names.get(id(obj))
        if name is None and isinstance(obj, (type, types.ModuleType, types.FunctionType)):
            name = getattr(obj, "__qualname__", None) or obj.__name__  # `Hits.total`, not `type#1.total`
        if name is None:
            number = self._numbers.setdefault(id(obj), len(self._numbers) + 1)
            name = f"{type(obj).__name__}#{number}"
            self._names[id(obj)] = name
        return name

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


class ControlledHooks(PlainHooks):
    """Every operation waits for the scheduler's choice, then happens and is logged."""

    def __init__(self, namespace: dict[str, Any], controller: Controller, labels: Labels,
                 rewritten_files: dict[str, str] | None = None, case_file: str = ""):
        super().__init__(namespace)
        self.ctl = controller
        self.labels = labels
        self._local = controller._local
        self._rewritten = rewritten_files if rewritten_files is not None else {}  # modules' files whose code is rewritten (live): calls into others are unseen
        self._case_file = case_file
        self.unseen: dict[str, None] = {}  # Python code the threads called that racekit cannot see into
        self.file = ""  # the file of the code these hooks serve: "" for the case's own

    def bound_to(self, namespace: dict[str, Any], file: str) -> ControlledHooks:
        """These hooks for a rewritten module: its globals, its file; the same
        scheduler, log, names and findings."""
        hooks = copy.copy(self)
        hooks.ns, hooks.file = namespace, file
        return hooks

    def _mine(self) -> bool:
        return getattr(self._local, "index", None) is not None

    def _step(self, kind: str, what: str, location: tuple[int, str], subject: Any, wide: bool = False) -> None:
        """The decision before an operation on shared state (``subject``: the object it touches).
        ``wide``: the step may also look into the container it reads (see :meth:`_read_object`)."""
        self.ctl.point(kind, what, location=location, subject=subject, wide=wide)

    def _read_object(self, value: Any) -> Any:
        """A read returned ``value``: if it is a shared container, the operation
        that looks into it next (``len``, ``in``, a truth test) belongs to this
        step, as long as no operation happened in between."""
        if is_container(value):
            self._local.fresh = (id(value), len(self.ctl.log))
        return value

    def _fresh(self, obj: Any) -> bool:
        return getattr(self._local, "fresh", None) == (id(obj), len(self.ctl.log))

    def get(self, obj: Any, attr: str, line: int) -> Any:
        if not self._mine() or isinstance(obj, (types.ModuleType, _PRIVATE)):
            return getattr(obj, attr)
        current = getattr(obj, attr)
        if not _is_data(current):
            # A lock, a function, a class: reaching it shares no data (only
            # one thread runs, so looking before choosing changes nothing).
            if not isinstance(current, type) and hasattr(current, "_name"):
                current._name(self.labels.attribute(obj, attr))
            return current
        what = self.labels.attribute(obj, attr)
        wide = is_container(current)
        self._step("read", what, (id(obj), attr), obj, wide)
        value = getattr(obj, attr)
        self.ctl.record("read", what, location=(id(obj), attr), value=short_value(value), line=line, file=self.file)
        if wide:
            self.labels.reached(value, what)
        return self._read_object(value) if wide else value

    def set(self, obj: Any, attr: str, value: Any, line: int, update: bool = False) -> None:
        if not self._mine() or isinstance(obj, (types.ModuleType, _PRIVATE)):
            setattr(obj, attr, value)
            return
        what = self.labels.attribute(obj, attr)
        self._step("write", what, (id(obj), attr), obj)
        setattr(obj, attr, value)
        self.ctl.record("write", what, location=(id(obj), attr), value=short_value(value), line=line, file=self.file, update=update)

    def delattr(self, obj: Any, attr: str, line: int) -> None:
        if not self._mine() or isinstance(obj, _PRIVATE):
            delattr(obj, attr)
            return
        what = self.labels.attribute(obj, attr)
        self._step("delete", what, (id(obj), attr), obj)
        delattr(obj, attr)
        self.ctl.record("write", what, location=(id(obj), attr), value="<deleted>", line=line, file=self.file)

    def call(self, obj: Any, name: str, line: int, /, *args: Any, **kwargs: Any) -> Any:
        method = getattr(obj, name)
        if not self._mine():
            return method(*args, **kwargs)
        if not is_container(obj):
            self._note_unseen(method)
            return method(*args, **kwargs)
        what = f"{self.labels.of(obj)}.{name}()"
        if not (name in READ_ONLY_METHODS and self._fresh(obj)):
            self._step("call", what, (id(obj), "*"), obj)
        result = method(*args, **kwargs)
        kind = "read" if name in READ_ONLY_METHODS else "call"
        self.ctl.record(kind, what, location=(id(obj), "*"), value=short_value(result) if result is not None else "",
                        line=line, file=self.file)
        return result

    def fcall(self, func: Any, line: int, /, *args: Any, **kwargs: Any) -> Any:
        if not self._mine():
            return func(*args, **kwargs)
        if isinstance(func, (types.BuiltinFunctionType, type)) and getattr(func, "__module__", "") == "builtins":
            shared = [a for a in (*args, *kwargs.values()) if is_container(a)]
            if shared:  # len(shelf), sum(xs), max(d), list(items): one step that reads them
                self.look(shared[0], line, f"{func.__name__}()")
            return func(*args, **kwargs)
        self._note_unseen(func)
        return func(*args, **kwargs)

    def touch(self, obj: Any, line: int) -> Any:
        if self._mine() and is_container(obj):
            self.look(obj, line)
        return obj

    def look(self, obj: Any, line: int, how: str = "") -> None:
        """A step that reads a whole shared container (its length, its members)."""
        if self._fresh(obj):
            return  # just read from a shared location, in this very step
        what = self.labels.of(obj)
        self._step("read", what, (id(obj), "*"), obj)
        self.ctl.record("read", what, location=(id(obj), "*"), value=_contents(obj), line=line, file=self.file)

    def iterate(self, obj: Any, line: int) -> Any:
        if not self._mine() or not is_container(obj):
            return obj
        return self._items(obj, line)

    def _items(self, obj: Any, line: int) -> Any:
        """Iteration over a shared container: each item is a step of its own, as
        each ``next()`` is in CPython (a list may grow or shrink in between)."""
        iterator = iter(obj)
        what = self.labels.of(obj)
        while True:
            self._step("read", what, (id(obj), "*"), obj)
            try:
                item = next(iterator)
            except StopIteration:
                self.ctl.record("read", what, location=(id(obj), "*"), value="(end)", line=line, file=self.file)
                return
            self.ctl.record("read", what, location=(id(obj), "*"), value=short_value(item), line=line, file=self.file)
            yield item

    def _note_unseen(self, function: Any) -> None:
        """Python code that the threads call but racekit does not rewrite: its shared
        accesses are invisible to the scheduler (the report says which)."""
        code = getattr(getattr(function, "__func__", function), "__code__", None)
        file = code.co_filename if code is not None else ""
        if (code is None or file == self._case_file or file in self._rewritten or file.startswith(("<", _RACEKIT))
                or file.startswith(_STDLIB)):
            return  # the case's own code, racekit's stand-ins, the standard library
        if len(self.unseen) < 8:
            name = getattr(function, "__qualname__", getattr(function, "__name__", "?"))
            self.unseen[f"{name} ({code.co_filename}:{code.co_firstlineno})"] = None

    def getitem(self, obj: Any, key: Any, line: int) -> Any:
        if not self._mine():
            return obj[key]
        what = self.labels.item(obj, key)
        wide = _may_hold_container(obj, key)
        self._step("read", what, (id(obj), _key(key)), obj, wide)
        value = obj[key]
        self.ctl.record("read", what, location=(id(obj), _key(key)), value=short_value(value), line=line, file=self.file)
        if wide:
            self.labels.reached(value, what)
        return self._read_object(value) if wide else value

    def setitem(self, obj: Any, key: Any, value: Any, line: int, update: bool = False) -> None:
        if not self._mine():
            obj[key] = value
            return
        what = self.labels.item(obj, key)
        self._step("write", what, (id(obj), _key(key)), obj)
        obj[key] = value
        self.ctl.record("write", what, location=(id(obj), _key(key)), value=short_value(value), line=line, file=self.file,
                        update=update)

    def delitem(self, obj: Any, key: Any, line: int) -> None:
        if not self._mine():
            del obj[key]
            return
        what = self.labels.item(obj, key)
        self._step("delete", what, (id(obj), _key(key)), obj)
        del obj[key]
        self.ctl.record("write", what, location=(id(obj), _key(key)), value="<deleted>", line=line, file=self.file)

    def gget(self, name: str, line: int) -> Any:
        if not self._mine():
            return super().gget(name, line)
        wide = is_container(self.ns.get(name))
        self._step("read", name, (id(self.ns), name), self.ns, wide)
        value = super().gget(name, line)
        self.ctl.record("read", name, location=(id(self.ns), name), value=short_value(value), line=line, file=self.file)
        return self._read_object(value) if wide else value

    def gset(self, name: str, value: Any, line: int, update: bool = False) -> None:
        if not self._mine():
            self.ns[name] = value
            return
        self._step("write", name, (id(self.ns), name), self.ns)
        self.ns[name] = value
        self.ctl.record("write", name, location=(id(self.ns), name), value=short_value(value), line=line, file=self.file,
                        update=update)


# Containers whose methods are single steps in CPython (each runs under the
# GIL as one C call): controlled mode schedules around them, but they never
# race with each other (list.append from two threads is safe). Subclasses
# (defaultdict, OrderedDict, Counter) are containers too.
CONTAINERS = (list, dict, set, bytearray, collections.deque)
# Methods that only look: a step that reads the container, not one that changes it.
READ_ONLY_METHODS = frozenset({"get", "keys", "values", "items", "count", "index", "copy", "issubset", "issuperset",
                               "isdisjoint", "union", "intersection", "difference", "symmetric_difference",
                               "__len__", "__contains__", "__getitem__", "__iter__", "most_common"})
_RACEKIT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_STDLIB = os.path.dirname(os.__file__)
# Per-thread storage: every thread sees its own attributes, so nothing there is shared.
_PRIVATE = (threading.local,)


def _may_hold_container(obj: Any, key: Any) -> bool:
    """Whether ``obj[key]`` may be a shared container, judged without running
    any of the case's code: a dict's or list's item is looked at, anything
    else may be one."""
    try:
        if isinstance(obj, dict):
            return is_container(dict.get(obj, key))
        if isinstance(obj, (list, tuple)) and isinstance(key, int) and -len(obj) <= key < len(obj):
            return is_container(obj[key] if type(obj) in (list, tuple) else list.__getitem__(obj, key))
    except Exception:  # noqa: BLE001 - an unhashable key, a strange subclass: assume it may
        return True
    return not isinstance(obj, (str, bytes, int, float))


def is_container(value: Any) -> bool:
    return isinstance(value, CONTAINERS)


def _contents(obj: Any) -> str:
    """A shared container as a trace shows it, bounded however large it is."""
    import reprlib

    try:
        return reprlib.repr(obj)
    except Exception:  # noqa: BLE001
        return f"<{type(obj).__name__}>"


def _is_data(value: Any) -> bool:
    from racekit.runtime.controlled.standins import _Sync

    return not isinstance(value, (_Sync, types.FunctionType, types.MethodType, types.BuiltinFunctionType, type,
                                  types.ModuleType))


class YieldHooks(PlainHooks):
    """Real threads at full speed; after each shared access, at random, ``os.sched_yield()``.

    The access and its log entry happen under one lock, so the log's order is
    the order in which the accesses really happened (which an exact lost-update
    count needs); the yield comes after, outside it. ``time.sleep(0)`` would
    cost ~75 µs on 3.11+; ``sched_yield`` costs well under one and also lets
    the GIL go."""

    def __init__(self, namespace: dict[str, Any], labels: Labels, seed: int, probability: float = 0.5):
        super().__init__(namespace)
        self.labels = labels
        self.log: list[Op] = []
        self._lock = threading.Lock()
        self._seed = seed
        self._probability = probability
        self._local = threading.local()
        self.threads: dict[int, int] = {}  # thread ident -> thread index
        self.file = ""

    def bound_to(self, namespace: dict[str, Any], file: str) -> YieldHooks:
        hooks = copy.copy(self)
        hooks.ns, hooks.file = namespace, file
        return hooks

    def register(self, index: int) -> None:
        """Called by each trial thread as it starts."""
        self._local.index = index
        self._local.rng = random.Random(self._seed * 1_000_003 + index)

    def _access(self, kind: str, what: str, location: tuple[int, str], action: Any, line: int,
                written: Any = None, update: bool = False) -> Any:
        index = getattr(self._local, "index", None)
        if index is None:
            return action()
        with self._lock:
            value = action()
            shown = short_value(value if kind == "read" else written)
            self.log.append(Op(len(self.log), index, kind, what, location, shown, line, update=update, file=self.file))
        if self._local.rng.random() < self._probability:
            os.sched_yield()
        return value

    def get(self, obj: Any, attr: str, line: int) -> Any:
        if isinstance(obj, (types.ModuleType, _PRIVATE)):
            return getattr(obj, attr)
        return self._access("read", self.labels.attribute(obj, attr), (id(obj), attr), lambda: getattr(obj, attr), line)

    def set(self, obj: Any, attr: str, value: Any, line: int, update: bool = False) -> None:
        if isinstance(obj, (types.ModuleType, _PRIVATE)):
            setattr(obj, attr, value)
            return
        self._access("write", self.labels.attribute(obj, attr), (id(obj), attr), lambda: setattr(obj, attr, value),
                     line, value, update)

    def getitem(self, obj: Any, key: Any, line: int) -> Any:
        return self._access("read", self.labels.item(obj, key), (id(obj), _key(key)), lambda: obj[key], line)

    def setitem(self, obj: Any, key: Any, value: Any, line: int, update: bool = False) -> None:
        self._access("write", self.labels.item(obj, key), (id(obj), _key(key)), lambda: obj.__setitem__(key, value),
                     line, value, update)

    def gget(self, name: str, line: int) -> Any:
        return self._access("read", name, (id(self.ns), name), lambda: PlainHooks.gget(self, name, line), line)

    def gset(self, name: str, value: Any, line: int, update: bool = False) -> None:
        self._access("write", name, (id(self.ns), name), lambda: self.ns.__setitem__(name, value), line, value, update)

    def touch(self, obj: Any, line: int) -> Any:
        if is_container(obj):
            self._access("read", self.labels.of(obj), (id(obj), "*"), lambda: _contents(obj), line)
        return obj

    def fcall(self, func: Any, line: int, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(func, (types.BuiltinFunctionType, type)) and getattr(func, "__module__", "") == "builtins":
            shared = [a for a in (*args, *kwargs.values()) if is_container(a)]
            if shared:  # one access that reads the container, then its C call (atomic, as in CPython)
                return self._access("read", self.labels.of(shared[0]), (id(shared[0]), "*"),
                                    lambda: func(*args, **kwargs), line)
        return func(*args, **kwargs)


def _key(key: Any) -> str:
    try:
        return repr(key)
    except Exception:  # noqa: BLE001
        return f"<{type(key).__name__}>"
