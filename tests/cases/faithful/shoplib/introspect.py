"""Library code that looks at its caller's frame, as loggers, class factories, warnings and
parsers do."""

import sys
import warnings


def caller_name():
    """The name of the function that called this one."""
    return sys._getframe(1).f_code.co_name


def checkout():
    return caller_name()


def make_record_class(name):
    """A class factory (like collections.namedtuple): the new class belongs to the caller's module."""
    cls = type(name, (), {})
    cls.__module__ = sys._getframe(1).f_globals["__name__"]
    return cls



def old_api():
    warnings.warn("old_api is deprecated", DeprecationWarning, stacklevel=2)
    return 1


def use_old_api():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old_api()  # the warning must point here
    w = caught[0]
    return [w.filename.replace("\\", "/").rsplit("/", 2)[-2:], w.lineno]


def depth(n):
    """Recurse n levels; return how deep it got."""
    if n == 0:
        return 0
    return depth(n - 1) + 1


def builtins_type():
    return type(__builtins__).__name__

