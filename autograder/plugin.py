"""The pytest plugin behind public checks and hidden suites.

Registered through the ``pytest11`` entry point, so ``pytest exercises`` finds it once the
project is installed. It adds:

- ``--impl SPEC``: which implementation the ``impl`` fixture gives (see ``autograder.impl``);
- the ``impl`` fixture (implementation under test) and the ``ref`` fixture (the reference,
  for hidden suites run in the trusted process);
- a "not implemented" outcome: a check that reaches a stub is skipped with the reason
  "<module>.<function>: not implemented yet" and counted apart in the summary line.
"""
from __future__ import annotations

import hashlib
import secrets
from functools import cached_property

import pytest
import torch

from autograder.impl import NOT_IMPLEMENTED, ImplementationError, load_implementation
from autograder.judge import DiagnosedFailure, Judge

IMPL_KEY = pytest.StashKey["object"]()
SEED_KEY = pytest.StashKey[int]()
CACHE_KEY = pytest.StashKey["object"]()  # a batch's ReferenceCache, set by the grader
CONFIG_KEY = pytest.StashKey["object"]()  # the grader's GradingConfig (else --grading-config is read)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograder", "NLP & Transformers exercises")
    group.addoption(
        "--impl",
        default="exercises",
        metavar="SPEC",
        help="implementation under test: 'exercises' (your code, default), 'reference', "
        "'mistake:<id>' (a known-wrong variant) or 'path:<dir>'",
    )
    group.addoption(
        "--seed",
        type=int,
        default=None,
        help="seed for the random inputs of this run (default: fresh each run, printed in "
        "the header so a run can be replayed)",
    )
    group.addoption(
        "--grading-config",
        default=None,
        metavar="FILE",
        help="grading.yaml whose tolerances the judge uses (default: the project's own)",
    )
    group.addoption(
        "--torch-threads",
        type=int,
        default=1,
        metavar="N",
        help="torch intra-op threads (default 1: exercise tensors are tiny, and thread-pool "
        "synchronisation costs more than it saves: ~10x slower with 2 threads here)",
    )
    group.addoption(
        "--function",
        action="append",
        default=[],
        metavar="MODULE.FUNCTION",
        help="check only this function, e.g. masks.causal_mask (repeatable; a module name "
        "such as 'masks' selects all its functions)",
    )
    group.addoption(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="device for suite tensors: auto = cuda when available, else cpu",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "function(qualname): the contract function a test checks, '<module>.<function>'"
    )
    config.addinivalue_line(
        "markers", "weight(w): share of the function's points this case carries (default 1)"
    )
    spec = config.getoption("--impl", "exercises")
    if spec != "exercises":  # a wrong spec is one usage line, not an error per check
        try:
            load_implementation(spec)
        except ImplementationError as exc:
            raise pytest.UsageError(str(exc)) from None
    seed = config.getoption("--seed", None)
    config.stash[SEED_KEY] = secrets.randbits(31) if seed is None else seed
    config.pluginmanager.register(SessionFixtures(config), "autograder-session-fixtures")
    threads = config.getoption("--torch-threads", 1)
    if threads and threads > 0:
        torch.set_num_threads(threads)


def pytest_report_header(config: pytest.Config) -> str:
    return f"autograder: impl={config.getoption('--impl')} seed={config.stash[SEED_KEY]}"


class SessionFixtures:
    """The plugin's fixtures that need the run's config (the session-scoped ones, and `seed` and
    `judge` per test), as methods of one plugin object per run.

    They read the config from ``self`` instead of taking ``request``: pytest re-resolves
    a cached fixture's arguments on every use, and each ``request`` costs a fresh fixture
    definition and an ``inspect.signature`` call, several per test across a grade's ~300 cases.
    """

    def __init__(self, config: pytest.Config):
        self.config = config
        self._test_seed = 0

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """The per-test seed: the run's seed mixed with the test id (fresh inputs every run)."""
        digest = hashlib.sha256(f"{self.config.stash[SEED_KEY]}|{item.nodeid}".encode())
        self._test_seed = int.from_bytes(digest.digest()[:4], "little") & 0x7FFFFFFF

    @pytest.fixture
    def seed(self) -> int:
        """A per-test seed: the run's seed mixed with the test id (fresh inputs every run)."""
        return self._test_seed

    @pytest.fixture
    def rng(self) -> torch.Generator:
        """A CPU torch.Generator seeded with `seed`; draw inputs with it, then move them to
        `device`."""
        return torch.Generator().manual_seed(self._test_seed)

    @pytest.fixture(scope="session")
    def device(self) -> torch.device:
        """The device suites put their tensors on (``--device``; auto picks CUDA when present)."""
        choice = self.config.getoption("--device")
        if choice == "auto":
            choice = "cuda" if torch.cuda.is_available() else "cpu"
        if choice == "cuda" and not torch.cuda.is_available():
            raise pytest.UsageError("--device cuda: no CUDA device is available")
        if choice == "cuda":
            # float32 comparisons must not run on TF32 matmuls (10-bit mantissa).
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        return torch.device(choice)

    # The session fixtures' values, made once per run. `judge` reads them here: through pytest,
    # every test would resolve each of them again.

    @cached_property
    def _impl(self):
        stash = self.config.stash
        if IMPL_KEY not in stash:
            try:
                stash[IMPL_KEY] = load_implementation(self.config.getoption("--impl"))
            except ImplementationError as exc:
                raise pytest.UsageError(str(exc)) from None
        return stash[IMPL_KEY]

    @cached_property
    def _ref(self):
        reference = load_implementation("reference")
        cache = self.config.stash.get(CACHE_KEY, None)
        if cache is None:
            return reference
        from autograder.refcache import CachedReference

        return CachedReference(reference, cache)

    @cached_property
    def _grading_config(self):
        config = self.config.stash.get(CONFIG_KEY, None)
        if config is None:
            from autograder.config import load_config

            config = load_config(self.config.getoption("--grading-config"))
        return config

    @cached_property
    def _tolerances(self) -> dict:
        return self._grading_config.tolerance_map()

    @cached_property
    def _function_tolerances(self) -> dict:
        return self._grading_config.function_tolerance_map()

    @pytest.fixture(scope="session")
    def impl(self):
        """The implementation under test: ``impl.<module>.<function>(...)``."""
        return self._impl

    @pytest.fixture(scope="session")
    def ref(self):
        """The reference implementation (hidden suites only; never shipped to the worker).

        In a batch (a ReferenceCache in the stash) every reference call is answered from the
        cache after its first computation.
        """
        return self._ref

    @pytest.fixture(scope="session")
    def grading_config(self):
        """The grader's typed grading.yaml from the stash, else ``--grading-config`` read once per
        run (a plain `pytest` of the suites)."""
        return self._grading_config

    @pytest.fixture(scope="session")
    def tolerances(self) -> dict:
        """(atol, rtol) per dtype from grading.yaml (over checking.TOLERANCES)."""
        return self._tolerances

    @pytest.fixture(scope="session")
    def function_tolerances(self) -> dict:
        """qualname -> dtype -> (atol, rtol): config.FUNCTION_TOLERANCE_DEFAULTS with grading.yaml's
        over them."""
        return self._function_tolerances

    @pytest.fixture
    def judge(self) -> Judge:
        """Compares impl with ref on the same inputs and diagnoses known mistakes (one per test,
        over the run's impl, ref and tolerances)."""
        return Judge(self._impl, self._ref, tolerances=self._tolerances,
                     cache=self.config.stash.get(CACHE_KEY, None),
                     function_tolerances=self._function_tolerances)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Function, weight and diagnosed mistake become user properties (JUnit XML shows them)."""
    report = yield
    if call.when != "call":
        return report
    properties = []
    marker = item.get_closest_marker("function")
    if marker:
        properties.append(("function", marker.args[0]))
    weight = item.get_closest_marker("weight")
    properties.append(("weight", float(weight.args[0]) if weight else 1.0))
    if call.excinfo is not None and isinstance(call.excinfo.value, DiagnosedFailure):
        if call.excinfo.value.mistake:
            properties.append(("mistake", call.excinfo.value.mistake))
    # The teardown report copies item.user_properties; JUnit XML reads them from there.
    item.user_properties.extend(properties)
    report.user_properties.extend(properties)
    return report


def _function_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("function")
    return str(marker.args[0]) if marker and marker.args else None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """``--function`` keeps the checks of the named functions (or modules) only."""
    wanted = config.getoption("--function", None) or []
    if wanted:
        known = sorted({q for q in map(_function_of, items) if q})
        unknown = [w for w in wanted if not any(q == w or q.startswith(w + ".") for q in known)]
        if unknown:
            raise pytest.UsageError(
                f"--function {', '.join(unknown)}: no such function among the collected checks "
                f"(known: {', '.join(known)})")
        keep, drop = [], []
        for item in items:
            q = _function_of(item) or ""
            (keep if any(q == w or q.startswith(w + ".") for w in wanted) else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    # Public checks: a learner reads their failing line and the message, not pytest's long
    # traceback through fixtures (an explicit --tb still wins).
    if items and getattr(config.option, "tbstyle", None) == "auto" and all(
            item.path.parent.name == "checks" for item in items):
        config.option.tbstyle = "short"


def _is_not_implemented(report: pytest.TestReport) -> bool:
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return False
    return NOT_IMPLEMENTED in report.longrepr[2]


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    if report.when == "call" and _is_not_implemented(report):
        return "not implemented", "n", ("NOT IMPLEMENTED", {"yellow": True})
    return None


def _report_function(report: pytest.TestReport) -> str | None:
    return next((str(v) for k, v in report.user_properties if k == "function"), None)


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line.split("CheckFailure: ", 1)[-1]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    _function_summary(terminalreporter)
    reports = terminalreporter.stats.get("not implemented", [])
    if not reports:
        return
    functions = sorted({r.longrepr[2].removeprefix("Skipped: ").split(":")[0] for r in reports})
    terminalreporter.write_sep("-", f"not implemented yet: {len(functions)} functions")
    for qualname in functions:
        terminalreporter.write_line(f"  {qualname}")


def _function_summary(terminalreporter) -> None:
    """One line per function: passed, not implemented yet, or how many checks failed and why."""
    per: dict[str, dict] = {}
    for key in ("passed", "failed", "not implemented"):
        for report in terminalreporter.stats.get(key, []):
            if getattr(report, "when", "call") != "call":
                continue
            qualname = _report_function(report)
            if qualname:
                entry = per.setdefault(qualname, {"passed": 0, "failed": [], "missing": 0})
                if key == "passed":
                    entry["passed"] += 1
                elif key == "failed":
                    entry["failed"].append(report)
                else:
                    entry["missing"] += 1
    if not per:
        return
    terminalreporter.write_sep("-", "per function")
    for qualname in sorted(per):
        entry = per[qualname]
        total = entry["passed"] + len(entry["failed"]) + entry["missing"]
        if entry["missing"]:
            line, markup = f"{qualname}: not implemented yet", {"yellow": True}
        elif entry["failed"]:
            line = (f"{qualname}: {len(entry['failed'])} of {total} checks failed: "
                    f"{_first_line(entry['failed'][0])}")
            markup = {"red": True}
        else:
            line, markup = f"{qualname}: {total} checks passed", {"green": True}
        terminalreporter.write_line(line, **markup)
