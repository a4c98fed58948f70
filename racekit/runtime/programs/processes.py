"""``kind: processes``: each thread entry runs as a ``multiprocessing.Process``.

Setup runs in the worker (the parent); shared state lives in what
``multiprocessing`` shares between processes (``Value``, ``Array``, ``Queue``,
``Pipe``, ``Manager()`` objects); the outcome is read in the parent after every
child ended. Children are released together by a ``multiprocessing.Barrier``.
An exception in a child comes back as its outcome (``error: TypeName: message``),
a child that dies is reported with its exit code or signal, and a child still
running after the timeout has its stacks dumped (faulthandler on SIGUSR1)
and is killed.

With ``fork`` (Linux's default) children inherit everything. With ``spawn`` or
``forkserver`` a child imports racekit afresh, runs setup again (it needs the
functions and classes setup defines) and then takes the parent's
``multiprocessing`` objects in place of the ones its own setup made.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import tempfile
import time
import traceback
import types
import warnings
from typing import Any

from racekit.case.model import Variant
from racekit.runtime import clock, startmethod
from racekit.options import ModeSpec
from racekit.runtime.controlled.strategies.serial import serial_orders
from racekit.runtime.programs.threads import CaseProgram
from racekit.records import Note, Status, Trial
from racekit.runtime.judging import CaseFailure, case_error, judged

KILL_GRACE = 0.5
NOTICE_POLL = 0.05  # seconds between looks at the notice file while children run
EXIT_WAIT = ("its code had returned, but {name} could not exit: a process waits for the non-daemon processes it "
             "started before it exits (join them, or make them daemon=True)")



class ProcessProgram(CaseProgram):
    """Compiled like a thread case (CaseProgram.compile builds a ProcessProgram
    when called on this class); only running a trial differs."""

    start_method = "fork"
    fork_uses: list[startmethod.ForkOnlyUse] = []

    @classmethod
    def compile(cls, variant: Variant, mode: ModeSpec, roots: tuple[str, ...] = ()) -> ProcessProgram:
        """Compiled as a thread case; refused before any trial when the case's own
        processes need fork but will be started another way (they would hang)."""
        program = super().compile(variant, mode, roots)
        program.start_method = startmethod.effective_start_method(variant)
        program.fork_uses = startmethod.fork_only_uses(variant)
        if program.start_method != "fork" and program.fork_uses:
            raise startmethod.StartMethodError(program.start_method, variant.start_method is None, program.fork_uses)
        return program

    def run(self, index: int, seed: int, schedule: str | None = None, serial: bool = False) -> Trial:
        """One trial; ``serial``: the serial baseline's order number ``index``,
        each child started only once the one before it has ended."""
        started = time.perf_counter()
        with warnings.catch_warnings():
            # Forking a process that has threads (racekit's watchdog) is what
            # a case about processes does; Python 3.12+ warns about it.
            warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")
            trial = self._run_processes(index, seed, serial)
        trial.duration = time.perf_counter() - started
        trial.warnings = [*trial.warnings, Note.of("processes", cores=os.cpu_count(), mode=self.forcing.spec.name),
                          self._start_method_note()]
        return trial

    def _start_method_note(self) -> Note:
        if self.variant.start_method is None:
            return Note.of("start_default", method=self.start_method)
        if self.start_method == "fork" and self.fork_uses:
            use = self.fork_uses[0]
            return Note.of("start_named_fork", work=use.work, api=use.api, line=use.line)
        return Note.of("start_named", method=self.start_method, default=startmethod.default_start_method())

    def prepare_in(self, seed: int) -> Any:
        """Setup with ``multiprocessing`` being the case's start-method context, so
        the Value or Queue it makes can go to children started that way."""
        context = multiprocessing.get_context(self.variant.start_method)
        if context.get_start_method() == "forkserver":
            # Children fork from the server with racekit already imported
            # (it only counts before the server starts: the first trial).
            context.set_forkserver_preload([__name__])
        return self.prepare(seed, {"multiprocessing": context}), context

    def _run_processes(self, index: int, seed: int, serial: bool) -> Trial:
        try:
            prepared, context = self.prepare_in(seed)
        except CaseFailure as failure:
            return case_error(index, seed, failure.where, failure.error)
        dumps = tempfile.mkdtemp(prefix="racekit-processes-")  # each child's faulthandler file
        order = None
        if serial:
            orders = serial_orders(len(self.threads) or 1)
            order = orders[index % len(orders)]
        try:
            trial = self._start_and_judge(index, seed, prepared, context, dumps, order)
        finally:
            shutil.rmtree(dumps, ignore_errors=True)
        if order is not None:
            trial.serial_order = [self.threads[position][0] for position in order]
        return trial

    def _start_and_judge(self, index: int, seed: int, prepared: Any, context: Any, dumps: str,
                         order: list[int] | None) -> Trial:
        ns = prepared.namespace or {}
        errors = context.SimpleQueue()
        # Released together; in a serial run each child alone (the next starts when it has ended).
        barrier = context.Barrier(1 if order is not None else len(self.threads))
        finished = context.Array("b", len(self.threads), lock=False)  # whose case code has returned
        forked = context.get_start_method() == "fork"
        shared = {} if forked else {k: v for k, v in ns.items() if _is_shared(v)}
        hidden = [] if forked else _hidden_shared(ns)
        if hidden:
            return case_error(index, seed, "setup", ValueError(
                f"under start_method {context.get_start_method()}, each child runs setup again and gets the "
                f"parent's multiprocessing objects only by their top-level names; {', '.join(hidden)} would be the "
                "child's own copy, not shared. Give each shared object a name of its own in setup"))
        startmethod.clear_notice()
        children = []
        for position, (name, thread_index, _code) in enumerate(self.threads):
            dump = os.path.join(dumps, f"{position}.txt")
            if forked:
                target, args = _forked_child, (self, prepared.threads[position][1], name, barrier, errors, dump,
                                               finished, position)
            else:
                target, args = _spawned_child, (self.variant, self.forcing.spec, position, seed, shared, name, barrier,
                                                errors, dump, finished)
            children.append(context.Process(target=target, args=args, name=name))
        try:
            if order is None:
                for child in children:
                    child.start()
                unreachable = _wait(children, self.variant.timeout)
            else:
                unreachable = None
                for position in order:
                    children[position].start()
                    unreachable = _wait([children[position]], self.variant.timeout)
                    if unreachable or children[position].is_alive():
                        break  # stuck alone: the next would never start in a serial run
        except Exception as exc:  # noqa: BLE001 - e.g. setup made something spawn cannot send
            _kill_groups(children)
            return case_error(index, seed, "starting the processes", exc)
        if unreachable:
            _kill_groups(children)
            summary, _, detail = unreachable.partition("\n")
            return Trial(index, seed, Status.ERROR, f"error: {summary}", detail=detail.strip() or summary)
        hung = [c for c in children if c.is_alive()]
        if hung:
            detail = _stop_and_dump(hung, dumps, children, finished, self.variant.timeout)
            _kill_groups(children)
            return Trial(index, seed, Status.DEADLOCK, "deadlock", detail=detail)
        _kill_groups(children)  # what a child started and left behind (killed itself with os._exit, say)
        failures: list[tuple[float, BaseException, str]] = []
        while not errors.empty():
            stamp, kind, message, text = errors.get()
            failures.append((stamp, _Reported(kind, message), text))
        for child in children:
            if child.exitcode and not any(f[2].startswith(f"{child.name}:\n") for f in failures):
                failures.append((time.time(), _Died(child.name, child.exitcode), f"{child.name}:\n{_died(child)}"))
        return judged(index, seed, prepared, failures, self.variant.timeout)


def _wait(children: list[Any], timeout: float) -> str | None:
    """Wait for the children until the timeout; stop early, with its message,
    when a process the case started cannot reach the case's code (racekit/_case.py)."""
    deadline = clock.now() + timeout  # pauses of this process do not count
    while True:
        notice = startmethod.unreachable_notice()
        alive = [c.sentinel for c in children if c.exitcode is None]
        remaining = deadline - clock.now()
        if notice or not alive or remaining <= 0:
            return notice
        multiprocessing.connection.wait(alive, min(remaining, NOTICE_POLL))


class _Reported(Exception):
    """An exception raised in a child, as the parent learns of it (type name kept)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class _Died(Exception):
    kind = ""  # the message says it all: "process adder-1 exited with code 5"
    # A child that died (a signal, os._exit(N)) broke the case; no
    # interleaving of Python code makes a process segfault. Graded as an
    # error, as a crashed thread case is, unless `expect` names it.
    case_bug = True

    def __init__(self, name: str, code: int):
        super().__init__(_exit_text(name, code))


def _exit_text(name: str, code: int) -> str:
    if code < 0:
        try:
            return f"process {name} was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"process {name} was killed by signal {-code}"
    return f"process {name} exited with code {code}"


def _died(child: Any) -> str:
    return _exit_text(child.name, child.exitcode)


def _hidden_shared(ns: dict[str, Any]) -> list[str]:
    """Names whose value holds shared objects one level down (``counters =
    [Value(), Value()]``, an instance with a Value attribute): a spawned child
    cannot be handed those, so they would silently not be shared."""
    found = []
    for name, value in ns.items():
        if (name.startswith("__") or isinstance(value, (type, types.ModuleType))
                or type(value).__module__.startswith("multiprocessing")):  # a Value itself, a Manager, a Pool
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            inner = list(value)
        elif isinstance(value, dict):
            inner = list(value.values())
        else:
            inner = list(getattr(value, "__dict__", {}).values()) if not callable(value) else []
        if any(_is_shared(item) for item in inner):
            found.append(name)
    return found


def _is_shared(value: Any) -> bool:
    """A multiprocessing object a spawned child should use instead of its own:
    a Value, Queue, Pipe end, a Manager's proxies; not the Manager, a Pool or
    a Process themselves, which cannot travel to another process."""
    if not type(value).__module__.startswith("multiprocessing"):
        return False
    import multiprocessing.managers
    import multiprocessing.pool
    import multiprocessing.process

    return not isinstance(value, (multiprocessing.managers.BaseManager, multiprocessing.pool.Pool,
                                  multiprocessing.process.BaseProcess))


def _forked_child(program: ProcessProgram, function: Any, name: str, barrier: Any, errors: Any, dump: str,
                  finished: Any, position: int) -> None:
    _prepare_child(dump)
    try:
        _run_child(program, function, name, barrier, errors)
    finally:
        finished[position] = 1


def _spawned_child(variant: Variant, mode: ModeSpec, position: int, seed: int, shared: dict[str, Any], name: str,
                   barrier: Any, errors: Any, dump: str, finished: Any) -> None:
    _prepare_child(dump)
    program = ProcessProgram.compile(variant, mode)
    prepared, _context = program.prepare_in(seed)
    if prepared.namespace is not None:
        prepared.namespace.update(shared)  # the parent's Value, Queue, … replace the ones setup made here
    try:
        _run_child(program, prepared.threads[position][1], name, barrier, errors)
    finally:
        finished[position] = 1


def _prepare_child(dump: str) -> None:
    # A process group of its own: the processes case code starts join it, and
    # the parent can end them all, however deep (_kill_groups).
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    faulthandler.register(signal.SIGUSR1, file=open(dump, "w"), all_threads=True)  # noqa: SIM115


def _run_child(program: ProcessProgram, function: Any, name: str, barrier: Any, errors: Any) -> None:
    problems: list[dict[str, Any]] = []
    try:
        with program.forcing.trial(problems), program.forcing.thread(problems):
            barrier.wait()
            function()
    except SystemExit:
        raise  # sys.exit(N) is the process's exit code: 0 is a normal end, others a death (_Died)
    except BaseException as exc:  # noqa: BLE001 - anything the case raises is a result
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        frames = [line for line in lines if "racekit/runtime" not in line and "multiprocessing/" not in line]
        errors.put((time.time(), type(exc).__name__, str(exc), f"{name}:\n" + "".join(frames).rstrip()))
        raise SystemExit(1) from None


def _kill_groups(children: list[Any]) -> None:
    """End every child and whatever it started (its process group)."""
    for child in children:
        if child.pid is None:
            continue
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except OSError:  # the group is empty: nothing left behind
            pass
        child.join(KILL_GRACE)


def _stop_and_dump(hung: list[Any], dumps: str, children: list[Any], finished: Any, timeout: float) -> str:
    parts = [f"still running after the {timeout:g} s timeout:"]
    for child in hung:
        try:
            os.kill(child.pid, signal.SIGUSR1)
        except OSError:
            pass
    time.sleep(0.2)
    for child in hung:
        position = children.index(child)
        try:
            with open(os.path.join(dumps, f"{position}.txt")) as f:
                stack = f.read().strip()
        except OSError:
            stack = ""
        from racekit.runtime.pool import clean_fault_dump

        if finished[position]:
            stack = EXIT_WAIT.format(name=child.name)
        else:
            stack = clean_fault_dump(stack) or "(no stack)"
        parts.append(f'Process "{child.name}" (pid {child.pid}):\n{stack}')
    return "\n".join(parts)
