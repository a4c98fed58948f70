"""The AST rewrite (racekit.runtime.instrument): what becomes a visible operation.

Two promises, each with its oracle:
- the rewritten code behaves exactly as the original: every snippet runs both
  ways and must leave the same state and return the same value (or raise the
  same exception);
- every access to shared state, and only those, goes through ``__racekit__``:
  a recording hook lists the operations, in Python's evaluation order, and a
  thread's locals never appear (the lesson of local_vs_shared.yaml).
"""

from __future__ import annotations

import ast
import copy
import textwrap
from typing import Any

import pytest

from racekit.runtime.hooks import PlainHooks
from racekit.runtime.instrument import HOOK, instrument_setup, instrument_thread, written_globals


class Recording(PlainHooks):
    """Lets each operation happen as written and lists it: (method, name or key[, "update"])."""

    def __init__(self, namespace: dict[str, Any]):
        super().__init__(namespace)
        self.ops: list[tuple] = []
        self._pending: list[Any] = []

    def _log(self, *entry) -> None:
        self.ops.append(tuple(e for e in entry if e is not None))

    def at(self, obj, name, line):
        self._log("get", name)
        return obj

    def st(self, obj, name, line, update=False):
        self._log("set", name, "update" if update else None)
        return obj

    def dl(self, obj, name, line):
        self._log("delattr", name)
        return obj

    def co(self, obj):
        self._pending.append(obj)
        return obj

    def ik(self, key, line):
        self._pending.pop()
        self._log("getitem", key)
        return key

    def sk(self, key, line, update=False):
        self._pending.pop()
        self._log("setitem", key, "update" if update else None)
        return key

    def dk(self, key, line):
        self._pending.pop()
        self._log("delitem", key)
        return key

    def ar(self, obj, name, line):
        self._log("get", name)
        self._pending.append(("set", name))
        return obj

    def ak(self, key, line):
        self._pending.pop()
        self._log("getitem", key)
        self._pending.append(("setitem", key))
        return key

    def ga(self, name, line):
        self._log("gget", name)
        self._pending.append(("gset", name))

    def aw(self, value, line):
        method, name = self._pending.pop()
        self._log(method, name, "update")
        return value

    def me(self, obj, name, line, now=False):
        if now:
            self._log("call", name)
        else:
            self._pending.append(name)
        return obj

    def la(self, value):
        self._log("call", self._pending.pop())
        return value

    def fn(self, function, line):
        self._log("fcall", getattr(function, "__name__", "?"))
        return function

    def lk(self, obj, line, how=""):
        self._log("look", how)
        return obj

    def tc(self, obj, line):
        self._log("touch")
        return obj

    def it(self, obj, line):
        self._log("iterate")
        return obj

    def gr(self, name, line):
        self._log("gget", name)

    def gw(self, name, line, update=False):
        self._log("gset", name, "update" if update else None)


SETUP = """
class Box:
    def __init__(self):
        self.v = 0
        self.items = []
box = Box()
d = {"k": 1}
xs = [1, 2, 3]
counter = 0
"""


def run(body: str, instrumented: bool, setup: str = SETUP) -> tuple[Any, dict[str, Any], list[tuple]]:
    """Runs ``body`` as a thread function over ``setup``'s namespace, either way.
    Returns (what it returned or raised, the shared state after, the operations)."""
    ns: dict[str, Any] = {}
    setup_tree = ast.parse(setup)
    thread_tree = ast.parse("def thread():\n" + textwrap.indent(textwrap.dedent(body), "    "))
    hooks = Recording(ns)
    if instrumented:
        shared = written_globals([setup_tree, thread_tree])
        setup_tree = instrument_setup(setup_tree, shared)
        thread_tree = instrument_thread(thread_tree, shared)
        ns[HOOK] = hooks
    exec(compile(setup_tree, "<setup>", "exec"), ns)
    hooks.ops.clear()  # module-level setup runs before any thread: not the thread's operations
    exec(compile(thread_tree, "<thread>", "exec"), ns)
    try:
        result: Any = ns["thread"]()
    except Exception as error:  # the same exception, either way
        result = (type(error), str(error))
    state = {"v": ns["box"].v, "items": copy.deepcopy(ns["box"].items), "d": dict(ns["d"]), "xs": list(ns["xs"]),
             "counter": ns["counter"]}
    return result, state, hooks.ops


BODIES = {
    "augmented attribute": "box.v += 1\nreturn box.v",
    "assignment from itself": "box.v = box.v + 2\nreturn box.v",
    "local arithmetic": "n = 5\nn += 1\nreturn n * 2",
    "global counter": "global counter\ncounter += 1\nreturn counter",
    "dict check then act": "if 'k' in d:\n    d['k'] += 1\nelse:\n    d['k'] = 0\nreturn d",
    "list slot": "xs[0] = xs[0] + xs[1]\nreturn xs[:]",
    "slices": "xs[1:2] = [7, 8]\nreturn xs[::2]",
    "iteration": "total = 0\nfor x in xs:\n    total += x\nreturn total",
    "comprehension": "return [x * 2 for x in xs if x > 1]",
    "method on shared container": "box.items.append(len(xs))\nreturn box.items",
    "delete": "del d['k']\nreturn sorted(d)",
    "walrus and comparison": "if (n := len(xs)) > 2 and box.v == 0:\n    return n\nreturn -1",
    "chained assignment": "box.v = d['k'] = 9\nreturn box.v, d['k']",
    "unpacking": "a, box.v = xs[0], xs[1]\nreturn a, box.v",
    "in-place list extend": "box.items += [1]\nbox.items += [2]\nreturn box.items",
    "closure": "def bump(k):\n    box.v += k\n    return box.v\nreturn bump(3) + bump(4)",
    "lambda over shared": "f = lambda: box.v + 1\nbox.v = 4\nreturn f()",
    "exception keeps its type": "return d['missing']",
    "attribute error": "return box.nothing",
    "try finally": "try:\n    box.v = 1\n    raise ValueError('x')\nexcept ValueError:\n    box.v += 10\nfinally:\n    box.v *= 2\nreturn box.v",
    "super and classes in a thread": "class B(Box):\n    def __init__(self):\n        super().__init__()\n        self.v = 5\nreturn B().v",
    "while with shared test": "while box.v < 3:\n    box.v += 1\nreturn box.v",
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_the_rewritten_code_behaves_as_written(body):
    assert run(body, instrumented=True)[:2] == run(body, instrumented=False)[:2]


def test_augmented_assignment_is_a_read_then_an_update_write():
    assert run("box.v += 1", True)[2] == [("get", "v"), ("set", "v", "update")]


def test_assigning_from_the_same_place_is_an_update_too_and_a_fresh_value_is_not():
    assert run("box.v = box.v + 1", True)[2] == [("get", "v"), ("set", "v", "update")]
    assert run("box.v = d['k'] + 1", True)[2] == [("getitem", "k"), ("set", "v")]


def test_local_names_are_never_operations():
    # `n += i` touches only the thread's own variables: nothing to schedule around.
    # (A loop still tells the hook what it iterates, which looks at the object at
    # run time: `range(3)` is no shared container, so the scheduler lets it pass.)
    ops = run("n = 0\nfor i in range(3):\n    n += i\nreturn n", True)[2]
    assert ops == [("iterate",)]


def test_an_object_reached_through_a_local_name_is_still_seen():
    # A local name can hold a shared object (`m = box.items`): its items and methods
    # are operations, decided by the object, not by the name.
    assert run("m = box.items\nm.append(1)", True)[2] == [("get", "items"), ("call", "append")]
    assert run("m = xs\nm[0] += 1", True)[2] == [("getitem", 0), ("setitem", 0, "update")]


def test_a_global_some_thread_writes_is_shared_and_one_nobody_writes_is_not():
    assert run("global counter\ncounter += 1", True)[2] == [("gget", "counter"), ("gset", "counter", "update")]
    # `xs` is never declared global and assigned: reading the name is not an operation, the item read is.
    assert run("return xs[0]", True)[2] == [("getitem", 0)]


def test_operations_follow_pythons_evaluation_order():
    # The right-hand side first (left to right), then the targets left to right.
    assert run("box.v, d['k'] = xs[0], xs[1]", True)[2] == [
        ("getitem", 0), ("getitem", 1), ("set", "v"), ("setitem", "k")]


def test_membership_length_and_iteration_are_reads_of_the_container():
    ops = run("if 'k' in d:\n    pass\nn = len(xs)\nfor x in xs:\n    pass", True)[2]
    assert ops[0] == ("touch",) and ("look", "len()") in ops and ("iterate",) in ops


def test_methods_of_shared_containers_are_one_call_each():
    assert run("box.items.append(1)", True)[2] == [("get", "items"), ("call", "append")]


def test_functions_setup_defines_are_rewritten_but_its_module_code_is_not():
    setup = SETUP + "box.v = 3\ndef bump():\n    box.v += 1\n"
    result, state, ops = run("bump()\nreturn box.v", True, setup=setup)
    assert (result, state["v"]) == (4, 4)
    assert ("set", "v", "update") in ops  # inside setup's function, called by the thread


def test_frame_builtins_are_called_directly():
    # super(), locals() and friends look at their caller's frame: a wrapper would break them.
    body = "x = 1\nreturn sorted(k for k in locals())"
    assert run(body, True)[:2] == run(body, False)[:2]
