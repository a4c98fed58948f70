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
import functools
import gc
import os
import random
import sys
import threading
import types
import weakref
from typing import Any, Iterator

from racekit.records import AMBIGUOUS_KEY, Op
from racekit.runtime import peek
from racekit.runtime.controlled.controller import Controller, short_value, shown_file
from racekit.runtime.judging import yours

_getframe = sys._getframe


_NO_KEY = object()  # `me` was given no key (a method that reads no one slot)
NO_MORE_ITEMS = "no more items"  # the logged value of the step that ended an iteration
NOT_SET = "not set"  # the logged value of a read that found no value in its slot (a lazy attribute's first lookup)

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

    def ar(self, obj: Any, name: str, line: int) -> Any:
        return obj

    def co(self, obj: Any) -> Any:
        return obj

    def ik(self, key: Any, line: int) -> Any:
        return key

    def iv(self, value: Any) -> Any:
        return value

    def sk(self, key: Any, line: int, update: bool = False) -> Any:
        return key

    def dk(self, key: Any, line: int) -> Any:
        return key

    def ak(self, key: Any, line: int) -> Any:
        return key

    def aw(self, value: Any, line: int) -> Any:
        return value

    def me(self, obj: Any, name: str, line: int, now: bool = False, key: Any = None) -> Any:
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

    def ga(self, name: str, line: int) -> None:
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

    def __copy__(self) -> PlainHooks:
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin

    def __reduce__(self) -> tuple:
        # A rewritten function pickled by value (cloudpickle) takes __racekit__
        # along: it arrives as hooks that let everything happen, as outside a trial.
        return PlainHooks, ({},)


class Labels:
    """Readable names for objects in traces: ``account.balance``, ``items[0]``."""

    def __init__(self, namespace: dict[str, Any] | None = None):
        self._names: dict[int, str] = {}
        self._numbers: dict[int, int] = {}
        self._attributes: dict[tuple[int, str], str] = {}  # one string for every step at obj.attr
        if namespace:
            self.learn(namespace)

    def learn(self, namespace: dict[str, Any]) -> None:
        """Name the objects ``namespace`` holds by its names (the first name wins)."""
        self._attributes.clear()  # a number may give way to a name
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
        key = (id(obj), attr)
        label = self._attributes.get(key)
        if label is None:
            label = self._attributes[key] = f"{self.of(obj)}.{attr}"
        return label

    def item(self, obj: Any, key: Any) -> str:
        return f"{self.of(obj)}[{short_value(key)}]"


class _Pending:
    """A thread's announcement waiting for its second half (a subscript's key, a
    call's last argument, an augmented assignment's write), tagged with the
    frame that made it (the frame itself: an id could be a later frame's), and
    the object weakly where it can be. One an exception left behind is dropped
    as soon as its frame is gone (Pending.prune)."""

    __slots__ = ("frame", "_obj", "name", "line", "op")

    def __init__(self, frame: Any, obj: Any, name: Any = "", line: int = 0, op: Any = None):
        self.frame, self.name, self.line, self.op = frame, name, line, op
        self._obj = weakref.ref(obj) if type(obj).__weakrefoffset__ else obj

    @property
    def obj(self) -> Any:
        obj = self._obj
        return obj() if type(obj) is weakref.ref else obj


def _frame_id() -> Any:
    """The frame of the program's code that called the hook (kept by identity)."""
    return _getframe(2)


class Pending:
    """A thread's announcements that wait for their second half, as a stack.

    An exception between the halves (a key that raises) leaves one behind;
    it must not keep the program's objects alive after its frame is gone (a
    dict it names would keep its values, and their ``__del__``, waiting). So
    every announcement first drops what frames no longer running left: an
    entry is kept only while its frame is the announcing one or one of the
    frames it was called from (looked for a few levels up)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def stack(self) -> list[_Pending]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def prune(self, frame: Any) -> None:
        stack = getattr(self._local, "stack", None)
        if not stack or stack[-1].frame is frame:
            return
        callers = []
        caller = frame.f_back
        for _ in range(_CALLERS_LOOKED_AT):
            if caller is None:
                break
            callers.append(caller)
            caller = caller.f_back
        while stack and stack[-1].frame is not frame and not any(stack[-1].frame is c for c in callers):
            stack.pop()

    def push(self, entry: _Pending) -> None:
        self.stack().append(entry)

    def pop(self, frame: Any) -> _Pending | None:
        """The announcement this frame made last."""
        stack = getattr(self._local, "stack", None)
        while stack:
            entry = stack.pop()
            if entry.frame is frame:
                return entry
        return None


_CALLERS_LOOKED_AT = 16


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
        self._pending = Pending()

    def _mine(self) -> bool:
        if getattr(self._local, "index", None) is None:
            return False
        self._pending.prune(_getframe(2))  # what frames that raised left behind
        return True

    def _step(self, kind: str, what: str, location: tuple[int, str], subject: Any, wide: bool = False) -> None:
        """The decision before an operation on shared state (``subject``: the object it touches).
        ``wide``: the step may also look into the container it reads (see :meth:`_read_object`)."""
        self.ctl.point(kind, what, location=location, subject=subject, wide=wide)

    def _read_object(self, value: Any, op: Op | None) -> None:
        """A read returned ``value``: if it is a shared container, the operation
        that looks into it next (``len``, ``in``, a truth test) belongs to this
        step, as long as no operation happened in between; the logged read says
        which container (its order against a call on it may decide the outcome)."""
        if is_container(value):
            self._local.fresh = (id(value), len(self.ctl.log))
            if op is not None:
                op.into = id(value)

    def _fresh(self, obj: Any) -> bool:
        return getattr(self._local, "fresh", None) == (id(obj), len(self.ctl.log))

    def _push(self, entry: _Pending) -> None:
        self._pending.push(entry)

    def _pop(self, frame: Any) -> _Pending | None:
        return self._pending.pop(frame)

    # -- attributes ----------------------------------------------------------------

    def at(self, obj: Any, name: str, line: int) -> Any:
        if self._mine() and not peek.is_a(obj, _PRIVATE):
            self._read_attribute(obj, name, line)
        return obj

    def _read_attribute(self, obj: Any, name: str, line: int) -> tuple[tuple[int, str], str] | None:
        """Announce and log a read of ``obj.name`` if it reads shared data: (its location, its label)."""
        found = peek.read(obj, name)
        if found.kind != peek.DATA or peek.is_a(found.value, _sync_type()):
            if found.kind in (peek.REF, peek.DATA) and peek.is_a(found.value, _sync_type()):
                # A lock, a queue: reaching it shares no data; its name is how the code reached it.
                found.value._name(self.labels.attribute(obj, name))
            elif found.kind == peek.CODE:
                self._note_unseen(peek.code_run_by(obj, name), obj, name)  # a getter racekit may not see into
                self._missed_slot(obj, name, line)
            return None
        subject, location = _slot(found.owner, name)
        what = self._attribute_label(obj, found.owner, name)
        wide = is_container(found.value)
        steps = self.ctl.steps
        self._step("read", what, location, subject, wide)
        # The value now: another thread may have changed it while this one waited.
        value = found.value if self.ctl.steps == steps else peek.stored(obj, name)
        op = self.ctl.record("read", what, location=location, value=_shown(value), line=line, file=self.file)
        if wide and value is not peek.MISSING:
            self.labels.reached(value, what)
            self._read_object(value, op)
        return location, what

    def _missed_slot(self, obj: Any, name: str, line: int) -> None:
        """``obj.name`` where a non-data descriptor stands behind an empty slot
        (a cached property not computed yet): Python looked into the instance
        dict first and found nothing, a step that races with another thread
        filling that slot (``obj.__dict__[name] = value``)."""
        namespace = peek.checked_first(obj, name)
        if namespace is None:
            return
        location = _at(id(namespace), _name_key(name))
        what = self._attribute_label(obj, obj, name)
        self._step("read", what, location, namespace)
        # Filled meanwhile (while this thread waited for its turn): Python reads that value instead.
        value = namespace.get(name, peek.MISSING)
        self.ctl.record("read", what, location=location, value=NOT_SET if value is peek.MISSING else _shown(value),
                        line=line, file=self.file)

    def st(self, obj: Any, name: str, line: int, update: bool = False) -> Any:
        if self._mine() and not peek.is_a(obj, _PRIVATE):
            found = peek.written(obj, name)
            if found.kind == peek.DATA:
                self._write_attribute(obj, found.owner, name, line, update)
            elif found.kind == peek.CODE:
                attribute = peek.lookup(type(obj), name)[1]
                setter = attribute.fset if type(attribute) is property else peek.lookup(type(obj), "__setattr__")[1]
                self._note_unseen(getattr(setter, "__code__", None), obj, name)
        return obj

    def _write_attribute(self, obj: Any, owner: Any, name: str, line: int, update: bool) -> None:
        subject, location = _slot(owner, name)
        what = self._attribute_label(obj, owner, name)
        self._step("write", what, location, subject)
        op = self.ctl.record("write", what, location=location, line=line, file=self.file, update=update)
        self.ctl.settle(op, lambda: _shown(peek.stored(obj, name)))  # the value, once stored

    def dl(self, obj: Any, name: str, line: int) -> Any:
        if not self._mine() or peek.is_a(obj, _PRIVATE):
            return obj
        found = peek.written(obj, name)
        if found.kind != peek.DATA:
            return obj
        subject, location = _slot(found.owner, name)
        what = self._attribute_label(obj, found.owner, name)
        self._step("delete", what, location, subject)
        self.ctl.record("write", what, location=location, value="<deleted>", line=line, file=self.file)
        return obj

    def ar(self, obj: Any, name: str, line: int) -> Any:
        """``obj.name += v``: the read now, the write when ``aw`` sees the value."""
        if not self._mine() or peek.is_a(obj, _PRIVATE):
            return obj
        self._read_attribute(obj, name, line)
        self._push(_Pending(_frame_id(), obj, name, line, op=_ATTRIBUTE))
        return obj

    def _attribute_label(self, obj: Any, owner: Any, name: str) -> str:
        if peek.is_a(obj, types.ModuleType):
            return f"{obj.__name__}.{name}"
        return self.labels.attribute(obj, name)

    # -- subscripts ----------------------------------------------------------------

    def co(self, obj: Any) -> Any:
        if self._mine():
            self._push(_Pending(_frame_id(), obj))
        return obj

    def ik(self, key: Any, line: int) -> Any:
        if not self._mine():
            return key
        frame = _frame_id()
        entry = self._pop(frame)
        obj = entry.obj if entry is not None else None
        if obj is not None:
            self._note_overrides(obj, "__getitem__", "__missing__")
        if obj is None or not _indexes_data(obj):
            self._push(_Pending(frame, None))  # for iv: nothing to show
            return key
        what = self.labels.item(obj, key)
        location = _at(id(obj), _key(key))
        self._step("read", what, location, obj)
        op = self.ctl.record("read", what, location=location, line=line, file=self.file)
        self._push(_Pending(frame, obj, what, line, op=op))  # iv shows the value Python reads
        return key

    def iv(self, value: Any) -> Any:
        if self._mine():
            entry = self._pop(_frame_id())
            if entry is not None and entry.op is not None:
                entry.op.value = _shown(value)
                if is_container(value):
                    self.labels.reached(value, entry.name)
        return value

    def sk(self, key: Any, line: int, update: bool = False) -> Any:
        if not self._mine():
            return key
        entry = self._pop(_frame_id())
        obj = entry.obj if entry is not None else None
        if obj is not None:
            self._note_overrides(obj, "__setitem__")
            if _indexes_data(obj):
                self._write_item(obj, key, line, update)
        return key

    def _write_item(self, obj: Any, key: Any, line: int, update: bool) -> None:
        what = self.labels.item(obj, key)
        location = _at(id(obj), _key(key))
        self._step("write", what, location, obj)
        op = self.ctl.record("write", what, location=location, line=line, file=self.file, update=update)
        self.ctl.settle(op, lambda: _shown(_item(obj, key)))

    def dk(self, key: Any, line: int) -> Any:
        if not self._mine():
            return key
        entry = self._pop(_frame_id())
        obj = entry.obj if entry is not None else None
        if obj is not None:
            self._note_overrides(obj, "__delitem__")
        if obj is None or not _indexes_data(obj):
            return key
        what = self.labels.item(obj, key)
        location = _at(id(obj), _key(key))
        self._step("delete", what, location, obj)
        self.ctl.record("write", what, location=location, value="<deleted>", line=line, file=self.file)
        return key

    def ak(self, key: Any, line: int) -> Any:
        """``obj[key] += v``: the read now, the write when ``aw`` sees the value."""
        if not self._mine():
            return key
        frame = _frame_id()
        entry = self._pop(frame)
        obj = entry.obj if entry is not None else None
        if obj is not None:
            self._note_overrides(obj, "__getitem__", "__missing__", "__setitem__")
        if obj is None or not _indexes_data(obj):
            self._push(_Pending(frame, None, op=_NO_WRITE))
            return key
        what = self.labels.item(obj, key)
        location = _at(id(obj), _key(key))
        self._step("read", what, location, obj)
        self.ctl.record("read", what, location=location, value=_shown(_item(obj, key)), line=line, file=self.file)
        self._push(_Pending(frame, obj, key, line, op=_ITEM))
        return key

    def ga(self, name: str, line: int) -> None:
        """``n += v`` for a shared global: the read now, the write when ``aw`` sees the value."""
        if not self._mine():
            return None
        self.gr(name, line)
        self._push(_Pending(_frame_id(), self.ns, name, line, op=_GLOBAL))
        return None

    def aw(self, value: Any, line: int) -> Any:
        """The write of an augmented assignment, its right-hand side evaluated."""
        if not self._mine():
            return value
        entry = self._pop(_frame_id())
        if entry is None or entry.op is _NO_WRITE:
            return value
        obj = entry.obj
        if obj is None:
            return value
        if entry.op is _ITEM:
            self._write_item(obj, entry.name, entry.line, True)
        elif entry.op is _GLOBAL:
            self.gw(entry.name, entry.line, True)
        else:
            found = peek.written(obj, entry.name)
            if found.kind == peek.DATA:
                self._write_attribute(obj, found.owner, entry.name, entry.line, True)
        return value

    # -- calls ---------------------------------------------------------------------

    def me(self, obj: Any, name: str, line: int, now: bool = False, key: Any = _NO_KEY) -> Any:
        if not self._mine():
            return obj
        container = is_container(obj)
        if type(obj) not in _BUILT_IN_CONTAINERS:  # a subclass's own method is the program's code
            self._note_unseen(peek.function_code(obj, name), obj, name)
        if now:
            if container:
                self._container_call(obj, name, line, key)
        else:
            self._push(_Pending(_frame_id(), obj if container else None, name, line))
        return obj

    def la(self, value: Any) -> Any:
        if not self._mine():
            return value
        entry = self._pop(_frame_id())
        if entry is not None:
            obj = entry.obj
            if obj is not None:
                self._container_call(obj, entry.name, entry.line)
        return value

    def rv(self, value: Any) -> Any:
        op = getattr(self._local, "call_op", None)
        if op is not None:
            self._local.call_op = None
            op.value = _shown(value) if value is not None else ""
        return value

    def _container_call(self, obj: Any, name: str, line: int, key: Any = _NO_KEY) -> None:
        what = f"{self.labels.of(obj)}.{name}()"
        if not (name in READ_ONLY_METHODS and self._fresh(obj)):
            self._step("call", what, _at(id(obj), "*"), obj)
        if key is not _NO_KEY and type(obj) in _BUILT_IN_CONTAINERS and peek.is_a(obj, dict):
            # `d.get(k)`, `d.setdefault(k, v)` read the slot `d[k] = …` writes (the
            # step above still conflicts with the whole dict: setdefault may fill it).
            self._local.call_op = self.ctl.record("read", self.labels.item(obj, key), location=_at(id(obj), _key(key)),
                                                  line=line, file=self.file)
            return
        kind = "read" if name in READ_ONLY_METHODS else "call"
        op = self.ctl.record(kind, what, location=_at(id(obj), "*"), line=line, file=self.file)
        self._local.call_op = op
        if kind == "call" and op is not None and self.ctl.keep_frames:
            # The lecture's shared panel shows `items` as `items.pop()` left it.
            self.ctl.settle(op, lambda: _shown(obj), "after")

    def fn(self, function: Any, line: int) -> Any:
        if self._mine():
            if peek.is_a(function, types.FunctionType):
                self._note_unseen(function.__code__, None, function.__qualname__)
            elif peek.is_a(function, type):
                self._note_unseen(peek.method_code(function, "__init__"), function, "__init__")
            elif not peek.is_a(function, (types.BuiltinFunctionType, types.MethodType)):
                self._note_unseen(peek.special_method_code(function, "__call__"), function, "__call__")
            elif peek.is_a(function, types.MethodType):
                method = function.__func__
                if peek.is_a(method, types.FunctionType):
                    self._note_unseen(method.__code__, None, method.__qualname__)
        return function

    def thread_target(self, function: Any) -> None:
        """A thread runs ``function`` itself (``race.thread(cache.__setitem__, …)``): racekit sees into it only if rewritten."""
        target = function.__func__ if peek.is_a(function, types.MethodType) else function
        code = target.__code__ if peek.is_a(target, types.FunctionType) else None
        self._note_unseen(code, None, target.__qualname__ if code is not None else "")

    def _note_overrides(self, obj: Any, *methods: str) -> None:
        """The Python code an operator runs on ``obj``: none for a built-in
        container, a class's own (``__getitem__``, a dict subclass's ``__missing__``) else."""
        if type(obj) not in _BUILT_IN_CONTAINERS:
            for method in methods:
                self._note_unseen(peek.special_method_code(obj, method), obj, method)

    def _note_unseen(self, code: types.CodeType | None, reached_through: Any, name: str) -> None:
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
                or (file.startswith(_STDLIB) and "site-packages" not in file)):
            return  # the case's own code, racekit's stand-ins, the standard library
        if len(self.unseen) < 8:
            label = getattr(code, "co_qualname", None) or (  # 3.10's code has no qualname
                name if reached_through is None else f"{_owner_name(reached_through)}.{name}")
            self.unseen[f"{label} ({shown_file(file)}:{code.co_firstlineno})"] = None

    # -- whole containers ------------------------------------------------------------

    def lk(self, obj: Any, line: int, how: str = "") -> Any:
        if self._mine():
            self._note_overrides(obj, "__len__" if how == "len()" else "__iter__")
            if is_container(obj):
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
        self._step("read", what, _at(id(obj), "*"), obj)
        self.ctl.record("read", what, location=_at(id(obj), "*"), value=_contents(obj), line=line, file=self.file)

    def it(self, obj: Any, line: int) -> Any:
        if not self._mine():
            return obj
        if type(obj) in _DICT_VIEWS:
            owner = _view_owner(obj)
            if owner is not None:
                # `for k, v in d.items():` iterates d a step per item, as `for k in d:` does
                # (each next() may meet a dict another thread changed in between).
                what = f"{self.labels.of(owner)}.{_DICT_VIEWS[type(obj)]}()"
                location = _at(id(owner), "*")
                self._step("read", what, location, owner)
                iterator = iter(obj)
                self.ctl.record("read", what, location=location, value=_contents(owner), line=line, file=self.file)
                return stepping(iterator, self._items(owner, what, location, line))
        if type(obj) not in _ITERABLE_CONTAINERS and not _iterates_as_container(obj):
            self._note_unseen(peek.special_method_code(obj, "__iter__"), obj, "__iter__")
            return obj
        # Creating the iterator is a step, and happens now (a generator
        # expression takes its iterator when it is made, a dict's remembers its size).
        what = self.labels.of(obj)
        location = _at(id(obj), "*")
        self._step("read", what, location, obj)
        iterator = iter(obj)
        self.ctl.record("read", what, location=location, value=_contents(obj), line=line, file=self.file)
        return stepping(iterator, self._items(obj, what, location, line))

    def _items(self, obj: Any, what: str, location: tuple[int, str], line: int) -> Iterator[Any]:
        """The steps of an iteration over a shared container: one before each
        ``next()``, as each ``FOR_ITER`` is in CPython (a list may grow or shrink
        in between); each yields the read it logged, for the item's value."""
        taken = 0
        op = None
        try:
            while True:
                self._step("read", what, location, obj)
                taken += 1
                # (Until the item is known its place stands in: a loop over equal items is no spin.)
                op = self.ctl.record("read", what, location=location, value=f"<item {taken}>", line=line,
                                     file=self.file)
                yield op
        finally:
            # The loop is over (its iterator dropped): the last step found no item,
            # it ended the loop (or raised, which the trace then shows).
            if op is not None and op.value == f"<item {taken}>":
                op.value = NO_MORE_ITEMS

    # -- globals -------------------------------------------------------------------

    def gr(self, name: str, line: int) -> None:
        if not self._mine():
            return None
        ns = self.ns
        current = ns.get(name, peek.MISSING)
        wide = is_container(current)
        location = _at(id(ns), _name_key(name))
        self._step("read", name, location, ns, wide)
        value = ns.get(name, peek.MISSING)
        op = self.ctl.record("read", name, location=location, value=_shown(value), line=line, file=self.file)
        if wide and value is not peek.MISSING:
            self._read_object(value, op)
        return None

    def gw(self, name: str, line: int, update: bool = False) -> None:
        if not self._mine():
            return None
        ns = self.ns
        location = _at(id(ns), _name_key(name))
        self._step("write", name, location, ns)
        op = self.ctl.record("write", name, location=location, line=line, file=self.file, update=update)
        self.ctl.settle(op, lambda: _shown(ns.get(name, peek.MISSING)))
        return None

    def gd(self, name: str, line: int) -> None:
        if not self._mine():
            return None
        ns = self.ns
        location = _at(id(ns), _name_key(name))
        self._step("delete", name, location, ns)
        self.ctl.record("write", name, location=location, value="<deleted>", line=line, file=self.file)
        return None


_NO_WRITE, _ATTRIBUTE, _ITEM, _GLOBAL = object(), object(), object(), object()  # what an augmented assignment's aw writes


def _owner_name(obj: Any) -> str:
    """``Cache`` for a Cache or its class, a module's name for a module: read
    statically, so naming code for the report runs none of the program's (a
    module's ``__getattr__``, a metaclass's property)."""
    if peek.is_a(obj, types.ModuleType):
        return str(peek.module_namespace(obj).get("__name__", "module"))
    owner = obj if peek.is_a(obj, type) else type(obj)
    return _TYPE_QUALNAME.__get__(owner)


_TYPE_QUALNAME = type.__dict__["__qualname__"]


_DICT_VIEWS = {type({}.keys()): "keys", type({}.values()): "values", type({}.items()): "items"}


def _view_owner(view: Any) -> Any:
    """The dict a keys/values/items view shows (the view holds it; read through
    the garbage collector's C traversal, which runs no code of the program's)."""
    return next((r for r in gc.get_referents(view) if peek.is_a(r, dict)), None)


def stepping(iterator: Iterator[Any], steps: Iterator[Any]) -> Iterator[Any]:
    """``iterator``'s items, each taken after a step of ``steps`` (which yields
    the logged read, or None). Built of C iterators (``zip`` takes the step,
    then the item; ``map`` hands the item on), so an error the program's
    iteration raises (a dict that changed size) comes from its own frame, with
    no frame of racekit's in its traceback."""
    return map(_shown_item, zip(steps, iterator))


def _shown_item(pair: tuple[Any, Any]) -> Any:
    op, item = pair
    if op is not None:
        op.value = _shown(item)
    return item


# Containers whose methods are single steps in CPython (each runs under the
# GIL as one C call): controlled mode schedules around them, but they never
# race with each other (list.append from two threads is safe). Subclasses
# (defaultdict, OrderedDict, Counter) are containers too.
CONTAINERS = (list, dict, set, bytearray, collections.deque)
# Iteration with a step per item: the containers whose iterator is CPython's own.
_ITERABLE_CONTAINERS = frozenset({list, dict, set, bytearray, collections.deque, collections.defaultdict,
                                  collections.OrderedDict, collections.Counter})
# The built-in containers themselves: no code of the program's runs in their operators.
_BUILT_IN_CONTAINERS = frozenset({list, dict, set, bytearray, collections.deque, collections.defaultdict,
                                  collections.OrderedDict})
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


def _iterates_as_container(obj: Any) -> bool:
    """A subclass of a built-in container (``class Registry(dict)``) whose
    iterator is still the container's own: iterated with a step per item, like
    its base. One that defines ``__iter__`` in Python runs that code instead."""
    return is_container(obj) and peek.lookup(type(obj), "__iter__")[0] in _ITERABLE_CONTAINERS


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
    """``obj[key]`` now, read without running the program's code (MISSING when
    that cannot be done): a built-in container's own C lookup, with a key whose
    hash and equality are CPython's (a subclass's ``__getitem__``, a key's
    ``__eq__``, a slice bound's ``__index__`` are never called)."""
    try:
        if peek.is_a(obj, dict):
            return dict.get(obj, key, peek.MISSING) if _plain_key(key) and _plain_keys(obj) else peek.MISSING
        if type(key) is int:
            for base in (list, collections.deque, bytearray):
                if peek.is_a(obj, base):
                    return base.__getitem__(obj, key)
        elif type(key) is slice and peek.is_a(obj, list) and _plain_bounds(key):
            return list.__getitem__(obj, key)
    except (IndexError, KeyError, TypeError):
        return peek.MISSING
    return peek.MISSING


def _plain_bounds(key: slice) -> bool:
    return all(type(b) in (int, type(None)) for b in (key.start, key.stop, key.step))


def _plain_keys(obj: dict) -> bool:
    """Whether every key of a (small) dict is CPython's own value: then a lookup
    compares no key with the program's ``__eq__``. A big dict is not checked
    (its value is then not shown)."""
    if len(obj) > 64:
        return False
    return all(_plain_key(k) for k in dict.keys(obj))


def _plain_key(key: Any) -> bool:
    """A key whose hash and equality are CPython's own (no program code runs in a
    lookup): a number or string, an object compared by identity, a C type's value."""
    kind = type(key)
    if kind in _VALUE_KEYS:
        return True
    if kind is tuple:
        return all(_plain_key(k) for k in key)
    return not peek.is_a(key, (tuple, frozenset)) and _in_c(peek.lookup(kind, "__hash__")[1]) and _in_c(
        peek.lookup(kind, "__eq__")[1])


_VALUE_KEYS = frozenset({int, str, bytes, float, bool, type(None)})


def is_container(value: Any) -> bool:
    return peek.is_a(value, CONTAINERS)


def _shown(value: Any) -> str:
    return "" if value is peek.MISSING else short_value(value)


def _contents(obj: Any) -> str:
    """A shared container as a trace shows it, bounded however large it is."""
    return short_value(obj)


def _slot(owner: Any, name: str) -> tuple[Any, tuple[int, str]]:
    """Where ``owner.name`` lives, as the object a step touches and its location:
    an instance's attribute is a slot of its ``__dict__`` and a module's of its
    globals (so ``obj.x``, ``obj.__dict__["x"]``, ``vars(obj)`` and a module's own
    ``x`` are one location); a class's or a slot's is its owner's."""
    namespace = peek.instance_dict(owner)
    subject = owner if namespace is None else namespace
    return subject, _at(id(subject), _name_key(name))


@functools.lru_cache(maxsize=1 << 16)
def _at(ident: int, key: str) -> tuple[int, str]:
    """A location, one tuple for every step at it: a run keeps every step's
    location, and a million equal tuples (and their ids) are ~80 MB."""
    return ident, key


@functools.lru_cache(maxsize=4096)
def _name_key(name: str) -> str:
    """A name as a dict's key location (``'x'``): as :func:`_key` gives ``d["x"]``."""
    return _key(name)


def _key(key: Any) -> str:
    """A key as a location: two keys give one location exactly when they are
    one slot of a dict. A value shown in full (``'a'``, ``(1, 2)``) is itself;
    an object compared by identity (an instance, a class, a function) is its
    address; one whose hash and equality are C code (a datetime) is its hash,
    computed by that C code. A key whose equality is the program's code cannot
    be told apart without running it: marked ambiguous, nothing is claimed about it."""
    text = short_value(key, whole=True)
    if "<" not in text or type(key) in _VALUE_KEYS:
        return text
    kind = type(key)
    hash_method, eq_method = peek.lookup(kind, "__hash__")[1], peek.lookup(kind, "__eq__")[1]
    if hash_method is _OBJECT_HASH and eq_method is _OBJECT_EQ:
        return f"{text} at {id(key):#x}"
    if peek.is_a(key, (tuple, frozenset)) or not (_in_c(hash_method) and _in_c(eq_method)):
        return text + AMBIGUOUS_KEY  # a tuple's hash is its items': any of them may be the program's
    try:
        return f"{text} #{hash(key)}"
    except Exception:  # unhashable: the program's own lookup raises
        return text + AMBIGUOUS_KEY


_OBJECT_HASH, _OBJECT_EQ = object.__dict__["__hash__"], object.__dict__["__eq__"]


def _in_c(method: Any) -> bool:
    return peek.is_a(method, (types.WrapperDescriptorType, types.BuiltinFunctionType, types.MethodDescriptorType))


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
    the hook returns, in the program's frame: on a GIL build a thread is rarely
    switched out between the two (only where CPython checks for a switch after
    the lock's release), so the log's order is the order of the accesses but
    for rare exceptions, and lost-update counts from it are counts of what was
    logged. ``time.sleep(0)`` would cost ~75 µs on 3.11+; ``sched_yield``
    costs well under one and also lets the GIL go."""

    def __init__(self, namespace: dict[str, Any], labels: Labels, seed: int, probability: float = 0.5):
        super().__init__(namespace)
        self.labels = labels
        self.log: list[Op] = []
        self._lock = threading.Lock()
        self._seed = seed
        self._probability = probability
        self._local = threading.local()
        self.threads: dict[int, int] = {}  # thread ident -> thread index
        self._pending = Pending()

    def register(self, index: int) -> None:
        """Called by each trial thread as it starts."""
        self._local.index = index
        self._local.rng = random.Random(self._seed * 1_000_003 + index)

    def _mine(self) -> bool:
        if getattr(self._local, "index", None) is None:
            return False
        self._pending.prune(_getframe(2))
        return True

    def _access(self, kind: str, what: str, location: tuple[int, str], value: Any, line: int,
                update: bool = False) -> Op | None:
        index = getattr(self._local, "index", None)
        if index is None:
            return None
        if self._local.rng.random() < self._probability:
            os.sched_yield()
        self._lock.acquire()
        op = Op(len(self.log), index, kind, what, location, _shown(value), line, update=update, file=self.file)
        self.log.append(op)
        self._lock.release()
        return op

    def _push(self, entry: _Pending) -> None:
        self._pending.push(entry)

    def _pop(self, frame: Any) -> _Pending | None:
        return self._pending.pop(frame)

    def at(self, obj: Any, name: str, line: int) -> Any:
        if self._mine() and not peek.is_a(obj, _PRIVATE):
            found = peek.read(obj, name)
            if found.kind == peek.DATA and not peek.is_a(found.value, _sync_type()):
                self._access("read", self.labels.attribute(obj, name), _slot(found.owner, name)[1], found.value, line)
        return obj

    def st(self, obj: Any, name: str, line: int, update: bool = False) -> Any:
        if self._mine() and not peek.is_a(obj, _PRIVATE):
            found = peek.written(obj, name)
            if found.kind == peek.DATA:
                self._access("write", self.labels.attribute(obj, name), _slot(found.owner, name)[1], peek.MISSING, line,
                             update)
        return obj

    def ar(self, obj: Any, name: str, line: int) -> Any:
        if self._mine():
            self.at(obj, name, line)
            self._push(_Pending(_frame_id(), obj, name, line, op=_ATTRIBUTE))
        return obj

    def co(self, obj: Any) -> Any:
        if self._mine():
            self._push(_Pending(_frame_id(), obj))
        return obj

    def ik(self, key: Any, line: int) -> Any:
        if self._mine():
            frame = _frame_id()
            entry = self._pop(frame)
            obj = entry.obj if entry is not None else None
            op = None
            if obj is not None and _indexes_data(obj):
                op = self._access("read", self.labels.item(obj, key), (id(obj), _key(key)), peek.MISSING, line)
            self._push(_Pending(frame, None, op=op))
        return key

    def iv(self, value: Any) -> Any:
        if self._mine():
            entry = self._pop(_frame_id())
            if entry is not None and entry.op is not None:
                entry.op.value = _shown(value)
        return value

    def sk(self, key: Any, line: int, update: bool = False) -> Any:
        if self._mine():
            entry = self._pop(_frame_id())
            obj = entry.obj if entry is not None else None
            if obj is not None and _indexes_data(obj):
                self._access("write", self.labels.item(obj, key), (id(obj), _key(key)), peek.MISSING, line, update)
        return key

    def dk(self, key: Any, line: int) -> Any:
        if self._mine():
            self._pop(_frame_id())
        return key

    def ak(self, key: Any, line: int) -> Any:
        if self._mine():
            frame = _frame_id()
            entry = self._pop(frame)
            obj = entry.obj if entry is not None else None
            if obj is not None and _indexes_data(obj):
                self._access("read", self.labels.item(obj, key), (id(obj), _key(key)), _item(obj, key), line)
                self._push(_Pending(frame, obj, key, line, op=_ITEM))
            else:
                self._push(_Pending(frame, None, op=_NO_WRITE))
        return key

    def ga(self, name: str, line: int) -> None:
        if self._mine():
            self.gr(name, line)
            self._push(_Pending(_frame_id(), self.ns, name, line, op=_GLOBAL))
        return None

    def aw(self, value: Any, line: int) -> Any:
        if not self._mine():
            return value
        entry = self._pop(_frame_id())
        obj = entry.obj if entry is not None else None
        if entry is None or entry.op is _NO_WRITE or obj is None:
            return value
        if entry.op is _ITEM:
            self._access("write", self.labels.item(obj, entry.name), (id(obj), _key(entry.name)), value, entry.line,
                         True)
        elif entry.op is _GLOBAL:
            self.gw(entry.name, entry.line, True)
        else:
            self.st(obj, entry.name, entry.line, True)
        return value

    def gr(self, name: str, line: int) -> None:
        self._access("read", name, (id(self.ns), name), self.ns.get(name, peek.MISSING), line)

    def gw(self, name: str, line: int, update: bool = False) -> None:
        self._access("write", name, (id(self.ns), name), peek.MISSING, line, update)

    def tc(self, obj: Any, line: int) -> Any:
        if is_container(obj):
            self._access("read", self.labels.of(obj), (id(obj), "*"), obj, line)
        return obj

    def lk(self, obj: Any, line: int, how: str = "") -> Any:
        return self.tc(obj, line)
