"""Rewrite case code so that every access to shared state is a visible operation.

``controlled`` and ``yield`` modes need to know, and to choose, what happens
between two threads' accesses to shared state. This module rewrites the AST of
a case's thread bodies and of the functions and methods its setup defines:

- ``obj.attr`` (a read) becomes ``__racekit__.get(obj, "attr", LINE)``,
  ``obj.attr = v`` becomes ``__racekit__.set(obj, "attr", v, LINE)``;
- ``seq[key]`` reads and writes become ``getitem`` / ``setitem``;
- a global name that some thread writes (``global counter``) is read with
  ``gget`` and written with ``gset``;
- ``x.v += 1`` is split into its read and its write, so that another thread
  can run in between: the very lost update the case demonstrates; the write is
  marked as an *update* (computed from the read), as is ``x.v = x.v + 1``;
- what reads a shared object without an attribute or subscript load is a
  visible operation too: ``k in d``, ``len(xs)`` and other builtins over shared
  containers (``fcall``), iteration (``iterate``, one step per item), truth
  tests and comparisons (``touch``). Between any two operations of a thread
  that touch shared state there is then a scheduling decision.

Locals are never instrumented: a thread's own variables cannot race (the lesson
of ``local_vs_shared.yaml``). Method lookups (``lock.acquire``), module
attributes and globals no thread writes are not visible operations either:
they cannot take part in a race between the case's threads. Module-level setup
code runs before any thread starts, so it stays as written. The rewrite keeps
Python's evaluation order, so the code behaves exactly as before.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Iterable

HOOK = "__racekit__"
# Builtins that look at their caller's frame: they must be called directly.
_FRAME_BUILTINS = {"super", "locals", "globals", "vars", "dir", "eval", "exec", "breakpoint", "__import__"}
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def written_globals(trees: Iterable[ast.AST]) -> frozenset[str]:
    """Global names some function declares ``global`` and assigns: shared and mutable."""
    names: set[str] = set()
    for tree in trees:
        for function in (n for n in ast.walk(tree) if isinstance(n, _FUNCTIONS[:2])):
            declared = {name for stmt in _own_nodes(function) if isinstance(stmt, ast.Global) for name in stmt.names}
            names |= declared & _stored_names(function)
    return frozenset(names)


def instrument_thread(module: ast.Module, shared_globals: frozenset[str]) -> ast.Module:
    """A thread function module (see :func:`racekit.case.model.thread_function`), rewritten."""
    return ast.fix_missing_locations(_Rewriter(shared_globals).visit(module))


def instrument_setup(module: ast.Module, shared_globals: frozenset[str]) -> ast.Module:
    """Setup code with the bodies of its functions and methods rewritten."""
    rewriter = _Rewriter(shared_globals)
    module.body = [rewriter.visit(stmt) if _defines_functions(stmt) else stmt for stmt in module.body]
    return ast.fix_missing_locations(module)


def _defines_functions(stmt: ast.stmt) -> bool:
    return any(isinstance(n, _FUNCTIONS) for n in ast.walk(stmt))


@dataclass
class _Scope:
    locals: set[str]
    declared_global: set[str]
    parent: _Scope | None = None
    temps: int = 0
    names: list[str] = field(default_factory=list)

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
    """Rewrites inside function scopes only; module-level statements are left alone."""

    def __init__(self, shared_globals: frozenset[str]):
        self.shared = shared_globals
        self.scope: _Scope | None = None

    # -- scopes -----------------------------------------------------------------

    def _enter(self, node: ast.AST, params: set[str]) -> _Scope:
        declared = {name for stmt in _own_nodes(node) if isinstance(stmt, (ast.Global, ast.Nonlocal))
                    for name in stmt.names}
        glob = {name for stmt in _own_nodes(node) if isinstance(stmt, ast.Global) for name in stmt.names}
        scope = _Scope((params | _stored_names(node)) - declared | (declared - glob), glob, self.scope)
        self.scope = scope
        return scope

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        node.args = self.visit(node.args)
        scope = self._enter(node, _params(node.args))
        try:
            node.body = self._statements(node.body)
        finally:
            self.scope = scope.parent
        return node

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        node.args = self.visit(node.args)
        scope = self._enter(node, _params(node.args))
        try:
            node.body = self.visit(node.body)
        finally:
            self.scope = scope.parent
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        # A class body is not a function scope: only its methods are rewritten.
        outer, self.scope = self.scope, None
        try:
            node.body = [self.visit(stmt) if _defines_functions(stmt) else stmt for stmt in node.body]
        finally:
            self.scope = outer
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

    # -- reads --------------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if self._shared_global(node.id) and isinstance(node.ctx, ast.Load):
            return _hook("gget", [ast.Constant(node.id)], node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        node.value = self.visit(node.value)
        if self.scope is None or not isinstance(node.ctx, ast.Load):
            return node
        return _hook("get", [node.value, ast.Constant(node.attr)], node)

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        node.value = self.visit(node.value)
        node.slice = self.visit(node.slice)
        if self.scope is None or not isinstance(node.ctx, ast.Load):
            return node
        return _hook("getitem", [node.value, _as_expression(node.slice)], node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        # `obj.method(...)`: looking the method up reads no shared data, but
        # calling a container's method (`items.pop()`) is one step of its own,
        # where another thread may run before or after: the hook decides at
        # run time whether `obj` is such a container.
        if isinstance(node.func, ast.Attribute):
            node.func.value = self.visit(node.func.value)
            node.args = [self.visit(a) for a in node.args]
            node.keywords = [self.visit(k) for k in node.keywords]
            if self.scope is None:
                return node
            hook = _hook("call", [node.func.value, ast.Constant(node.func.attr)], node)
            # call(obj, name, LINE, *args, **kwargs): the line goes before the arguments.
            hook.args = hook.args[:2] + [hook.args[2]] + node.args
            hook.keywords = node.keywords
            return hook
        node.func = self.visit(node.func)
        node.args = [self.visit(a) for a in node.args]
        node.keywords = [self.visit(k) for k in node.keywords]
        if (self.scope is not None and isinstance(node.func, ast.Name) and node.func.id not in _FRAME_BUILTINS
                and not self.scope.is_local_somewhere(node.func.id)):
            # `len(shelf)`, `helper()`: the hook decides at run time whether the
            # call reads a shared container, or runs code racekit cannot see.
            hook = _hook("fcall", [node.func], node)
            hook.args = hook.args + node.args
            hook.keywords = node.keywords
            return hook
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

    def _iterable(self, node: ast.AST) -> ast.AST:
        node.iter = self._wrap("iterate", self.visit(node.iter))  # type: ignore[attr-defined]
        node.target = self._visit_target(node.target)  # type: ignore[attr-defined]
        for name in ("body", "orelse"):
            if hasattr(node, name):
                setattr(node, name, self._statements(getattr(node, name)))
        if hasattr(node, "ifs"):
            node.ifs = [self._test(self.visit(i)) for i in node.ifs]  # type: ignore[attr-defined]
        return node

    visit_For = visit_AsyncFor = visit_comprehension = _iterable

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
        return self._wrap("touch", node)

    def _wrap(self, method: str, node: ast.expr) -> ast.expr:
        if self.scope is None or isinstance(node, ast.Constant):
            return node
        return _hook(method, [node], node)

    # -- writes -------------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> ast.AST | list[ast.stmt]:
        # `x.v = x.v + 1` is an update like `x.v += 1`: its write is computed from its read.
        update = len(node.targets) == 1 and _reads_target(node.value, node.targets[0])
        node.value = self.visit(node.value)
        if self.scope is None or not any(self._instrumented_target(t) for t in node.targets):
            node.targets = [self._visit_target(t) for t in node.targets]
            return node
        value = self._temp()
        out: list[ast.stmt] = [_at(ast.Assign(targets=[_store(value)], value=node.value), node)]
        for target in node.targets:
            out.extend(self._assign(target, _load(value), node, update))
        return out

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | list[ast.stmt]:
        if node.value is None or self.scope is None or not self._instrumented_target(node.target):
            return self.generic_visit(node)
        value = self.visit(node.value)
        return [*self._assign(node.target, value, node)]

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST | list[ast.stmt]:
        target = node.target
        if self.scope is None or not self._instrumented_target(target):
            node.value = self.visit(node.value)
            node.target = self._visit_target(target)
            return node
        out: list[ast.stmt] = []
        current = self._temp()
        if isinstance(target, ast.Name):
            read: ast.expr = _hook("gget", [ast.Constant(target.id)], node)
            write = lambda v: _hook("gset", [ast.Constant(target.id), v], node, update=True)  # noqa: E731
        elif isinstance(target, ast.Attribute):
            obj = self._temp()
            out.append(_at(ast.Assign(targets=[_store(obj)], value=self.visit(target.value)), node))
            read = _hook("get", [_load(obj), ast.Constant(target.attr)], node)
            write = lambda v: _hook("set", [_load(obj), ast.Constant(target.attr), v], node, update=True)  # noqa: E731
        else:
            assert isinstance(target, ast.Subscript)
            obj, key = self._temp(), self._temp()
            out.append(_at(ast.Assign(targets=[_store(obj)], value=self.visit(target.value)), node))
            out.append(_at(ast.Assign(targets=[_store(key)], value=_as_expression(self.visit(target.slice))), node))
            read = _hook("getitem", [_load(obj), _load(key)], node)
            write = lambda v: _hook("setitem", [_load(obj), _load(key), v], node, update=True)  # noqa: E731
        # Python's own order: the target is read before the right-hand side runs.
        out.append(_at(ast.Assign(targets=[_store(current)], value=read), node))
        combined = ast.BinOp(left=_load(current), op=node.op, right=self.visit(node.value))
        out.append(_at(ast.Assign(targets=[_store(current)], value=_inplace(combined)), node))
        out.append(_at(ast.Expr(write(_load(current))), node))
        return out

    def visit_Delete(self, node: ast.Delete) -> ast.AST | list[ast.stmt]:
        if self.scope is None:
            return node
        out: list[ast.stmt] = []
        for target in node.targets:
            if isinstance(target, ast.Attribute):
                out.append(_at(ast.Expr(_hook("delattr", [self.visit(target.value), ast.Constant(target.attr)], node)), node))
            elif isinstance(target, ast.Subscript):
                out.append(_at(ast.Expr(_hook("delitem", [self.visit(target.value),
                                                          _as_expression(self.visit(target.slice))], node)), node))
            else:
                out.append(_at(ast.Delete(targets=[target]), node))
        return out

    def _assign(self, target: ast.expr, value: ast.expr, where: ast.AST, update: bool = False) -> list[ast.stmt]:
        if isinstance(target, ast.Attribute):
            call = _hook("set", [self.visit(target.value), ast.Constant(target.attr), value], where, update)
            return [_at(ast.Expr(call), where)]
        if isinstance(target, ast.Subscript):
            call = _hook("setitem", [self.visit(target.value), _as_expression(self.visit(target.slice)), value], where,
                         update)
            return [_at(ast.Expr(call), where)]
        if isinstance(target, ast.Name) and self._shared_global(target.id):
            return [_at(ast.Expr(_hook("gset", [ast.Constant(target.id), value], where, update)), where)]
        if isinstance(target, (ast.Tuple, ast.List)) and not any(isinstance(e, ast.Starred) for e in target.elts):
            parts = [self._temp() for _ in target.elts]
            out: list[ast.stmt] = [_at(ast.Assign(targets=[ast.Tuple([_store(p) for p in parts], ast.Store())],
                                                  value=value), where)]
            for element, part in zip(target.elts, parts):
                out.extend(self._assign(element, _load(part), where))
            return out
        return [_at(ast.Assign(targets=[self._visit_target(target)], value=value), where)]

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
        if isinstance(target, ast.Name):
            return self._shared_global(target.id)
        if isinstance(target, (ast.Tuple, ast.List)):
            return not any(isinstance(e, ast.Starred) for e in target.elts) and any(
                self._instrumented_target(e) for e in target.elts)
        return False

    def _shared_global(self, name: str) -> bool:
        return self.scope is not None and name in self.shared and not self.scope.is_local_somewhere(name)

    def _temp(self) -> str:
        assert self.scope is not None
        self.scope.temps += 1
        name = f"_rk_{self.scope.temps}"
        self.scope.locals.add(name)
        return name


def _hook(method: str, args: list[ast.expr], where: ast.AST, update: bool = False) -> ast.Call:
    func = ast.Attribute(value=ast.Name(HOOK, ast.Load()), attr=method, ctx=ast.Load())
    extra = [ast.Constant(True)] if update else []
    call = ast.Call(func=func, args=[*args, ast.Constant(getattr(where, "lineno", 0)), *extra], keywords=[])
    return ast.copy_location(call, where)


def _is_reference(node: ast.expr) -> bool:
    """An expression that may evaluate to a shared object itself (not a computed value)."""
    return isinstance(node, (ast.Name, ast.Attribute, ast.Subscript))


def _reads_target(value: ast.expr, target: ast.expr) -> bool:
    """Whether ``value`` loads the very expression ``target`` stores (``x.v = x.v + 1``)."""
    if not isinstance(target, (ast.Name, ast.Attribute, ast.Subscript)):
        return False
    shape = _shape(target)
    return any(type(n) is type(target) and isinstance(getattr(n, "ctx", None), ast.Load) and _shape(n) == shape
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


def _inplace(binop: ast.BinOp) -> ast.expr:
    """``a op= b`` must call the in-place method (``__iadd__``): use the operator module."""
    name = {ast.Add: "iadd", ast.Sub: "isub", ast.Mult: "imul", ast.MatMult: "imatmul", ast.Div: "itruediv",
            ast.FloorDiv: "ifloordiv", ast.Mod: "imod", ast.Pow: "ipow", ast.LShift: "ilshift",
            ast.RShift: "irshift", ast.BitOr: "ior", ast.BitXor: "ixor", ast.BitAnd: "iand"}[type(binop.op)]
    func = ast.Attribute(value=ast.Name(HOOK, ast.Load()), attr=name, ctx=ast.Load())
    return ast.copy_location(ast.Call(func=func, args=[binop.left, binop.right], keywords=[]), binop.right)


def _as_expression(node: ast.expr) -> ast.expr:
    """A subscript's slice as a value: ``a[1:2]`` indexes with ``slice(1, 2)``."""
    if isinstance(node, ast.Slice):
        parts = [p if p is not None else ast.Constant(None) for p in (node.lower, node.upper, node.step)]
        return ast.copy_location(ast.Call(func=ast.Name("slice", ast.Load()), args=parts, keywords=[]), node)
    if isinstance(node, ast.Tuple) and any(isinstance(e, ast.Slice) for e in node.elts):
        return ast.copy_location(ast.Tuple([_as_expression(e) for e in node.elts], ast.Load()), node)
    return node


def _at(stmt: ast.stmt, where: ast.AST) -> ast.stmt:
    return ast.copy_location(stmt, where)


def _load(name: str) -> ast.Name:
    return ast.Name(name, ast.Load())


def _store(name: str) -> ast.Name:
    return ast.Name(name, ast.Store())


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
