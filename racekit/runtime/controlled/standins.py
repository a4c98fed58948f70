"""Scheduler-aware locks, conditions, events, semaphores, barriers and queues.

A real ``Lock.acquire`` or ``Queue.get`` blocks in C while the thread that
would release it waits for the scheduler's token: the trial hangs. While a
controlled trial runs, ``threading.Lock`` and friends therefore make these
objects instead (:mod:`racekit.runtime.controlled.patches`), whichever module
asks. Every operation of a trial's thread is announced to its
:class:`~racekit.runtime.controlled.controller.Controller` with a predicate
saying when it can proceed, so a blocked thread is simply not chosen, and
"nobody can proceed" is a deadlock found at once. Semantics follow the
standard library, errors and their messages included.

The same object works for any thread: one outside every trial (racekit's
own, a module imported between trials, the interpreter at exit) uses it as
the standard library's own, blocking for real. So an object made during one
trial may outlive it (a module-level lock of a library imported in setup)
and serve the next trial's scheduler, or none.

Two kinds of timed waits: a *sleep* (``time.sleep``, a ``Timer``'s delay)
may end at any point, as any amount of work may happen meanwhile; a wait's
*timeout* ends only when no thread can move (racekit takes work to take no
time, so a program is never failed for a timeout a fast machine would not hit).
"""

from __future__ import annotations

import _thread
import collections
import heapq
import queue as _queue
import sys
import threading as _threading
import types
from typing import Any, Callable

from racekit.runtime.controlled import controller as _controller
from racekit.analysis.accesses import TRIED
from racekit.runtime.judging import yours
from racekit.runtime.controlled.controller import Controller, short_value

_allocate_lock = _thread.allocate_lock
_get_ident = _thread.get_ident
_REAL_LOCK_TYPE = type(_allocate_lock())
_REAL_RLOCK_TYPE = type(_threading.RLock())
# The standard library's own classes, as they were before any patching.
REAL = {"Lock": _threading.Lock, "RLock": _threading.RLock, "Condition": _threading.Condition,
        "Semaphore": _threading.Semaphore, "BoundedSemaphore": _threading.BoundedSemaphore,
        "Event": _threading.Event, "Barrier": _threading.Barrier, "Queue": _queue.Queue,
        "LifoQueue": _queue.LifoQueue, "PriorityQueue": _queue.PriorityQueue, "SimpleQueue": _queue.SimpleQueue}
_THREADING_GLOBALS = vars(_threading)
_TIMER_INIT = _threading.Timer.__init__.__code__
_TIMER_RUN = _threading.Timer.run.__code__
_ShutDown = getattr(_queue, "ShutDown", None)  # 3.13+


def _active() -> Controller | None:
    return getattr(_controller.ACTIVE, "controller", None)


def _for_threading_itself(frame: Any) -> bool:
    """Whether ``threading`` asks for the object for its own bookkeeping (a
    Thread's ``_started`` event, a real Event's condition): that stays real.
    A Timer's ``finished`` event is the program's to wait on."""
    return frame.f_globals is _THREADING_GLOBALS and frame.f_code is not _TIMER_INIT


class _Sync:
    """Base of the stand-ins: a label for traces, and the real lock that guards
    their state against threads outside the trial."""

    _kind = "object"
    _real_name = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls._real_name and _for_threading_itself(sys._getframe(1)):
            return REAL[cls._real_name](*args, **kwargs)
        return super().__new__(cls)

    def __init__(self) -> None:
        self._label: str | None = None
        self._mutex = _allocate_lock()
        self._cv: Any = None  # a real Condition over _mutex, for threads outside the trial that wait
        self._outside = 0  # how many such threads wait now

    def _name(self, label: str) -> None:
        """Called when the program is seen reaching this object as ``label`` (``a.lock``)."""
        if self._label is None:
            self._label = label

    def _label_in(self, ctl: Controller) -> str:
        return self._label or f"{self._kind}#{ctl.number(self)}"

    def _point(self, ctl: Controller, action: str, enabled: Callable[[], bool] | None = None,
               timeout: float | None = None, sleep: bool = False, unwinding: bool = False) -> bool:
        # A wait that may time out depends on every thread (it goes on when none can):
        # a partial-order reduction must take it to conflict with everything.
        sync = id(self) if timeout is None else None
        return ctl.point(action, self._label_in(ctl), enabled, timeout, sync=sync, subject=self, sleep=sleep,
                         unwinding=unwinding)

    def _record(self, ctl: Controller, kind: str, value: str = "") -> None:
        ctl.record(kind, self._label_in(ctl), value=value, sync=id(self))

    def _wait_outside(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        """A thread outside the trial waits for real until ``ready()`` (True) or its timeout (False)."""
        with self._mutex:
            if self._cv is None:
                self._cv = REAL["Condition"](self._mutex)
        with self._cv:
            self._outside += 1
            try:
                return self._cv.wait_for(ready, timeout)
            finally:
                self._outside -= 1

    def _changed(self) -> None:
        """The state changed: threads outside the trial that wait look again."""
        if self._outside:
            with self._cv:
                self._cv.notify_all()

    def __repr__(self) -> str:
        return f"<racekit {type(self).__name__} object at {id(self):#x}>"


def _limit(blocking: bool, timeout: float | None) -> float | None:
    """The standard library's (blocking, timeout) as racekit's: None waits for
    ever, 0.0 does not wait (also a zero timeout), else seconds."""
    if not blocking:
        return 0.0
    if timeout is None or timeout < 0:
        return None
    return float(timeout)


def _message(action: Callable[[], Any]) -> str:
    """What this interpreter's own primitive says when it refuses (its words change between versions)."""
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - the message is what is wanted
        return str(exc)
    return ""


_NONBLOCKING_TIMEOUT = _message(lambda: _allocate_lock().acquire(False, 1))
_NEGATIVE_TIMEOUT = _message(lambda: _allocate_lock().acquire(True, -2))


def _check_lock_arguments(blocking: bool, timeout: float) -> None:
    if not blocking and timeout != -1:
        raise yours(ValueError(_NONBLOCKING_TIMEOUT))
    if timeout < 0 and timeout != -1:
        raise yours(ValueError(_NEGATIVE_TIMEOUT))


def _take(lock: Lock | RLock, ctl: Controller, blocking: bool, timeout: float) -> bool:
    """A trial's thread takes ``lock``'s real lock once the scheduler says it is free
    (or fails to: busy, timed out), logged; whose it is now, the caller notes."""
    _check_lock_arguments(blocking, timeout)
    limit = _limit(blocking, timeout)
    tried = limit == 0.0
    if tried:
        lock._point(ctl, "try-acquire")
        if not lock._real.acquire(False):
            lock._record(ctl, "try-acquire", "busy")
            return False
    else:
        if not lock._point(ctl, "acquire", lambda: not lock._real.locked(), limit):
            lock._record(ctl, "acquire", "timed out")
            return False
        # Held by a thread outside the trial: wait for it for real (the watchdog names a long wait).
        if not lock._real.acquire(False) and not lock._real.acquire(True, -1 if limit is None else limit):
            lock._record(ctl, "acquire", "timed out")
            return False
    ctl.holders[id(lock)] = (lock._label_in(ctl), ctl.me())
    lock._record(ctl, "acquire", TRIED if tried else "")
    return True


def _give(lock: Lock | RLock) -> None:
    """``lock``'s real lock given back, after a scheduling point, and logged."""
    ctl = _active()
    if ctl is not None:
        lock._point(ctl, "release", unwinding=True)
        ctl.holders.pop(id(lock), None)
    lock._owner = None
    lock._real.release()
    if ctl is not None:
        lock._record(ctl, "release")


class _HeldLock(_Sync):
    """What Lock and RLock share: ``with`` (``locked()`` is each one's own: an
    RLock has it only from 3.14 on)."""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class Lock(_HeldLock):
    """``threading.Lock``: a real lock, acquired only when the scheduler says it is free."""

    _kind = "lock"
    _real_name = "Lock"

    def __init__(self, real: Any = None) -> None:
        super().__init__()
        self._real = real if real is not None else _allocate_lock()
        self._owner: int | None = None  # the OS thread holding it (for Condition's ownership checks)

    @classmethod
    def adopting(cls, real: Any) -> Lock:
        """A stand-in around a real lock made before the trial (``Condition(lock)``)."""
        lock = super().__new__(cls)
        lock.__init__(real)
        return lock

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        ctl = _active()
        if ctl is None:
            got = self._real.acquire(blocking, timeout)
            if got:
                self._owner = _get_ident()
            return got
        if not _take(self, ctl, blocking, timeout):
            return False
        self._owner = _get_ident()
        return True

    def release(self) -> None:
        if not self._real.locked():
            raise yours(RuntimeError("release unlocked lock"))
        _give(self)

    def locked(self) -> bool:
        return self._real.locked()

    def _at_fork_reinit(self) -> None:
        self._real = _allocate_lock()
        self._owner = None

    # What Condition needs of its lock.
    def _release_save(self) -> Any:
        self.release()
        return None

    def _acquire_restore(self, state: Any) -> None:
        self.acquire()

    def _is_owned(self) -> bool:
        return self._real.locked() and self._owner == _get_ident()

    def __repr__(self) -> str:
        return f"<{'locked' if self.locked() else 'unlocked'} racekit lock object at {id(self):#x}>"


class RLock(_HeldLock):
    """``threading.RLock``: re-entrant for the thread that holds it."""

    _kind = "rlock"
    _real_name = "RLock"

    def __init__(self) -> None:
        super().__init__()
        self._real = _allocate_lock()
        self._owner: int | None = None
        self._count = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = _get_ident()
        if self._owner == me:
            self._count += 1
            return True
        ctl = _active()
        if ctl is None:
            if not self._real.acquire(blocking, timeout):
                return False
        elif not _take(self, ctl, blocking, timeout):
            return False
        self._owner, self._count = me, 1
        return True

    def release(self) -> None:
        if self._owner != _get_ident():
            raise yours(RuntimeError("cannot release un-acquired lock"))
        self._count -= 1
        if self._count:
            return
        _give(self)

    def locked(self) -> bool:
        return self._real.locked()

    def _at_fork_reinit(self) -> None:
        self._real = _allocate_lock()
        self._owner, self._count = None, 0

    def _release_save(self) -> Any:
        if self._owner != _get_ident():
            raise yours(RuntimeError("cannot release un-acquired lock"))
        count, self._count = self._count, 1
        self.release()
        return count

    def _acquire_restore(self, count: Any) -> None:
        self.acquire()
        self._count = count

    def _is_owned(self) -> bool:
        return self._owner == _get_ident()

    def __repr__(self) -> str:
        state = "locked" if self._real.locked() else "unlocked"
        return f"<{state} racekit RLock object owner={self._owner or 0} count={self._count} at {id(self):#x}>"


if not hasattr(REAL["RLock"](), "locked"):  # RLock.locked() is new in 3.14
    del RLock.locked


class Condition(_Sync):
    """``threading.Condition``: waiters of the trial wait for a flag the
    scheduler sees; others for a real lock, as the standard library's do."""

    _kind = "condition"
    _real_name = "Condition"

    def __new__(cls, lock: Any = None) -> Any:
        if _for_threading_itself(sys._getframe(1)) or type(lock) is _REAL_RLOCK_TYPE:
            # threading's own, or around a real RLock made before the trial (its owner
            # is C's to know): the standard library's Condition.
            return REAL["Condition"](lock)
        return object.__new__(cls)

    def __init__(self, lock: Any = None) -> None:
        super().__init__()
        self._own_lock = lock is None
        if lock is None:
            lock = RLock()
        elif type(lock) is _REAL_LOCK_TYPE:
            lock = Lock.adopting(lock)
        self._lock = lock
        self.acquire = lock.acquire
        self.release = lock.release
        self._waiters: collections.deque = collections.deque()

    def _name(self, label: str) -> None:
        # The lock it made for itself has no name of its own: `with cond:` acquires cond.
        super()._name(label)
        if self._own_lock:
            self._lock._name(label)

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._lock.__exit__(*exc)

    def _is_owned(self) -> bool:
        owned = getattr(self._lock, "_is_owned", None)
        if owned is not None:
            return owned()
        if self._lock.acquire(False):
            self._lock.release()
            return False
        return True

    def wait(self, timeout: float | None = None) -> bool:
        if not self._is_owned():
            raise yours(RuntimeError("cannot wait on un-acquired lock"))
        ctl = _active()
        if ctl is None:
            waiter = _allocate_lock()
            waiter.acquire()
            self._waiters.append(waiter)
            saved = _release_save(self._lock)
            got = False
            try:
                got = waiter.acquire(True, -1 if timeout is None else max(timeout, 0.0))
                return got
            finally:
                _acquire_restore(self._lock, saved)
                if not got:
                    try:
                        self._waiters.remove(waiter)
                    except ValueError:
                        pass
        flag = [False]
        self._waiters.append(flag)
        saved = _release_save(self._lock)
        self._record(ctl, "cond-wait")
        limit = None if timeout is None else max(timeout, 0.0)
        notified = self._point(ctl, "be-notified", lambda: flag[0], limit)
        if notified:
            self._record(ctl, "be-notified")
        else:
            try:
                self._waiters.remove(flag)
            except ValueError:
                pass
        _acquire_restore(self._lock, saved)
        return notified

    def wait_for(self, predicate: Callable[[], Any], timeout: float | None = None) -> Any:
        import time

        endtime = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = time.monotonic() + waittime
                else:
                    waittime = endtime - time.monotonic()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        if not self._is_owned():
            raise yours(RuntimeError("cannot notify on un-acquired lock"))
        ctl = _active()
        if ctl is not None:
            self._point(ctl, "notify", unwinding=True)
        woken = 0
        while self._waiters and woken < n:
            waiter = self._waiters.popleft()
            if type(waiter) is list:
                waiter[0] = True
            else:
                waiter.release()
            woken += 1
        if ctl is not None:
            self._record(ctl, "notify", "" if woken else _controller.NOBODY_WAITING)

    def notify_all(self) -> None:
        self.notify(len(self._waiters))

    notifyAll = notify_all

    def __repr__(self) -> str:
        return f"<racekit Condition({self._lock!r}, {len(self._waiters)})>"


def _release_save(lock: Any) -> Any:
    return lock._release_save() if hasattr(lock, "_release_save") else lock.release()


def _acquire_restore(lock: Any, saved: Any) -> None:
    if hasattr(lock, "_acquire_restore"):
        lock._acquire_restore(saved)
    else:
        lock.acquire()


class Semaphore(_Sync):
    _kind = "semaphore"
    _real_name = "Semaphore"

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise yours(ValueError("semaphore initial value must be >= 0"))
        super().__init__()
        self._value = value

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        if not blocking and timeout is not None:
            raise yours(ValueError("can't specify timeout for non-blocking acquire"))
        limit = _limit(blocking, timeout)
        ctl = _active()
        if ctl is None:
            with self._mutex:
                if self._value > 0:
                    self._value -= 1
                    return True
            if limit == 0.0 or not self._wait_outside(lambda: self._value > 0, limit):
                return False
            with self._mutex:
                self._value -= 1
            return True
        if limit == 0.0:
            self._point(ctl, "try-acquire")
            if self._value == 0:
                self._record(ctl, "try-acquire", "busy")
                return False
        elif not self._point(ctl, "acquire", lambda: self._value > 0, limit):
            self._record(ctl, "acquire", "timed out")
            return False
        with self._mutex:
            self._value -= 1
        self._record(ctl, "acquire", TRIED if limit == 0.0 else str(self._value))
        return True

    def __enter__(self) -> bool:
        return self.acquire()

    def release(self, n: int = 1) -> None:
        if n < 1:
            raise yours(ValueError("n must be one or more"))
        ctl = _active()
        if ctl is not None:
            self._point(ctl, "release", unwinding=True)
        with self._mutex:
            # Checked and done in one step, after the scheduling point, as CPython
            # does under its condition: two releases never both pass the check.
            self._check_release(n)
            self._value += n
        self._changed()
        if ctl is not None:
            self._record(ctl, "release", str(self._value))

    def _check_release(self, n: int) -> None:
        """Nothing to check: a Semaphore may be released any number of times."""

    def __exit__(self, *exc: object) -> None:
        self.release()


class BoundedSemaphore(Semaphore):
    _kind = "bounded-semaphore"
    _real_name = "BoundedSemaphore"

    def __init__(self, value: int = 1) -> None:
        super().__init__(value)
        self._initial_value = value

    def _check_release(self, n: int) -> None:
        if self._value + n > self._initial_value:
            raise yours(ValueError("Semaphore released too many times"))


class Event(_Sync):
    _kind = "event"
    _real_name = "Event"

    def __init__(self) -> None:
        super().__init__()
        self._flag = False

    def is_set(self) -> bool:
        return self._flag

    isSet = is_set

    def set(self) -> None:
        ctl = _active()
        if ctl is not None:
            self._point(ctl, "set", unwinding=True)
        with self._mutex:
            self._flag = True
        self._changed()
        if ctl is not None:
            self._record(ctl, "set")

    def clear(self) -> None:
        ctl = _active()
        if ctl is not None:
            self._point(ctl, "clear")
        with self._mutex:
            self._flag = False
        if ctl is not None:
            self._record(ctl, "clear")

    def wait(self, timeout: float | None = None) -> bool:
        ctl = _active()
        limit = None if timeout is None else max(timeout, 0.0)
        if ctl is None:
            return self._flag or self._wait_outside(lambda: self._flag, limit)
        # A Timer waits out its delay on its event: that wait is a sleep.
        sleep = limit is not None and sys._getframe(1).f_code is _TIMER_RUN
        result = self._point(ctl, "wait", lambda: self._flag, limit, sleep=sleep)
        result = result or self._flag
        self._record(ctl, "wait", "" if result else "timed out")
        return result

    def _at_fork_reinit(self) -> None:
        self._mutex = _allocate_lock()
        self._cv = None
        self._outside = 0


class Barrier(_Sync):
    _kind = "barrier"
    _real_name = "Barrier"

    def __init__(self, parties: int, action: Callable[[], Any] | None = None,
                 timeout: float | None = None) -> None:
        if parties < 1:
            raise yours(ValueError("parties must be >= 1"))
        super().__init__()
        self._parties = parties
        self._action = action
        self._timeout = timeout
        self._arrived = 0
        self._generation = 0
        self._broken = False

    @property
    def parties(self) -> int:
        return self._parties

    @property
    def n_waiting(self) -> int:
        return self._arrived

    @property
    def broken(self) -> bool:
        return self._broken

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            timeout = self._timeout
        if self._broken:
            raise yours(_threading.BrokenBarrierError())
        ctl = _active()
        if ctl is not None:
            self._point(ctl, "arrive")
        generation, index = self._generation, self._arrived
        self._arrived += 1
        if ctl is not None:
            self._record(ctl, "arrive", f"{self._arrived}/{self._parties}")
        if self._arrived == self._parties:
            try:
                if self._action is not None:
                    self._action()
            except BaseException:
                self._break()
                raise
            self._arrived, self._generation = 0, self._generation + 1
            self._changed()
            return index
        passed_or_broken = lambda: self._generation != generation or self._broken  # noqa: E731
        limit = None if timeout is None else max(timeout, 0.0)
        if ctl is None:
            passed = self._wait_outside(passed_or_broken, limit)
        else:
            passed = self._point(ctl, "pass", passed_or_broken, limit)
        if not passed:
            self._break()
        if self._broken and self._generation == generation:
            raise yours(_threading.BrokenBarrierError())
        if ctl is not None:
            self._record(ctl, "pass")
        return index

    def _break(self) -> None:
        self._broken = True
        self._changed()

    def reset(self) -> None:
        if self._arrived:
            self._break()
        self._arrived = 0
        self._broken = False

    def abort(self) -> None:
        self._break()


class Queue(_Sync):
    """``queue.Queue`` (and, by its ``_init/_put/_get``, LifoQueue and PriorityQueue)."""

    _kind = "queue"
    __class_getitem__ = classmethod(types.GenericAlias)

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__()
        self.maxsize = maxsize
        self._init(maxsize)
        self.unfinished_tasks = 0
        self.is_shutdown = False
        self.mutex = Lock()  # code that takes it (`with q.mutex: q.queue.clear()`) excludes others that do

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
        if block and timeout is not None and timeout < 0:
            raise yours(ValueError("'timeout' must be a non-negative number"))
        if self.is_shutdown and _ShutDown is not None:
            raise yours(_ShutDown())
        limit = _limit(block, timeout)
        ctl = _active()
        if ctl is None:
            with self._mutex:
                room = not self.full()
            if not room and (limit == 0.0 or not self._wait_outside(lambda: not self.full(), limit)):
                raise yours(_queue.Full())
        elif limit == 0.0:
            self._point(ctl, "put")
            if self.full():
                raise yours(_queue.Full())
        elif not self._point(ctl, "put", lambda: not self.full() or self.is_shutdown, limit):
            raise yours(_queue.Full())
        if self.is_shutdown and _ShutDown is not None:
            raise yours(_ShutDown())
        with self._mutex:
            self._put(item)
            self.unfinished_tasks += 1
        self._changed()
        if ctl is not None:
            self._record(ctl, "put", short_value(item))

    def put_nowait(self, item: Any) -> None:
        self.put(item, block=False)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if block and timeout is not None and timeout < 0:
            raise yours(ValueError("'timeout' must be a non-negative number"))
        limit = _limit(block, timeout)
        ctl = _active()
        ready = lambda: not self.empty() or self.is_shutdown  # noqa: E731
        if ctl is None:
            if self.empty() and (limit == 0.0 or not self._wait_outside(ready, limit)):
                if self.is_shutdown and _ShutDown is not None:
                    raise yours(_ShutDown())
                raise yours(_queue.Empty())
        elif limit == 0.0:
            self._point(ctl, "get")
            if self.empty():
                if self.is_shutdown and _ShutDown is not None:
                    raise yours(_ShutDown())
                raise yours(_queue.Empty())
        elif not self._point(ctl, "get", ready, limit):
            raise yours(_queue.Empty())
        if self.empty() and self.is_shutdown and _ShutDown is not None:
            raise yours(_ShutDown())
        with self._mutex:
            item = self._get()
        self._changed()
        if ctl is not None:
            self._record(ctl, "get", short_value(item))
        return item

    def get_nowait(self) -> Any:
        return self.get(block=False)

    def task_done(self) -> None:
        if self.unfinished_tasks <= 0:
            raise yours(ValueError("task_done() called too many times"))
        ctl = _active()
        if ctl is not None:
            self._point(ctl, "task-done")
        with self._mutex:
            self.unfinished_tasks -= 1
        self._changed()
        if ctl is not None:
            self._record(ctl, "task-done")

    def join(self) -> None:
        ctl = _active()
        if ctl is None:
            if self.unfinished_tasks:
                self._wait_outside(lambda: self.unfinished_tasks == 0, None)
            return
        self._point(ctl, "join-tasks", lambda: self.unfinished_tasks == 0)  # not a thread's join
        self._record(ctl, "join-tasks")

    def shutdown(self, immediate: bool = False) -> None:
        """Python 3.13's ``Queue.shutdown``."""
        ctl = _active()
        if ctl is not None:
            self._point(ctl, "shutdown", unwinding=True)
        with self._mutex:
            self.is_shutdown = True
            if immediate:
                while self._qsize():
                    self._get()
                    if self.unfinished_tasks > 0:
                        self.unfinished_tasks -= 1
        self._changed()
        if ctl is not None:
            self._record(ctl, "shutdown")


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
    """``queue.SimpleQueue`` (C in CPython): unbounded, no task tracking."""

    def __init__(self) -> None:
        super().__init__(0)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item)

    def put_nowait(self, item: Any) -> None:
        super().put(item)


def sleep(ctl: Controller, seconds: float) -> None:
    """``time.sleep`` in a trial: a point where another thread may run; a
    positive sleep lets time pass, which may end at any point."""
    if seconds > 0:
        ctl.point("sleep", "time", _never, seconds, sleep=True)
    else:
        ctl.point("sleep", "time")
    ctl.record("sleep", "time", value=f"{seconds:g}")


def _never() -> bool:
    return False
