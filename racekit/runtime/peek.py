"""What an access would touch, found without running any of the program's code.

The hooks (:mod:`racekit.runtime.hooks`) decide, before ``obj.attr`` is read,
whether it reads shared data (an instance's ``__dict__``, a slot, a class
attribute, a module global), reaches a lock or a function (which shares no
data), or runs code (a property, ``__getattr__``, a descriptor): only the
first is a visible operation. Asking Python (``getattr``) would run a getter
twice and in racekit's frame, so this module reads the classes' dictionaries
the way ``inspect.getattr_static`` does, only faster and without calling
anything the program defined.
"""

from __future__ import annotations

import types
import weakref
from typing import Any, NamedTuple

MISSING: Any = object()
DATA, REF, CODE, ABSENT = "data", "ref", "code", "absent"

def _slot(cls: type, name: str) -> Any:
    """``name`` as ``cls`` inherits it (3.13's module type has no __setattr__ of its own)."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    raise AttributeError(name)


_OBJECT_GETATTRIBUTE = _slot(object, "__getattribute__")
_TYPE_GETATTRIBUTE = _slot(type, "__getattribute__")
_MODULE_GETATTRIBUTE = _slot(types.ModuleType, "__getattribute__")
_OBJECT_SETATTR = _slot(object, "__setattr__")
_TYPE_SETATTR = _slot(type, "__setattr__")
_MODULE_SETATTR = _slot(types.ModuleType, "__setattr__")
_MEMBER = types.MemberDescriptorType
_GETSET = types.GetSetDescriptorType
_MODULE_DICT = types.ModuleType.__dict__["__dict__"]
# Values that reach code or a namespace, not data: reading them is no shared access.
_NOT_DATA = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, types.BuiltinMethodType, type,
             types.ModuleType, staticmethod, classmethod, property)


class Found(NamedTuple):
    """What ``obj.name`` touches: its kind, the object whose attribute it is, and the value."""

    kind: str  # DATA, REF (a lock, a function, a class), CODE (a getter runs), ABSENT
    owner: Any = None  # the object read through (a module's globals dict, for a module), its location
    value: Any = MISSING


def _found(kind: str, owner: Any = None, value: Any = MISSING) -> Found:
    return _new_tuple(Found, (kind, owner, value))


_new_tuple = tuple.__new__
_MRO = type.__dict__["__mro__"].__get__
_CLASS_DICT = type.__dict__["__dict__"].__get__


def lookup(cls: type, name: str) -> tuple[Any, Any]:
    """``name`` in ``cls``'s MRO, as Python's own lookup finds it: (the class holding it, the value)."""
    for klass in _MRO(cls):
        namespace = _CLASS_DICT(klass)
        if name in namespace:
            return klass, namespace[name]
    return None, MISSING


class _TypeInfo(NamedTuple):
    """What a class does for every attribute (its __getattribute__, __setattr__, __dict__),
    found once per class: a class that changes these after it was made keeps its first answer,
    which can only cost a scheduling point, never change what the program computes."""

    getattribute: Any
    setattr: Any
    dict_slot: Any
    getattr_hook: bool


# id(class) -> (a weak reference to it, its info). The info itself holds the
# class (its `__dict__` descriptor, its own `__getattribute__`, whose globals
# hold its module), so the cache is emptied after every execution
# (:func:`forget_classes`): the classes each execution of a case defines, and
# all they hold (its namespace, its scheduler's log), must not outlive it.
_TYPES: dict[int, tuple[Any, _TypeInfo]] = {}


def forget_classes() -> None:
    """Let go of every class met so far (an execution ended)."""
    _TYPES.clear()


def _info(kind: type) -> _TypeInfo:
    entry = _TYPES.get(id(kind))
    if entry is not None and entry[0]() is kind:
        return entry[1]
    info = _type_info(kind)
    if len(_TYPES) > 20_000:
        _TYPES.clear()
    try:
        _TYPES[id(kind)] = (weakref.ref(kind), info)
    except TypeError:  # not weakly referenceable (never for a class)
        pass
    return info


def _type_info(kind: type) -> _TypeInfo:
    _, dict_slot = lookup(kind, "__dict__")
    return _TypeInfo(lookup(kind, "__getattribute__")[1], lookup(kind, "__setattr__")[1],
                     dict_slot if type(dict_slot) is _GETSET else None,
                     lookup(kind, "__getattr__")[1] is not MISSING)


def _is_data_descriptor(value: Any) -> bool:
    kind = type(value)
    if kind in _PLAIN:
        return False
    return lookup(kind, "__set__")[1] is not MISSING or lookup(kind, "__delete__")[1] is not MISSING


def _has_get(value: Any) -> bool:
    kind = type(value)
    if kind in _PLAIN:
        return False
    return lookup(kind, "__get__")[1] is not MISSING


# Values that are never descriptors (no __get__/__set__): the common class attributes.
_PLAIN = frozenset({int, float, str, bytes, bool, type(None), tuple, list, dict, set, frozenset, complex})


def checked_first(obj: Any, name: str) -> dict | None:
    """The instance dict that reading ``obj.name`` looks into before it runs a
    class's descriptor: a non-data descriptor (``functools.cached_property``,
    a lazy attribute) is used only while ``name`` is not in it, so that
    lookup is a read of the slot another thread may fill."""
    kind = type(obj)
    if _info(kind).getattribute is not _OBJECT_GETATTRIBUTE:
        return None
    _, attribute = lookup(kind, name)
    if attribute is MISSING or is_a(attribute, _NOT_DATA) or _is_data_descriptor(attribute) or not _has_get(attribute):
        return None
    return instance_dict(obj)


def instance_dict(obj: Any) -> dict | None:
    """``obj.__dict__`` when it is the plain per-instance dictionary, else None."""
    descriptor = _info(type(obj)).dict_slot
    if descriptor is None:
        return None
    try:
        namespace = descriptor.__get__(obj, type(obj))
    except (AttributeError, TypeError):
        return None
    return namespace if type(namespace) is dict else None


def read(obj: Any, name: str) -> Found:
    """What reading ``obj.name`` would do."""
    kind = type(obj)
    getattribute = _info(kind).getattribute
    if getattribute is _OBJECT_GETATTRIBUTE:
        found = _instance_read(obj, kind, name)
    elif getattribute is _TYPE_GETATTRIBUTE:
        found = _class_read(obj, kind, name)
    elif getattribute is _MODULE_GETATTRIBUTE:
        found = _module_read(obj, name)
    else:
        return _found(CODE)  # a __getattribute__ of the program's: it decides
    if found.kind == DATA and is_a(found.value, _NOT_DATA):
        return _found(REF, found.owner, found.value)
    return found


def _instance_read(obj: Any, kind: type, name: str) -> Found:
    attribute = MISSING
    for klass in _MRO(kind):
        namespace = _CLASS_DICT(klass)
        if name in namespace:
            attribute = namespace[name]
            break
    if attribute is not MISSING and _is_data_descriptor(attribute):
        if type(attribute) is _MEMBER:  # a slot: plain data, read in C
            try:
                return _found(DATA, obj, attribute.__get__(obj, kind))
            except AttributeError:
                return _found(ABSENT)
        return _found(CODE)  # a property, a getset of a C type, a data descriptor
    info = _info(kind)
    if info.dict_slot is not None:
        try:
            namespace = info.dict_slot.__get__(obj, kind)
        except (AttributeError, TypeError):
            namespace = None
        if type(namespace) is dict and name in namespace:
            return _found(DATA, obj, namespace[name])
    if attribute is not MISSING:
        if _has_get(attribute):
            return _found(REF if is_a(attribute, _NOT_DATA) else CODE)  # a method, or a descriptor's code
        # A class attribute read through the instance: the location is the
        # instance's, which a write to the instance changes.
        return _found(DATA, obj, attribute)
    if info.getattr_hook:
        return _found(CODE)
    return _found(ABSENT)


def _class_read(cls: Any, meta: type, name: str) -> Found:
    _, meta_attribute = lookup(meta, name)
    if meta_attribute is not MISSING and _is_data_descriptor(meta_attribute):
        return _found(CODE)  # `__name__`, `__doc__`, a metaclass property
    _, attribute = lookup(cls, name)
    if attribute is not MISSING:
        if _has_get(attribute):
            return _found(REF if is_a(attribute, _NOT_DATA) else CODE)
        return _found(DATA, cls, attribute)
    if meta_attribute is not MISSING:
        return _found(REF if is_a(meta_attribute, _NOT_DATA) or _has_get(meta_attribute) else CODE)
    if lookup(meta, "__getattr__")[1] is not MISSING:
        return _found(CODE)
    return _found(ABSENT)


def _module_read(module: Any, name: str) -> Found:
    namespace = _MODULE_DICT.__get__(module)
    if name in namespace:
        return _found(DATA, namespace, namespace[name])
    return _found(CODE if "__getattr__" in namespace else ABSENT)


def written(obj: Any, name: str) -> Found:
    """What ``obj.name = value`` would do (its ``value`` is not known yet)."""
    kind = type(obj)
    setattr_ = _info(kind).setattr
    if setattr_ is _OBJECT_SETATTR:
        _, attribute = lookup(kind, name)
        if attribute is not MISSING and _is_data_descriptor(attribute):
            return _found(DATA, obj) if type(attribute) is _MEMBER else _found(CODE)
        return _found(DATA, obj) if instance_dict(obj) is not None else _found(ABSENT)
    if setattr_ is _TYPE_SETATTR:
        _, meta_attribute = lookup(kind, name)
        if meta_attribute is not MISSING and _is_data_descriptor(meta_attribute):
            return _found(CODE)
        return _found(DATA, obj)
    if setattr_ is _MODULE_SETATTR:
        return _found(DATA, _MODULE_DICT.__get__(obj))
    return _found(CODE)  # a __setattr__ of the program's (a frozen dataclass): it decides


def stored(obj: Any, name: str) -> Any:
    """The value ``obj.name`` holds now, where that is plain data (MISSING otherwise)."""
    found = read(obj, name)
    return found.value if found.kind in (DATA, REF) else MISSING


def is_a(obj: Any, kinds: type | tuple[type, ...]) -> bool:
    """``isinstance`` by the object's real type: ``isinstance`` may ask the object
    for its ``__class__``, which a proxy computes in the program's code."""
    return issubclass(type(obj), kinds)


def function_code(obj: Any, name: str) -> types.CodeType | None:
    """The code ``obj.name(...)`` would run, when it is a Python function found statically."""
    kind = type(obj)
    if is_a(obj, types.ModuleType):
        value = _MODULE_DICT.__get__(obj).get(name, MISSING)
    elif is_a(obj, type):
        value = lookup(obj, name)[1]
    else:
        namespace = instance_dict(obj)
        value = namespace.get(name, MISSING) if namespace is not None else MISSING
        if value is MISSING:
            value = lookup(kind, name)[1]
    if is_a(value, (staticmethod, classmethod, types.MethodType)):
        value = value.__func__
    return value.__code__ if is_a(value, types.FunctionType) else None


def code_run_by(obj: Any, name: str) -> types.CodeType | None:
    """The Python code reading ``obj.name`` runs, when it runs some (a property's
    getter, a class's ``__getattr__``/``__getattribute__``, a descriptor's ``__get__``)."""
    kind = type(obj)
    getattribute = _info(kind).getattribute
    if getattribute not in (_OBJECT_GETATTRIBUTE, _TYPE_GETATTRIBUTE, _MODULE_GETATTRIBUTE):
        return _code_of(getattribute)
    _, attribute = lookup(kind, name)
    if type(attribute) is property:
        return _code_of(attribute.fget)
    if attribute is not MISSING and not is_a(attribute, _NOT_DATA) and _has_get(attribute):
        return _code_of(lookup(type(attribute), "__get__")[1])
    return _code_of(lookup(kind, "__getattr__")[1]) if attribute is MISSING else None


def special_method_code(obj: Any, name: str) -> types.CodeType | None:
    """The Python code an operator runs on ``obj`` (``__getitem__`` for ``obj[k]``, ``__len__``…), if any."""
    return method_code(type(obj), name)


def method_code(cls: type, name: str) -> types.CodeType | None:
    """The code of ``cls``'s method ``name`` (a class's ``__init__``), when it is Python."""
    return _code_of(lookup(cls, name)[1])


def module_namespace(module: types.ModuleType) -> dict:
    """A module's ``__dict__``, read without the module's ``__getattr__``."""
    return _MODULE_DICT.__get__(module)


def _code_of(value: Any) -> types.CodeType | None:
    if is_a(value, (staticmethod, classmethod, types.MethodType)):
        value = value.__func__
    return value.__code__ if is_a(value, types.FunctionType) else None
