"""The transforms a student applies to disguise a copied solution (benchmark data generator).

Each disguise takes a module source and a random generator and returns a new source that still
runs the same way. Syntactic: rename, reformat, reorder, comments, dead code. Structural:
helper <-> caller (inline one-line helpers, or extract an expression into a new helper) and
loop <-> comprehension.
"""
from __future__ import annotations

import ast
import builtins
import io
import keyword
import random
import tokenize

from autograder.contract import contract

KEEP = {name for functions in contract().values() for name in functions} | set(dir(builtins))
WORDS = ("acc", "tmp", "val", "res", "arr", "buf", "item", "data", "cur", "part", "elem", "thing",
         "out", "z", "t", "s", "m", "n", "node", "cell", "blob", "unit", "piece", "chunk")


def _fresh(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = f"{rng.choice(WORDS)}{rng.randint(0, 99)}"
        if name not in taken and not keyword.iskeyword(name):
            taken.add(name)
            return name


# --- syntactic -----------------------------------------------------------------------------


def rename(source: str, rng: random.Random) -> str:
    """Every identifier the student chose gets a new name (contract names stay: the grader needs them)."""
    tree = ast.parse(source)
    mine: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name not in KEEP:
            mine.add(node.name)
        elif isinstance(node, ast.arg):
            mine.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            mine.add(node.id)
        elif isinstance(node, ast.alias) and node.asname:
            mine.add(node.asname)
    mine -= KEEP
    taken = set(mine) | KEEP
    mapping = {name: _fresh(rng, taken) for name in sorted(mine)}

    class Renamer(ast.NodeTransformer):
        def visit_Name(self, node):
            node.id = mapping.get(node.id, node.id)
            return node

        def visit_arg(self, node):
            node.arg = mapping.get(node.arg, node.arg)
            return self.generic_visit(node)

        def visit_FunctionDef(self, node):
            node.name = mapping.get(node.name, node.name)
            return self.generic_visit(node)

        visit_ClassDef = visit_FunctionDef

        def visit_alias(self, node):
            if node.asname:
                node.asname = mapping.get(node.asname, node.asname)
            return node

        def visit_keyword(self, node):  # a keyword argument to one of the student's own functions
            return self.generic_visit(node)

    return ast.unparse(Renamer().visit(tree)) + "\n"


def reformat(source: str, rng: random.Random) -> str:
    """Other spacing, other indentation, other quotes; comments kept."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    indent = rng.choice(["  ", "\t", "   "])
    out, depth = [], 0
    for tok in tokens:
        if tok.type == tokenize.INDENT:
            depth += 1
            out.append((tok.type, indent * depth))
        elif tok.type == tokenize.DEDENT:
            depth -= 1
            out.append((tok.type, ""))
        else:
            out.append((tok.type, tok.string))
    text = tokenize.untokenize(out)  # compat mode: its own spacing between tokens
    return text.replace("\n\n\n", "\n\n" if rng.random() < 0.5 else "\n\n\n\n")


def _top_level_blocks(source: str) -> tuple[list[str], list[str]]:
    """(imports and constants, definitions) as source blocks with their comments."""
    tree = ast.parse(source)
    lines = source.splitlines()
    head, defs = [], []
    for index, node in enumerate(tree.body):
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        end = tree.body[index + 1].lineno - 1 if index + 1 < len(tree.body) else len(lines)
        block = "\n".join(lines[start - 1:end]).rstrip()
        (defs if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else head).append(block)
    return head, defs


def reorder(source: str, rng: random.Random) -> str:
    """The module's functions in another order (imports first)."""
    head, defs = _top_level_blocks(source)
    rng.shuffle(defs)
    return "\n".join(head) + "\n\n\n" + "\n\n\n".join(defs) + "\n"


COMMENTS = ("# compute the result", "# TODO tidy up", "# my own approach", "# shapes: see lecture",
            "# step {n}", "# works for the tests", "# note: careful with dims", "# edge case handled here")


def comments(source: str, rng: random.Random) -> str:
    """Existing comments removed, new ones sprinkled, docstrings rewritten."""
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type != tokenize.COMMENT]
    text = tokenize.untokenize(tokens)
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            doc = ast.Expr(ast.Constant(f"{node.name.replace('_', ' ')}: my implementation for the lab."))
            if ast.get_docstring(node) is not None:
                node.body[0] = doc
            else:
                node.body.insert(0, doc)
    out = []
    for n, line in enumerate(ast.unparse(tree).splitlines()):
        stripped = line.lstrip()
        if stripped and not stripped.startswith(("def ", "@", "class ")) and rng.random() < 0.3:
            out.append(line[: len(line) - len(stripped)] + rng.choice(COMMENTS).format(n=n))
        out.append(line)
    return "\n".join(out) + "\n"


def dead_code(source: str, rng: random.Random) -> str:
    """Unused variables, never-taken branches, unreachable lines and an unused helper."""
    tree = ast.parse(source)
    taken = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | KEEP
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        params = [a.arg for a in node.args.args] or ["0"]
        junk = [
            f"{_fresh(rng, taken)} = len(str({rng.choice(params)}))",
            f"if False:\n    print({rng.choice(params)})",
            f"{_fresh(rng, taken)} = [{_fresh(rng, taken)} for {_fresh(rng, taken)} in range(3)]",
            f"{_fresh(rng, taken)} = {rng.randint(2, 9)} * {rng.randint(2, 9)}",
        ]
        for statement in rng.sample(junk, 2):
            node.body.insert(rng.randint(0, len(node.body) - 1), ast.parse(statement).body[0])
        if isinstance(node.body[-1], ast.Return):
            node.body.append(ast.parse(f"print({rng.choice(params)})").body[0])
    helper = ast.parse(f"def {_fresh(rng, taken)}(a, b):\n    return a if a > b else b").body[0]
    first = next((i for i, n in enumerate(tree.body) if isinstance(n, (ast.FunctionDef, ast.ClassDef))), len(tree.body))
    tree.body.insert(rng.randint(first, len(tree.body)), helper)  # after the imports
    return ast.unparse(tree) + "\n"


# --- structural ----------------------------------------------------------------------------


def _single_return_helpers(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name not in KEEP
            and len(n.body) == 1 and isinstance(n.body[0], ast.Return) and n.body[0].value is not None
            and not n.args.defaults and not n.args.vararg and not n.args.kwarg}


class _Inliner(ast.NodeTransformer):
    def __init__(self, helpers):
        self.helpers = helpers
        self.count = 0

    def visit_Call(self, node):
        self.generic_visit(node)
        helper = self.helpers.get(node.func.id) if isinstance(node.func, ast.Name) else None
        if helper is None or node.keywords or len(node.args) != len(helper.args.args):
            return node
        values = {a.arg: v for a, v in zip(helper.args.args, node.args, strict=True)}

        class Substitute(ast.NodeTransformer):
            def visit_Name(self, name):
                return ast.copy_location(ast.parse(ast.unparse(values[name.id]), mode="eval").body, name) \
                    if name.id in values else name

        self.count += 1
        body = ast.parse(ast.unparse(helper.body[0].value), mode="eval").body
        return Substitute().visit(body)


def helper_caller(source: str, rng: random.Random) -> str:
    """Inline the one-line helpers into their callers; where there is none, extract an
    expression of each function into a new helper."""
    tree = ast.parse(source)
    inliner = _Inliner(_single_return_helpers(tree))
    tree = inliner.visit(tree)
    if inliner.count:
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        tree.body = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and n.name in inliner.helpers
                                                  and n.name not in used)]
        return ast.unparse(tree) + "\n"
    module_names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    module_names |= {(a.asname or a.name).split(".")[0] for n in tree.body
                     if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    taken = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | KEEP | module_names
    new_helpers = []
    for function in [n for n in tree.body if isinstance(n, ast.FunctionDef)]:
        candidates = [s for s in function.body if isinstance(s, (ast.Assign, ast.Return)) and s.value is not None
                      and not any(isinstance(x, (ast.Lambda, ast.NamedExpr, ast.Yield, ast.ListComp,
                                                 ast.GeneratorExp)) for x in ast.walk(s.value))
                      and sum(1 for _ in ast.walk(s.value)) >= 6]
        if not candidates:
            continue
        statement = max(candidates, key=lambda s: sum(1 for _ in ast.walk(s.value)))
        free = sorted({n.id for n in ast.walk(statement.value) if isinstance(n, ast.Name)}
                      - module_names - set(dir(builtins)))
        name = "_" + _fresh(rng, taken)
        helper = f"def {name}({', '.join(free)}):\n    return {ast.unparse(statement.value)}"
        new_helpers.append(ast.parse(helper).body[0])
        statement.value = ast.parse(f"{name}({', '.join(free)})", mode="eval").body
    tree.body += new_helpers
    return ast.unparse(tree) + "\n"


class _LoopsToComprehensions(ast.NodeTransformer):
    """`acc = []` + `for x in it: acc.append(e)` -> `acc = [e for x in it]`, and back."""

    def __init__(self, rng):
        self.rng = rng

    def _block(self, body):
        out = []
        i = 0
        while i < len(body):
            s = self.visit(body[i])
            nxt = body[i + 1] if i + 1 < len(body) else None
            if (isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name)
                    and isinstance(s.value, ast.List) and not s.value.elts and isinstance(nxt, ast.For)
                    and not nxt.orelse and len(nxt.body) == 1 and isinstance(nxt.body[0], ast.Expr)
                    and isinstance(nxt.body[0].value, ast.Call)
                    and ast.unparse(nxt.body[0].value.func) == f"{s.targets[0].id}.append"):
                element = nxt.body[0].value.args[0]
                s.value = ast.ListComp(element, [ast.comprehension(nxt.target, nxt.iter, [], 0)])
                out.append(s)
                i += 2
                continue
            if (isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name)
                    and isinstance(s.value, ast.ListComp) and len(s.value.generators) == 1):
                gen, name = s.value.generators[0], s.targets[0].id
                loop = ast.parse(f"{name} = []\nfor _ in _:\n    {name}.append(_)").body
                loop[1].target, loop[1].iter = gen.target, gen.iter
                loop[1].body[0].value.args = [s.value.elt]
                if gen.ifs:
                    loop[1].body = [ast.If(ast.BoolOp(ast.And(), gen.ifs) if len(gen.ifs) > 1 else gen.ifs[0],
                                           loop[1].body, [])]
                out.extend(loop)
                i += 1
                continue
            out.append(s)
            i += 1
        return out

    def generic_visit(self, node):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, field, self._block(value))
            elif isinstance(value, list):
                setattr(node, field, [self.visit(v) if isinstance(v, ast.AST) else v for v in value])
            elif isinstance(value, ast.AST):
                setattr(node, field, self.visit(value))
        return node


def loop_comprehension(source: str, rng: random.Random) -> str:
    """Append loops become comprehensions and comprehensions become append loops."""
    tree = _LoopsToComprehensions(rng).visit(ast.parse(source))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


SYNTACTIC = {"renaming": rename, "reformatting": reformat, "reordering": reorder,
             "comments": comments, "dead code": dead_code}
STRUCTURAL = {"helper <-> caller": helper_caller, "loop <-> comprehension": loop_comprehension}
DISGUISES = {**SYNTACTIC, **STRUCTURAL}


def all_at_once(source: str, rng: random.Random) -> str:
    for disguise in DISGUISES.values():
        source = disguise(source, rng)
    return source
