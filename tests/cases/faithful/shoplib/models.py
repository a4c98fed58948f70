"""Uses the class factory from inside a function, and imports a deprecated module lazily."""

import sys
import warnings

from shoplib.introspect import make_record_class


def define_order():
    return make_record_class("Order")


def load_legacy():
    """Import the deprecated module afresh (a worker imports a module once; this trial
    must run its code again); return where its import warning points (file, line)."""
    sys.modules.pop("shoplib.legacy_import", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import shoplib.legacy_import  # noqa: F401  (the warning must name this line)
    w = caught[0]
    return [w.filename.replace("\\", "/").rsplit("/", 2)[-2:], w.lineno]
