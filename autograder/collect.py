"""A pytest plugin object that records each case of a hidden-suite run for scoring and reports.

Feedback is built from exception messages only: never from tracebacks, which would show the
hidden suite's source to the student.
"""
from __future__ import annotations

import time
from typing import Any

import pytest

from autograder.checking import CheckFailure
from autograder.impl import NOT_IMPLEMENTED
from autograder.judge import DiagnosedFailure, Judge, SandboxFailure
from autograder.plugin import CACHE_KEY, CONFIG_KEY, IMPL_KEY
from autograder.result_types import CaseResult


def _feedback(excinfo: pytest.ExceptionInfo) -> str:
    error = excinfo.value
    if isinstance(error, (CheckFailure, SandboxFailure)):
        return str(error)
    if isinstance(error, AssertionError):
        first = str(error).splitlines()[0] if str(error) else ""
        return f"a property check failed: {first}" if first else "a property check failed"
    return f"{type(error).__name__}: {str(error)[:500]}"


def _attention_weights(judge: Any) -> dict[str, Any] | None:
    """The first (L, S) slice of the student's and the expected attention weights, if any."""
    import torch

    for record in reversed(judge.comparisons):
        got, expected = record.got, record.expected
        if not (isinstance(got, tuple) and isinstance(expected, tuple) and len(expected) == 2):
            continue
        g, e = got[1] if len(got) == 2 else None, expected[1]
        if isinstance(g, torch.Tensor) and isinstance(e, torch.Tensor) and g.shape == e.shape and e.dim() >= 2:
            # (..., L, S) -> (L, S): the first batch element and head
            g2 = g.reshape(-1, *e.shape[-2:])[0].float().cpu()
            e2 = e.reshape(-1, *e.shape[-2:])[0].float().cpu()
            return {"got": g2[:16, :16].tolist(), "expected": e2[:16, :16].tolist()}
    return None


class FanOut:
    """A pytest plugin object that runs every hidden case once per implementation.

    Pass it to ``pytest.main(plugins=[...])``. Collection, fixtures and the reference outputs
    are shared; the test body runs once per implementation (one per submission), each in its
    own thread with its own judge and an identical copy of the case's random generator, so
    every submission sees exactly the same inputs. Threads wait on their own sandboxed
    worker, so the workers compute in parallel. ``cases[i]`` fills with implementation i's
    results. With one implementation this is an ordinary suite run. ``one_after_another``
    runs the bodies in turn on this thread instead: less CPU in all (no threads contending
    for the interpreter), for a caller that wants throughput rather than the group's latency.
    """

    def __init__(self, implementations: list[Any], cache: Any = None, grading_config: Any = None,
                 one_after_another: bool = False):
        self.implementations = list(implementations)
        self.one_after_another = one_after_another
        self.cases: list[list[CaseResult]] = [[] for _ in self.implementations]
        self.cache = cache
        self.grading_config = grading_config  # a GradingConfig: the suites read it, not the file
        self.collection_errors: list[str] = []
        self._pool = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[IMPL_KEY] = self.implementations[0]
        if self.cache is not None:
            config.stash[CACHE_KEY] = self.cache
        if self.grading_config is not None:
            config.stash[CONFIG_KEY] = self.grading_config
        if len(self.implementations) > 1 and not self.one_after_another:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(len(self.implementations), thread_name_prefix="fanout")

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {str(report.longrepr)[-800:]}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        marker = pyfuncitem.get_closest_marker("function")
        if marker is None:
            return None  # not a graded case: let pytest run it as usual
        weight = pyfuncitem.get_closest_marker("weight")
        qualname, case_name = marker.args[0], pyfuncitem.name.removeprefix("test_")
        case_weight = float(weight.args[0]) if weight else 1.0
        base = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        rng = base.get("rng")
        rng_state = rng.get_state() if rng is not None else None

        def run(index: int) -> CaseResult:
            args = dict(base)
            implementation = self.implementations[index]
            if rng is not None:  # the same inputs for every submission
                args["rng"] = type(rng)().manual_seed(0)
                args["rng"].set_state(rng_state)
            if "impl" in args:
                args["impl"] = implementation
            judge = None
            if "judge" in args:
                template = base["judge"]
                judge = Judge(implementation, template.ref, tolerances=template.tolerances, cache=template.cache,
                              function_tolerances=template.function_tolerances)
                args["judge"] = judge
            return _run_case(pyfuncitem.obj, args, qualname, case_name, case_weight, judge)

        if self._pool is None:
            results = [run(index) for index in range(len(self.implementations))]
        else:
            results = list(self._pool.map(run, range(len(self.implementations))))
        for index, result in enumerate(results):
            self.cases[index].append(result)
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool:
        """Each case's setup, call and teardown through pytest's hooks, without its reports.

        The cases' outcomes are the CaseResults recorded here, so the three reports per case
        (and their makereport/logreport hooks) would only cost time: about a third of pytest's
        own share of a grade.
        """
        hooks = item.ihook
        try:
            hooks.pytest_runtest_setup(item=item)
        except _STOPS:
            raise
        except pytest.skip.Exception:
            pass  # a skipped case is not graded
        except BaseException as exc:  # noqa: BLE001 - a case the grader could not prepare
            self._setup_failed(item, exc)
        else:
            # graded cases catch their own failures; an ungraded helper test's are not graded
            _outcome_ignored(hooks.pytest_runtest_call, item=item)
        _outcome_ignored(hooks.pytest_runtest_teardown, item=item, nextitem=nextitem)  # cleanup
        return True

    def _setup_failed(self, item: pytest.Item, exc: BaseException) -> None:
        marker = item.get_closest_marker("function")
        if marker is None:
            return
        detail = pytest.ExceptionInfo.from_exception(exc).exconly()[-300:]
        message = f"grader error while preparing the case: {detail}"
        for cases in self.cases:
            cases.append(CaseResult(marker.args[0], item.name.removeprefix("test_"), 1.0, "error", message))


_STOPS = (KeyboardInterrupt, pytest.exit.Exception)  # end the run, as in pytest's own protocol


def _outcome_ignored(hook, **kwargs) -> None:
    """Run a runtest hook whose failure changes no grade; only a stop of the run goes on."""
    try:
        hook(**kwargs)
    except _STOPS:
        raise
    except BaseException:  # noqa: BLE001 - see the docstring
        pass


def _run_case(body, args: dict, qualname: str, case_name: str, weight: float, judge: Any) -> CaseResult:
    """Run one test body against one implementation and turn its outcome into a CaseResult."""
    result = CaseResult(qualname, case_name, weight, "passed")
    started = time.perf_counter()
    try:
        body(**args)
    except pytest.skip.Exception as exc:
        reason = str(exc.msg if hasattr(exc, "msg") else exc)
        result.status = "not implemented" if NOT_IMPLEMENTED in reason else "failed"
        result.message = reason
    except Exception as exc:  # noqa: BLE001 - every failure of a case is feedback
        result.status = "failed"
        result.message = _feedback(pytest.ExceptionInfo.from_exception(exc))
        if isinstance(exc, DiagnosedFailure):
            result.mistake, result.hint = exc.mistake, exc.hint
        if judge is not None and result.module == "attention":
            result.heatmap = _attention_weights(judge)
    result.duration_s = time.perf_counter() - started
    result.compares_values = bool(judge is not None and judge.comparisons)
    return result
