"""A small pure-Python library for tests/test_faithful.py (issue 24), written as its authors
would, each module with a correct and a racy use:

counter (private names, item 1), lazy (properties, 2), pool / actor / legacy (threads the
library starts itself, 3), retry (a deadline polled with time.monotonic, 5), introspect /
models / legacy_import (code that looks at its caller's frame, 6), importlog and crunch
(import side effects and CPU work, 7).
"""
