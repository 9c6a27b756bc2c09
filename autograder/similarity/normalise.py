"""Normalise a definition into a token stream that survives a student's disguises.

Dropped: comments and formatting (we read the AST, not the text), docstrings, bare constant
statements, `pass`, type annotations, code after `return`/`raise`/`break`/`continue`, branches
of `if <constant>`, assignments to names the function never reads, and nested functions it
never calls. Abstracted: the student's own identifiers (`V`, helpers `F`) and literals (`NUM`,
`STR`); kept: names of builtins, library APIs through their import aliases
(`F.softmax` -> `torch.nn.functional.softmax`) and attribute names, which a student cannot
rename without breaking the code. A comprehension and the loop that appends to a list emit the
same tokens, so rewriting one into the other changes little.

Every token carries its line (relative to the definition's first line) for the report.
"""
from __future__ import annotations

import ast
import builtins
from collections.abc import Callable

BUILTINS = frozenset(dir(builtins)) - {"True", "False", "None"}
TERMINATORS = (ast.Return, ast.Raise, ast.Break, ast.Continue)
Token = tuple[str, int]  # (token, line relative to the definition's first line)


class _Pruner(ast.NodeTransformer):
    """Remove what does not change what the function computes (see the module docstring)."""

    def _block(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for statement in body:
            result = self.visit(statement)
            for item in result if isinstance(result, list) else [result] if result else []:
                if isinstance(item, ast.Pass) or (
                        isinstance(item, ast.Expr) and isinstance(item.value, (ast.Constant, ast.Name))):
                    continue  # docstrings, stray strings, `pass`, a bare name
                out.append(item)
            if out and isinstance(out[-1], TERMINATORS):
                break  # everything after is unreachable
        return out

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for name, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, name, self._block(value))
            elif isinstance(value, list):
                setattr(node, name, [self.visit(v) if isinstance(v, ast.AST) else v for v in value])
            elif isinstance(value, ast.AST):
                setattr(node, name, self.visit(value))
        return node

    def visit_If(self, node: ast.If):
        if isinstance(node.test, ast.Constant):
            return self._block(node.body if node.test.value else node.orelse) or None
        return self.generic_visit(node)

    def visit_While(self, node: ast.While):
        if isinstance(node.test, ast.Constant) and not node.test.value:
            return self._block(node.orelse) or None
        return self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node

    def visit_FunctionDef(self, node):
        node.returns = None
        node.decorator_list = []
        return self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node: ast.AnnAssign):
        if node.value is None:
            return None
        return ast.copy_location(ast.Assign(targets=[node.target], value=self.visit(node.value)), node)


def _stored_names(target: ast.AST) -> list[str] | None:
    """Names a target binds, or None when it also writes elsewhere (x[i] = ..., obj.a = ...)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        names = [_stored_names(t) for t in target.elts]
        return None if any(n is None for n in names) else [x for n in names for x in n]
    return None


def _drop_dead_stores(root: ast.AST) -> None:
    """Remove assignments (and nested defs) whose names nothing reads, until none is left."""
    while True:
        read = {n.id for n in ast.walk(root) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store)}
        read |= {name for n in ast.walk(root) if isinstance(n, (ast.Global, ast.Nonlocal)) for name in n.names}
        removed = False
        for parent in ast.walk(root):
            for field in ("body", "orelse", "finalbody"):
                block = getattr(parent, field, None)
                if not isinstance(block, list) or not block or not isinstance(block[0], ast.stmt):
                    continue
                kept = [s for s in block if not _is_dead(s, read, parent is root)]
                if len(kept) != len(block):
                    removed = True
                    setattr(parent, field, kept or [ast.Pass()])
        if not removed:
            return


def _is_dead(statement: ast.stmt, read: set[str], top: bool) -> bool:
    if isinstance(statement, (ast.Assign, ast.AugAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        names = [_stored_names(t) for t in targets]
        return all(n is not None for n in names) and not any(x in read for n in names for x in n)
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) and not top:
        return statement.name not in read
    return False


def prune(node: ast.AST) -> ast.AST:
    """A definition normalised in place."""
    node = _Pruner().visit(node)
    _drop_dead_stores(node)
    return node


def _append_loop(node: ast.For) -> tuple[list[tuple[ast.AST, ast.AST, list[ast.AST]]], ast.AST] | None:
    """`for t in it: [if c:] acc.append(e)` (nested) as comprehension generators and `e`."""
    generators, body = [(node.target, node.iter, [])], node.body
    while len(body) == 1:
        inner = body[0]
        if isinstance(inner, ast.If) and not inner.orelse:
            generators[-1][2].append(inner.test)
            body = inner.body
        elif isinstance(inner, ast.For) and not inner.orelse:
            generators.append((inner.target, inner.iter, []))
            body = inner.body
        elif (isinstance(inner, ast.Expr) and isinstance(inner.value, ast.Call)
              and isinstance(inner.value.func, ast.Attribute) and inner.value.func.attr == "append"
              and len(inner.value.args) == 1 and not inner.value.keywords):
            return generators, inner.value.args[0]
        else:
            return None
    return None


MAX_INLINE_DEPTH = 4


def inlinable(node: ast.AST) -> ast.expr | None:
    """The expression of a helper that is one `return EXPR` (docstring aside), else None.

    Such a helper is inlined where it is called, so extracting an expression into a helper, or
    inlining one, leaves the tokens as they were.
    """
    if not isinstance(node, ast.FunctionDef) or node.args.vararg or node.args.kwarg or node.args.kwonlyargs:
        return None
    body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
        return body[0].value
    return None


class Tokeniser:
    """Turn one (pruned) definition into tokens.

    `libraries` maps the module's import aliases to dotted names (`F` -> torch.nn.functional);
    `lookup(module, name)` finds one of the submission's own definitions, as
    (module, definition), or None; `libraries_of(module)` gives another module's aliases.
    """

    def __init__(self, module: str, lookup: Callable[[str, str], tuple[str, ast.AST] | None],
                 libraries_of: Callable[[str], dict[str, str]], first_line: int):
        self.module = module
        self.lookup = lookup
        self.libraries_of = libraries_of
        self.libraries = libraries_of(module)
        self.first_line = first_line
        self.out: list[Token] = []
        self.substitutions: list[dict[str, tuple[ast.AST, str]]] = []  # inlined helpers' params
        self.inlining: list[str] = []
        self.line_override: int | None = None

    def emit(self, token: str, node: ast.AST | None = None) -> None:
        if self.line_override is not None:
            self.out.append((token, self.line_override - self.first_line))
            return
        line = getattr(node, "lineno", None)
        if line is None:
            line = self.out[-1][1] + self.first_line if self.out else self.first_line
        self.out.append((token, line - self.first_line))

    def name(self, identifier: str) -> str:
        if identifier in self.libraries:
            return self.libraries[identifier]
        if identifier in BUILTINS:
            return identifier
        return "F" if self.lookup(self.module, identifier) is not None else "V"

    def _in_context(self, module: str, visit: Callable[[], None]) -> None:
        saved = self.module, self.libraries
        self.module, self.libraries = module, self.libraries_of(module)
        try:
            visit()
        finally:
            self.module, self.libraries = saved

    def _inline(self, call: ast.Call) -> bool:
        """Emit a call of a one-expression helper as that expression; False when it is not one."""
        if not isinstance(call.func, ast.Name) or len(self.inlining) >= MAX_INLINE_DEPTH:
            return False
        if self.substitutions and call.func.id in self.substitutions[-1]:
            return False
        found = self.lookup(self.module, call.func.id)
        expression = inlinable(found[1]) if found else None
        if expression is None or found[1].name in self.inlining:
            return False
        where, helper = found
        params = [a.arg for a in helper.args.posonlyargs + helper.args.args]
        if len(call.args) > len(params) or any(isinstance(a, ast.Starred) for a in call.args) \
                or any(k.arg is None or k.arg not in params for k in call.keywords):
            return False
        values = dict(zip(params, call.args, strict=False)) | {k.arg: k.value for k in call.keywords}
        defaults = dict(zip(params[len(params) - len(helper.args.defaults):], helper.args.defaults, strict=True))
        if any(p not in values and p not in defaults for p in params):
            return False
        bound = {p: (values[p], self.module) if p in values else (defaults[p], where) for p in params}
        override = self.line_override
        self.line_override = call.lineno if override is None else override
        self.inlining.append(helper.name)
        self.substitutions.append(bound)
        try:
            self._in_context(where, lambda: self.visit(expression))
        finally:
            self.substitutions.pop()
            self.inlining.pop()
            self.line_override = override
        return True

    def _comprehension(self, generators, element, node, brackets: bool = True) -> None:
        """A comprehension as `[ ] for T in IT if C append E end`; an append loop, whose list
        `acc = []` already gave the brackets, as the same without them."""
        if brackets:
            self.emit("[", node)
            self.emit("]", node)
        for target, iterable, conditions in generators:
            self.emit("for", node)
            self.visit(target)
            self.emit("in", node)
            self.visit(iterable)
            for condition in conditions:
                self.emit("if", condition)
                self.visit(condition)
        self.emit("append", node)
        for part in element if isinstance(element, tuple) else (element,):
            self.visit(part)
        self.emit("end", node)

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, (ast.expr_context, ast.Load)):
            return
        if isinstance(node, ast.Name):
            if self.substitutions and node.id in self.substitutions[-1]:
                value, where = self.substitutions[-1][node.id]
                outer = self.substitutions.pop()  # the argument is read in the caller's scope
                try:
                    self._in_context(where, lambda: self.visit(value))
                finally:
                    self.substitutions.append(outer)
            else:
                self.emit(self.name(node.id), node)
        elif isinstance(node, ast.Call) and self._inline(node):
            pass
        elif isinstance(node, ast.Constant):
            value = node.value
            self.emit(repr(value) if value is None or isinstance(value, bool) else
                      "STR" if isinstance(value, (str, bytes)) else "NUM", node)
        elif isinstance(node, ast.JoinedStr):
            self.emit("STR", node)  # an f-string (error messages): its text is no evidence
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted and dotted[0] in self.libraries:  # one token for a library API
                self.emit(".".join([self.libraries[dotted[0]], *dotted[1:]]), node)
            else:
                self.visit(node.value)
                self.emit("." + node.attr, node)
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            self._comprehension([(g.target, g.iter, g.ifs) for g in node.generators], node.elt, node)
        elif isinstance(node, ast.DictComp):
            self._comprehension([(g.target, g.iter, g.ifs) for g in node.generators], (node.key, node.value), node)
        elif isinstance(node, ast.For) and not node.orelse and (loop := _append_loop(node)):
            self._comprehension(*loop, node, brackets=False)
        elif isinstance(node, ast.List) and not node.elts:
            self.emit("[", node)
            self.emit("]", node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            self.emit("def", node)
            self.visit(node.args)
            for statement in node.body if isinstance(node.body, list) else [node.body]:
                self.visit(statement)
            self.emit("enddef", node)
        else:
            self.emit(type(node).__name__, node)
            for _, value in ast.iter_fields(node):
                for child in value if isinstance(value, list) else [value]:
                    if isinstance(child, ast.AST):
                        self.visit(child)


def _dotted(node: ast.AST) -> list[str] | None:
    """`torch.nn.functional.softmax` as its parts, or None when it does not start at a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def tokenise(source: str, module: str, lookup: Callable[[str, str], tuple[str, ast.AST] | None],
             libraries_of: Callable[[str], dict[str, str]]) -> list[Token]:
    """Tokens of one definition's source (parsed afresh, so pruning needs no copy), with lines
    relative to the first line of `source`. Calls of one-expression helpers are inlined."""
    tree = ast.parse(source)
    tokeniser = Tokeniser(module, lookup, libraries_of, 1)
    for node in tree.body:
        tokeniser.visit(prune(node))
    return tokeniser.out
