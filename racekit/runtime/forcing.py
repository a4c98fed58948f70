"""Where real threads may switch: the stress modes ``native``, ``line`` and ``opcode``.

Since CPython 3.10 a thread switch happens only where the interpreter checks its
eval breaker (function entry, backward jumps, most calls). ``x += 1`` has no such
check between its load and its store, so ``sys.setswitchinterval`` alone never
splits it. The forcing modes add switch points: they call a tiny Python
function at every line or every bytecode of the *case's* code, and entering a
Python function is a check. With a short switch interval, pending switch
requests are then honoured right there, inside the statement.

Only code in scope is instrumented (the case's own code objects and modules
from the case's folder), so threading, queue and racekit itself run at full
speed. Every change to interpreter state is undone in ``finally``.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import threading
import types
from contextlib import contextmanager
from collections.abc import Callable, Iterator
from typing import Any

from racekit.options import ModeSpec
from racekit.records import Note

# PEP 669, feature-detected: present on CPython 3.12 and later.
HAS_MONITORING = hasattr(sys, "monitoring")


class Scope:
    """Which code the forcing instruments: the case's code objects and the case folder's modules."""

    def __init__(self, codes: list[types.CodeType], roots: list[str], named: tuple[str, ...] = ()):
        # By identity: code objects compare equal by *value*, so a module
        # re-imported for the next trial would look like the old one.
        self.codes = {id(c): c for c in _all_code_objects(codes)}
        # Modules named with `instrument:` are in scope wherever they are installed.
        self._named = tuple(os.path.abspath(p) for p in _module_paths(named))
        excluded = {os.path.dirname(os.path.abspath(__file__)).rsplit(os.sep, 1)[0]}  # racekit itself
        for key in ("stdlib", "platstdlib", "purelib", "platlib"):
            path = sysconfig.get_paths().get(key)
            if path:
                excluded.add(os.path.abspath(path))
        self._excluded = tuple(p + os.sep for p in excluded)
        self._roots = tuple(os.path.abspath(r) + os.sep for r in roots)
        self._verdicts: dict[str, bool] = {}

    def __contains__(self, code: types.CodeType) -> bool:
        return id(code) in self.codes or self.covers_file(code.co_filename)

    @property
    def key(self) -> tuple:
        """Equal for scopes that cover the same files (their rewritten modules can be shared)."""
        return self._roots, self._excluded

    def covers_file(self, filename: str) -> bool:
        verdict = self._verdicts.get(filename)
        if verdict is None:
            path = os.path.abspath(filename)
            verdict = (path.startswith(self._roots) and not path.startswith(self._excluded)) or (
                bool(self._named) and path.startswith(self._named))
            self._verdicts[filename] = verdict
        return verdict


def _module_paths(names: tuple[str, ...]) -> list[str]:
    """Where the named modules and packages are, found without importing them."""
    import importlib.util

    found = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            found += [os.path.join(p, "") for p in spec.submodule_search_locations]
        elif spec.origin:
            found.append(spec.origin)
    return found


def _all_code_objects(codes: list[types.CodeType]) -> Iterator[types.CodeType]:
    stack = list(codes)
    while stack:
        code = stack.pop()
        yield code
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))


class Forcing:
    """Per-trial control of switch points. ``trial`` wraps the whole trial in the
    worker's main thread; ``thread`` wraps each case thread's body.

    Both also check themselves: a forcing mode whose switch points were not in
    effect (another tool replaced the trace function, the case changed the
    switch interval) appends a sentence to ``problems``, and the trial is then
    an error instead of a silent pass. Concurrency testers have passed green
    with their instrumentation off; racekit must not.
    """

    forced = False  # whether this mode adds switch points that can be switched off

    def __init__(self, spec: ModeSpec, scope: Scope):
        self.spec = spec
        self.scope = scope
        self.notes: set[Note] = set()  # worth telling the user; drained after each trial

    @contextmanager
    def trial(self, problems: list[dict[str, Any]]) -> Iterator[None]:
        previous = sys.getswitchinterval()
        sys.setswitchinterval(self.spec.switch_interval)
        applied = sys.getswitchinterval()  # CPython keeps whole microseconds
        try:
            yield
            if self.forced and sys.getswitchinterval() != applied:
                problems.append({"kind": "switch_interval", "now": sys.getswitchinterval(),
                                 "set": self.spec.switch_interval})
        finally:
            sys.setswitchinterval(previous)

    @contextmanager
    def thread(self, problems: list[dict[str, Any]]) -> Iterator[None]:
        yield


class TraceForcing(Forcing):
    """``sys.settrace`` in each case thread: line events, or opcode events (3.10–3.11)."""

    forced = True

    def __init__(self, spec: ModeSpec, scope: Scope, opcodes: bool = False):
        super().__init__(spec, scope)
        in_scope = scope.__contains__
        traced = self._traced = set()  # idents of threads whose case code ran traced
        get_ident = threading.get_ident

        def local(frame: types.FrameType, event: str, arg: object) -> Callable | None:
            return local  # being called at all is the switch point

        def global_trace(frame: types.FrameType, event: str, arg: object) -> Callable | None:
            if not in_scope(frame.f_code):
                return None
            frame.f_trace_opcodes = opcodes
            frame.f_trace_lines = not opcodes
            traced.add(get_ident())
            return local

        self._trace = global_trace

    @contextmanager
    def thread(self, problems: list[dict[str, Any]]) -> Iterator[None]:
        previous = sys.gettrace()
        if previous is not None:
            self.notes.add(Note.of("tracer", mode=self.spec.name, tracer=_describe(previous)))
        ident = threading.get_ident()
        self._traced.discard(ident)
        sys.settrace(self._trace)
        try:
            yield
            current = sys.gettrace()
            name = threading.current_thread().name
            if current is not self._trace:
                problems.append({"kind": "tracer_replaced", "thread": name, "by": _describe(current)})
            elif ident not in self._traced:
                # Nothing switched the tracer off: the thread ran no code racekit
                # forces (a library outside the scope). Said, not called an error.
                self.notes.add(Note.of("unforced", mode=self.spec.name, thread=name))
        finally:
            sys.settrace(previous)


class MonitoringForcing(Forcing):
    """PEP 669 events on 3.12+: they reach every thread, and unlike opcode tracing
    they do not miss the opcodes of a code object's first frame."""

    forced = True

    _TOOL_IDS = (4, 3, 2, 1)  # free ids for tools that are neither debugger nor coverage

    def __init__(self, spec: ModeSpec, scope: Scope, opcodes: bool = False):
        super().__init__(spec, scope)
        mon = sys.monitoring
        self._event = mon.events.INSTRUCTION if opcodes else mon.events.LINE
        self._ran_in_scope: set[int] = set()  # idents of threads that ran code in scope

    @contextmanager
    def thread(self, problems: list[dict[str, Any]]) -> Iterator[None]:
        ident = threading.get_ident()
        self._ran_in_scope.discard(ident)
        yield
        if ident not in self._ran_in_scope:
            # The thread ran no code racekit forces (a library outside the scope).
            self.notes.add(Note.of("unforced", mode=self.spec.name, thread=threading.current_thread().name))

    @contextmanager
    def trial(self, problems: list[dict[str, Any]]) -> Iterator[None]:
        mon = sys.monitoring
        tool = self._acquire_tool()
        event = self._event
        in_scope = self.scope.__contains__
        # Code objects instrumented in this trial, by identity; kept alive
        # until the trial ends so that their events can be switched off.
        enabled: dict[int, types.CodeType] = dict(self.scope.codes)

        def switch_point(*_args: object) -> None:
            pass  # entering this function is the eval-breaker check

        ran = self._ran_in_scope
        get_ident = threading.get_ident

        def on_start(code: types.CodeType, _offset: int) -> object:
            # DISABLE is permanent for a code object, so in-scope code keeps
            # reporting PY_START: it may run again in a later trial, and must
            # then be instrumented again.
            if id(code) in enabled:
                ran.add(get_ident())
                return None
            if in_scope(code):
                enabled[id(code)] = code
                mon.set_local_events(tool, code, event)
                ran.add(get_ident())
                return None
            return mon.DISABLE

        try:
            mon.register_callback(tool, event, switch_point)
            mon.register_callback(tool, mon.events.PY_START, on_start)
            for code in enabled.values():
                mon.set_local_events(tool, code, event)
            mon.set_events(tool, mon.events.PY_START)
            with super().trial(problems):
                yield
            self._check(tool, switch_point, problems, enabled)
        finally:
            mon.set_events(tool, 0)
            for code in enabled.values():
                mon.set_local_events(tool, code, 0)
            mon.register_callback(tool, event, None)
            mon.register_callback(tool, mon.events.PY_START, None)
            mon.free_tool_id(tool)

    def _check(self, tool: int, switch_point: Callable, problems: list[dict[str, Any]],
               enabled: dict[int, types.CodeType]) -> None:
        """Whether racekit's own monitoring held for the whole trial: its tool,
        its callback, the PY_START events that switch forcing on for code first
        run in the trial, and the events of every code object it switched on.
        (A profiler or coverage tool may turn every tool's events off.)"""
        mon = sys.monitoring
        if mon.get_tool(tool) != "racekit":
            problems.append({"kind": "tool_taken", "tool": tool})
            return
        replaced = mon.register_callback(tool, self._event, switch_point)
        if replaced is not switch_point:
            problems.append({"kind": "callback_replaced", "by": _describe(replaced)})
        if not mon.get_events(tool) & mon.events.PY_START:
            problems.append({"kind": "events_off", "tool": tool})
            return
        off = [c.co_name for c in enabled.values()
               if c.co_name != "<module>" and not mon.get_local_events(tool, c) & self._event]
        if off:
            problems.append({"kind": "switch_points_removed", "functions": sorted(set(off))[:5]})

    def _acquire_tool(self) -> int:
        mon = sys.monitoring
        for tool in self._TOOL_IDS:
            if mon.get_tool(tool) is None:
                mon.use_tool_id(tool, "racekit")
                return tool
        raise RuntimeError("no free sys.monitoring tool id: another tool holds all of them")


def _describe(function: object) -> str | None:
    """The function's dotted name; None for no function at all (tracing switched off)."""
    if function is None:
        return None
    module = getattr(function, "__module__", None) or type(function).__module__
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    return f"{module}.{name}"


def gil_enabled() -> bool:
    """Whether this interpreter runs with a GIL (free-threaded builds may not)."""
    check = getattr(sys, "_is_gil_enabled", None)
    if check is not None:
        return bool(check())
    return not bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def interpreter_info() -> dict[str, object]:
    return {
        "version": ".".join(map(str, sys.version_info[:3])),
        "implementation": sys.implementation.name,
        "gil_enabled": gil_enabled(),
        "tested": is_tested(sys.implementation.name, sys.version_info[:2]),
    }


def is_tested(implementation: str, minor: tuple[int, ...]) -> bool:
    """Whether racekit's CI runs on this interpreter: an untested one runs, and says so."""
    from racekit import TESTED_PYTHONS

    low, high = TESTED_PYTHONS
    return implementation == "cpython" and low <= tuple(minor[:2]) <= high
