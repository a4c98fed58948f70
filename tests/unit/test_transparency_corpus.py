"""The differential transparency oracle: each snippet, run plainly and rewritten, observes the same.

racekit's rewrite (racekit.runtime.instrument) may add scheduling points; it must
never change what a program computes. Each snippet below is a small module
whose ``observe()`` returns what a program could notice: values, exceptions
and their messages, how often a getter ran, which frame called a function,
where a warning points, the names a class gets. It runs three ways:

- plainly (compiled from its source);
- rewritten, with the pass-through hooks of racekit.transparency (every access
  inspected as a trial inspects it, nothing scheduled);
- rewritten, in one thread of a real controlled trial (racekit's scheduler,
  its stand-ins for threading/queue/time patched in, every access a step);

and the three observations must be equal. A snippet is a module, so the
rewrite sees it as it sees a user's module: its functions and methods are
rewritten, its module-level code and class bodies are not.

The corpus covers what the rewrite touches and its neighbours: private names,
properties and other descriptors, super(), augmented assignment (in-place
operators, evaluation order, globals), del, assignment targets, comprehensions,
generators, async code, match, f-strings, scopes, exceptions and tracebacks,
decorators, dataclasses, enums, named tuples, annotations, metaclasses, shared
containers and the builtins that read them, frames and introspection, and the
threading/queue/time API a controlled trial replaces. A Hypothesis test at the
end renders random operation sequences on a shared object as snippets.

A failing snippet is a fault of racekit's: fix racekit, never the snippet.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
import threading
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racekit.runtime import import_hook
from racekit.runtime.controlled import patches
from racekit.runtime.controlled.controller import Controller
from racekit.runtime.controlled.strategies.serial import SerialStrategy
from racekit.runtime.hooks import ControlledHooks, Labels
from racekit.runtime.instrument import HOOK
from racekit.transparency import ObservingHooks


def _module(source: str, path: Path, rewritten: bool, hooks: Any = None) -> types.ModuleType:
    """The snippet as a module named after its file, plain or rewritten."""
    name = path.stem
    module = types.ModuleType(name)
    module.__file__ = str(path)
    namespace = vars(module)
    if rewritten:
        namespace[HOOK] = hooks if hooks is not None else ObservingHooks(namespace)
        code = import_hook.rewritten_code(str(path), source.encode())
    else:
        code = compile(source, str(path), "exec", dont_inherit=True)
    sys.modules[name] = module
    try:
        exec(code, namespace)
    finally:
        sys.modules.pop(name, None)
    return module


def _observed(module: types.ModuleType) -> Any:
    try:
        return ("returned", module.observe())
    except Exception as exc:  # noqa: BLE001 - an exception is an observation too
        return ("raised", type(exc).__name__, str(exc))


def observe_plain(source: str, path: Path) -> Any:
    module = _module(source, path, rewritten=False)
    sys.modules[path.stem] = module
    try:
        return _observed(module)
    finally:
        sys.modules.pop(path.stem, None)


def observe_passing_through(source: str, path: Path) -> Any:
    module = _module(source, path, rewritten=True)
    sys.modules[path.stem] = module
    try:
        return _observed(module)
    finally:
        sys.modules.pop(path.stem, None)


def observe_controlled(source: str, path: Path) -> Any:
    """``observe()`` in the one thread of a controlled trial (module code runs as setup)."""
    controller = Controller(SerialStrategy([]), [])
    labels = Labels()
    hooks = ControlledHooks({}, controller, labels, {str(path): path.name}, "")
    result: list[Any] = []
    with patches.installed(controller):
        controller.enter(None)
        try:
            module = _module(source, path, rewritten=True, hooks=hooks.bound_to({}, path.name))
            vars(module)[HOOK] = hooks.bound_to(vars(module), path.name)
        finally:
            controller.leave()
        sys.modules[path.stem] = module
        index = controller.add_thread("t", case=True)
        body = controller.thread_body(index, lambda: result.append(_observed(module)))
        runner = threading.Thread(target=body, name="t", daemon=True)
        runner.start()
        controller.start()
        assert controller.finished.wait(30), "the controlled trial did not finish"
        runner.join(5)
        controller.abandon("over")
        sys.modules.pop(path.stem, None)
    assert controller.deadlock is None and controller.livelock is None, (controller.deadlock, controller.livelock)
    return result[0] if result else ("no result",)


# -- the corpus ------------------------------------------------------------------------
# Each entry: a module with observe(). Keep them small; each covers one construct and
# the neighbours a rewrite of it could disturb. An observation must be made of plain
# values only (no instances of the snippet's own classes: each run makes its own),
# and be deterministic (no id(), no hash order of objects, no timings).

SNIPPETS: dict[str, str] = {
    # -- private names ---------------------------------------------------------------
    "private_names": """
        class Counter:
            __shared = 0
            def __init__(self):
                self.__count = 0
                self.__items = []
            def bump(self):
                self.__count += 1
                Counter.__shared += 1
                self.__items.append(self.__count)
                return self.__count, Counter.__shared, list(self.__items)
            class Inner:
                def __init__(self):
                    self.__hits = 1
                def hit(self):
                    self.__hits += 1
                    return self.__hits, sorted(vars(self))
        def observe():
            c = Counter()
            c.bump()
            return c.bump(), Counter.Inner().hit(), sorted(vars(c))
    """,
    "private_names_in_closures_lambdas_comprehensions_and_getattr": """
        class Vault:
            __kind = "class"
            def __init__(self):
                self.__secret = 1
                self.__log = {"k": 0}
            def reveal(self):
                def inner():
                    self.__secret += 10
                    self.__log["k"] += 1
                    return self.__secret, Vault.__kind, self.__kind
                lam = lambda: self.__secret * 2
                comp = [self.__secret + i for i in range(2)]
                gen = list(self.__secret - i for i in range(2))
                return inner(), lam(), comp, gen, dict(self.__log)
            def by_name(self):
                found = getattr(self, "_Vault__secret")
                missing = getattr(self, "__secret", "absent")
                setattr(self, "__secret", "unmangled")
                return found, missing, self.__secret, getattr(self, "__secret"), sorted(vars(self))
            def delete(self):
                del self.__secret
                try:
                    return self.__secret
                except AttributeError as e:
                    return type(e).__name__, str(e), hasattr(self, "_Vault__secret")
        def observe():
            v = Vault()
            return v.reveal(), v.by_name(), v.delete(), sorted(k for k in vars(Vault) if "kind" in k)
    """,
    "private_global_names_used_inside_a_class": """
        __hidden = "module __hidden"
        _Box__visible = "module _Box__visible"
        _Box__count = 0
        class Box:
            def read_hidden(self):
                try:
                    return __hidden
                except NameError as e:
                    return "NameError", str(e)
            def read_visible(self):
                return __visible
            def bump(self):
                global __count
                __count += 1
                __count = __count * 10
                return __count
            def drop(self):
                global __visible
                del __visible
                try:
                    return __visible
                except NameError as e:
                    return "NameError", str(e)
        def observe():
            b = Box()
            return (b.read_hidden(), b.read_visible(), b.bump(), b.bump(), _Box__count, b.drop(),
                    sorted(n for n in globals() if "Box" in n or "hidden" in n))
    """,
    "private_names_with_underscored_class_names": """
        class _Under:
            def __init__(self):
                self.__a = 1
            def get(self):
                self.__a += 1
                return self.__a, sorted(vars(self))
        class __Dunder:
            def __init__(self):
                self.__b = 2
            def get(self):
                self.__b -= 1
                return self.__b, sorted(vars(self))
        class ___:
            def __init__(self):
                self.__c = 3
            def get(self):
                self.__c += 1
                return self.__c, sorted(vars(self))
        def observe():
            return _Under().get(), __Dunder().get(), ___().get()
    """,
    "private_names_in_nested_and_local_classes": """
        class Outer:
            __tag = "outer"
            class Inner:
                __tag = "inner"
                def tags(self):
                    return self.__tag, Outer._Outer__tag
            def probe(self):
                inner = Outer.Inner()
                try:
                    inner.__tag
                except AttributeError as e:
                    missing = str(e)
                outer_tag = self.__tag
                class Local:
                    def __init__(s):
                        s.__v = "local"
                        s.__d = {"n": 1}
                    def get(s):
                        s.__d["n"] += 1
                        return s.__v, s.__d, sorted(vars(s)), outer_tag
                return inner.tags(), missing, Local().get(), Local.__qualname__
        def observe():
            return Outer().probe()
    """,
    # -- properties and other descriptors ------------------------------------------------
    "property_getter_runs_once": """
        calls = []
        class Lazy:
            @property
            def value(self):
                calls.append("get")
                return len(calls)
            @value.setter
            def value(self, v):
                calls.append(("set", v))
        def observe():
            box = Lazy()
            first = box.value
            box.value = first + 10
            second = box.value
            return first, second, calls
    """,
    "property_setter_deleter_and_augmented_assignment": """
        log = []
        class Temp:
            def __init__(self):
                self._c = 10
            @property
            def celsius(self):
                log.append("get")
                return self._c
            @celsius.setter
            def celsius(self, v):
                log.append(("set", v))
                self._c = v
            @celsius.deleter
            def celsius(self):
                log.append("del")
                self._c = None
            @property
            def read_only(self):
                return 1
            def adjust(self):
                self.celsius += 5
                self.celsius *= 2
                del self.celsius
                try:
                    self.read_only += 1
                except AttributeError as e:
                    log.append(("AttributeError", str(e)))
                try:
                    del self.read_only
                except AttributeError as e:
                    log.append(("AttributeError", str(e)))
                return self._c
        def observe():
            return Temp().adjust(), log
    """,
    "cached_property": """
        import functools
        calls = []
        class Report:
            def __init__(self, n):
                self.n = n
            @functools.cached_property
            def total(self):
                calls.append(self.n)
                return self.n * 2
            def use(self):
                first = self.total
                second = self.total
                in_dict = "total" in vars(self)
                self.total += 1
                after = self.total
                del self.total
                again = self.total
                err = None
                try:
                    del self.total
                    del self.total
                except AttributeError as e:
                    err = str(e)
                return first, second, in_dict, after, again, err
        def observe():
            r = Report(3)
            return r.use(), Report(4).total, calls, type(Report.total).__name__
    """,
    "slots_set_and_unset": """
        class Point:
            __slots__ = ("x", "y")
            def __init__(self, x):
                self.x = x
            def read_y(self):
                try:
                    return self.y
                except AttributeError as e:
                    return "AttributeError", str(e)
            def bump_y(self):
                try:
                    self.y += 1
                except AttributeError as e:
                    return "AttributeError", str(e)
                return self.y
            def set_z(self):
                try:
                    self.z = 1
                except AttributeError as e:
                    return "AttributeError", str(e)
            def del_y(self):
                try:
                    del self.y
                except AttributeError as e:
                    return "AttributeError", str(e)
                return "deleted"
        class Sub(Point):
            __slots__ = ("z",)
        def observe():
            p = Point(1)
            out = [p.read_y(), p.bump_y(), p.set_z(), p.del_y()]
            p.y = 5
            p.x += p.y
            out += [p.read_y(), p.bump_y(), p.del_y(), p.read_y(), hasattr(p, "__dict__"), p.x]
            s = Sub(2)
            out += [s.set_z(), s.z, s.read_y(), type(Point.__dict__["x"]).__name__]
            return out
    """,
    "getattr_fallback": """
        log = []
        class Dyn:
            real = "class-level"
            def __init__(self):
                self.own = "instance"
            def __getattr__(self, name):
                log.append(name)
                if name.startswith("no_"):
                    raise AttributeError(f"{type(self).__name__!r} has no {name!r}")
                return name.upper()
            @property
            def broken(self):
                log.append("broken-getter")
                raise AttributeError("inner")
            def use(self):
                vals = [self.own, self.real, self.virtual, self.virtual, self.broken]
                self.word += "!"
                vals.append(self.word)
                vals.append(getattr(self, "no_x", "default"))
                vals.append(hasattr(self, "no_y"))
                try:
                    self.no_z
                except AttributeError as e:
                    vals.append(str(e))
                return vals
        def observe():
            return Dyn().use(), log
    """,
    "getattribute_override_sees_every_access": """
        class Watched:
            def __init__(self):
                self.a = 1
                self.items = [1, 2]
                self.table = {"k": 0}
            def __getattribute__(self, name):
                log = object.__getattribute__(self, "__dict__").setdefault("_log", [])
                log.append(name)
                return object.__getattribute__(self, name)
            def total(self):
                self.a += 1
                self.items.append(self.a)
                self.table["k"] += len(self.items)
                for x in self.items:
                    self.a += x
                return self.a, sum(self.items), [i for i in self.items], self.table
        def observe():
            w = Watched()
            result = w.total()
            return result, list(object.__getattribute__(w, "__dict__")["_log"])
    """,
    "setattr_and_delattr_overrides": """
        log = []
        class Recorder:
            def __setattr__(self, name, value):
                log.append(("set", name, value))
                object.__setattr__(self, name, value)
            def __delattr__(self, name):
                log.append(("del", name))
                object.__delattr__(self, name)
            def work(self):
                self.a = 1
                self.a += 2
                self.b = self.c = self.a
                self.d, self.e = self.a, self.b
                del self.b
                try:
                    del self.b
                except AttributeError as e:
                    log.append(("error", str(e)))
                return sorted(vars(self).items())
        def observe():
            return Recorder().work(), log
    """,
    "frozen_dataclass_rejects_writes": """
        import dataclasses
        @dataclasses.dataclass(frozen=True)
        class Frozen:
            x: int
            y: list = dataclasses.field(default_factory=list)
            def change(self):
                out = []
                for action in (lambda: setattr(self, "x", 2), self._assign, self._augment, self._delete):
                    try:
                        action()
                    except dataclasses.FrozenInstanceError as e:
                        out.append((type(e).__name__, str(e), isinstance(e, AttributeError)))
                self.y.append(self.x)
                self.y[0] += 1
                return out, self.y, self.x
            def _assign(self):
                self.x = 5
            def _augment(self):
                self.x += 1
            def _delete(self):
                del self.x
        def observe():
            f = Frozen(1)
            return f.change(), repr(f), hash(Frozen(3, None)) == hash(Frozen(3, None))
    """,
    "data_descriptor_with_set_name": """
        log = []
        class Field:
            def __set_name__(self, owner, name):
                self.name = "_" + name
                log.append(("set_name", owner.__qualname__, name))
            def __get__(self, obj, owner=None):
                if obj is None:
                    log.append(("get-class", owner.__name__))
                    return self
                log.append(("get", self.name))
                return getattr(obj, self.name, 0)
            def __set__(self, obj, value):
                log.append(("set", self.name, value))
                setattr(obj, self.name, value)
            def __delete__(self, obj):
                log.append(("delete", self.name))
                delattr(obj, self.name)
        class Model:
            size = Field()
            weight = Field()
            def grow(self):
                self.size += 2
                self.weight = self.size * 3
                del self.size
                self.__dict__["size"] = "shadow"
                return self.size, self.weight, sorted(vars(self)), type(Model.size).__name__
        def observe():
            return Model().grow(), log
    """,
    "non_data_descriptor_and_class_attribute_shadowing": """
        class Lazy:
            def __init__(self):
                self.calls = 0
            def __get__(self, obj, owner=None):
                self.calls += 1
                return "from-descriptor" if obj is not None else self
        class Config:
            level = 1
            items = []
            lazy = Lazy()
            def raise_level(self):
                before = self.level
                self.level += 1
                self.items += [self.level]
                return (before, self.level, Config.level, "level" in vars(self), "items" in vars(self),
                        self.items is Config.items)
            def shadow_lazy(self):
                first = self.lazy
                self.lazy = "instance"
                second = self.lazy
                del self.lazy
                third = self.lazy
                return first, second, third, Config.__dict__["lazy"].calls
            def shadow_method(self):
                self.raise_level = lambda: "instance function"
                out = self.raise_level()
                del self.raise_level
                return out, type(self.raise_level).__name__
        def observe():
            a, b = Config(), Config()
            return a.raise_level(), b.raise_level(), Config.items, a.shadow_lazy(), a.shadow_method()
    """,
    "metaclass_property_and_getattr": """
        log = []
        class Meta(type):
            @property
            def registry(cls):
                log.append(("registry", cls.__name__))
                return cls._registry
            def __getattr__(cls, name):
                log.append(("meta-getattr", name))
                return name * 2
            def describe(cls):
                return cls.__name__, cls.registry
        class Plugin(metaclass=Meta):
            _registry = ["base"]
            def lookups(self):
                out = [type(self).registry, type(self).virtual]
                try:
                    self.registry
                except AttributeError as e:
                    out.append(("AttributeError", str(e)))
                type(self)._registry += ["more"]
                out.append(Plugin.registry)
                out.append(Plugin.describe())
                out.append(type(self).__name__)
                return out
        def observe():
            return Plugin().lookups(), log
    """,
    "module_level_getattr": """
        import sys
        calls = []
        def __getattr__(name):
            calls.append(name)
            if name == "missing":
                raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
            return name[::-1]
        plain = "here"
        def observe():
            mod = sys.modules[__name__]
            out = [mod.plain, mod.dynamic]
            try:
                mod.missing
            except AttributeError as e:
                out.append(str(e).replace(__name__, "<mod>"))
            mod.plain += "!"
            out.append(plain)
            return out, calls
    """,
    "proxy_with_class_property": """
        count = [0]
        class Target:
            pass
        class Proxy:
            def __init__(self):
                self.data = [1]
            @property
            def __class__(self):
                count[0] += 1
                return Target
            def work(self):
                self.data.append(2)
                self.data[0] += 1
                n = len(self.data)
                if self.data:
                    n += 1
                return n, [x for x in self.data], count[0]
        def observe():
            p = Proxy()
            r = p.work()
            return r, count[0], isinstance(p, Target), count[0], type(p).__name__
    """,
    "index_of_slice_bounds_called_by_the_program_only": """
        calls = []
        class Index:
            def __init__(self, v):
                self.v = v
            def __index__(self):
                calls.append(self.v)
                return self.v
        class Holder:
            def __init__(self):
                self.lst = [0, 1, 2, 3, 4, 5]
            def run(self):
                out = [self.lst[Index(1)], self.lst[Index(1):], self.lst[:Index(2)], self.lst[::Index(2)]]
                out.append(list(calls))
                self.lst[Index(0):Index(1)] = ["a"]
                self.lst[Index(1):Index(3)] += ["b"]
                del self.lst[Index(4):]
                out.append(list(self.lst))
                return out
        def observe():
            return Holder().run(), calls
    """,
    "item_reads_run_no_extra_program_code": """
        import collections
        calls = []
        class Ring(collections.deque):
            def __getitem__(self, i):
                calls.append(("ring-getitem", i))
                return super().__getitem__(i)
        class Colliding:
            def __hash__(self):
                return hash(1)
            def __eq__(self, other):
                calls.append(("eq", type(other).__name__))
                return other is self
        class Holder:
            def __init__(self):
                self.ring = Ring([10, 20, 30])
                self.table = {Colliding(): "user key"}
            def run(self):
                out = [self.ring[0], self.ring[-1]]
                self.ring[1] += 1
                out.append(list(self.ring))
                try:
                    self.table[1]
                except KeyError as e:
                    out.append(("KeyError", str(e)))
                self.table[1] = "int key"
                out.append(self.table[1])
                out.append(len(self.table))
                return out
        def observe():
            return Holder().run(), calls
    """,
    "dunder_calls_made_by_containers": """
        calls = {"hash": 0, "eq": 0, "index": 0, "len": 0, "bool": 0, "iter": 0, "getitem": 0, "missing": 0}
        class Key:
            def __init__(self, v):
                self.v = v
            def __hash__(self):
                calls["hash"] += 1
                return hash(self.v)
            def __eq__(self, other):
                calls["eq"] += 1
                return isinstance(other, Key) and self.v == other.v
        class Index:
            def __index__(self):
                calls["index"] += 1
                return 1
        class Sized:
            def __len__(self):
                calls["len"] += 1
                return 0
        class Truthy:
            def __bool__(self):
                calls["bool"] += 1
                return True
        class Listish(list):
            def __iter__(self):
                calls["iter"] += 1
                return super().__iter__()
            def __len__(self):
                calls["len"] += 1
                return super().__len__()
            def __getitem__(self, i):
                calls["getitem"] += 1
                return super().__getitem__(i)
        class Table(dict):
            def __missing__(self, key):
                calls["missing"] += 1
                return "missing:" + str(key)
        class Holder:
            def __init__(self):
                self.d = {}
                self.lst = Listish([1, 2, 3])
                self.table = Table(a=1)
                self.sized = Sized()
                self.truthy = Truthy()
            def run(self):
                k1, k2 = Key(1), Key(1)
                self.d[k1] = "one"
                out = [self.d[k2], k2 in self.d, self.d.get(k2)]
                self.d[k2] += "!"
                out.append(sorted(self.d.values()))
                out.append(self.lst[Index()])
                out.append([x for x in self.lst])
                for x in self.lst:
                    out.append(x)
                out.append(len(self.lst))
                out.append(bool(self.lst))
                if self.lst:
                    out.append("truthy-list")
                if not self.sized:
                    out.append("empty-sized")
                if self.truthy:
                    out.append("truthy")
                out.append(self.table["a"])
                out.append(self.table["zz"])
                out.append("zz" in self.table)
                self.table["n"] = 1
                self.table["n"] += 1
                self.table["fresh"] += "!"
                out.append(sorted(self.table.items()))
                return out
        def observe():
            h = Holder()
            return h.run(), dict(calls)
    """,
}

SNIPPETS.update({
    # -- super(), __class__, class and static methods -----------------------------------
    "zero_argument_super_and_class_cell": """
        log = []
        class Base:
            registry = []
            def __init__(self, name):
                self.name = name
                log.append(("Base.__init__", type(self).__name__))
            def greet(self):
                return "base:" + self.name
            @classmethod
            def make(cls, name):
                return cls(name)
            @staticmethod
            def helper(x):
                return x * 2
            @property
            def title(self):
                return self.name.title()
            def __init_subclass__(cls, tag="none", **kw):
                super().__init_subclass__(**kw)
                Base.registry.append((cls.__name__, tag))
        class Child(Base, tag="child"):
            def __init__(self, name):
                super().__init__(name)
                self.count = 0
            def greet(self):
                self.count += 1
                return super().greet() + "/child", __class__.__name__, self.__class__.__name__
            @classmethod
            def make(cls, name):
                return super().make(name.upper())
            @staticmethod
            def helper(x):
                return Base.helper(x) + 1
            @property
            def title(self):
                return "<" + super().title + ">"
            def nested(self):
                def inner():
                    return super().greet()
                try:
                    return inner()
                except RuntimeError as e:
                    return "RuntimeError", str(e)
            def in_lambda(self):
                try:
                    return (lambda: super().greet())()
                except RuntimeError as e:
                    return "RuntimeError", str(e)
            def in_comprehension(self):
                try:
                    return [super().greet() for _ in [1, 2]]
                except TypeError as e:
                    return "TypeError", str(e)
            def in_generator(self):
                yield super().greet()
                yield __class__.__qualname__
            def explicit(self):
                return super(Child, self).greet(), super(Base, self).__class__.__name__
        class Grandchild(Child, tag="grand"):
            def greet(self):
                return super().greet(), super(Child, self).greet()
        def observe():
            c = Child.make("ann")
            g = Grandchild("bob")
            return (c.greet(), c.greet(), c.count, Child.helper(3), c.helper(4), c.title, c.nested(), c.in_lambda(),
                    c.in_comprehension(), list(c.in_generator()), c.explicit(), g.greet(), Base.registry, log,
                    c.name, type(c).__name__)
    """,
    "super_in_setattr_and_getattr_overrides": """
        log = []
        class Base:
            def __setattr__(self, name, value):
                log.append(("base-set", name))
                super().__setattr__(name, value)
            def __getattr__(self, name):
                log.append(("base-getattr", name))
                return "default-" + name
        class Child(Base):
            def __setattr__(self, name, value):
                log.append(("child-set", name, value))
                super().__setattr__(name, value.upper() if isinstance(value, str) else value)
            def __getattr__(self, name):
                if name.startswith("x"):
                    return super().__getattr__(name)
                raise AttributeError(name)
            def run(self):
                self.a = "low"
                self.n = 1
                self.n += 1
                out = [self.a, self.n, self.xyz]
                try:
                    self.missing
                except AttributeError as e:
                    out.append(("AttributeError", str(e)))
                return out
        def observe():
            return Child().run(), log
    """,
    # -- augmented assignment --------------------------------------------------------------
    "augmented_assignment_in_place": """
        class Box:
            def __init__(self):
                self.items = [1]
                self.n = 1
                self.d = {"k": [0]}
        def observe():
            box = Box()
            alias = box.items
            box.items += [2]
            box.n += 1
            box.d["k"] += [1]
            box.items[0] += 10
            box.items[1:] += [3]
            return alias is box.items, box.items, box.n, box.d
    """,
    "augmented_assignment_operator_protocols": """
        log = []
        class Acc:
            def __init__(self, v):
                self.v = v
            def __iadd__(self, other):
                log.append(("iadd", self.v, other))
                return Acc(self.v + other)
            def __isub__(self, other):
                log.append(("isub", other))
                return NotImplemented
            def __sub__(self, other):
                log.append(("sub", other))
                return Acc(self.v - other)
            def __rmul__(self, other):
                log.append(("rmul", other))
                return Acc(self.v * other)
            def __matmul__(self, other):
                log.append(("matmul", other))
                return Acc(self.v * 100 + other)
        class Holder:
            def __init__(self):
                self.acc = Acc(1)
                self.lst = [1]
                self.tup = (1,)
                self.s = "a"
                self.n = 7
                self.k = 2
                self.fs = frozenset({1})
                self.st = {1}
                self.d = {"a": 1}
                self.slots = {"acc": Acc(10)}
            def run(self):
                original = self.acc
                self.acc += 5
                replaced = self.acc is not original
                self.acc -= 2
                self.acc @= 3
                self.k *= Acc(3)
                self.slots["acc"] += 1
                self.slots["acc"] -= 1
                aliases = self.lst, self.tup, self.st, self.fs, self.d
                self.lst += (2, 3)
                self.tup += (2,)
                self.st |= {2}
                self.fs |= {2}
                self.d |= {"b": 2}
                self.s *= 3
                self.n **= 2
                self.n //= 3
                self.n %= 5
                self.n <<= 3
                self.n >>= 1
                self.n ^= 0b1010
                self.n &= 0xff
                self.n |= 1
                self.n /= 2
                same = [a is b for a, b in zip(aliases, (self.lst, self.tup, self.st, self.fs, self.d))]
                errors = []
                for bad in (self._tuple_plus_list, self._int_plus_str, self._list_minus):
                    try:
                        bad()
                    except TypeError as e:
                        errors.append(str(e))
                return (replaced, self.acc.v, self.k.v, self.slots["acc"].v, same, self.lst, self.tup,
                        sorted(self.st), sorted(self.fs), self.d, self.s, self.n, errors, log)
            def _tuple_plus_list(self):
                self.tup += [4]
            def _int_plus_str(self):
                self.n += "x"
            def _list_minus(self):
                self.lst -= [1]
        def observe():
            return Holder().run()
    """,
    "augmented_assignment_evaluation_order": """
        order = []
        class Logged:
            def __init__(self, name, data):
                self.name, self.data = name, data
            def __getitem__(self, key):
                order.append(("getitem", self.name, key))
                return self.data[key]
            def __setitem__(self, key, value):
                order.append(("setitem", self.name, key, value))
                self.data[key] = value
        class Owner:
            def __init__(self):
                self._box = Logged("box", {"k": 1, 0: [1]})
                self.lst = [0, 10, 20, 30, 40]
            @property
            def box(self):
                order.append("box-getter")
                return self._box
        def key(k):
            order.append(("key", k))
            return k
        def value(v):
            order.append(("value", v))
            return v
        def observe():
            o = Owner()
            o.box[key("k")] += value(5)
            o.box[key(0)] += [value(2)]
            o.lst[key(1)] += value(1)
            o.lst[key(1):key(3)] += [value(99)]
            o.lst[key(0)], o.box[key("k")] = value("a"), value("b")
            i = 0
            def bump():
                nonlocal i
                i += 1
                order.append(("bump", i))
                return i
            o.lst[bump()] *= 2
            o.box[bump()] = o.box[key(0)]
            return order, o.lst, o._box.data, i
    """,
    "augmented_assignment_on_globals": """
        n = 0
        total = []
        text = "a"
        pair = (1,)
        def bump(k=1):
            global n
            n += k
            return n
        def grow():
            global total, pair, text
            alias = total
            total += [len(total)]
            pair += (len(pair),)
            text *= 2
            return alias is total, list(total), pair, text
        def read_only():
            return n, list(total), pair
        def rebinds():
            global n
            n = n + 100
            n -= 1
            n //= 2
            return n
        def observe():
            return bump(), bump(5), grow(), grow(), read_only(), rebinds(), n
    """,
    "augmented_assignment_to_an_item_of_a_tuple": """
        class Holder:
            def __init__(self):
                self.t = ([1], 2)
            def run(self):
                err = err2 = None
                try:
                    self.t[0] += [2]
                except TypeError as e:
                    err = type(e).__name__, str(e)
                try:
                    self.t[1] += 1
                except TypeError as e:
                    err2 = str(e)
                return err, err2, self.t
        def observe():
            return Holder().run()
    """,
    "locals_after_augmented_assignment": """
        class Box:
            def __init__(self):
                self.x = 1
                self.items = {"k": 1}
        count = 0
        def normal(box):
            box.x += 1
            box.items["k"] += 1
            return sorted(locals())
        def with_dir_and_vars(box):
            box.x *= 3
            box.items["k"] -= 1
            return sorted(dir()), sorted(vars())
        def bump_global():
            global count
            count += 1
            return sorted(locals())
        def failing(box):
            try:
                box.x += "text"
            except TypeError:
                pass
            return sorted(locals())
        def failing_item(box):
            try:
                box.items["missing"] += 1
            except KeyError:
                pass
            return sorted(locals())
        def failing_global():
            global count
            try:
                count += None
            except TypeError:
                pass
            return sorted(locals())
        def observe():
            b = Box()
            return (normal(b), with_dir_and_vars(b), bump_global(), failing(b), failing_item(b), failing_global(),
                    b.x, b.items, count)
    """,
    # -- del ---------------------------------------------------------------------------------
    "delete_attributes_items_slices_and_globals": """
        flag = "set"
        log = []
        class Thing:
            def __init__(self):
                self.a = 1
                self.b = 2
                self.items = list(range(10))
                self.d = {"x": 1, "y": 2, "z": 3}
            def __delattr__(self, name):
                log.append(("delattr", name))
                super().__delattr__(name)
            def remove(self):
                del self.a
                del self.items[0], self.items[-1]
                del self.items[1:3]
                del self.items[::2]
                del self.d["x"], self.b
                out = [sorted(vars(self)), list(self.items), dict(self.d)]
                for attempt in ("attr", "key", "index", "global", "slice"):
                    try:
                        if attempt == "attr":
                            del self.a
                        elif attempt == "key":
                            del self.d["nope"]
                        elif attempt == "index":
                            del self.items[99]
                        elif attempt == "slice":
                            del self.items[5:99]
                            out.append(list(self.items))
                        else:
                            drop_global()
                            drop_global()
                    except (AttributeError, KeyError, IndexError, NameError) as e:
                        out.append((attempt, type(e).__name__, str(e)))
                return out
        def drop_global():
            global flag
            del flag
        def key(k):
            log.append(("key", k))
            return k
        def observe():
            t = Thing()
            r = t.remove()
            del t.d[key("y")]
            try:
                flag
            except NameError as e:
                r.append(str(e))
            return r, t.d, log, "flag" in globals()
    """,
    # -- assignment targets ------------------------------------------------------------------
    "chained_tuple_starred_and_nested_assignment": """
        order = []
        class Rec:
            def __init__(self, name):
                object.__setattr__(self, "name", name)
            def __setattr__(self, attr, value):
                order.append((self.name, attr, value))
                object.__setattr__(self, attr, value)
        class Seq(list):
            def __setitem__(self, key, value):
                order.append(("seq", key, value))
                super().__setitem__(key, value)
        n = 0
        def src(tag, value):
            order.append(("eval", tag))
            return value
        def run():
            global n
            a, b = Rec("a"), Rec("b")
            s = Seq([0, 0, 0, 0])
            a.x, s[src("k", 1)] = src("rhs", (1, 2))
            a.y = b.y = s[2] = src("chain", 7)
            a.z, *s[1:3], b.z = src("star", [1, 2, 3, 4, 5])
            (a.p, (s[0], n)), b.q = src("nested", ((1, (2, 3)), 4))
            a.x, n = n, a.x
            n, = src("single", [9])
            [a.l1, [a.l2]] = src("lists", ("l1", ["l2"]))
            n = a.m = src("chain-global", 11)
            try:
                a.w, b.w = src("short", [1])
            except ValueError as e:
                order.append(str(e))
            try:
                a.v, n = src("long", [1, 2, 3])
            except ValueError as e:
                order.append(str(e))
            try:
                a.u, (b.u, n) = src("inner-short", [1, [2]])
            except ValueError as e:
                order.append(str(e))
            try:
                a.t, *n = src("not-iterable", 5)
            except TypeError as e:
                order.append(str(e))
            return order, list(s), n, sorted(vars(a).items()), sorted(vars(b).items())
        def observe():
            return run()
    """,
    "for_and_with_targets_that_are_attributes_and_items": """
        import contextlib
        class Walker:
            def __init__(self):
                self.cur = None
                self.pair = [None, None]
                self.seen = {}
            def walk(self, data):
                out = []
                for self.cur in data:
                    out.append(self.cur)
                for self.pair[0], self.pair[1] in zip(data, reversed(data)):
                    out.append(tuple(self.pair))
                for self.seen[len(self.seen)] in data:
                    pass
                for i, (self.cur, *rest) in enumerate([[1, 2, 3], [4]]):
                    out.append((i, self.cur, rest))
                with contextlib.nullcontext((7, 8)) as (self.cur, self.pair[0]):
                    out.append((self.cur, self.pair[0]))
                for self.cur in []:
                    out.append("never")
                else:
                    out.append(("else", self.cur))
                return out, self.cur, self.pair, self.seen
        def observe():
            return Walker().walk(["a", "b", "c"])
    """,
})

SNIPPETS.update({
    # -- comprehensions and generators -------------------------------------------------------
    "dict_iteration_and_mutation_errors": """
        def observe():
            d = {1: 1, 2: 2}
            seen = []
            try:
                for k in d:
                    seen.append(k)
                    d[k + 10] = 0
            except RuntimeError as e:
                seen.append(str(e))
            return seen
    """,
    "comprehensions_of_every_kind": """
        class Store:
            def __init__(self):
                self.items = [3, 1, 2]
                self.table = {"a": 1, "b": 2}
                self.groups = [[1, 2], [3], []]
                self.calls = 0
            def pred(self, x):
                self.calls += 1
                return x % 2
            def run(self):
                lists = [x * 2 for x in self.items if self.pred(x)]
                sets = sorted({x % 2 for x in self.items})
                dicts = {k: v * 10 for k, v in self.table.items() if v > 1}
                gens = list(x + 1 for x in self.items)
                nested = [y for g in self.groups for y in g if y != 2]
                matrix = [[x * y for x in self.items] for y in range(2)]
                walrus = [last := x for x in self.items]
                cond = [x if x > 1 else -x for x in self.items]
                over_items = {k: [v for _ in range(v)] for k, v in self.table.items()}
                over_dict = [k for k in self.table]
                nested_gen = list(list(y * 2 for y in g) for g in self.groups)
                shadow = [self for self in range(2)]
                return (lists, sets, dicts, gens, nested, matrix, walrus, last, cond, over_items, over_dict,
                        nested_gen, shadow, self.calls)
        def observe():
            return Store().run()
    """,
    "comprehension_scope_rules_in_class_bodies": """
        BASE = 10
        class AtModuleLevel:
            xs = [1, 2, 3]
            k = 100
            doubled = [x * 2 for x in xs]
            try:
                shifted = [x + k for x in xs]
            except NameError as e:
                shifted = str(e)
            with_global = [x + BASE for x in xs]
            pairs = {x: [y for y in range(x)] for x in xs}
        def observe():
            class Local:
                ys = [1, 2]
                m = 5
                first = [y for y in ys]
                try:
                    second = [y * m for y in ys]
                except NameError as e:
                    second = str(e)
                lam = [(lambda: y) for y in ys]
                def method(self):
                    return [self.m * y for y in self.ys], [m for m in self.ys]
            return (AtModuleLevel.doubled, AtModuleLevel.shifted, AtModuleLevel.with_global, AtModuleLevel.pairs,
                    Local.first, Local.second, [f() for f in Local.lam], Local().method(),
                    sorted(k for k in vars(Local) if not k.startswith("__")))
    """,
    "generator_expression_as_the_sole_argument": """
        calls = []
        class Bag:
            def __init__(self):
                self.items = [1, 2, 3, 4]
            def check(self, x):
                calls.append(x)
                return x > 2
            def run(self):
                return (sum(x for x in self.items), any(self.check(x) for x in self.items), list(calls),
                        all(self.check(x) for x in self.items), list(calls),
                        max(x * -1 for x in self.items), sorted(x % 3 for x in self.items),
                        "".join(str(x) for x in self.items), tuple(x for x in self.items if x % 2),
                        dict((x, x * x) for x in self.items), sorted(set(x % 2 for x in self.items)),
                        min((x for x in self.items), key=lambda v: -v), next(x for x in self.items if x > 1),
                        list(map(str, (x for x in self.items))))
        def observe():
            return Bag().run(), calls
    """,
    "generator_expression_takes_its_iterator_when_created": """
        import collections
        class Shared:
            def __init__(self):
                self.table = {"a": 1}
                self.tags = {"x"}
                self.items = [1, 2]
                self.queue = collections.deque([1])
        def consume(make, mutate):
            gen = make()
            mutate()
            try:
                return ("ok", list(gen))
            except RuntimeError as e:
                return ("RuntimeError", str(e))
        def observe():
            s = Shared()
            return [
                consume(lambda: (k for k in s.table), lambda: s.table.update(b=2)),
                consume(lambda: (t for t in s.tags), lambda: s.tags.add("y")),
                consume(lambda: (i for i in s.items), lambda: s.items.append(3)),
                consume(lambda: (q for q in s.queue), lambda: s.queue.append(2)),
            ]
    """,
    "generators_send_throw_close_and_yield_from": """
        import inspect
        log = []
        class Acc:
            def __init__(self):
                self.total = 0
                self.seen = []
            def averager(self):
                try:
                    while True:
                        value = yield self.total
                        if value is None:
                            break
                        self.total += value
                        self.seen.append(value)
                except KeyError as e:
                    log.append(("caught", str(e)))
                    yield "recovered"
                finally:
                    log.append("finally")
                return len(self.seen)
            def delegate(self):
                result = yield from self.averager()
                log.append(("delegate-result", result))
                yield from [self.total, -1]
                return "done"
        def observe():
            a = Acc()
            g = a.averager()
            out = [next(g), g.send(3), g.send(4), g.throw(KeyError("k"))]
            g.close()
            out.append((list(a.seen), inspect.getgeneratorstate(g), g.__name__, g.__qualname__))
            d = a.delegate()
            out += [next(d), d.send(10), d.send(None), next(d)]
            try:
                next(d)
            except StopIteration as e:
                out.append(("stop", e.value))
            g2 = a.averager()
            next(g2)
            try:
                g2.throw(ValueError("not caught"))
            except ValueError as e:
                out.append(("propagated", str(e), inspect.getgeneratorstate(g2)))
            return out, log
    """,
    "augmented_assignment_across_a_yield": """
        log = []
        class Acc:
            def __init__(self):
                self.total = 1
                self.slots = {"k": 1}
            def accumulate(self):
                try:
                    self.total += yield "ready"
                except ValueError:
                    log.append(("thrown", sorted(locals())))
                self.slots["k"] *= yield self.total
                yield self.slots["k"]
        def observe():
            a = Acc()
            h = a.accumulate()
            out = [next(h), h.send(5), h.send(7)]
            h2 = a.accumulate()
            out += [next(h2), h2.throw(ValueError("stop"))]
            return out, log, a.total, a.slots
    """,
    # -- async ---------------------------------------------------------------------------------
    "async_await_for_and_with": """
        import asyncio
        log = []
        class Resource:
            def __init__(self):
                self.opened = 0
                self.items = []
            async def __aenter__(self):
                self.opened += 1
                log.append("enter")
                return self
            async def __aexit__(self, *exc):
                log.append(("exit", exc[0].__name__ if exc[0] else None))
                self.opened -= 1
                return False
        class Ticker:
            def __init__(self, n):
                self.n = n
                self.i = 0
            def __aiter__(self):
                return self
            async def __anext__(self):
                if self.i >= self.n:
                    raise StopAsyncIteration
                self.i += 1
                await asyncio.sleep(0)
                return self.i
        async def agen(n):
            for i in range(n):
                yield i * 10
                await asyncio.sleep(0)
        async def work(res, tag):
            async with res as r:
                r.items.append(tag)
                async for t in Ticker(2):
                    r.items.append((tag, t))
                r.items += [x async for x in agen(2)]
                await asyncio.sleep(0)
                return tag, r.opened
        async def failing(res):
            try:
                async with res:
                    raise ValueError("inside")
            except ValueError as e:
                return str(e)
        async def main():
            res = Resource()
            results = await asyncio.gather(work(res, "a"), work(res, "b"))
            err = await failing(res)
            task = asyncio.ensure_future(work(res, "c"))
            done = await task
            return results, err, done, res.items, res.opened
        def observe():
            return asyncio.run(main()), log
    """,
    "async_exceptions_and_tracebacks": """
        import asyncio
        import traceback
        class Service:
            def __init__(self):
                self.calls = {"n": 0}
            async def level3(self):
                self.calls["n"] += 1
                await asyncio.sleep(0)
                raise KeyError("deep")
            async def level2(self):
                return await self.level3()
            async def level1(self):
                try:
                    return await self.level2()
                except KeyError as e:
                    raise RuntimeError("wrapped") from e
        async def main():
            s = Service()
            try:
                await s.level1()
            except RuntimeError as e:
                frames = [f.name for f in traceback.extract_tb(e.__traceback__)]
                cause = [f.name for f in traceback.extract_tb(e.__cause__.__traceback__)]
                return str(e), frames, cause, repr(e.__cause__), s.calls
        def observe():
            return asyncio.run(main())
    """,
})

SNIPPETS.update({
    # -- statements and expressions ------------------------------------------------------------
    "walrus_operator": """
        class Src:
            def __init__(self):
                self.data = [3, 0, 5]
                self.calls = 0
            def next_value(self):
                self.calls += 1
                return self.data.pop() if self.data else None
            def run(self):
                out = []
                while (v := self.next_value()) is not None:
                    out.append(v)
                if (n := len(out)) > 2:
                    out.append(("n", n))
                picked = [y for x in range(5) if (y := x * self.calls) % 2 == 0]
                self.last = (z := self.calls + 1)
                return out, picked, y, self.calls, z, self.last, sorted(locals())
        def observe():
            return Src().run()
    """,
    "match_statements": """
        import enum
        from dataclasses import dataclass
        class Color(enum.Enum):
            RED = 1
            GREEN = 2
        @dataclass
        class Point:
            x: int
            y: int
        class Shape:
            __match_args__ = ("kind", "size")
            def __init__(self, kind, size):
                self.kind, self.size = kind, size
        class Limits:
            low = 0
            high = 10
        checks = []
        class Matcher:
            def __init__(self):
                self.threshold = 3
                self.last = None
            def prefix(self):
                checks.append("prefix")
                return "ab"
            def describe(self, subject):
                match subject:
                    case Color.RED:
                        return "red"
                    case Color.GREEN | None:
                        return "green-or-none"
                    case Limits.high:
                        return "high"
                    case Point(x=0, y=0):
                        return "origin"
                    case Point(x=x, y=y) if x > self.threshold:
                        self.last = x
                        return ("far", x, y)
                    case Point(x, y):
                        return ("point", x, y)
                    case Shape("circle", size):
                        return ("circle", size)
                    case {"type": "user", "name": str(name), **rest}:
                        return ("user", name, sorted(rest))
                    case {"type": t}:
                        return ("typed", t)
                    case [1, *tail] if len(tail) > self.threshold - 2:
                        return ("list", tail)
                    case [x, y] | (x, y, _):
                        return ("pair", x, y)
                    case str() as s if s.startswith(self.prefix()):
                        return ("prefixed", s)
                    case int(n) | float(n) if n < 0:
                        return ("negative", n)
                    case _:
                        return ("other", type(subject).__name__)
            def on_attribute(self):
                self.subject = {"type": "user", "name": "zed"}
                match self.subject:
                    case {"name": name}:
                        self.last = name
                match self.subject["type"], self.threshold:
                    case ("user", 3):
                        return self.last, "user-3"
        def observe():
            m = Matcher()
            subjects = [Color.RED, Color.GREEN, None, 10, Point(0, 0), Point(5, 1), Point(1, 2), Shape("circle", 3),
                        {"type": "user", "name": "ann", "age": 3}, {"type": "x"}, [1, 2, 3], [1], [4, 5], (4, 5, 6),
                        "abc", "xyz", -2, -1.5, 7]
            return [m.describe(s) for s in subjects], m.last, checks, m.on_attribute()
    """,
    "fstrings_with_attributes_subscripts_and_calls": """
        class Item:
            def __init__(self):
                self.name = "widget"
                self.prices = {"eur": 2.5}
                self.tags = ["a", "b"]
                self.calls = 0
            def label(self, upper=False):
                self.calls += 1
                return self.name.upper() if upper else self.name
            def __format__(self, spec):
                return f"Item<{spec}>"
            def render(self):
                width = 12
                return [f"{self.name!r:>{width}}", f"{self.prices['eur']:.2f}", f"{self.tags[-1]}{self.tags[0]!s}",
                        f"{self.label(upper=True)}-{self.label()}", f"{self:custom}", f"{self.calls=}",
                        f"{'nested ' + f'{self.tags[1]}'}", f"{len(self.tags):03d}", f"{self.prices}",
                        f"{self.tags[0:1]!a}"]
        def observe():
            it = Item()
            return it.render(), it.calls
    """,
    "global_and_nonlocal": """
        counter = 0
        registry = {}
        def make_counter(start):
            count = start
            def inc(step=1):
                nonlocal count
                count += step
                return count
            def peek():
                return count
            return inc, peek
        def touch_global(key):
            global counter
            counter += 1
            registry[key] = counter
            return counter
        def shadow():
            counter = "local"
            counter += "!"
            return counter
        def nested_global():
            def inner():
                global counter
                counter = counter * 10
                return counter
            return inner()
        def closure_named_like_a_global():
            counter = "closure"
            class K:
                def get(self):
                    return counter
            return K().get()
        def nonlocal_in_class_method():
            value = [0]
            total = 0
            class K:
                def add(self, n):
                    nonlocal total
                    total += n
                    value[0] += n
                    return total
            k = K()
            k.add(2)
            k.add(3)
            return total, value
        def unbound():
            try:
                counter += 1
            except UnboundLocalError as e:
                return str(e)
            counter = 0
        def observe():
            inc, peek = make_counter(5)
            return (inc(), inc(10), peek(), touch_global("a"), touch_global("b"), shadow(), nested_global(), counter,
                    registry, closure_named_like_a_global(), nonlocal_in_class_method(), unbound())
    """,
    "with_try_except_finally_else": """
        log = []
        class Ctx:
            def __init__(self, name, swallow=False):
                self.name, self.swallow = name, swallow
                self.entered = 0
            def __enter__(self):
                self.entered += 1
                log.append(("enter", self.name))
                return self
            def __exit__(self, et, ev, tb):
                log.append(("exit", self.name, et.__name__ if et else None, str(ev) if ev else None))
                return self.swallow
        class Flow:
            def __init__(self):
                self.state = []
            def run(self, fail):
                try:
                    with Ctx("outer") as o, Ctx("inner", swallow=True) as i:
                        self.state.append((o.name, i.entered))
                        if fail == "swallowed":
                            raise KeyError("inner swallows")
                    if fail == "raise":
                        raise ValueError("boom")
                    self.state.append("after-with")
                except ValueError as e:
                    self.state.append(("except", str(e)))
                    return "returned-from-except"
                else:
                    self.state.append("else")
                finally:
                    self.state.append("finally")
                return "normal"
            def finally_runs_after_return(self):
                try:
                    return "try"
                finally:
                    self.state.append("finally-runs")
            def loop_with_finally(self):
                out = []
                for i in range(4):
                    try:
                        if i == 1:
                            continue
                        if i == 3:
                            break
                        out.append(i)
                    finally:
                        out.append(("f", i))
                return out
            def exception_name_is_unbound_after_except(self):
                try:
                    raise KeyError("x")
                except KeyError as err:
                    pass
                try:
                    err
                except NameError as e:
                    return str(e)
        def observe():
            f = Flow()
            return ([f.run(m) for m in ("none", "swallowed", "raise")], f.finally_runs_after_return(),
                    f.loop_with_finally(), f.exception_name_is_unbound_after_except(), f.state, log)
    """,
    "exception_chaining_and_tracebacks": """
        import traceback
        class Store:
            def __init__(self):
                self.data = {"a": 1}
            def level3(self, key):
                return self.data[key]
            def level2(self, key):
                return self.level3(key) + 1
            def level1(self, key):
                try:
                    return self.level2(key)
                except KeyError as e:
                    raise LookupError(f"missing {key!r}") from e
            def implicit(self):
                try:
                    self.data["zz"]
                except KeyError:
                    return self.data["a"] / 0
            def suppressed(self):
                try:
                    self.data["zz"]
                except KeyError:
                    raise ValueError("clean") from None
            def attribute_error(self):
                return self.missing_attribute
            def reraised(self):
                try:
                    self.data.nope()
                except AttributeError:
                    raise
        def summary(exc):
            frames = traceback.extract_tb(exc.__traceback__)
            return (type(exc).__name__, str(exc), [(f.name, f.lineno, f.line) for f in frames],
                    type(exc.__cause__).__name__, type(exc.__context__).__name__, exc.__suppress_context__,
                    traceback.format_exception_only(type(exc), exc))
        def observe():
            s = Store()
            out = []
            for call in (lambda: s.level1("b"), s.implicit, s.suppressed, s.attribute_error, s.reraised):
                try:
                    call()
                except Exception as e:
                    out.append(summary(e))
                    if e.__cause__ is not None:
                        out.append(summary(e.__cause__))
            return out
    """,
    "formatted_tracebacks_point_at_the_same_code": """
        import traceback
        class Box:
            def __init__(self):
                self.table = {"a": 1}
                self.items = [1, 2]
                self.n = 1
                self.text = "t"
            def key_error(self):
                return self.table["b"] + 1
            def attribute_error(self):
                return self.missing.deeper
            def augmented(self):
                self.n += self.text
            def augmented_item(self):
                self.items[
                    5
                ] += 1
            def call_inside(self):
                return int(self.text) + self.n
            def method_call(self):
                return self.items.index(99)
            def global_read(self):
                return undefined_name + self.n
            def division(self):
                return self.n / (self.n - 1)
        def observe():
            box = Box()
            out = []
            for name in ("key_error", "attribute_error", "augmented", "augmented_item", "call_inside", "method_call",
                         "global_read", "division"):
                try:
                    getattr(box, name)()
                except Exception:
                    text = traceback.format_exc()
                    out.append(text.replace(__file__, "<snippet>").splitlines())
            return out
    """,
    "traceback_of_an_error_raised_while_iterating_a_shared_container": """
        import traceback
        class Registry:
            def __init__(self):
                self.entries = {"a": 1}
                self.tags = {"x"}
            def grow_while_iterating(self):
                for key in self.entries:
                    self.entries[key + "!"] = 0
            def grow_set(self):
                return [self.tags.add(t + "?") for t in self.tags]
        def describe(exc):
            return (type(exc).__name__, str(exc), [f.name for f in traceback.extract_tb(exc.__traceback__)],
                    exc.__suppress_context__, type(exc.__context__).__name__, exc.__cause__ is None)
        def observe():
            r = Registry()
            out = []
            for action in (r.grow_while_iterating, r.grow_set):
                try:
                    action()
                except RuntimeError as e:
                    out.append(describe(e))
            try:
                {}["missing"]
            except KeyError:
                try:
                    r.grow_while_iterating()
                except RuntimeError as e:
                    out.append(describe(e))
            return out
    """,
    "attributes_of_an_error_raised_while_iterating_a_shared_container": """
        import copy
        class Registry:
            def __init__(self):
                self.entries = {"a": 1}
            def grow(self):
                for key in self.entries:
                    self.entries[key + "!"] = 0
        def observe():
            try:
                Registry().grow()
            except RuntimeError as e:
                return vars(e), e.args, vars(copy.copy(e)), e.__reduce__()
    """,
    "decorators_with_and_without_arguments": """
        import functools
        calls = []
        def logged(prefix):
            def decorate(fn):
                @functools.wraps(fn)
                def wrapper(*args, **kwargs):
                    calls.append((prefix, fn.__name__))
                    return fn(*args, **kwargs)
                return wrapper
            return decorate
        def counted(fn):
            @functools.wraps(fn)
            def wrapper(*a):
                wrapper.count += 1
                return fn(*a)
            wrapper.count = 0
            return wrapper
        def register(cls):
            cls.registered = True
            calls.append(("class", cls.__qualname__))
            return cls
        def with_option(**options):
            def deco(cls):
                for k, v in options.items():
                    setattr(cls, k, v)
                return cls
            return deco
        @register
        @with_option(color="red", size=2)
        class Widget:
            def __init__(self):
                self.hits = 0
            @logged("method")
            def hit(self, n=1):
                self.hits += n
                return self.hits
            @counted
            def twice(self, x):
                return x * 2
            @property
            @logged("prop")
            def doubled(self):
                return self.hits * 2
            def local_decorator(self):
                @logged(self.color)
                @counted
                def inner():
                    return self.hits
                return inner(), inner.count, inner.__qualname__
        @logged("fn")
        def free(a, b=2):
            return a + b
        def observe():
            w = Widget()
            return (w.hit(), w.hit(3), w.twice(4), w.twice(5), Widget.twice.count, w.doubled, free(1), free(1, b=5),
                    w.local_decorator(), Widget.hit.__name__, Widget.hit.__qualname__,
                    Widget.hit.__wrapped__.__qualname__, free.__module__ == __name__, Widget.registered,
                    Widget.color, Widget.size, calls)
    """,
    "dataclasses": """
        import dataclasses
        from dataclasses import dataclass, field
        made = []
        @dataclass(order=True)
        class Item:
            priority: int
            name: str = field(compare=False)
            tags: list = field(default_factory=list, compare=False)
            total: int = field(init=False, default=0, repr=False)
            def __post_init__(self):
                made.append(self.name)
                self.total = self.priority * 10
                self.tags.append("new")
            def bump(self):
                self.priority += 1
                self.tags += ["bumped"]
                return self
        @dataclass(frozen=True)
        class Frozen:
            x: int
            y: int = 2
            def moved(self):
                return dataclasses.replace(self, x=self.x + 1)
        @dataclass
        class Inherited(Item):
            extra: str = "e"
        @dataclass(slots=True)
        class Slotted:
            a: int
            b: list = field(default_factory=list)
            def grow(self):
                self.a += 1
                self.b.append(self.a)
                try:
                    self.c = 1
                except AttributeError as e:
                    return str(e)
            def via_super(self):
                try:
                    return super().__repr__() is not None
                except TypeError as e:
                    return "TypeError", str(e)
        def observe():
            a, b = Item(2, "a"), Item(1, "b")
            a.bump()
            c = Inherited(5, "c")
            f = Frozen(1)
            try:
                f.x = 5
            except dataclasses.FrozenInstanceError as e:
                ferr = str(e)
            s = Slotted(1)
            return (repr(a), a < b, a == Item(3, "zzz"), sorted([a, b])[0].name, dataclasses.asdict(b),
                    dataclasses.astuple(c), repr(c), [fl.name for fl in dataclasses.fields(Inherited)],
                    repr(f.moved()), hash(f) == hash(Frozen(1)), ferr, made, Item.__module__ == __name__,
                    Item.__qualname__, s.grow(), repr(s), hasattr(s, "__dict__"), Slotted.__slots__, s.via_super())
    """,
    "enums": """
        import enum
        class Color(enum.Enum):
            RED = 1
            GREEN = 2
            BLUE = 3
            @property
            def pretty(self):
                return self.name.lower()
            def next(self):
                members = list(type(self))
                return members[(members.index(self) + 1) % len(members)]
            @classmethod
            def _missing_(cls, value):
                if isinstance(value, str) and value.upper() in cls.__members__:
                    return cls[value.upper()]
                return None
        class Perm(enum.IntFlag):
            R = 4
            W = 2
            X = 1
        class Status(str, enum.Enum):
            OK = "ok"
            FAIL = "fail"
        class Auto(enum.Enum):
            A = enum.auto()
            B = enum.auto()
        def observe():
            out = [Color(1).name, Color("green").name, Color.RED.pretty, Color.BLUE.next().name,
                   [c.name for c in Color],
                   len(Color), Color.RED in Color, Color["BLUE"].value, (Perm.R | Perm.W).value,
                   Perm.R in (Perm.R | Perm.X), Status.OK == "ok", Status("fail").name, [a.value for a in Auto],
                   Color.RED.__class__.__qualname__, repr(Color.GREEN), str(Perm.W), Color.__members__["RED"].value]
            Dynamic = enum.Enum("Dynamic", "ONE TWO")
            out.append((Dynamic.TWO.value, Dynamic.__module__ == __name__, Dynamic.__qualname__))
            for bad in (7, "purple"):
                try:
                    Color(bad)
                except (ValueError, KeyError) as e:
                    out.append((type(e).__name__, str(e)))
            try:
                Color.RED.value = 5
            except AttributeError as e:
                out.append(("AttributeError", str(e)))
            try:
                Color.RED = 5
            except AttributeError as e:
                out.append(("AttributeError", str(e)))
            return out
    """,
    "namedtuples": """
        import collections
        from typing import NamedTuple
        Pair = collections.namedtuple("Pair", "left right")
        class Typed(NamedTuple):
            x: int
            y: str = "dflt"
            def swapped(self):
                return Typed(self.x * 2, self.y + "!")
        def make_local():
            Local = collections.namedtuple("Local", ["a", "b"], defaults=[0])
            return Local
        def observe():
            p = Pair(1, 2)
            t = Typed(3)
            L = make_local()
            l = L(5)
            out = [tuple(p), p.left, tuple(p._replace(left=9)), p._asdict(), Pair._fields, repr(t),
                   tuple(t.swapped()), t._fields, Typed._field_defaults, t[0], tuple(l), repr(l),
                   L.__module__ == __name__, L.__qualname__, Typed.__annotations__]
            try:
                p.left = 5
            except AttributeError as e:
                out.append(str(e))
            a, b = p
            out.append((a, b))
            return out
    """,
    "future_annotations_stay_strings": """
        from __future__ import annotations
        import typing
        from dataclasses import dataclass, fields
        class Node:
            value: int
            children: list[Node]
            parent: typing.Optional["Node"] = None
            def link(self, other: Node, *, weight: float = 1.0) -> dict[str, Node]:
                self.children = [other]
                local: Undefined.Thing = 3
                self.tag: SomeType[int] = "t"
                self.items: list[int]
                return {"o": other}
            async def fetch(self, url: str | None) -> bytes:
                return b""
        @dataclass
        class Box:
            items: list[int]
            label: "str" = "x"
        def make(x: int = 3, *args: tuple[int, ...], **kw: dict[str, typing.Any]) -> Node | None:
            def inner(y: self.Unknown, /, z: Missing[int] = 0) -> List[int]:
                return y
            return inner
        def observe():
            n = Node()
            n.link(Node())
            return (Node.__annotations__, Node.link.__annotations__, Node.fetch.__annotations__, Box.__annotations__,
                    [f.type for f in fields(Box)], make.__annotations__, make().__annotations__, n.tag,
                    typing.get_type_hints(Box) == {"items": list[int], "label": str})
    """,
    "metaclasses_prepare_init_subclass_and_class_getitem": """
        log = []
        class OrderedMeta(type):
            @classmethod
            def __prepare__(mcls, name, bases, **kw):
                log.append(("prepare", name, sorted(kw)))
                return {"injected": len(log)}
            def __new__(mcls, name, bases, ns, **kw):
                log.append(("new", name, [k for k in ns if not k.startswith("__")]))
                cls = super().__new__(mcls, name, bases, dict(ns), **kw)
                cls.order = [k for k in ns if not k.startswith("__")]
                return cls
            def __init__(cls, name, bases, ns, **kw):
                super().__init__(name, bases, ns)
                log.append(("init", name))
            def __call__(cls, *args, **kwargs):
                log.append(("call", cls.__name__))
                return super().__call__(*args, **kwargs)
        class Base(metaclass=OrderedMeta):
            b = 1
            a = 2
            def __init_subclass__(cls, /, label="?", **kw):
                super().__init_subclass__(**kw)
                cls.label = label
                log.append(("init_subclass", cls.__name__, label))
            def __class_getitem__(cls, item):
                log.append(("class_getitem", cls.__name__, getattr(item, "__name__", repr(item))))
                return f"{cls.__name__}[{getattr(item, '__name__', item)}]"
        class Child(Base, label="kid"):
            z = 0
            def method(self):
                return type(self).order, self.label, self.injected, Child[int]
        def observe():
            c = Child()
            def dynamic():
                class Inner(Base, label="inner"):
                    q = 1
                return (Inner.order, Inner.label, Base["x"], Inner.__qualname__, Inner.__module__ == __name__,
                        type(Inner).__name__)
            return c.method(), dynamic(), log, Base.order
    """,
    "comparisons_and_truth_tests": """
        calls = []
        class Num:
            def __init__(self, v):
                self.v = v
            def __lt__(self, other):
                calls.append(("lt", self.v, other.v))
                return self.v < other.v
            def __bool__(self):
                calls.append(("bool", self.v))
                return bool(self.v)
            def __contains__(self, item):
                calls.append(("contains", item))
                return item == self.v
        class Holder:
            def __init__(self):
                self.lo, self.mid, self.hi = Num(1), Num(2), Num(3)
                self.items = []
                self.d = {"k": 1}
            @property
            def middle(self):
                calls.append("middle-getter")
                return self.mid
            def run(self):
                out = [self.lo < self.middle < self.hi, self.hi < self.middle < self.lo]
                out.append(2 in self.mid)
                out.append(not self.lo)
                out.append(self.items == [])
                out.append(self.items is not None)
                out.append("k" in self.d and self.d["k"])
                out.append(self.lo and self.mid and self.hi.v)
                out.append(Num(0) or self.items or "fallback")
                if self.items:
                    out.append("nonempty")
                self.items.append(1)
                while self.items:
                    self.items.pop()
                assert self.d, "dict must be non-empty"
                try:
                    assert self.items, f"empty: {self.items}"
                except AssertionError as e:
                    out.append(str(e))
                out.append(self.d["k"] if self.d else None)
                items = self.items
                out.append(items == [] and not items)
                out.append([x for x in range(5) if x in self.d.values() or not self.items])
                return out
        def observe():
            return Holder().run(), calls
    """,
    "defaults_and_lambdas_evaluated_once": """
        counter = [0]
        def default():
            counter[0] += 1
            return counter[0]
        class K:
            items = [10]
            def method(self, x=default(), *, y=default()):
                f = lambda a=self.items[0], b=default(): (a, b)
                return x, y, f(), f()
        def observe():
            k = K()
            return k.method(), k.method(1, y=2), counter, K.method.__defaults__, K.method.__kwdefaults__
    """,
    "subscripts_on_bytes_arrays_strings_and_ranges": """
        import array
        class Bin:
            def __init__(self):
                self.ba = bytearray(b"abc")
                self.arr = array.array("i", [1, 2, 3])
                self.mv = memoryview(bytearray(b"xyz"))
                self.s = "hello"
                self.t = (1, 2, 3)
                self.r = range(10)
                self.m = [[1, 2], [3, 4]]
            def run(self):
                self.ba[0] += 1
                self.ba[1:2] = b"ZZ"
                self.arr[1] *= 10
                self.arr[0:1] = array.array("i", [7, 8])
                del self.arr[-1]
                self.mv[0] = ord("X")
                self.m[1][0] += 30
                out = [bytes(self.ba), self.arr.tolist(), bytes(self.mv), self.s[::-1], self.s[1:-1:2], self.t[-1],
                       self.r[2:8:3] == range(2, 8, 3), self.r[-1], self.ba[-1], self.arr[-1], self.mv[1:].tobytes(),
                       self.s[1], self.m[1][0], self.m[-1][-1], self.t[:]]
                for bad in (self._store_str, lambda: self.t[5],
                            lambda: self.r["a"], lambda: self.m[0][9], lambda: self.arr["x"]):
                    try:
                        bad()
                    except (TypeError, IndexError) as e:
                        out.append((type(e).__name__, str(e)))
                return out
            def _store_str(self):
                self.s[0] = "x"
        def observe():
            return Bin().run()
    """,
})

SNIPPETS.update({
    # -- shared containers and the builtins that read them ---------------------------------------
    "container_methods_on_shared_containers": """
        import collections
        keys_seen = []
        class Eq:
            log = []
            def __init__(self, v):
                self.v = v
            def __eq__(self, other):
                Eq.log.append((self.v, getattr(other, "v", other)))
                return isinstance(other, Eq) and self.v == other.v
            __hash__ = None
        class Shared:
            def __init__(self):
                self.items = [5, 3, 9, 1]
                self.table = {"a": 1}
                self.objs = [Eq(1), Eq(2), Eq(3)]
                self.groups = collections.defaultdict(list)
                self.dq = collections.deque([1, 2, 3], maxlen=4)
                self.counts = collections.Counter("abracadabra")
                self.od = collections.OrderedDict(a=1, b=2)
                self.s = {3, 1}
            def key(self, x):
                keys_seen.append(x)
                return -x
            def run(self):
                out = []
                self.items.append(7)
                out.append(self.items.pop())
                out.append(self.items.pop(0))
                self.items.insert(1, 4)
                self.items.extend(range(2))
                self.items.sort(key=self.key)
                out.append(list(self.items))
                self.items.sort(reverse=True)
                out.append((self.items.index(4), self.items.count(0)))
                self.items.remove(0)
                self.items.reverse()
                out.append(list(self.items))
                out.append(self.table.setdefault("b", []))
                self.table.setdefault("b", []).append(1)
                out.append((self.table.get("a"), self.table.get("zz"), self.table.get("zz", "dflt")))
                out.append(self.table.pop("a"))
                out.append(self.table.pop("missing", None))
                self.table.update({"c": 3}, d=4)
                out.append(self.table.popitem())
                out.append(sorted(self.table.items()))
                self.objs.remove(Eq(2))
                out.append([o.v for o in self.objs])
                out.append(list(Eq.log))
                try:
                    self.objs.remove(Eq(9))
                except ValueError as e:
                    out.append(str(e))
                out.append(self.objs.index(Eq(3)))
                self.groups["x"].append(1)
                self.groups["y"] += [2]
                self.groups["x"].extend([3])
                out.append(sorted(self.groups.items()))
                out.append((self.groups.get("z"), "z" in self.groups, self.groups["z"], "z" in self.groups))
                self.dq.append(4)
                self.dq.append(5)
                self.dq.appendleft(0)
                out.append((list(self.dq), self.dq.popleft(), self.dq.pop(), self.dq.maxlen))
                self.dq.rotate(1)
                self.dq[0] += 100
                out.append(list(self.dq))
                self.counts["z"] += 1
                self.counts.update("aa")
                out.append((self.counts.most_common(2), self.counts["missing"], "missing" in self.counts,
                            self.counts["z"]))
                self.od.move_to_end("a")
                out.append(list(self.od))
                self.s.add(2)
                self.s.discard(3)
                self.s |= {9}
                out.append(sorted(self.s))
                out.append(self.s.pop() in {1, 2, 9})
                for method in ("pop", "popleft"):
                    try:
                        getattr(collections.deque(), method)()
                    except IndexError as e:
                        out.append(str(e))
                for empty in ([], {}):
                    try:
                        empty.pop() if isinstance(empty, list) else empty.popitem()
                    except (IndexError, KeyError) as e:
                        out.append((type(e).__name__, str(e)))
                return out, list(keys_seen)
        def observe():
            return Shared().run()
    """,
    "builtins_over_shared_containers": """
        calls = []
        class Data:
            def __init__(self):
                self.nums = [4, -2, 7, 0]
                self.words = {"b": 2, "a": 1}
                self.nested = [[1, 2], [3]]
            def weight(self, x):
                calls.append(x)
                return abs(x)
            def run(self):
                gen_calls = []
                def noisy(x):
                    gen_calls.append(x)
                    return x > 3
                out = [len(self.nums), sorted(self.nums), sorted(self.words), sum(self.nums), sum(self.nested, []),
                       min(self.nums, key=self.weight), max(self.nums, key=self.weight), list(calls),
                       list(x for x in self.nums), any(noisy(x) for x in self.nums), list(gen_calls),
                       all(noisy(x) for x in self.nums), list(gen_calls), list(reversed(self.nums)),
                       list(enumerate(self.words)), list(zip(self.nums, self.words)), dict(self.words),
                       tuple(self.nested), sorted(set(self.nums)), sorted(frozenset(self.words)),
                       list(map(abs, self.nums)), list(filter(None, self.nums)), str(self.nested), repr(self.words),
                       list(iter(self.nums)), max(self.words), min([], default="empty"),
                       sorted(self.nums, key=self.weight, reverse=True), len(calls)]
                for bad in (lambda: max([]), lambda: sum(["a"]), lambda: len(5), lambda: sorted([1, "a"]),
                            lambda: min(self.nums, key=None, default=0, bad=1)):
                    try:
                        bad()
                    except (TypeError, ValueError) as e:
                        out.append((type(e).__name__, str(e)))
                return out
        def observe():
            return Data().run(), calls
    """,
    "list_of_a_generator_with_side_effects": """
        log = []
        class Feed:
            def __init__(self):
                self.pending = [1, 2, 3]
            def drain(self):
                while self.pending:
                    item = self.pending.pop(0)
                    log.append(("yield", item))
                    yield item
                log.append("drained")
        def observe():
            f = Feed()
            first = list(f.drain())
            f.pending += [4, 5]
            gen = f.drain()
            found = any(x == 4 for x in gen)
            rest = list(gen)
            return first, found, rest, log, f.pending
    """,
    "huge_integers_in_shared_state": """
        class Big:
            def __init__(self):
                self.n = 10 ** 5000
                self.items = [10 ** 5000]
                self.table = {"k": 10 ** 5000}
            def run(self):
                out = [self.n % 97, self.items[0] % 97, self.table["k"] % 97, len(self.items)]
                self.n += 1
                self.items.append(self.n)
                out.append(self.items.pop() % 97)
                if self.items:
                    out.append(len(self.items))
                return out
        total = 10 ** 5000
        def bump():
            global total
            total += 1
            return total % 97
        def observe():
            return Big().run(), bump()
    """,
    # A rewritten module holds one name more, __racekit__ (README, "What the rewrite leaves
    # visible"), as pytest's rewritten test modules hold @py_builtins: listed apart from the rest.
    "module_globals_as_the_program_lists_them": """
        import sys
        VALUE = 1
        def helper():
            return VALUE
        def observe():
            module = sys.modules[__name__]
            names = [n for n in globals() if n != "__racekit__"]
            listed = [n for n in dir(module) if n != "__racekit__"]
            extra = len(vars(module)) - len(names)
            return sorted(names), sorted(listed), extra in (0, 1), helper()
    """,
    # -- frames and introspection ------------------------------------------------------------------
    "frames_seen_by_the_callee": """
        import sys
        def who_called():
            return sys._getframe(1).f_code.co_name
        class Box:
            @property
            def caller(self):
                return sys._getframe(1).f_code.co_name
            def __getattr__(self, name):
                return (name, sys._getframe(1).f_code.co_name)
        def observe():
            box = Box()
            return who_called(), box.caller, box.missing, [who_called() for _ in range(1)]
    """,
    "frames_warnings_and_locals": """
        import inspect
        import os
        import sys
        import warnings
        def who_called():
            return sys._getframe(1).f_code.co_name
        def caller_of_caller():
            return inspect.currentframe().f_back.f_back.f_code.co_name
        def deprecated():
            warnings.warn("old API", DeprecationWarning, stacklevel=2)
        def deep_warning():
            warnings.warn("from deep", UserWarning, stacklevel=3)
        class Api:
            def __init__(self):
                self.items = [1]
            @property
            def where(self):
                return sys._getframe(1).f_code.co_name, inspect.currentframe().f_back.f_lineno - self.line0
            @property
            def warns(self):
                deep_warning()
                return "warned"
            def method(self):
                self.line0 = sys._getframe().f_lineno
                self.items.append(who_called())
                return who_called(), self.where, caller_of_caller()
            def warn_here(self):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    self.items[0] += 1
                    deprecated()
                    self.items.append(len(self.items))
                    deprecated(
                    )
                    self.warns
                    (lambda: deprecated())()
                return [(os.path.basename(w.filename), w.lineno, str(w.message), w.category.__name__) for w in caught]
            def locals_view(self):
                a = 1
                self.items[0] += a
                b = [x for x in self.items]
                return sorted(locals()), sorted(inspect.currentframe().f_locals), len(b)
            def frame_line(self):
                first = sys._getframe().f_lineno
                self.items.append(0)
                second = sys._getframe().f_lineno
                return second - first
            def stack_names(self):
                return [f.function for f in inspect.stack()[:2]]
        def observe():
            a = Api()
            return (who_called(), a.method(), a.warn_here(), a.locals_view(), a.frame_line(), a.stack_names(),
                    [who_called() for _ in range(1)], (lambda: who_called())(), len(a.items))
    """,
    "recursion_near_the_limit_through_methods_and_properties": """
        import sys
        class Chain:
            def __init__(self, n):
                self.n = n
                self.visits = 0
                self.table = {"depth": 0}
            @property
            def rest(self):
                self.visits += 1
                if self.n == 0:
                    return 0
                self.n -= 1
                self.table["depth"] += 1
                return self.step() + 1
            def step(self):
                return self.rest
        def depth():
            frame, d = sys._getframe(1), 0
            while frame is not None:
                d += 1
                frame = frame.f_back
            return d
        def observe():
            limit = sys.getrecursionlimit()
            levels = (limit - 80 - depth()) // 2
            c = Chain(levels)
            return c.step() == levels, c.visits == levels + 1, c.table["depth"] == levels
    """,
    # Each announcement is a call of racekit's hook, a frame on top of the program's while
    # it lasts: a rewritten function reaches the recursion limit a few frames sooner
    # (README, "What the rewrite leaves visible"). What must not change: RecursionError is
    # raised, caught where the program catches it, and the program goes on.
    "recursion_error_depth": """
        class Deep:
            def __init__(self):
                self.count = 0
            def probe(self, n):
                self.count += 1
                try:
                    return self.probe(n + 1)
                except RecursionError:
                    return n
        def baseline(n, again):
            try:
                return again(n + 1, again)
            except RecursionError:
                return n
        def observe():
            d = Deep()
            depth = d.probe(0)
            return -12 <= depth - baseline(0, baseline) <= 0, d.count - depth in (0, 1)
    """,
    "infinite_recursion_error_message": """
        class Loop:
            def __init__(self):
                self.items = [0]
            def forever(self):
                self.items[0] += 1
                return self.forever()
        def observe():
            try:
                Loop().forever()
            except RecursionError as e:
                return type(e).__name__, str(e).startswith("maximum recursion depth exceeded")
    """,
    "class_factories_take_module_from_the_caller": """
        import collections
        import enum
        import sys
        import typing
        def make_class(name):
            module = sys._getframe(1).f_globals.get("__name__", "?")
            return type(name, (), {"__module__": module})
        class Factory:
            def build(self):
                made = make_class("Built")
                return made.__module__ == __name__, made.__qualname__
        def observe():
            E = enum.Enum("E", "A B")
            NT = collections.namedtuple("NT", "a")
            TD = typing.NamedTuple("TD", [("x", int)])
            T = typing.TypeVar("T")
            return (Factory().build(), make_class("Direct").__module__ == __name__, E.__module__ == __name__,
                    NT.__module__ == __name__, TD.__module__ == __name__, T.__module__ == __name__)
    """,
    "module_builtins_and_globals": """
        import builtins
        KIND = type(__builtins__).__name__
        def observe():
            b = __builtins__
            namespace = globals()
            return (KIND, type(b).__name__, (b["len"] if isinstance(b, dict) else b.len) is len,
                    namespace["__builtins__"] is b, __name__ in __import__("sys").modules,
                    eval("len([1, 2])"), eval("KIND"), vars()["b"] is b, len is builtins.len)
    """,
    "references_are_released_after_a_failed_subscript_or_call": """
        freed = []
        class Resource:
            def __init__(self, name):
                self.name = name
            def __del__(self):
                freed.append(self.name)
        def failed_key():
            table = {"a": Resource("table")}
            try:
                table[int("not a number")]
            except ValueError:
                pass
        def failed_argument():
            items = [Resource("items")]
            try:
                items.append(int("not a number"))
            except ValueError:
                pass
        def failed_augmented():
            holder = {"r": Resource("holder")}
            try:
                holder["r"] += int("x")
            except ValueError:
                pass
        def observe():
            out = []
            for step in (failed_key, failed_argument, failed_augmented):
                step()
                out.append(list(freed))
            return out
    """,
    # -- threading, queue and time as one thread uses them ------------------------------------------
    "threading_locks": """
        import threading
        def observe():
            out = []
            lock = threading.Lock()
            out.append(lock.locked())
            with lock:
                out.append(lock.locked())
                out.append(lock.acquire(blocking=False))
                out.append(lock.acquire(timeout=0))
            out.append(lock.locked())
            try:
                lock.release()
            except RuntimeError as e:
                out.append(("RuntimeError", str(e)))
            for args, kwargs in (((False, 1), {}), ((), {"timeout": -2})):
                try:
                    lock.acquire(*args, **kwargs)
                except ValueError as e:
                    out.append(("ValueError", str(e)))
            out.append(lock.acquire(True, 0))
            lock.release()
            r = threading.RLock()
            depth = 0
            for _ in range(3):
                r.acquire()
                depth += 1
            out.append(depth)
            for _ in range(3):
                r.release()
            try:
                r.release()
            except RuntimeError as e:
                out.append(("RuntimeError", str(e)))
            with r:
                with r:
                    out.append("reentrant-with")
            out.append(r.acquire(blocking=False))
            r.release()
            return out
    """,
    # (The message names the type: racekit's RLock is not `_thread.RLock`, see above.)
    "rlock_locked_method": """
        import threading
        def observe():
            r = threading.RLock()
            try:
                before = r.locked()
                with r:
                    inside = r.locked()
                return before, inside
            except AttributeError as e:
                return "AttributeError", str(e).endswith("object has no attribute 'locked'")
    """,
    # A trial's Lock is racekit's Python stand-in for CPython's C lock: an error it raises has
    # its frame in the traceback (README, "What the rewrite leaves visible"); only the
    # program's own frames are compared.
    "errors_raised_by_locks_and_queues": """
        import queue
        import threading
        import traceback
        def describe(exc):
            return (type(exc).__name__, str(exc), sorted(vars(exc)),
                    [f.name for f in traceback.extract_tb(exc.__traceback__) if f.name == "observe"])
        def observe():
            out = []
            try:
                threading.Lock().release()
            except RuntimeError as e:
                out.append(describe(e))
            try:
                threading.BoundedSemaphore(1).release()
            except ValueError as e:
                out.append(describe(e))
            return out
    """,
    "conditions_events_semaphores_and_barriers": """
        import threading
        def observe():
            out = []
            cond = threading.Condition()
            with cond:
                out.append(cond.wait(timeout=0))
                out.append(cond.wait_for(lambda: True, timeout=0))
                out.append(cond.wait_for(lambda: 0, timeout=0))
                cond.notify()
                cond.notify_all()
            for action in (cond.wait, cond.notify):
                try:
                    action()
                except RuntimeError as e:
                    out.append(str(e))
            c2 = threading.Condition(threading.Lock())
            with c2:
                out.append(c2.wait(0))
            ev = threading.Event()
            out.append((ev.is_set(), ev.wait(0), ev.wait(timeout=0)))
            ev.set()
            out.append((ev.is_set(), ev.wait(0), ev.wait()))
            ev.clear()
            out.append((ev.is_set(), ev.wait(0)))
            sem = threading.Semaphore(2)
            out.append([sem.acquire(blocking=False) for _ in range(3)])
            out.append(sem.acquire(timeout=0))
            sem.release(2)
            out.append(sem.acquire(blocking=False))
            bsem = threading.BoundedSemaphore(1)
            with bsem:
                out.append(bsem.acquire(blocking=False))
            try:
                bsem.release()
            except ValueError as e:
                out.append(("ValueError", str(e)))
            for bad in (lambda: threading.Semaphore(-1), lambda: sem.release(0), lambda: sem.acquire(False, 1)):
                try:
                    bad()
                except ValueError as e:
                    out.append(str(e))
            b = threading.Barrier(1)
            out.append((b.wait(), b.parties, b.n_waiting, b.broken))
            return out
    """,
    "queues": """
        import queue
        def observe():
            out = []
            q = queue.Queue()
            for i in (3, 1, 2):
                q.put(i)
            out.append((q.qsize(), q.empty(), q.full()))
            out.append([q.get() for _ in range(2)])
            out.append(q.get_nowait())
            for getter in (q.get_nowait, lambda: q.get(timeout=0), lambda: q.get(block=False), lambda: q.get(True, 0)):
                try:
                    getter()
                except queue.Empty as e:
                    out.append(("Empty", str(e), e.args))
            try:
                q.get(timeout=-1)
            except ValueError as e:
                out.append(str(e))
            bounded = queue.Queue(maxsize=1)
            bounded.put_nowait("x")
            try:
                bounded.put_nowait("y")
            except queue.Full:
                out.append("Full")
            try:
                bounded.put("y", timeout=0)
            except queue.Full:
                out.append("Full-timeout")
            out.append(bounded.full())
            bounded.get()
            bounded.task_done()
            bounded.join()
            try:
                bounded.task_done()
            except ValueError as e:
                out.append(str(e))
            lifo = queue.LifoQueue()
            for i in range(3):
                lifo.put(i)
            out.append([lifo.get() for _ in range(3)])
            pq = queue.PriorityQueue()
            for item in [(2, "b"), (1, "a"), (3, "c")]:
                pq.put(item)
            out.append([pq.get() for _ in range(3)])
            sq = queue.SimpleQueue()
            sq.put(1)
            sq.put_nowait(2)
            out.append((sq.qsize(), sq.get(), sq.get_nowait(), sq.empty()))
            for getter in (lambda: sq.get(block=False), lambda: sq.get(timeout=0), sq.get_nowait):
                try:
                    getter()
                except queue.Empty:
                    out.append("Empty-simple")
            return out
    """,
    "time_and_the_current_thread": """
        import threading
        import time
        def observe():
            readings = [time.monotonic() for _ in range(5)]
            ns = [time.monotonic_ns() for _ in range(3)]
            perf = [time.perf_counter() for _ in range(3)]
            time.sleep(0)
            time.sleep(0.001)
            after = time.monotonic()
            t = threading.current_thread()
            return (readings == sorted(readings), ns == sorted(ns), perf == sorted(perf), after >= readings[-1],
                    type(readings[0]).__name__, type(ns[0]).__name__, type(time.time()).__name__,
                    type(time.time_ns()).__name__, type(t.name).__name__, type(threading.get_ident()).__name__,
                    t is threading.current_thread(), isinstance(t, threading.Thread))
    """,
    "sleep_advances_the_clocks": """
        import time
        def observe():
            out = []
            for clock in (time.monotonic, time.perf_counter):
                elapsed = []
                for _ in range(20):
                    before = clock()
                    time.sleep(0.001)
                    elapsed.append(clock() - before)
                out.append(all(e >= 0.001 for e in elapsed))
            before = time.monotonic_ns()
            time.sleep(0.01)
            out.append(time.monotonic_ns() - before >= 10_000_000)
            return out
    """,
    "sleep_argument_errors": """
        import time
        class Zero:
            def __index__(self):
                return 0
        class FloatZero:  # 3.15 takes it, earlier versions refuse it
            def __float__(self):
                return 0.0
        class BadIndex:
            def __index__(self):
                raise TypeError("my own refusal")
        def observe():
            out = []
            for bad in (-1, "x", None, float("nan"), float("inf"), 10 ** 30, Zero(), FloatZero(), BadIndex()):
                try:
                    time.sleep(bad)
                    out.append(("slept", type(bad).__name__))
                except (ValueError, TypeError, OverflowError) as e:
                    out.append((type(e).__name__, str(e)))
            return out
    """,
    "timed_waits_that_time_out": """
        import queue
        import threading
        def observe():
            out = []
            lock = threading.Lock()
            lock.acquire()
            out.append(lock.acquire(timeout=0.01))
            r = threading.RLock()
            out.append(r.acquire(timeout=0.01))
            ev = threading.Event()
            out.append(ev.wait(0.01))
            cond = threading.Condition()
            with cond:
                out.append(cond.wait(0.01))
                out.append(cond.wait_for(lambda: False, timeout=0.01))
            sem = threading.Semaphore(0)
            out.append(sem.acquire(timeout=0.01))
            q = queue.Queue()
            try:
                q.get(timeout=0.01)
            except queue.Empty:
                out.append("Empty")
            full = queue.Queue(1)
            full.put(1)
            try:
                full.put(2, timeout=0.01)
            except queue.Full:
                out.append("Full")
            b = threading.Barrier(2)
            try:
                b.wait(timeout=0.01)
            except threading.BrokenBarrierError as e:
                out.append(("BrokenBarrierError", str(e), b.broken))
            return out
    """,
    "threads_started_and_joined": """
        import threading
        results = []
        class Worker(threading.Thread):
            def __init__(self, n):
                super().__init__(name=f"worker-{n}")
                self.n = n
                self.out = None
            def run(self):
                self.out = self.n * 2
                results.append(self.name)
        def observe():
            items = []
            t = threading.Thread(target=items.append, args=(1,), name="appender")
            out = [t.is_alive(), t.name]
            t.start()
            t.join()
            out.append((t.is_alive(), items))
            workers = [Worker(i) for i in range(3)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            out.append(sorted(w.out for w in workers))
            out.append(sorted(results))
            try:
                t.start()
            except RuntimeError as e:
                out.append(str(e))
            try:
                threading.Thread(target=lambda: None).join()
            except RuntimeError as e:
                out.append(str(e))
            lock = threading.Lock()
            shared = {"n": 0}
            def add():
                for _ in range(5):
                    with lock:
                        shared["n"] += 1
            ts = [threading.Thread(target=add) for _ in range(2)]
            for x in ts:
                x.start()
            for x in ts:
                x.join()
            out.append(shared["n"])
            local = threading.local()
            local.v = "main"
            seen = []
            def peek():
                seen.append(getattr(local, "v", "unset"))
                local.v = "thread"
            lt = threading.Thread(target=peek)
            lt.start()
            lt.join()
            out.append((seen, local.v))
            return out
    """,
    "thread_exceptions_reach_the_excepthook": """
        import threading
        def observe():
            seen = []
            original = threading.excepthook
            threading.excepthook = lambda args: seen.append((args.exc_type.__name__, str(args.exc_value),
                                                            args.thread.name))
            try:
                def boom():
                    raise ValueError("worker failed")
                t = threading.Thread(target=boom, name="crasher")
                t.start()
                t.join()
            finally:
                threading.excepthook = original
            return seen, t.is_alive()
    """,
    "producer_consumer_between_threads": """
        import queue
        import threading
        def observe():
            q = queue.Queue(maxsize=2)
            done = threading.Event()
            cond = threading.Condition()
            got, notified = [], []
            def producer():
                for i in range(5):
                    q.put(i)
                q.put(None)
            def consumer():
                while (item := q.get()) is not None:
                    got.append(item)
                    q.task_done()
                q.task_done()
                done.set()
            def waiter():
                with cond:
                    notified.append(cond.wait_for(lambda: done.is_set()))
            threads = [threading.Thread(target=f) for f in (producer, consumer, waiter)]
            for t in threads:
                t.start()
            q.join()
            done.wait()
            with cond:
                cond.notify_all()
            for t in threads:
                t.join()
            barrier = threading.Barrier(2)
            results = []
            def meet(n):
                results.append((n, barrier.wait() in (0, 1)))
            pair = [threading.Thread(target=meet, args=(n,)) for n in range(2)]
            for t in pair:
                t.start()
            for t in pair:
                t.join()
            return got, notified, sorted(results), q.empty()
    """,
    "timer_cancelled": """
        import threading
        def observe():
            calls = []
            timer = threading.Timer(30, calls.append, args=("fired",))
            timer.start()
            timer.cancel()
            timer.join()
            quick = threading.Timer(0, calls.append, args=("quick",))
            quick.start()
            quick.join()
            return calls, timer.is_alive(), timer.finished.is_set(), quick.finished.is_set()
    """,
    "thread_pool_executor": """
        from concurrent.futures import ThreadPoolExecutor, as_completed
        def square(x):
            return x * x
        def fail(x):
            raise ValueError(f"bad {x}")
        def observe():
            with ThreadPoolExecutor(max_workers=2) as pool:
                mapped = list(pool.map(square, range(5)))
                futures = [pool.submit(square, i) for i in range(3)]
                results = [f.result() for f in futures]
                bad = pool.submit(fail, 7)
                try:
                    bad.result()
                except ValueError as e:
                    err = str(e)
                exc = bad.exception()
                done = sorted(f.result() for f in as_completed(futures))
            try:
                pool.submit(square, 1)
            except RuntimeError as e:
                after = str(e)
            return mapped, results, err, type(exc).__name__, done, after, all(f.done() for f in futures)
    """,
    # `d.get(k)` and `d.setdefault(k, v)` hand racekit their key (a constant or a
    # local, evaluated once more by the hook): nothing about the call may change,
    # an unbound local, an unhashable key, a subclass's own get, a key whose
    # __eq__/__hash__ are the program's (never run by racekit).
    "keyed_dict_methods": """
        class Loud:
            calls = []
            def __init__(self, v):
                self.v = v
            def __hash__(self):
                Loud.calls.append("hash")
                return hash(self.v)
            def __eq__(self, other):
                Loud.calls.append("eq")
                return isinstance(other, Loud) and other.v == self.v
        class Mine(dict):
            def get(self, key, default=None):
                return ("mine", key, default)
        shared = {"a": 1}
        def unbound():
            try:
                shared.get(later)
            except UnboundLocalError as e:
                return type(e).__name__
            later = 1
        def observe():
            k = "a"
            got = [shared.get(k), shared.get("zz"), shared.get("zz", 0), shared.setdefault("b", []),
                   shared.setdefault(k, 5)]
            shared["b"].append(1)
            counts = {}
            counts["n"] = counts.get("n", 0) + 1
            counts["n"] = counts.setdefault("n", 0) + 1
            try:
                shared.get([1])
            except TypeError as e:
                got.append(str(e))
            try:
                shared.setdefault({}, 1)
            except TypeError as e:
                got.append(str(e))
            key = Loud(3)
            table = {key: "x"}
            got.append(table.get(key))
            got.append(table.get(Loud(3)))
            m = Mine(a=1)
            got.append(m.get("a", 2))
            return got, counts, sorted(shared), unbound(), list(Loud.calls)
    """,

    # A dict's keys/values/items views are iterated a step per item, like the dict:
    # the same items, in the same order, and the same error when it changes size.
    "dict_views_iterated": """
        shared = {"a": 1, "b": 2}
        class Sub(dict):
            pass
        sub = Sub(x=1)
        def observe():
            seen = [list(shared.items()), [k for k in shared.keys()], sum(v for v in shared.values())]
            for k, v in shared.items():
                seen.append((k, v))
            for k in sub.keys():
                seen.append(k)
            try:
                for k in shared:
                    shared[k + k] = 0
            except RuntimeError as e:
                seen.append(str(e))
            try:
                for k, v in shared.items():
                    shared["new" + k] = v
            except RuntimeError as e:
                seen.append(str(e))
            empty = {}
            seen.append([x for x in empty.values()])
            return seen
    """,

})

if sys.version_info >= (3, 11):
    SNIPPETS["exception_groups_and_except_star"] = """
        class Collector:
            def __init__(self):
                self.caught = []
            def run(self):
                try:
                    raise ExceptionGroup("many", [ValueError("v"), TypeError("t"), KeyError("k")])
                except* ValueError as eg:
                    self.caught.append(("value", [str(e) for e in eg.exceptions]))
                except* (TypeError, KeyError) as eg:
                    self.caught += [("other", sorted(type(e).__name__ for e in eg.exceptions))]
                try:
                    try:
                        raise ExceptionGroup("outer", [ValueError("a"), OSError("b")])
                    except* ValueError:
                        self.caught.append("handled value")
                except ExceptionGroup as rest:
                    self.caught.append(("rest", str(rest), [type(e).__name__ for e in rest.exceptions]))
                return self.caught
        def observe():
            return Collector().run()
    """

if sys.version_info >= (3, 12):
    SNIPPETS["type_statements_and_generic_syntax"] = """
        type Pair[T] = tuple[T, T]
        type Alias = list[int]
        class Box[T]:
            def __init__(self, item: T):
                self.item = item
            def get[U](self, default: U) -> T | U:
                self.item = self.item
                return self.item if self.item is not None else default
        def first[T](xs: list[T]) -> T:
            type Local = dict[str, T]
            return xs[0], str(Local.__value__), Local.__name__
        def observe():
            return (Pair.__name__, str(Pair.__value__), Alias.__value__ == list[int],
                    [p.__name__ for p in Box.__type_params__], Box(3).get(0), Box(None).get("d"), first([5, 6]),
                    [p.__name__ for p in first.__type_params__],
                    Box.get.__annotations__.keys() == {"default", "return"})
    """


@pytest.fixture(params=sorted(SNIPPETS))
def snippet(request: Any, tmp_path: Path) -> tuple[str, Path]:
    name = request.param
    source = textwrap.dedent(SNIPPETS[name])
    path = tmp_path / f"snippet_{name}.py"
    path.write_text(source)
    return source, path


def test_the_rewrite_passing_through_observes_what_the_plain_program_does(snippet: tuple[str, Path]) -> None:
    source, path = snippet
    assert observe_passing_through(source, path) == observe_plain(source, path)


def test_the_rewrite_under_the_controlled_scheduler_observes_what_the_plain_program_does(
        snippet: tuple[str, Path]) -> None:
    source, path = snippet
    assert observe_controlled(source, path) == observe_plain(source, path)


# -- generated programs ----------------------------------------------------------------------
# Random small values and a random sequence of operations on one shared object (attribute
# and item reads, writes, augmented assignments, dels, container method calls, builtins
# that read a container, iteration, a shared global), rendered as a snippet: the three
# runs must observe the same log, the same final state and the same exceptions.

_KEYS = st.sampled_from(["a", "b", "c"])
_SCALARS = st.one_of(st.integers(-3, 3), st.text(alphabet="xyz", max_size=2), st.none())
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(_KEYS, inner, max_size=2)), max_leaves=5)
_INDEXES = st.integers(-3, 3)

# Each template is one statement (or a small block); {v}/{w} are values, {k} a key, {i}/{j} indexes.
_TEMPLATES = (
    "log.append(box.a)",
    "box.a = {v}",
    "box.a += {v}",
    "box.a *= 2",
    "box.a = box.a + {v}",
    "del box.a",
    "box.b = box.a = {v}",
    "box.a, box.items[{i}] = {v}, {w}",
    "log.append(box.items[{i}])",
    "box.items[{i}] = {v}",
    "box.items[{i}] += {v}",
    "del box.items[{i}]",
    "log.append(box.items[{i}:{j}])",
    "box.items[{i}:{j}] = [{v}]",
    "box.items[{i}:{j}] += [{v}]",
    "del box.items[{i}:{j}]",
    "log.append(box.table[{k}])",
    "box.table[{k}] = {v}",
    "box.table[{k}] += {v}",
    "del box.table[{k}]",
    "log.append(box.table[{k}][{i}])",
    "box.table[{k}][{i}] = {v}",
    "box.table[{k}][{i}] += {v}",
    "box.items.append({v})",
    "log.append(box.items.pop())",
    "log.append(box.items.pop({i}))",
    "box.items.insert({i}, {v})",
    "box.items.extend({v})",
    "box.items.remove({v})",
    "log.append(box.items.count({v}))",
    "log.append(box.items.index({v}))",
    "box.items.sort()",
    "box.items.reverse()",
    "log.append(box.table.get({k}))",
    "log.append(box.table.setdefault({k}, {v}))",
    "log.append(box.table.pop({k}, None))",
    "box.table.update({{{k}: {v}}})",
    "log.append((len(box.items), len(box.table)))",
    "log.append(({v} in box.items, {k} in box.table))",
    "log.append([x for x in box.items])",
    "log.append(sorted(box.table))",
    "log.append(box.items == {v})",
    "for x in box.items:\n    log.append(x)",
    "for key in box.table:\n    box.table[key] = box.table[key]",
    "if box.items:\n    log.append('truthy')",
    "for key in box.table:\n    box.table[str(key) + '!'] = 0",
    "box.table.setdefault({k}, []).append({v})",
    "log.append(box.items[::{i}])",
    "box.items[::2] = [{v}, {w}]",
    "box.items[{i}], box.items[{j}] = box.items[{j}], box.items[{i}]",
    "box.a, *box.items = {v}",
    "del box.items[{i}], box.table[{k}]",
    "log.append(list(k for k in box.table))",
    "log.append(sum(x for x in box.items if type(x) is int))",
    "if (n := len(box.items)) > 1:\n    log.append(n)",
    "log.append(f'{{box.a!r}}-{{box.items[{i}]}}')",
    "log.append(g)",
    "g = {v}",
    "g += {v}",
    "del g",
)


@st.composite
def _operation(draw: Any) -> str:
    template = draw(st.sampled_from(_TEMPLATES))
    return template.format(v=repr(draw(_VALUES)), w=repr(draw(_VALUES)), k=repr(draw(_KEYS)), i=draw(_INDEXES),
                           j=draw(_INDEXES))


def _render(a: Any, items: list, table: dict, operations: list[str]) -> str:
    lines = ["g = 0", "class Box:", "    def __init__(self):", f"        self.a = {a!r}",
             f"        self.items = {items!r}", f"        self.table = {table!r}", "def run(box, log):", "    global g"]
    for operation in operations:
        lines.append("    try:")
        lines += ["        " + line for line in operation.splitlines()]
        lines += ["    except Exception as e:", "        log.append((type(e).__name__, str(e)))"]
    lines += ["def observe():", "    box = Box()", "    log = []", "    run(box, log)",
              "    return log, sorted(vars(box).items()), globals().get('g', '<unbound>')"]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(a=_VALUES, items=st.lists(_VALUES, max_size=4), table=st.dictionaries(_KEYS, _VALUES, max_size=3),
       operations=st.lists(_operation(), min_size=1, max_size=12))
def test_generated_operations_on_a_shared_object_observe_the_same_three_ways(a: Any, items: list, table: dict,
                                                                            operations: list[str]) -> None:
    source = _render(a, items, table, operations)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generated_operations.py"
        path.write_text(source)
        plain = observe_plain(source, path)
        assert plain[0] == "returned", (plain, source)
        assert observe_passing_through(source, path) == plain, source
        assert observe_controlled(source, path) == plain, source
