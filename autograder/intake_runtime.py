"""Shipped with notebook submissions as module ``grader_intake_runtime``; runs INSIDE the worker.

Standard library only. A notebook's generated module (see :mod:`autograder.intake_notebook`)
starts with ``__import__("grader_intake_runtime").run(globals(), plan, graded, broken, end)``
and then holds the kept statements verbatim. :func:`run` executes those statements one at a
time from the module's own file (real file name and line numbers in tracebacks), so a failing
statement costs only the functions that need it, then makes the module continue at its last
line (a trace-function jump, as a debugger's ``jump``) so nothing runs twice.

Graded functions that cannot work get a clear error instead of a bare ``NameError``: a
function whose definition failed or whose latest definition is in a cell that does not compile
raises :class:`NotebookCellError` naming the cell; one that reads a name whose statement failed
says which statement and why. :func:`unavailable` stands in for a package the grader does not
provide (``einops is not available where grading runs``) in notebooks and ``.py`` files alike.
"""
from __future__ import annotations

import ast
import functools
import signal
import sys

STATEMENT_TIME_S = 2.0  # one kept statement (six module copies share the 30 s import budget)


class NotebookCellError(Exception):
    """A graded function cannot run because of a notebook statement (message names it)."""


class _StatementTimeout(BaseException):  # BaseException: a student's `except Exception` can't eat it
    pass


class Unavailable:
    """Bound where an import of a package that grading does not provide was; any use raises."""

    def __init__(self, package: str, where: str):
        self.__message = f"{package} is not available where grading runs ({where})"

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        raise ModuleNotFoundError(self.__message)

    def __call__(self, *args, **kwargs):
        raise ModuleNotFoundError(self.__message)

    def __repr__(self) -> str:
        return f"<{self.__message}>"


def unavailable(package: str, where: str) -> Unavailable:
    return Unavailable(package, where)


def _on_alarm(signum, frame):
    raise _StatementTimeout


def _exec_timed(code, namespace: dict) -> None:
    try:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
    except (ValueError, OSError):  # not the main thread: no per-statement timer
        exec(code, namespace)  # noqa: S102 - the point: one student statement at a time
        return
    signal.setitimer(signal.ITIMER_REAL, STATEMENT_TIME_S)
    try:
        exec(code, namespace)  # noqa: S102 - the point: one student statement at a time
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _StatementTimeout):
        return f"it ran longer than {STATEMENT_TIME_S:g} s"
    try:
        return f"{type(exc).__name__}: {exc}"[:300]
    except Exception:  # noqa: BLE001 - a student's __str__ may raise
        return type(exc).__name__


def _failing(name: str, message: str):
    def graded_function(*args, **kwargs):
        raise NotebookCellError(message)
    graded_function.__name__ = graded_function.__qualname__ = name
    return graded_function


def _explaining(fn, failed: dict[str, str]):
    """`fn`, with a NameError for a name whose statement failed told as that failure."""
    @functools.wraps(fn)
    def graded_function(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NameError as exc:
            if getattr(exc, "name", None) not in failed:
                raise
            raise NotebookCellError(f"{fn.__name__} needs {exc.name!r}, which is not defined "
                                    f"because {failed[exc.name]}") from None
    return graded_function


def _jump_to(frame, line: int) -> None:
    """Continue `frame` at `line` once this call returns (sys.settrace's jump, no tracing after)."""
    previous = sys.gettrace()

    def tracer(traced, event, arg):
        if traced is frame and event == "line":
            try:
                traced.f_lineno = line  # allowed only inside this line event
            finally:
                traced.f_trace = None
                sys.settrace(previous)
        return tracer if traced is frame else None

    frame.f_trace = tracer
    sys.settrace(lambda *_: None)


def run(namespace: dict, plan: dict, graded: dict, broken: dict, end: int) -> None:
    """Run the statements of `plan` one at a time, then continue the module at line `end`.

    `plan` maps a statement's first line to ``[label, names it binds, package or None]``
    (a package: bind :class:`Unavailable` instead of running the import); `graded` maps each
    graded name to the labels of the statements it needs; `broken` maps a graded name to why
    its latest definition does not compile.
    """
    path = namespace["__file__"]
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    flags = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                feature = getattr(__import__("__future__"), alias.name, None)
                flags |= getattr(feature, "compiler_flag", 0)
    failures: dict[str, str] = {}   # label -> why it failed
    undefined: dict[str, str] = {}  # name -> why the statement binding it failed
    for node in tree.body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        if first not in plan:
            continue
        label, names, package = plan[first]
        if package:
            for name in names:
                namespace[name] = Unavailable(package, label)
            continue
        try:
            _exec_timed(compile(ast.Module([node], []), path, "exec", flags=flags, dont_inherit=True),
                        namespace)
        except BaseException as exc:  # noqa: BLE001 - SystemExit, timeouts: one statement's fault
            failures[label] = f"{label} failed: {_describe(exc)}"
            for name in names:
                if name not in namespace:
                    undefined[name] = failures[label]
    for name, labels in graded.items():
        if name in broken:
            namespace[name] = _failing(name, f"{name}: {broken[name]}")
        elif name not in namespace and name in undefined:
            namespace[name] = _failing(name, f"{name} is not defined because {undefined[name]}")
        elif callable(namespace.get(name)) and any(label in failures for label in labels):
            namespace[name] = _explaining(namespace[name], undefined)
    if failures:
        print("\n".join(failures.values()))  # the worker captures it with the import's output
    _jump_to(sys._getframe(1), end)
