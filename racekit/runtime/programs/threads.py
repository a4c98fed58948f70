"""A YAML case compiled for execution in a worker process.

Code is compiled with the case file as its file name and the file's line
numbers, so tracebacks and deadlock stacks show the YAML lines the student
wrote. Each trial gets a fresh namespace: builtins, the pre-imported modules,
the params, then whatever ``setup`` defines.
"""

from __future__ import annotations

import ast
import builtins
import importlib.machinery
import os
import queue
import random
import sys
import threading
import time
import types
from typing import Any

from racekit.case.model import THREAD_FUNCTION, Source, Variant, thread_function
from racekit.options import ModeSpec
from racekit.runtime import modes
from racekit.runtime.forcing import Scope
from racekit.runtime.hooks import PlainHooks
from racekit.runtime.instrument import instrument_setup, instrument_thread, module_level_names, written_globals
from racekit.runtime.judging import CaseFailure, Prepared, judge_against
from racekit.runtime.trial import Program


class CaseProgram(Program):
    def __init__(self, variant: Variant, forcing: Any, setup: types.CodeType | None,
                 threads: list[tuple[str, int, types.CodeType]], outcome: Any,
                 check: types.CodeType | None, target: types.CodeType | None):
        super().__init__(variant, forcing)
        self.setup = setup
        self.threads = threads  # (instance name, thread_index, function code)
        self.outcome = outcome  # code, or {name: code}
        self.check = check
        self.target = target  # X of a `check: outcome == X`, for lost-update bounds

    @classmethod
    def compile(cls, variant: Variant, mode: ModeSpec, roots: tuple[str, ...] = ()) -> CaseProgram:
        case_dir = os.path.dirname(os.path.abspath(variant.path))
        if case_dir not in sys.path:
            sys.path.insert(0, case_dir)  # `setup: from bank import Account`
        setup_tree = variant.setup.parse("exec") if variant.setup else None
        thread_trees = [thread_function(spec.code) for spec in variant.threads]
        if mode.instrumented:
            # Every shared access becomes a visible operation (racekit.runtime.instrument).
            shared = written_globals([t for t in (setup_tree, *thread_trees) if t is not None])
            # Names the case's namespace binds (a param may be called `max`): not the builtins.
            names = frozenset(variant.params) | PRE_IMPORTED | (
                module_level_names(setup_tree) if setup_tree is not None else frozenset())
            setup_tree = instrument_setup(setup_tree, shared, names) if setup_tree is not None else None
            thread_trees = [instrument_thread(tree, shared, names) for tree in thread_trees]
        setup = compile(setup_tree, variant.path, "exec", dont_inherit=True) if setup_tree is not None else None
        threads = []
        for spec, tree in zip(variant.threads, thread_trees):
            module = compile(tree, spec.code.path, "exec", dont_inherit=True)
            function_code = next(c for c in module.co_consts if isinstance(c, types.CodeType) and c.co_name == THREAD_FUNCTION)
            # Tracebacks and deadlock stacks then say "in depositor".
            label = spec.name if spec.name.isidentifier() else f"thread {spec.name}"
            function_code = _renamed(function_code, label)
            for index, name in enumerate(spec.instance_names()):
                threads.append((name, index, function_code))
        assert variant.outcome is not None
        if isinstance(variant.outcome, dict):
            outcome: Any = {k: _compile(v, "eval") for k, v in variant.outcome.items()}
        else:
            outcome = _compile(variant.outcome, "eval")
        check = _compile(variant.expect.check, "eval") if variant.expect.check else None
        target = _compile_target(variant.expect.check) if variant.expect.check else None
        codes = [c for c in (setup, check, target) if c] + [t[2] for t in threads]
        codes += list(outcome.values()) if isinstance(outcome, dict) else [outcome]
        forcing = modes.mode(mode.name).make_forcing(mode, Scope(codes, [case_dir, *roots], variant.instrument))
        return cls(variant, forcing, setup, threads, outcome, check, target)

    def prepare(self, seed: int, modules: dict[str, Any] | None = None) -> Prepared:
        ns = self._namespace(seed, modules)
        if self.setup is not None:
            try:
                exec(self.setup, ns)
            except BaseException as exc:  # noqa: BLE001 - anything the case raises is a result
                raise CaseFailure("setup", exc) from None
        threads = []
        for name, thread_index, code in self.threads:
            function = types.FunctionType(code, ns, name.replace("-", "_"))
            threads.append((name, _bind(function, thread_index, name)))
        return Prepared(
            threads=threads,
            outcome=lambda: self._outcome(ns),
            judge=lambda outcome: self._judge(outcome, ns),
            target=(lambda: eval(self.target, ns)) if self.target is not None else (lambda: None),
            namespace=ns,
        )

    def _namespace(self, seed: int, modules: dict[str, Any] | None) -> dict[str, Any]:
        random.seed(seed)  # case code that uses `random` replays with the trial's seed
        # A real module, registered, so that what setup defines pickles by
        # reference (a Pool task, an object put on a multiprocessing.Queue).
        module = types.ModuleType(CASE_MODULE)
        # A spec and a loader, as any module has (linecache asks for them, 3.15 warns without).
        module.__spec__ = importlib.machinery.ModuleSpec(CASE_MODULE, _CASE_LOADER)
        module.__loader__ = _CASE_LOADER
        sys.modules[CASE_MODULE] = module
        ns: dict[str, Any] = module.__dict__
        ns.update({
            "__builtins__": builtins,
            "threading": threading,
            "queue": queue,
            "time": time,
        })
        ns.update(modules or {})
        if self.forcing.spec.instrumented:
            ns["__racekit__"] = PlainHooks(ns)  # until the trial's threads start
        ns.update(self.variant.params)
        return ns

    def _outcome(self, ns: dict[str, Any]) -> Any:
        if isinstance(self.outcome, dict):
            return {name: eval(code, ns) for name, code in self.outcome.items()}
        return in_expected_order(eval(self.outcome, ns), self.variant.expect.values)

    def _judge(self, outcome: Any, ns: dict[str, Any]) -> int | bool:
        expect = self.variant.expect
        if expect.kind == "check":
            assert self.check is not None
            bound = dict(ns)
            if isinstance(outcome, dict):
                bound.update(outcome)
            bound["outcome"] = outcome
            return bool(eval(self.check, bound))
        return judge_against(expect.values, outcome)


# What every case's namespace holds before its setup runs.
PRE_IMPORTED = frozenset({"threading", "queue", "time"})


# A name inside racekit: a process that lacks the module (one the case's own
# code started with spawn or forkserver) imports racekit/_case.py instead,
# which says why it cannot run the case's code (racekit.runtime.startmethod).
CASE_MODULE = "racekit._case"


class _CaseLoader:
    """The case module's loader: it is built from the YAML, so it has no source file to give."""

    @staticmethod
    def get_source(name: str) -> None:
        return None


_CASE_LOADER = _CaseLoader()


def _bind(function: types.FunctionType, thread_index: int, name: str) -> Any:
    return lambda: function(thread_index, name)


def _renamed(code: types.CodeType, name: str) -> types.CodeType:
    if hasattr(code, "co_qualname"):  # 3.11+
        return code.replace(co_name=name, co_qualname=name)
    return code.replace(co_name=name)


def _compile_target(check: Source) -> types.CodeType | None:
    """For ``outcome == X`` (or ``X == outcome``), the code of X: the number the
    outcome should have been, so a check still yields a lost-update bound."""
    tree = check.parse("eval")
    body = tree.body  # type: ignore[attr-defined]
    if isinstance(body, ast.Compare) and len(body.ops) == 1 and isinstance(body.ops[0], ast.Eq):
        left, right = body.left, body.comparators[0]
        other = right if _is_outcome(left) else left if _is_outcome(right) else None
        if other is not None:
            return compile(ast.Expression(other), check.path, "eval", dont_inherit=True)
    return None


def _is_outcome(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "outcome"


def _compile(source: Source, mode: str) -> types.CodeType:
    return compile(source.parse(mode), source.path, mode, dont_inherit=True)  # type: ignore[arg-type]


def in_expected_order(outcome: Any, expected: tuple[Any, ...]) -> Any:
    """A dict outcome with its keys in the order the case's ``expect`` names them
    (the rest sorted after): threads fill a shared dict in whatever order they
    ran, and one outcome must not become several histogram rows."""
    if not isinstance(outcome, dict):
        return outcome
    order = next((list(e) for e in expected if isinstance(e, dict)), [])
    rank = {key: i for i, key in enumerate(order)}
    try:
        keys = sorted(outcome, key=lambda k: (rank.get(k, len(rank)), k))
    except TypeError:  # keys that do not compare (1 and "a"): order by their text
        keys = sorted(outcome, key=lambda k: (rank.get(k, len(rank)), repr(k)))
    return {key: outcome[key] for key in keys}
