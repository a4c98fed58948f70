"""Rewrite case code so that every access to shared state is a visible operation.

``controlled`` and ``yield`` modes need to know, and to choose, what happens
between two threads' accesses to shared state. This module rewrites the AST of
a case's thread bodies and of the functions and methods its setup (or a module
in scope) defines, so that each such access first *announces* itself to
``__racekit__`` (:mod:`racekit.runtime.hooks`), which may make it a scheduling
point and log it, and then happens exactly as written, in the program's own
frame:

- ``obj.attr`` becomes ``__racekit__.at(obj, "attr", LINE).attr``, and
  ``obj.attr = v`` becomes ``__racekit__.st(obj, "attr", LINE).attr = v``: the
  hook receives the object and returns it; the load or store itself is still
  Python's. Private names (``self.__size``) are mangled by the compiler as in
  the plain program; the name the hook is told is mangled the same way;
- ``seq[key]`` becomes ``__racekit__.co(seq)[__racekit__.ik(key, LINE)]``
  (``sk`` for a store, ``dk`` for ``del``): ``co`` tells the hook which object
  the key that follows belongs to;
- ``obj.method(args)`` becomes ``__racekit__.me(obj, "method", LINE).method(args)``:
  calling a shared container's method is one step, taken once every argument
  is evaluated (``la`` marks the last one when an argument may itself touch
  shared state); ``rv`` hands the hook the result of a container method
  whose result a trace shows (``items.pop() → 3``);
- a global name some thread writes (``global counter``) is read as
  ``(__racekit__.gr("counter", LINE) or counter)`` and written after
  ``__racekit__.gw("counter", LINE)``;
- ``x.v += 1`` is split into its read and its write, so that another thread
  can run in between: the very lost update the case demonstrates; the write is
  marked as an *update* (computed from the read), as is ``x.v = x.v + 1``.
  The statement stays Python's own: ``ar`` announces the read as the target
  is loaded, ``aw`` the write once the right-hand side is evaluated, and the
  in-place operation and store are Python's;
- what reads a shared object without an attribute or subscript load is
  announced too: ``k in d``, truth tests and comparisons (``tc``), ``len(xs)``
  and other builtins that read a container (``lk``), iteration (``it``: creating
  the iterator and each ``next()`` are steps, as they are in CPython).

The hooks never run the program's code (no getter, no ``__getattr__``, no
``__eq__``): whether ``obj.attr`` is shared data or a property is decided by
looking at the classes' dictionaries (:mod:`racekit.runtime.peek`). So each
expression is evaluated once, in Python's order, and the program sees its own
frames: ``sys._getframe``, tracebacks, ``warnings`` stack levels and the
recursion limit are as in the plain program.

Locals are never instrumented: a thread's own variables cannot race (the lesson
of ``local_vs_shared.yaml``). Module-level code and class bodies run as
written; so do annotations (``from __future__ import annotations`` turns them
into strings) and ``match`` patterns.
"""

from __future__ import annotations

import ast
import copy
import builtins
from dataclasses import dataclass
from typing import Iterable

HOOK = "__racekit__"
# Builtins that look at their caller's frame: they must be called directly.
_FRAME_BUILTINS = {"super", "locals", "globals", "vars", "dir", "eval", "exec", "breakpoint", "__import__"}
# Builtins whose first argument they read as a whole (``len(shelf)``): that read is a step.
READING_BUILTINS = frozenset({"len", "sum", "max", "min", "sorted", "list", "tuple", "set", "frozenset", "dict",
                              "any", "all", "iter", "enumerate", "zip", "reversed", "map", "filter", "str", "repr"})
_BUILTIN_NAMES = frozenset(dir(builtins))
# Container methods whose result a trace shows (``items.pop() → 3``).
# A dict's methods that read one key's slot (``setdefault`` may also fill it).
KEYED_METHODS = frozenset({"get", "setdefault"})
RESULT_METHODS = frozenset({"pop", "popleft", "popitem", "get", "setdefault", "index", "count", "copy", "keys",
                            "values", "items", "most_common", "__len__", "__contains__", "__getitem__"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# The hidden local of a split assignment to a shared global: not an identifier,
# so no program uses it.
_VALUE = "@v"


def written_globals(trees: Iterable[ast.AST]) -> frozenset[str]:
    """Global names some function declares ``global`` and assigns: shared and mutable."""
    names: set[str] = set()
    for tree in trees:
        for function in (n for n in ast.walk(tree) if isinstance(n, _FUNCTIONS[:2])):
            declared = {name for stmt in _own_nodes(function) if isinstance(stmt, ast.Global) for name in stmt.names}
            names |= declared & _stored_names(function)
    return frozenset(names)


def instrument_thread(module: ast.Module, shared_globals: frozenset[str],
                      module_names: frozenset[str] = frozenset()) -> ast.Module:
    """A thread function module (see :func:`racekit.case.model.thread_function`), rewritten."""
    return ast.fix_missing_locations(_Rewriter(shared_globals, module_names).visit(module))


def instrument_setup(module: ast.Module, shared_globals: frozenset[str],
                     module_names: frozenset[str] | None = None) -> ast.Module:
    """Setup code (or a module) with the bodies of its functions and methods rewritten."""
    names = _stored_names(module) if module_names is None else module_names
    rewriter = _Rewriter(shared_globals, frozenset(names))
    module.body = [rewriter.visit(stmt) if _defines_functions(stmt) else stmt for stmt in module.body]
    return ast.fix_missing_locations(module)


def module_level_names(tree: ast.AST) -> frozenset[str]:
    """The names a module's own code binds (a builtin one of them shadows is not the builtin)."""
    return frozenset(_stored_names(tree))


def _defines_functions(stmt: ast.stmt) -> bool:
    return any(isinstance(n, _FUNCTIONS) for n in ast.walk(stmt))


def mangle(name: str, class_name: str | None) -> str:
    """``__size`` as the compiler spells it inside ``class Cache`` (``_Cache__size``)."""
    if class_name is None or not name.startswith("__") or name.endswith("__") or "." in name:
        return name
    stripped = class_name.lstrip("_")
    return f"_{stripped}{name}" if stripped else name


@dataclass
class _Scope:
    locals: set[str]
    declared_global: set[str]
    parent: _Scope | None = None

    def is_local_somewhere(self, name: str) -> bool:
        """Local here or in an enclosing function (a closure variable)."""
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.declared_global:
                return False
            if name in scope.locals:
                return True
            scope = scope.parent
        return False


class _Rewriter(ast.NodeTransformer):
    """Rewrites inside function scopes only; module-level statements and class bodies are left alone."""

    def __init__(self, shared_globals: frozenset[str], module_names: frozenset[str] = frozenset()):
        self.shared = shared_globals
        self.module_names = module_names
        self.scope: _Scope | None = None
        self.class_name: str | None = None  # the class whose private names the code mangles
        self.unpacked = 0  # tuple targets split so far (their hidden locals are numbered)

    # -- scopes -----------------------------------------------------------------

    def _enter(self, node: ast.AST, params: set[str]) -> _Scope:
        declared = {name for stmt in _own_nodes(node) if isinstance(stmt, (ast.Global, ast.Nonlocal))
                    for name in stmt.names}
        glob = {name for stmt in _own_nodes(node) if isinstance(stmt, ast.Global) for name in stmt.names}
        scope = _Scope((params | _stored_names(node)) - declared | (declared - glob), glob, self.scope)
        self.scope = scope
        return scope

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        # Decorators and defaults run in the enclosing scope; annotations are never touched.
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        self._defaults(node.args)
        scope = self._enter(node, _params(node.args))
        try:
            node.body = self._statements(node.body)
        finally:
            self.scope = scope.parent
        return node

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self._defaults(node.args)
        scope = self._enter(node, _params(node.args))
        try:
            node.body = self.visit(node.body)
        finally:
            self.scope = scope.parent
        return node

    def _defaults(self, args: ast.arguments) -> None:
        args.defaults = [self.visit(d) for d in args.defaults]
        args.kw_defaults = [self.visit(d) if d is not None else None for d in args.kw_defaults]

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        # A class body is not a function scope: only its methods are rewritten.
        outer, outer_class = self.scope, self.class_name
        self.scope, self.class_name = None, node.name
        try:
            node.body = [self.visit(stmt) if _defines_functions(stmt) else stmt for stmt in node.body]
        finally:
            self.scope, self.class_name = outer, outer_class
        return node

    def _comprehension(self, node: ast.AST) -> ast.AST:
        if self.scope is None:
            return node
        targets = {n.id for gen in node.generators for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
        scope = _Scope(targets, set(), self.scope)
        self.scope = scope
        try:
            return self.generic_visit(node)
        finally:
            self.scope = scope.parent

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def _statements(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in body:
            result = self.visit(stmt)
            out.extend(result if isinstance(result, list) else [result])
        return out

    def generic_visit(self, node: ast.AST) -> ast.AST:
        # Statement lists may grow (an augmented assignment becomes several).
        for name, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt) and self.scope is not None:
                setattr(node, name, self._statements(value))
            elif isinstance(value, list):
                setattr(node, name, [self.visit(v) if isinstance(v, ast.AST) else v for v in value])
            elif isinstance(value, ast.AST):
                setattr(node, name, self.visit(value))
        return node

    # -- what is never rewritten ------------------------------------------------------

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return node  # its annotation: a type, never shared state (and a string under PEP 563)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | list[ast.stmt]:
        if node.value is not None:
            node.value = self.visit(node.value)
        if self.scope is not None and node.value is not None and isinstance(node.target, (ast.Attribute, ast.Subscript)):
            return self.visit_Assign(_at(ast.Assign(targets=[node.target], value=node.value), node), visited=True)
        return node

    def visit_match_case(self, node: ast.match_case) -> ast.AST:
        # Patterns (``case Color.RED:``) must stay dotted names and literals.
        if node.guard is not None:
            node.guard = self._test(self.visit(node.guard))
        node.body = self._statements(node.body) if self.scope is not None else node.body
        return node

    # -- reads --------------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if self._shared_global(node.id) and isinstance(node.ctx, ast.Load):
            announce = _hook("gr", [ast.Constant(self._mangled(node.id)), _line(node)], node)
            return ast.copy_location(ast.BoolOp(op=ast.Or(), values=[announce, node]), node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        node.value = self.visit(node.value)
        if self.scope is None or not isinstance(node.ctx, ast.Load):
            return node
        node.value = _hook("at", [node.value, ast.Constant(self._mangled(node.attr)), _line(node)], node)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        node.value = self.visit(node.value)
        node.slice = self.visit(node.slice)
        if self.scope is None or not isinstance(node.ctx, ast.Load):
            return node
        node.value = _hook("co", [node.value], node)
        node.slice = _hook("ik", [self._key(node.slice), _line(node)], node)
        # The value read, for the trace: handed over once Python has read it.
        return ast.copy_location(_hook("iv", [node], node), node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if isinstance(node.func, ast.Attribute):
            return self._method_call(node)
        node.func = self.visit(node.func)
        node.args = [self.visit(a) for a in node.args]
        node.keywords = [self.visit(k) for k in node.keywords]
        if self.scope is None or not isinstance(node.func, ast.Name):
            return node
        name = node.func.id
        local = self.scope.is_local_somewhere(name)
        if name in _FRAME_BUILTINS and not local:
            return node
        if name in _BUILTIN_NAMES and name not in self.module_names and not local:
            if name in READING_BUILTINS and node.args and not isinstance(node.args[0], ast.Starred):
                # `len(shelf)`: one step that reads the container, once it is evaluated.
                node.args[0] = _hook("lk", [node.args[0], _line(node), ast.Constant(f"{name}()")], node.args[0])
            return node
        # `helper()`, `kind(x)` (a local holding a library's callable): the hook
        # notes, at run time, Python code racekit cannot see into.
        node.func = _hook("fn", [node.func, _line(node)], node.func)
        return node

    def _method_call(self, node: ast.Call) -> ast.AST:
        func = node.func
        assert isinstance(func, ast.Attribute)
        func.value = self.visit(func.value)
        node.args = [self.visit(a) for a in node.args]
        node.keywords = [self.visit(k) for k in node.keywords]
        if self.scope is None:
            return node
        # `items.pop()` on a shared container is one step, taken when the call is
        # about to happen: at once when no argument can touch shared state, else
        # when the last argument has been evaluated (`la`).
        now = all(_inert(a) for a in [*node.args, *(k.value for k in node.keywords)])
        arguments = [func.value, ast.Constant(self._mangled(func.attr)), _line(node)]
        if now and func.attr in KEYED_METHODS and node.args and not isinstance(node.args[0], ast.Starred):
            # `counts.get("k", 0)`: the key too (a constant or a local, read twice
            # at no cost), so that the read is of counts["k"], the slot a later
            # `counts["k"] = …` writes: a read-modify-write the analysis can see.
            func.value = _hook("me", [*arguments, ast.Constant(True), copy.deepcopy(node.args[0])], node)
        elif now:
            func.value = _hook("me", [*arguments, ast.Constant(True)], node)
        else:
            func.value = _hook("me", arguments, node)
            _mark_last_argument(node)
        if func.attr in RESULT_METHODS:
            return _hook("rv", [node], node)
        return node

    # -- reads without a load: membership, iteration, truth ------------------------

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        node = self.generic_visit(node)  # type: ignore[assignment]
        if self.scope is None:
            return node
        operands = [node.left, *node.comparators]
        # Only what no hook reads already: a name bound to a shared container
        # (`k in d`, `items == []`); `k in self.d` reads `self.d` at its own step.
        touched = [self._touch(o) if _is_reference(o) else o for o in operands]
        node.left, node.comparators = touched[0], touched[1:]
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        node.iter = self._wrap("it", self.visit(node.iter))
        node.target = self._store_target(node.target)
        node.body = self._statements(node.body)
        node.orelse = self._statements(node.orelse)
        return node

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.AST:
        node.iter = self.visit(node.iter)  # an async iterable: never a container
        node.target = self._store_target(node.target)
        node.body = self._statements(node.body)
        node.orelse = self._statements(node.orelse)
        return node

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        node.iter = self.visit(node.iter) if node.is_async else self._wrap("it", self.visit(node.iter))
        node.target = self._visit_target(node.target)
        node.ifs = [self._test(self.visit(i)) for i in node.ifs]
        return node

    def _tested(self, node: ast.AST) -> ast.AST:
        node = self.generic_visit(node)
        node.test = self._test(node.test)  # type: ignore[attr-defined]
        return node

    visit_If = visit_While = visit_IfExp = visit_Assert = _tested

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        node = self.generic_visit(node)  # type: ignore[assignment]
        node.values = [self._test(v) for v in node.values]
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        node = self.generic_visit(node)  # type: ignore[assignment]
        if isinstance(node.op, ast.Not):
            node.operand = self._test(node.operand)
        return node

    def _test(self, node: ast.expr) -> ast.expr:
        """``if items:`` reads the list's length."""
        return self._touch(node) if _is_reference(node) else node

    def _touch(self, node: ast.expr) -> ast.expr:
        return self._wrap("tc", node)

    def _wrap(self, method: str, node: ast.expr) -> ast.expr:
        if self.scope is None or isinstance(node, ast.Constant):
            return node
        return _hook(method, [node, _line(node)], node)

    # -- writes -------------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign, visited: bool = False) -> ast.AST | list[ast.stmt]:
        # `x.v = x.v + 1` is an update like `x.v += 1`: its write is computed from its read.
        update = len(node.targets) == 1 and _reads_target(node.value, node.targets[0])
        if not visited:
            node.value = self.visit(node.value)
        if self.scope is None:
            node.targets = [self._visit_target(t) for t in node.targets]
            return node
        if not any(self._has_shared_name(t) for t in node.targets):
            # Each target announces itself as Python reaches it: after the value.
            node.targets = [self._store_target(t, update) for t in node.targets]
            return node
        # A shared global among the targets: its write needs a statement of its own.
        out: list[ast.stmt] = [_at(ast.Assign(targets=[_store(_VALUE)], value=node.value), node)]
        for target in node.targets:
            out.extend(self._assign(target, _load(_VALUE), node, update))
        out.append(_at(ast.Delete(targets=[_del(_VALUE)]), node))
        return out

    def _assign(self, target: ast.expr, value: ast.expr, where: ast.AST, update: bool) -> list[ast.stmt]:
        """``target = value`` as statements, each shared global written after its announcement."""
        if isinstance(target, ast.Name) and self._shared_global(target.id):
            announce = _hook("gw", [ast.Constant(self._mangled(target.id)), _line(where), ast.Constant(update)], where)
            return [_at(ast.Expr(announce), where), _at(ast.Assign(targets=[target], value=value), where)]
        if isinstance(target, (ast.Tuple, ast.List)) and self._has_shared_name(target):
            self.unpacked += 1
            parts = [f"@t{self.unpacked}_{i}" for i in range(len(target.elts))]
            holders = [ast.Starred(_store(p), ast.Store()) if isinstance(e, ast.Starred) else _store(p)
                       for e, p in zip(target.elts, parts)]
            out: list[ast.stmt] = [_at(ast.Assign(targets=[ast.Tuple(holders, ast.Store())], value=value), where)]
            for element, part in zip(target.elts, parts):
                inner = element.value if isinstance(element, ast.Starred) else element
                out.extend(self._assign(inner, _load(part), where, False))
            out.append(_at(ast.Delete(targets=[_del(p) for p in parts]), where))
            return out
        return [_at(ast.Assign(targets=[self._store_target(target, update)], value=value), where)]

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST | list[ast.stmt]:
        """``x.v += 1`` stays one statement, Python's own, with its read announced
        before its target is loaded and its write once the right-hand side has
        been evaluated (``aw``): another thread may run in between, which is the
        very lost update a case demonstrates. No hidden local, no second
        evaluation of the target; the in-place operation is Python's."""
        target = node.target
        node.value = self.visit(node.value)
        if self.scope is None or not self._instrumented_target(target):
            node.target = self._visit_target(target)
            return node
        line = _line(node)
        if isinstance(target, ast.Name):
            name = ast.Constant(self._mangled(target.id))
            node.value = _hook("aw", [node.value, line], node.value)
            announce = _at(ast.Expr(_hook("ga", [name, line], node)), node)
            return [announce, node]
        if isinstance(target, ast.Attribute):
            target.value = _hook("ar", [self.visit(target.value), ast.Constant(self._mangled(target.attr)), line],
                                 target)
        else:
            assert isinstance(target, ast.Subscript)
            target.value = _hook("co", [self.visit(target.value)], target)
            target.slice = _hook("ak", [self._key(self.visit(target.slice)), line], target)
        node.value = _hook("aw", [node.value, line], node.value)
        return node

    def visit_Delete(self, node: ast.Delete) -> ast.AST | list[ast.stmt]:
        if self.scope is None:
            return node
        out: list[ast.stmt] = []
        targets: list[ast.expr] = []
        for target in node.targets:
            if isinstance(target, ast.Attribute):
                target.value = _hook("dl", [self.visit(target.value), ast.Constant(self._mangled(target.attr)),
                                            _line(node)], node)
                targets.append(target)
            elif isinstance(target, ast.Subscript):
                target.value = _hook("co", [self.visit(target.value)], node)
                target.slice = _hook("dk", [self._key(self.visit(target.slice)), _line(node)], node)
                targets.append(target)
            elif isinstance(target, ast.Name) and self._shared_global(target.id):
                if targets:
                    out.append(_at(ast.Delete(targets=targets), node))
                    targets = []
                out.append(_at(ast.Expr(_hook("gd", [ast.Constant(self._mangled(target.id)), _line(node)], node)),
                               node))
                out.append(_at(ast.Delete(targets=[target]), node))
            else:
                targets.append(self._visit_target(target))
        if targets:
            out.append(_at(ast.Delete(targets=targets), node))
        return out

    def _store_target(self, target: ast.expr, update: bool = False) -> ast.expr:
        """A store target that announces itself as Python reaches it."""
        if self.scope is None:
            return self._visit_target(target)
        if isinstance(target, ast.Attribute):
            extra = [ast.Constant(True)] if update else []
            target.value = _hook("st", [self.visit(target.value), ast.Constant(self._mangled(target.attr)),
                                        _line(target), *extra], target)
            return target
        if isinstance(target, ast.Subscript):
            extra = [ast.Constant(True)] if update else []
            target.value = _hook("co", [self.visit(target.value)], target)
            target.slice = _hook("sk", [self._key(self.visit(target.slice)), _line(target), *extra], target)
            return target
        if isinstance(target, (ast.Tuple, ast.List)):
            target.elts = [self._store_target(e) for e in target.elts]
            return target
        if isinstance(target, ast.Starred):
            target.value = self._store_target(target.value)
            return target
        return target

    def _visit_target(self, target: ast.expr) -> ast.expr:
        # Keep the target a target; only the expressions inside it are rewritten.
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            target.value = self.visit(target.value)
            if isinstance(target, ast.Subscript):
                target.slice = self.visit(target.slice)
        elif isinstance(target, (ast.Tuple, ast.List)):
            target.elts = [self._visit_target(e) for e in target.elts]
        elif isinstance(target, ast.Starred):
            target.value = self._visit_target(target.value)
        return target

    def _instrumented_target(self, target: ast.expr) -> bool:
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            return True
        return isinstance(target, ast.Name) and self._shared_global(target.id)

    def _has_shared_name(self, target: ast.expr) -> bool:
        if isinstance(target, ast.Name):
            return self._shared_global(target.id)
        if isinstance(target, (ast.Tuple, ast.List)):
            return any(self._has_shared_name(e) for e in target.elts)
        if isinstance(target, ast.Starred):
            return self._has_shared_name(target.value)
        return False

    def _shared_global(self, name: str) -> bool:
        return self.scope is not None and name in self.shared and not self.scope.is_local_somewhere(name)

    def _mangled(self, name: str) -> str:
        return mangle(name, self.class_name)

    def _key(self, node: ast.expr) -> ast.expr:
        """A subscript's key as a value: ``a[1:2]`` indexes with ``slice(1, 2, None)``."""
        if isinstance(node, ast.Slice):
            parts = [p if p is not None else ast.Constant(None) for p in (node.lower, node.upper, node.step)]
            return _hook("sl", parts, node)
        if isinstance(node, ast.Tuple) and any(isinstance(e, ast.Slice) for e in node.elts):
            return ast.copy_location(ast.Tuple([self._key(e) for e in node.elts], ast.Load()), node)
        return node


def _hook(method: str, args: list[ast.expr], where: ast.AST) -> ast.Call:
    func = ast.Attribute(value=ast.Name(HOOK, ast.Load()), attr=method, ctx=ast.Load())
    return ast.copy_location(ast.Call(func=func, args=args, keywords=[]), where)


def _line(node: ast.AST) -> ast.Constant:
    return ast.Constant(getattr(node, "lineno", 0))


def _mark_last_argument(call: ast.Call) -> None:
    """Wrap the argument Python evaluates last (keywords come after positionals) in ``la``."""
    if call.keywords:
        keyword = call.keywords[-1]
        keyword.value = _hook("la", [keyword.value], keyword.value)
    elif isinstance(call.args[-1], ast.Starred):
        starred = call.args[-1]
        starred.value = _hook("la", [starred.value], starred.value)
    else:
        call.args[-1] = _hook("la", [call.args[-1]], call.args[-1])


def _inert(node: ast.expr) -> bool:
    """An argument whose evaluation touches no shared state and runs no code
    (a constant, a local name): announcing the call before it changes nothing."""
    if isinstance(node, ast.Starred):
        node = node.value
    return isinstance(node, ast.Constant) or (isinstance(node, ast.Name) and not node.id.startswith("@"))


def _is_reference(node: ast.expr) -> bool:
    """An expression that may evaluate to a shared object itself (not a computed value)."""
    return isinstance(node, (ast.Name, ast.Attribute, ast.Subscript))


def _reads_target(value: ast.expr, target: ast.expr) -> bool:
    """Whether ``value`` loads the very expression ``target`` stores (``x.v = x.v + 1``)."""
    if not isinstance(target, (ast.Name, ast.Attribute, ast.Subscript)):
        return False
    shape = _shape(target)
    if any(type(n) is type(target) and isinstance(getattr(n, "ctx", None), ast.Load) and _shape(n) == shape
           for n in ast.walk(value)):
        return True
    # `d[k] = d.get(k, 0) + 1`, `d[k] = d.setdefault(k, 0) + 1`: the same slot, read through a method.
    return isinstance(target, ast.Subscript) and any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in KEYED_METHODS
        and n.args and _shape(n.func.value) == _shape(target.value) and _shape(n.args[0]) == _shape(target.slice)
        for n in ast.walk(value))


def _shape(node: object) -> object:
    """A node's structure without its load/store context, for comparing a target
    with the expressions that read it. (Not ``ast.dump``: CPython 3.15 leaves a
    default ``ctx=Load()`` out of it, so a dump's text changes with the version.)"""
    if isinstance(node, ast.AST):
        return type(node).__name__, tuple(_shape(getattr(node, f, None)) for f in node._fields if f != "ctx")
    if isinstance(node, list):
        return tuple(_shape(item) for item in node)
    return node


def _at(stmt: ast.stmt, where: ast.AST) -> ast.stmt:
    return ast.copy_location(stmt, where)


def _load(name: str) -> ast.Name:
    return ast.Name(name, ast.Load())


def _store(name: str) -> ast.Name:
    return ast.Name(name, ast.Store())


def _del(name: str) -> ast.Name:
    return ast.Name(name, ast.Del())


def _params(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


def _own_nodes(scope: ast.AST) -> Iterable[ast.AST]:
    """Nodes of a scope's body, not descending into nested scopes."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (*_FUNCTIONS, ast.ClassDef, *_COMPREHENSIONS)):
            stack.extend(ast.iter_child_nodes(node))


def _stored_names(scope: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in _own_nodes(scope):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names
