"""Scheduler-aware ``threading``, ``queue`` and ``time`` for controlled trials.

A real ``Lock.acquire`` or ``Queue.get`` blocks in C while the thread that
would release it waits for the scheduler's token: the trial hangs. Inside a
controlled trial, case code therefore sees these stand-ins. Every operation is
announced to the :class:`~racekit.runtime.controlled.Controller` with a
predicate saying when it can proceed, so a blocked thread is simply not
chosen, and "nobody can proceed" is a deadlock found at once. Semantics
follow the standard library, including its errors (releasing an unlocked
lock raises RuntimeError). Timeouts expire only when no thread can move.
"""

from __future__ import annotations

import collections
import heapq
import queue as _queue
import threading as _threading
import time as _time
import types
from typing import Any, Callable

from racekit.runtime.controlled.controller import Controller, short_value


class _Sync:
    """Base of the stand-ins: a label for traces and a handle on the controller.

    The controller is a class attribute: :func:`modules` makes subclasses
    bound to one trial's controller, so case code calls ``threading.Lock()``
    and may subclass ``threading.Thread`` exactly as usual."""

    _kind = "object"
    _controller: Controller

    def __init__(self, label: str | None = None):
        self._ctl = type(self)._controller
        self._named = label is not None
        self._label = label or f"{self._kind}#{self._ctl.number(self)}"

    def _name(self, label: str) -> None:
        """Called when case code is seen reaching this object as ``label`` (``a.lock``)."""
        if not self._named:
            self._label, self._named = label, True

    def _point(self, action: str, enabled: Callable[[], bool] | None = None, timeout: Any = None) -> bool:
        if enabled is not None and timeout is not None and timeout >= 0:
            enabled.has_timeout = True  # type: ignore[attr-defined]
        return self._ctl.point(action, self._label, enabled, sync=id(self), subject=self)

    def _record(self, kind: str, value: str = "") -> None:
        self._ctl.record(kind, self._label, value=value, sync=id(self))


def _timeout(blocking: bool, timeout: float) -> float | None:
    if not blocking:
        return 0.0
    return None if timeout is None or timeout < 0 else timeout


def _predicate(test: Callable[[], bool], timeout: float | None) -> Callable[[], bool]:
    def enabled() -> bool:
        return test()

    if timeout is not None:
        enabled.has_timeout = True  # type: ignore[attr-defined]
    return enabled


class Lock(_Sync):
    _kind = "lock"

    def __init__(self, label: str | None = None):
        super().__init__(label)
        self._owner: int | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        limit = _timeout(blocking, timeout)
        if limit == 0.0:
            self._point("try-acquire")
            if self._owner is not None:
                self._record("try-acquire", "busy")
                return False
        elif not self._ctl.point("acquire", self._label, _predicate(lambda: self._owner is None, limit),
                                 sync=_sync_id(self, limit), subject=self):
            self._record("acquire", "timed out")
            return False
        self._owner = self._ctl.me()
        self._ctl.holders[id(self)] = (self._label, self._owner)
        self._record("acquire")
        return True

    def release(self) -> None:
        if self._owner is None:
            raise RuntimeError("release unlocked lock")
        self._point("release")
        self._owner = None
        self._ctl.holders.pop(id(self), None)
        self._record("release")

    def locked(self) -> bool:
        return self._owner is not None

    __enter__ = acquire

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _release_save(self) -> Any:  # used by Condition
        self.release()

    def _acquire_restore(self, state: Any) -> None:
        self.acquire()

    def _is_owned(self) -> bool:
        return self._owner == self._ctl.me()


class RLock(Lock):
    _kind = "rlock"

    def __init__(self, label: str | None = None):
        super().__init__(label)
        self._count = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = self._ctl.me()
        if self._owner == me:
            self._count += 1
            return True
        limit = _timeout(blocking, timeout)
        free = _predicate(lambda: self._owner is None, limit)
        if limit == 0.0:
            self._point("try-acquire")
            if self._owner is not None:
                self._record("try-acquire", "busy")
                return False
        elif not self._ctl.point("acquire", self._label, free, sync=_sync_id(self, limit), subject=self):
            self._record("acquire", "timed out")
            return False
        self._owner, self._count = me, 1
        self._ctl.holders[id(self)] = (self._label, me)
        self._record("acquire")
        return True

    def release(self) -> None:
        if self._owner != self._ctl.me():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if self._count:
            return
        self._point("release")
        self._owner = None
        self._ctl.holders.pop(id(self), None)
        self._record("release")

    __enter__ = acquire

    def _release_save(self) -> Any:
        count, self._count = self._count, 1
        self.release()
        return count

    def _acquire_restore(self, count: Any) -> None:
        self.acquire()
        self._count = count


class Condition(_Sync):
    _kind = "condition"

    def __init__(self, lock: Lock | None = None, label: str | None = None):
        super().__init__(label)
        self._lock = lock if lock is not None else bound(RLock, self._ctl)(f"{self._label}.lock")
        self._waiters: list[list[bool]] = []

    def acquire(self, *args: Any) -> bool:
        return self._lock.acquire(*args)

    def release(self) -> None:
        self._lock.release()

    __enter__ = acquire

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def wait(self, timeout: float | None = None) -> bool:
        if not self._lock._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        flag = [False]
        self._waiters.append(flag)
        saved = self._lock._release_save()
        self._record("cond-wait")
        limit = None if timeout is None else max(timeout, 0.0)
        notified = self._ctl.point("be-notified", self._label, _predicate(lambda: flag[0], limit))
        if notified:
            self._record("be-notified")
        elif flag in self._waiters:
            self._waiters.remove(flag)
        self._lock._acquire_restore(saved)
        return notified

    def wait_for(self, predicate: Callable[[], Any], timeout: float | None = None) -> Any:
        result = predicate()
        while not result:
            if not self.wait(timeout) and timeout is not None:
                return predicate()
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        if not self._lock._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        self._point("notify")
        for flag in self._waiters[:n]:
            flag[0] = True
        del self._waiters[:n]
        self._record("notify")

    def notify_all(self) -> None:
        self.notify(len(self._waiters))

    notifyAll = notify_all


class Semaphore(_Sync):
    _kind = "semaphore"

    def __init__(self, value: int = 1, label: str | None = None):
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        super().__init__(label)
        self._value = value

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        limit = _timeout(blocking, -1 if timeout is None else timeout)
        if limit == 0.0:
            self._point("try-acquire")
            if self._value == 0:
                self._record("try-acquire", "busy")
                return False
        elif not self._ctl.point("acquire", self._label, _predicate(lambda: self._value > 0, limit),
                                 sync=_sync_id(self, limit), subject=self):
            self._record("acquire", "timed out")
            return False
        self._value -= 1
        self._record("acquire", str(self._value))
        return True

    __enter__ = acquire

    def release(self, n: int = 1) -> None:
        self._point("release")
        self._value += n
        self._record("release", str(self._value))

    def __exit__(self, *exc: object) -> None:
        self.release()


class BoundedSemaphore(Semaphore):
    _kind = "bounded-semaphore"

    def __init__(self, value: int = 1, label: str | None = None):
        super().__init__(value, label)
        self._initial = value

    def release(self, n: int = 1) -> None:
        if self._value + n > self._initial:
            raise ValueError("Semaphore released too many times")
        super().release(n)


class Event(_Sync):
    _kind = "event"

    def __init__(self, label: str | None = None):
        super().__init__(label)
        self._flag = False

    def is_set(self) -> bool:
        return self._flag

    isSet = is_set

    def set(self) -> None:
        self._point("set")
        self._flag = True
        self._record("set")

    def clear(self) -> None:
        self._point("clear")
        self._flag = False
        self._record("clear")

    def wait(self, timeout: float | None = None) -> bool:
        limit = None if timeout is None else max(timeout, 0.0)
        result = self._ctl.point("wait", self._label, _predicate(lambda: self._flag, limit))
        self._record("wait", "" if result else "timed out")
        return result


class Barrier(_Sync):
    _kind = "barrier"

    def __init__(self, parties: int, action: Callable[[], Any] | None = None,
                 timeout: float | None = None, label: str | None = None):
        super().__init__(label)
        self.parties = parties
        self._action = action
        self._arrived = 0
        self._generation = 0
        self.broken = False

    @property
    def n_waiting(self) -> int:
        return self._arrived

    def wait(self, timeout: float | None = None) -> int:
        self._point("arrive")
        generation, index = self._generation, self._arrived
        self._arrived += 1
        self._record("arrive", f"{self._arrived}/{self.parties}")
        if self._arrived == self.parties:
            if self._action is not None:
                self._action()
            self._arrived, self._generation = 0, self._generation + 1
            return index
        passed = self._ctl.point("pass", self._label, _predicate(lambda: self._generation != generation,
                                                                   None if timeout is None else timeout))
        if not passed:
            self.broken = True
            raise _threading.BrokenBarrierError
        self._record("pass")
        return index

    def reset(self) -> None:
        self._arrived = 0

    def abort(self) -> None:
        self.broken = True


class Queue(_Sync):
    """``queue.Queue`` (and, by its ``_init/_put/_get``, LifoQueue and PriorityQueue)."""

    _kind = "queue"

    def __init__(self, maxsize: int = 0, label: str | None = None):
        super().__init__(label)
        self.maxsize = maxsize
        self._init(maxsize)
        self.unfinished_tasks = 0

    def _init(self, maxsize: int) -> None:
        self.queue: Any = collections.deque()

    def _qsize(self) -> int:
        return len(self.queue)

    def _put(self, item: Any) -> None:
        self.queue.append(item)

    def _get(self) -> Any:
        return self.queue.popleft()

    def qsize(self) -> int:
        return self._qsize()

    def empty(self) -> bool:
        return not self._qsize()

    def full(self) -> bool:
        return 0 < self.maxsize <= self._qsize()

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        limit = 0.0 if not block else timeout
        if limit == 0.0:
            self._point("put")
            if self.full():
                raise _queue.Full
        elif not self._ctl.point("put", self._label, _predicate(lambda: not self.full(), limit),
                                 sync=_sync_id(self, limit), subject=self):
            raise _queue.Full
        self._put(item)
        self.unfinished_tasks += 1
        self._record("put", short_value(item))

    def put_nowait(self, item: Any) -> None:
        self.put(item, block=False)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        limit = 0.0 if not block else timeout
        if limit == 0.0:
            self._point("get")
            if self.empty():
                raise _queue.Empty
        elif not self._ctl.point("get", self._label, _predicate(lambda: not self.empty(), limit),
                                 sync=_sync_id(self, limit), subject=self):
            raise _queue.Empty
        item = self._get()
        self._record("get", short_value(item))
        return item

    def get_nowait(self) -> Any:
        return self.get(block=False)

    def task_done(self) -> None:
        if self.unfinished_tasks <= 0:
            raise ValueError("task_done() called too many times")
        self._point("task-done")
        self.unfinished_tasks -= 1
        self._record("task-done")

    def join(self) -> None:
        self._ctl.point("join", self._label, lambda: self.unfinished_tasks == 0)
        self._record("join")


class LifoQueue(Queue):
    def _init(self, maxsize: int) -> None:
        self.queue = []

    def _get(self) -> Any:
        return self.queue.pop()


class PriorityQueue(Queue):
    def _init(self, maxsize: int) -> None:
        self.queue = []

    def _put(self, item: Any) -> None:
        heapq.heappush(self.queue, item)

    def _get(self) -> Any:
        return heapq.heappop(self.queue)


class SimpleQueue(Queue):
    def __init__(self, label: str | None = None):
        super().__init__(0, label)


class Thread(_Sync):
    """``threading.Thread`` started from case code: one more thread the scheduler runs."""

    _kind = "thread"

    def __init__(self, group: Any = None, target: Callable[..., Any] | None = None,
                 name: str | None = None, args: tuple = (), kwargs: dict | None = None, *, daemon: bool | None = None):
        super().__init__(name)
        self._target, self._args, self._kwargs = target, args, kwargs or {}
        self.name = name or f"Thread-{self._ctl.number(self)}"
        self.daemon = bool(daemon)
        self._index: int | None = None
        self._started = False

    def run(self) -> None:
        if self._target is not None:
            self._target(*self._args, **self._kwargs)

    def start(self) -> None:
        if self._started:
            raise RuntimeError("threads can only be started once")
        self._started = True
        self._point("start")
        self._index = self._ctl.add_thread(self.name)
        self._record("start", self.name)
        runner = _threading.Thread(target=self._ctl.thread_body(self._index, self.run), name=self.name, daemon=True)
        runner._racekit_thread = self  # type: ignore[attr-defined]  # what current_thread() answers in it
        self._ctl.extra_threads.append(runner)
        runner.start()

    def join(self, timeout: float | None = None) -> None:
        if not self._started:
            raise RuntimeError("cannot join thread before it is started")
        index = self._index
        self._ctl.point("join", self.name, _predicate(lambda: self._ctl.threads[index].done,
                                                        None if timeout is None else timeout))
        self._record("join", self.name)

    def is_alive(self) -> bool:
        return self._started and self._index is not None and not self._ctl.threads[self._index].done


def bound(cls: type, controller: Controller) -> type:
    """``cls`` bound to a trial's controller: a subclass made once per trial, so
    that case code can subclass it (``class Worker(threading.Thread)``)."""
    classes = controller.shim_classes
    if cls not in classes:
        classes[cls] = type(cls.__name__, (cls,), {"_controller": controller, "__module__": cls.__module__})
    return classes[cls]


def current_thread() -> Any:
    """The stand-in ``Thread`` object when called in a thread case code started,
    as ``threading.current_thread()`` would return the object that was started."""
    real = _threading.current_thread()
    return getattr(real, "_racekit_thread", real)


def enumerate_threads() -> list[Any]:
    """``threading.enumerate()`` with started stand-ins as themselves, alive
    exactly as long as the scheduler says (not while their real thread winds down)."""
    found = []
    for real in _threading.enumerate():
        started = getattr(real, "_racekit_thread", None)
        if started is None:
            found.append(real)
        elif started.is_alive():
            found.append(started)
    return found


def sleep(controller: Controller, seconds: float = 0) -> None:
    """``time.sleep`` as a yield: a point where another thread may run."""
    controller.point("sleep", "time")
    controller.record("sleep", "time", value=f"{seconds:g}")


def _sync_id(obj: object, limit: float | None) -> int | None:
    """The object an operation synchronises on, for partial-order reduction: only
    for a wait without a timeout. A wait that may time out can go on when no other
    thread can, which depends on every thread: it is announced without one, and
    a reduction then takes it to conflict with everything."""
    return id(obj) if limit is None else None


def modules(controller: Controller) -> dict[str, types.ModuleType]:
    """Stand-in ``threading``, ``queue`` and ``time`` modules bound to a controller."""

    def bind(cls: type) -> type:
        return bound(cls, controller)

    threading_shim = _proxy("threading", _threading, {
        "Lock": bind(Lock), "RLock": bind(RLock), "Condition": bind(Condition), "Semaphore": bind(Semaphore),
        "BoundedSemaphore": bind(BoundedSemaphore), "Event": bind(Event), "Barrier": bind(Barrier),
        "Thread": bind(Thread), "current_thread": current_thread, "enumerate": enumerate_threads,
        "active_count": lambda: len(enumerate_threads()),
    })
    queue_shim = _proxy("queue", _queue, {
        "Queue": bind(Queue), "LifoQueue": bind(LifoQueue), "PriorityQueue": bind(PriorityQueue),
        "SimpleQueue": bind(SimpleQueue),
    })
    time_shim = _proxy("time", _time, {"sleep": lambda seconds=0: sleep(controller, seconds)})
    return {"threading": threading_shim, "queue": queue_shim, "time": time_shim}


def _proxy(name: str, real: types.ModuleType, overrides: dict[str, Any]) -> types.ModuleType:
    module = types.ModuleType(name, f"racekit's scheduler-aware {name} (controlled mode)")
    module.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
    module.__dict__.update(overrides)
    return module
