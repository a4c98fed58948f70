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
import operator
import os
import random
import threading
import types
from typing import Any

from racekit.runtime.controlled import Controller, Op, short_value


class PlainHooks:
    """Operations performed as written; the in-place operators every hook needs."""

    iadd, isub, imul, imatmul, itruediv = operator.iadd, operator.isub, operator.imul, operator.imatmul, operator.itruediv
    ifloordiv, imod, ipow, ilshift, irshift = operator.ifloordiv, operator.imod, operator.ipow, operator.ilshift, operator.irshift
    ior, ixor, iand = operator.ior, operator.ixor, operator.iand

    def __init__(self, namespace: dict[str, Any]):
        self.ns = namespace

    def get(self, obj: Any, attr: str, line: int) -> Any:
        return getattr(obj, attr)

    def set(self, obj: Any, attr: str, value: Any, line: int) -> None:
        setattr(obj, attr, value)

    def delattr(self, obj: Any, attr: str, line: int) -> None:
        delattr(obj, attr)

    def getitem(self, obj: Any, key: Any, line: int) -> Any:
        return obj[key]

    def setitem(self, obj: Any, key: Any, value: Any, line: int) -> None:
        obj[key] = value

    def delitem(self, obj: Any, key: Any, line: int) -> None:
        del obj[key]

    def call(self, obj: Any, name: str, line: int, /, *args: Any, **kwargs: Any) -> Any:
        return getattr(obj, name)(*args, **kwargs)

    def gget(self, name: str, line: int) -> Any:
        try:
            return self.ns[name]
        except KeyError:
            try:
                return getattr(builtins, name)
            except AttributeError:
                raise NameError(f"name {name!r} is not defined") from None

    def gset(self, name: str, value: Any, line: int) -> None:
        self.ns[name] = value


class Labels:
    """Readable names for objects in traces: ``account.balance``, ``items[0]``."""

    def __init__(self, namespace: dict[str, Any]):
        self._names = {id(v): k for k, v in namespace.items()
                       if not k.startswith("_") and not isinstance(v, (types.ModuleType, types.FunctionType, type))
                       and not isinstance(v, (int, float, str, bool, type(None)))}
        self._numbers: dict[int, int] = {}
        from racekit.runtime.shims import _Sync

        for name, value in namespace.items():
            if isinstance(value, _Sync) and not name.startswith("_"):
                value._name(name)  # `lock = threading.Lock()` is called "lock" in traces

    def of(self, obj: Any) -> str:
        name = self._names.get(id(obj))
        if name is None:
            number = self._numbers.setdefault(id(obj), len(self._numbers) + 1)
            name = f"{type(obj).__name__}#{number}"
            self._names[id(obj)] = name
        return name

    def attribute(self, obj: Any, attr: str) -> str:
        return f"{self.of(obj)}.{attr}"

    def item(self, obj: Any, key: Any) -> str:
        return f"{self.of(obj)}[{short_value(key)}]"


class ControlledHooks(PlainHooks):
    """Every operation waits for the scheduler's choice, then happens and is logged."""

    def __init__(self, namespace: dict[str, Any], controller: Controller, labels: Labels):
        super().__init__(namespace)
        self.ctl = controller
        self.labels = labels
        self._local = controller._local

    def _mine(self) -> bool:
        return getattr(self._local, "index", None) is not None

    def get(self, obj: Any, attr: str, line: int) -> Any:
        if not self._mine() or isinstance(obj, types.ModuleType):
            return getattr(obj, attr)
        current = getattr(obj, attr)
        if not _is_data(current):
            # A lock, a function, a class: reaching it shares no data (only
            # one thread runs, so looking before choosing changes nothing).
            if not isinstance(current, type) and hasattr(current, "_name"):
                current._name(self.labels.attribute(obj, attr))
            return current
        what = self.labels.attribute(obj, attr)
        self.ctl.point(f"read {what}")
        value = getattr(obj, attr)
        self.ctl.record("read", what, location=(id(obj), attr), value=short_value(value), line=line)
        return value

    def set(self, obj: Any, attr: str, value: Any, line: int) -> None:
        if not self._mine() or isinstance(obj, types.ModuleType):
            setattr(obj, attr, value)
            return
        what = self.labels.attribute(obj, attr)
        self.ctl.point(f"write {what}")
        setattr(obj, attr, value)
        self.ctl.record("write", what, location=(id(obj), attr), value=short_value(value), line=line)

    def delattr(self, obj: Any, attr: str, line: int) -> None:
        if not self._mine():
            delattr(obj, attr)
            return
        what = self.labels.attribute(obj, attr)
        self.ctl.point(f"delete {what}")
        delattr(obj, attr)
        self.ctl.record("write", what, location=(id(obj), attr), value="<deleted>", line=line)

    def call(self, obj: Any, name: str, line: int, /, *args: Any, **kwargs: Any) -> Any:
        method = getattr(obj, name)
        if type(obj) not in CONTAINERS or not self._mine():
            return method(*args, **kwargs)
        what = f"{self.labels.of(obj)}.{name}()"
        self.ctl.point(f"call {what}")
        result = method(*args, **kwargs)
        self.ctl.record("call", what, location=(id(obj), "*"), value=short_value(result) if result is not None else "",
                        line=line)
        return result

    def getitem(self, obj: Any, key: Any, line: int) -> Any:
        if not self._mine():
            return obj[key]
        what = self.labels.item(obj, key)
        self.ctl.point(f"read {what}")
        value = obj[key]
        self.ctl.record("read", what, location=(id(obj), _key(key)), value=short_value(value), line=line)
        return value

    def setitem(self, obj: Any, key: Any, value: Any, line: int) -> None:
        if not self._mine():
            obj[key] = value
            return
        what = self.labels.item(obj, key)
        self.ctl.point(f"write {what}")
        obj[key] = value
        self.ctl.record("write", what, location=(id(obj), _key(key)), value=short_value(value), line=line)

    def delitem(self, obj: Any, key: Any, line: int) -> None:
        if not self._mine():
            del obj[key]
            return
        what = self.labels.item(obj, key)
        self.ctl.point(f"delete {what}")
        del obj[key]
        self.ctl.record("write", what, location=(id(obj), _key(key)), value="<deleted>", line=line)

    def gget(self, name: str, line: int) -> Any:
        if not self._mine():
            return super().gget(name, line)
        self.ctl.point(f"read {name}")
        value = super().gget(name, line)
        self.ctl.record("read", name, location=(id(self.ns), name), value=short_value(value), line=line)
        return value

    def gset(self, name: str, value: Any, line: int) -> None:
        if not self._mine():
            self.ns[name] = value
            return
        self.ctl.point(f"write {name}")
        self.ns[name] = value
        self.ctl.record("write", name, location=(id(self.ns), name), value=short_value(value), line=line)


# Containers whose methods are single steps in CPython (each runs under the
# GIL as one C call): controlled mode schedules around them, but they never
# race with each other (list.append from two threads is safe).
CONTAINERS = (list, dict, set, bytearray, collections.deque)


def _is_data(value: Any) -> bool:
    from racekit.runtime.shims import _Sync

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

    def register(self, index: int) -> None:
        """Called by each trial thread as it starts."""
        self._local.index = index
        self._local.rng = random.Random(self._seed * 1_000_003 + index)

    def _access(self, kind: str, what: str, location: tuple[int, str], action: Any, line: int,
                written: Any = None) -> Any:
        index = getattr(self._local, "index", None)
        if index is None:
            return action()
        with self._lock:
            value = action()
            shown = short_value(value if kind == "read" else written)
            self.log.append(Op(len(self.log), index, kind, what, location, shown, line))
        if self._local.rng.random() < self._probability:
            os.sched_yield()
        return value

    def get(self, obj: Any, attr: str, line: int) -> Any:
        if isinstance(obj, types.ModuleType):
            return getattr(obj, attr)
        return self._access("read", self.labels.attribute(obj, attr), (id(obj), attr), lambda: getattr(obj, attr), line)

    def set(self, obj: Any, attr: str, value: Any, line: int) -> None:
        if isinstance(obj, types.ModuleType):
            setattr(obj, attr, value)
            return
        self._access("write", self.labels.attribute(obj, attr), (id(obj), attr), lambda: setattr(obj, attr, value),
                     line, value)

    def getitem(self, obj: Any, key: Any, line: int) -> Any:
        return self._access("read", self.labels.item(obj, key), (id(obj), _key(key)), lambda: obj[key], line)

    def setitem(self, obj: Any, key: Any, value: Any, line: int) -> None:
        self._access("write", self.labels.item(obj, key), (id(obj), _key(key)), lambda: obj.__setitem__(key, value),
                     line, value)

    def gget(self, name: str, line: int) -> Any:
        return self._access("read", name, (id(self.ns), name), lambda: PlainHooks.gget(self, name, line), line)

    def gset(self, name: str, value: Any, line: int) -> None:
        self._access("write", name, (id(self.ns), name), lambda: self.ns.__setitem__(name, value), line, value)


def _key(key: Any) -> str:
    try:
        return repr(key)
    except Exception:  # noqa: BLE001
        return f"<{type(key).__name__}>"
