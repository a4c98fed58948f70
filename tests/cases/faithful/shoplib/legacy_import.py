"""A module that warns when it is imported (a deprecated module, as many packages have)."""

import warnings

warnings.warn("shoplib.legacy_import is deprecated", DeprecationWarning, stacklevel=2)

VALUE = 1
