"""Interpreter-wide state a case may change, put back after every trial.

A worker process runs many trials, of many cases, one after another. What one
trial's code changes for the whole interpreter (``sys.setrecursionlimit(50)``,
``os.chdir``, an environment variable, a warnings filter, an excepthook, a
signal handler set in setup) must not reach the next trial: a case would then
pass or fail depending on which case ran before it in the same worker.
"""

from __future__ import annotations

import decimal
import gc
import itertools
import os
import signal
import socket
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Signals a case's setup might take over (not SIGUSR1: the worker's stack dumps
# use it through a C handler that Python cannot see or put back).
_SIGNALS = [s for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR2,
                        signal.SIGALRM, signal.SIGCHLD, signal.SIGPIPE) if s is not None]


@contextmanager
def preserved() -> Iterator[None]:
    """Run a trial; afterwards the interpreter is as it was before it."""
    saved = _snapshot()
    counters = _fresh_thread_names()
    try:
        yield
    finally:
        _restore_thread_names(counters)
        _restore(saved)


def _fresh_thread_names() -> list[tuple[Any, str, Any]]:
    """Threads the trial's program names by number count from where a fresh
    program's would (``Thread-1``, ``ThreadPoolExecutor-0_0``), not from how many
    threads earlier trials of this worker made: the same run, the same names."""
    counters = [(threading, "_counter", itertools.count(1).__next__)]
    pool = sys.modules.get("concurrent.futures.thread")
    if pool is not None and hasattr(pool.ThreadPoolExecutor, "_counter"):
        counters.append((pool.ThreadPoolExecutor, "_counter", itertools.count().__next__))
    saved = []
    for owner, name, fresh in counters:
        if hasattr(owner, name):
            saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, fresh)
    return saved


def _restore_thread_names(saved: list[tuple[Any, str, Any]]) -> None:
    for owner, name, counter in saved:
        setattr(owner, name, counter)


def _snapshot() -> dict[str, Any]:
    state: dict[str, Any] = {
        "recursionlimit": sys.getrecursionlimit(),
        "switchinterval": sys.getswitchinterval(),
        "trace": sys.gettrace(),
        "profile": sys.getprofile(),
        "threading_trace": getattr(threading, "_trace_hook", None),
        "threading_profile": getattr(threading, "_profile_hook", None),
        "excepthook": sys.excepthook,
        "threading_excepthook": threading.excepthook,
        "unraisablehook": sys.unraisablehook,
        "displayhook": sys.displayhook,
        "streams": (sys.stdin, sys.stdout, sys.stderr),
        "cwd": _cwd(),
        "environ": dict(os.environ),
        "path": list(sys.path),
        "meta_path": list(sys.meta_path),
        "path_hooks": list(sys.path_hooks),
        "warnings": list(warnings.filters),
        "gc": (gc.isenabled(), gc.get_threshold()),
        "decimal": decimal.getcontext().copy(),
        "socket_timeout": socket.getdefaulttimeout(),
        "signals": {s: signal.getsignal(s) for s in _SIGNALS} if _main_thread() else {},
    }
    if hasattr(sys, "get_int_max_str_digits"):  # 3.11+
        state["int_digits"] = sys.get_int_max_str_digits()
    return state


def _reinstall(get: Any, set_: Any, saved: Any) -> None:
    """Put a tracer or profiler back only if the trial changed it.

    A profiler written in C (cProfile, and any ``PyEval_SetProfile`` user)
    shows itself to ``sys.getprofile()`` as an object that is not callable:
    handed back to ``sys.setprofile`` it would be called as a Python hook and
    raise ``TypeError`` at every call. Untouched, it keeps running as it was.
    """
    if get() is saved:
        return
    if saved is None or callable(saved):
        set_(saved)
        return
    enable = getattr(saved, "enable", None)  # cProfile.Profile installs itself again in C
    if callable(enable):
        enable()
    else:
        set_(None)


def _restore(state: dict[str, Any]) -> None:
    sys.setrecursionlimit(state["recursionlimit"])
    sys.setswitchinterval(state["switchinterval"])
    _reinstall(sys.gettrace, sys.settrace, state["trace"])
    _reinstall(sys.getprofile, sys.setprofile, state["profile"])
    threading.settrace(state["threading_trace"])  # type: ignore[arg-type]
    threading.setprofile(state["threading_profile"])  # type: ignore[arg-type]
    sys.excepthook = state["excepthook"]
    threading.excepthook = state["threading_excepthook"]
    sys.unraisablehook = state["unraisablehook"]
    sys.displayhook = state["displayhook"]
    sys.stdin, sys.stdout, sys.stderr = state["streams"]
    if state["cwd"] is not None and _cwd() != state["cwd"]:
        try:
            os.chdir(state["cwd"])
        except OSError:
            pass
    if dict(os.environ) != state["environ"]:
        os.environ.clear()
        os.environ.update(state["environ"])
    sys.path[:] = state["path"]
    sys.meta_path[:] = state["meta_path"]
    sys.path_hooks[:] = state["path_hooks"]
    warnings.filters[:] = state["warnings"]
    mutated = getattr(warnings, "_filters_mutated", None)  # tells the C warnings module to look again
    if callable(mutated):
        mutated()
    enabled, threshold = state["gc"]
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()
    decimal.setcontext(state["decimal"])
    socket.setdefaulttimeout(state["socket_timeout"])
    for number, handler in state["signals"].items():
        if handler is not None and signal.getsignal(number) is not handler:
            try:
                signal.signal(number, handler)
            except (OSError, ValueError, TypeError):
                pass
    if "int_digits" in state:
        sys.set_int_max_str_digits(state["int_digits"])


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None  # the folder was removed


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
