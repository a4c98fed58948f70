"""The standard library made scheduler-aware for the length of a controlled execution.

Every thread a program starts must run under the scheduler, and every lock,
condition, event, semaphore, barrier, queue and clock it uses must tell the
scheduler when it would block, whichever module creates or uses them: the
case's code, the user's rewritten modules, a library racekit does not
rewrite, ``concurrent.futures`` inside the standard library. So, while an
execution runs, this module puts racekit's stand-ins
(:mod:`racekit.runtime.controlled.standins`) where those modules look them
up (``threading.Lock``, ``queue.Queue``, ``time.monotonic``…), makes
``threading.Thread.start``/``join``/``is_alive`` and ``_thread.start_new_thread``
hand the threads to the scheduler, and puts module-level real locks of
already imported modules aside for stand-ins (a pool's ``_global_shutdown_lock``
held across ``Thread.start`` would otherwise block one thread in C while
another holds the token). Everything is put back when the execution ends.

Every patch asks the calling thread's controller first
(:func:`racekit.runtime.controlled.controller.active`): a thread outside the
trial (racekit's own, the interpreter's) gets the standard library's own
behaviour. (Free-threaded builds: the patches are installed and removed by
the one thread that runs an execution, and only one trial runs per process.)
"""

from __future__ import annotations

import _thread
import operator
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from racekit.runtime import peek
from racekit.runtime.controlled import standins
from racekit.runtime.judging import error_line, yours
from racekit.runtime.controlled.controller import Abort, Controller, active

_REAL_START = threading.Thread.start
_REAL_JOIN = threading.Thread.join
_REAL_IS_ALIVE = threading.Thread.is_alive
_REAL_START_NEW_THREAD = _thread.start_new_thread
_REAL_ALLOCATE_LOCK = _thread.allocate_lock
_REAL_EVENT = threading.Event
_REAL_CLOCKS = {name: getattr(time, name) for name in
                ("monotonic", "monotonic_ns", "time", "time_ns", "perf_counter", "perf_counter_ns")}
_REAL_SLEEP = time.sleep

_THREADING_NAMES = ("Lock", "RLock", "Condition", "Semaphore", "BoundedSemaphore", "Event", "Barrier")
_QUEUE_NAMES = ("Queue", "LifoQueue", "PriorityQueue", "SimpleQueue")
_REAL_LOCK_TYPES = (type(_thread.allocate_lock()), type(threading.RLock()))
# Modules whose module-level locks stay real: racekit's, the interpreter's own
# machinery, and test tools around a trial (they never hold one across
# anything racekit schedules).
_KEEP_REAL = frozenset({"racekit", "threading", "importlib", "_pytest", "pytest", "pluggy", "xdist", "execnet",
                        "coverage", "multiprocessing", "logging", "_thread", "_threading_local", "asyncio",
                        "encodings", "faulthandler", "typer", "rich", "click", "textual", "yaml", "warnings",
                        "hypothesis", "_hypothesis_ftz_detector"})
_STDLIB = os.path.dirname(os.__file__)
# Of the standard library, only these hold a module-level lock across a call
# racekit schedules (ThreadPoolExecutor.submit starts a thread under it).
_STDLIB_SWAPPED = ("concurrent.futures.thread",)

_scan: dict[str, Any] = {"modules": -1, "found": []}


@contextmanager
def installed(controller: Controller) -> Iterator[None]:
    """The patches, for one execution of ``controller``."""
    base = {name: clock() for name, clock in _REAL_CLOCKS.items()}
    saved: list[tuple[Any, str, Any]] = []

    def put(owner: Any, name: str, value: Any) -> None:
        saved.append((owner, name, owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)))
        setattr(owner, name, value)

    _stable_hashes()
    try:
        for cls in _NUMBERED:
            put(cls, "__init__", _numbered(cls.__dict__["__init__"], controller))
        for name in _THREADING_NAMES:
            put(threading, name, getattr(standins, name))
        for name in _QUEUE_NAMES:
            put(queue, name, getattr(standins, name))
        put(threading.Thread, "start", _start)
        put(threading.Thread, "join", _join)
        put(threading.Thread, "is_alive", _is_alive)
        put(_thread, "start_new_thread", _start_new_thread)
        put(_thread, "allocate_lock", _allocate_lock)
        put(time, "sleep", _sleep)
        for name in _REAL_CLOCKS:
            put(time, name, _clock(name, base[name]))
        for module, name, real in _module_locks():
            put(module, name, standins.Lock.adopting(real) if type(real) is _REAL_LOCK_TYPES[0] else standins.RLock())
        yield
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)


# -- hashes -------------------------------------------------------------------------
# A set of threads (a pool's workers) or of futures (`wait`, `as_completed`)
# iterates in the order of their hashes, which are their addresses: a pool's
# shutdown would join its workers, and `wait` take its futures' locks, in an
# order that changes from run to run, and a schedule would not replay. Threads
# and futures made during a trial get a hash numbered in the order they were
# made instead (equality stays identity). The numbering stays with the object
# for its life; objects made outside trials keep their address hash.

_HASHES: dict[int, tuple[Any, int]] = {}
_NUMBERED: list[type] = [threading.Thread]
try:
    from concurrent.futures import Future as _Future

    _NUMBERED.append(_Future)
except ImportError:  # pragma: no cover - every CPython has it
    pass


def _stable_hash(self: Any) -> int:
    entry = _HASHES.get(id(self))
    if entry is not None and entry[0]() is self:
        return entry[1]
    return object.__hash__(self)


def _stable_hashes() -> None:
    """Give the numbered classes their hash, once per process (an object keeps the hash it was made with)."""
    for cls in _NUMBERED:
        if cls.__dict__.get("__hash__") is not _stable_hash and "__hash__" not in cls.__dict__:
            cls.__hash__ = _stable_hash  # type: ignore[method-assign]


def _numbered(init: Callable[..., None], controller: Controller) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if active() is controller:
            key = id(self)
            number = controller.__dict__.setdefault("_made", [0])
            number[0] += 1
            _HASHES[key] = (weakref.ref(self, lambda _ref, key=key: _HASHES.pop(key, None)),
                            0x5EED_0000 + number[0])

    __init__.__qualname__ = getattr(init, "__qualname__", "__init__")
    __init__.__doc__ = getattr(init, "__doc__", None)
    return __init__


def _module_locks() -> list[tuple[Any, str, Any]]:
    """Module-level real locks of imported modules that might be held while
    racekit schedules: (module, name, lock). Found again only when new modules
    were imported; a lock that is held now (by a thread outside the trial) stays."""
    if _scan["modules"] != len(sys.modules):
        found = []
        for module_name, module in list(sys.modules.items()):
            if (module is None or module_name.partition(".")[0] in _KEEP_REAL
                    or not _swappable(module_name, module)):
                continue
            try:
                namespace = vars(module)
            except TypeError:
                continue
            for name, value in list(namespace.items()):
                if type(value) in _REAL_LOCK_TYPES:
                    found.append((module, name, value))
        _scan["modules"], _scan["found"] = len(sys.modules), found
    return [(m, n, v) for m, n, v in _scan["found"] if getattr(m, n, None) is v and not _held(v)]


def _swappable(name: str, module: Any) -> bool:
    file = getattr(module, "__file__", None) or ""
    if not file or file.startswith(_STDLIB) and "site-packages" not in file:
        return name in _STDLIB_SWAPPED
    return True


def _held(lock: Any) -> bool:
    if type(lock) is _REAL_LOCK_TYPES[0]:
        return lock.locked()
    if lock.acquire(False):
        lock.release()
        return False
    return True


# -- threads ------------------------------------------------------------------------


def _start(self: threading.Thread) -> None:
    ctl = active()
    if ctl is None or ctl.aborted or self.name.startswith("racekit"):  # racekit's own threads are not the program's
        return _REAL_START(self)
    if not getattr(self, "_initialized", True):
        raise yours(RuntimeError("thread.__init__() not called"))
    name = self.name
    ctl.point("start", name, sync=id(self), subject=self)
    # Checked after the step, as one with the start: two threads starting one
    # Thread (a timer restarted unlocked) meet CPython's RuntimeError in the
    # second, instead of both passing the check and the second starting a
    # thread the scheduler would wait for for ever.
    if self._started.is_set():
        raise yours(RuntimeError("threads can only be started once"))
    index = ctl.add_thread(name)
    ctl_threads = _threads_of(ctl)
    ctl_threads[id(self)] = (self, index)
    arrived = _REAL_EVENT()
    run = self.run

    def run_under_racekit() -> None:
        self.__dict__.pop("run", None)
        _scheduled(ctl, index, name, self, run, arrived)

    self.__dict__["run"] = run_under_racekit
    try:
        _REAL_START(self)
    except BaseException:
        self.__dict__.pop("run", None)
        raise
    arrived.wait()
    ctl.record("start", name, sync=id(self))


def _scheduled(ctl: Controller, index: int, name: str, thread: threading.Thread, run: Callable[[], Any],
               arrived: Any) -> None:
    """A started thread's life under the scheduler: wait for the token, run, report an error as threading does."""

    def body() -> None:
        ctl.record("begin", name, sync=id(thread))
        try:
            run()
        except Abort:
            raise
        except BaseException as exc:
            # Said in the report: the outcome may not show that a thread died.
            ctl.unhandled.append({"thread": name, "error": error_line(exc)})
            if getattr(thread, "_invoke_excepthook", None) is None:
                raise
            _report_thread_error(thread, exc)  # "Exception in thread …", while this thread still holds the token
        ctl.record("end", name, sync=id(thread))

    try:
        ctl.thread_body(index, body, arrived.set)()
    except Abort:
        pass


def _report_thread_error(thread: threading.Thread, exc: BaseException) -> None:
    """What threading does for an exception that ends a thread (``threading.excepthook``,
    the program's own if it set one), with the traceback starting where the
    thread's code does: without this module's frame, which plain Python has not.
    A hook that fails is reported as threading reports it."""
    trimmed = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    exc.__traceback__ = trimmed
    try:
        threading.excepthook(threading.ExceptHookArgs([type(exc), exc, trimmed, thread]))
    except Exception:  # noqa: BLE001 - threading's own fallback: "Exception in threading.excepthook:"
        thread._invoke_excepthook(thread)  # type: ignore[attr-defined]


def _join(self: threading.Thread, timeout: float | None = None) -> None:
    ctl = active()
    entry = _threads_of(ctl).get(id(self)) if ctl is not None else None
    if ctl is None or entry is None or entry[0] is not self or ctl.aborted:
        return _REAL_JOIN(self, timeout)
    if self is threading.current_thread():
        raise yours(RuntimeError("cannot join current thread"))
    index = entry[1]
    name = self.name
    limit = None if timeout is None else max(timeout, 0.0)
    state = ctl.threads[index]
    if ctl.point("join", name, lambda: state.done, limit, sync=id(self) if limit is None else None, subject=self):
        _REAL_JOIN(self)  # the thread is past its last operation: its end takes a moment
        ctl.record("join", name, sync=id(self))
    else:
        ctl.record("join", name, value="timed out")
    return None


def _is_alive(self: threading.Thread) -> bool:
    ctl = active()
    entry = _threads_of(ctl).get(id(self)) if ctl is not None else None
    if entry is None or entry[0] is not self:
        return _REAL_IS_ALIVE(self)
    return not ctl.threads[entry[1]].done  # type: ignore[union-attr]


def _start_new_thread(function: Callable[..., Any], args: tuple, kwargs: dict | None = None) -> int:
    ctl = active()
    if ctl is None or ctl.aborted:
        return _REAL_START_NEW_THREAD(function, args, kwargs or {})
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", "thread")
    ctl.point("start", name)
    index = ctl.add_thread(name)
    arrived = _REAL_EVENT()

    def run() -> None:
        try:
            ctl.thread_body(index, lambda: function(*args, **(kwargs or {})), arrived.set)()
        except Abort:
            pass

    ident = _REAL_START_NEW_THREAD(run, ())
    arrived.wait()
    ctl.record("start", name)
    return ident


def _allocate_lock() -> Any:
    """``_thread.allocate_lock()``: a stand-in for the program, a real lock for
    the interpreter's own machinery (importlib's module locks, threading's)."""
    caller = sys._getframe(1).f_globals.get("__name__", "")
    if active() is None or caller.startswith(("importlib", "_frozen_importlib", "threading")):
        return _REAL_ALLOCATE_LOCK()
    return standins.Lock()


def _threads_of(ctl: Controller | None) -> dict[int, tuple[threading.Thread, int]]:
    found = ctl.__dict__.get("thread_objects") if ctl is not None else None
    if found is None and ctl is not None:
        found = ctl.__dict__["thread_objects"] = {}
    return found if found is not None else {}


# -- time ---------------------------------------------------------------------------


def _sleep(seconds: float) -> None:
    ctl = active()
    if ctl is None:
        return _REAL_SLEEP(seconds)
    seconds = _seconds(seconds)
    if ctl.me() < 0:
        ctl.point("sleep", "time", timeout=seconds, sleep=True)  # setup or the outcome: time passes
        return None
    standins.sleep(ctl, seconds)
    return None


def _seconds(value: Any) -> float:
    """A sleep's length as ``time.sleep`` takes it. A value the interpreter
    refuses goes to the real ``time.sleep``, which refuses it at once (it
    checks before it sleeps): the error is the interpreter's own, in this
    version's words (3.14 and 3.15 each reworded it)."""
    kind = type(value)
    if isinstance(value, float):
        seconds = value
    elif isinstance(value, int) or peek.lookup(kind, "__index__")[1] is not peek.MISSING:
        try:
            seconds = float(operator.index(value))  # an error of the program's __index__ is its own…
        except TypeError:
            seconds = None  # …except that 3.14 rewords a TypeError (it runs __index__ once more)
    elif sys.version_info >= (3, 15) and peek.lookup(kind, "__float__")[1] is not peek.MISSING:
        seconds = float(value)
    else:
        seconds = None
    if seconds is None or seconds != seconds or not 0 <= seconds < _LONGEST_SLEEP:
        try:
            _REAL_SLEEP(value)
        except Exception as exc:
            raise yours(exc)
        seconds = 0.0  # not reached: racekit refused a length the interpreter takes
    return seconds


_LONGEST_SLEEP = 2 ** 63 / 1e9  # time.sleep counts nanoseconds in 64 bits: longer lengths overflow


def _clock(name: str, base: Any) -> Callable[[], Any]:
    real = _REAL_CLOCKS[name]
    nanoseconds = name.endswith("_ns")

    def virtual() -> Any:
        ctl = active()
        if ctl is None:
            return real()
        elapsed = ctl.clock()
        return base + int(elapsed * 1e9) if nanoseconds else base + elapsed

    virtual.__name__ = virtual.__qualname__ = name
    return virtual
