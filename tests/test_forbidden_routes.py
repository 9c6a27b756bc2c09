"""Forbidden APIs hold against every route: the trusted-side static check and the worker's fences.

Each route is tried twice: against the static check alone (autograder.forbidden_static, no
worker), and against the worker's run-time fences alone (``static_check=False``), in every
sandbox mode this machine offers. The expected verdicts are written by hand from what each
snippet does; honest code (the reference, the stubs and every example submission) must pass both
layers untouched.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from autograder.forbidden_static import check_submission
from autograder.sandbox import ForbiddenAPI, Worker, bubblewrap_available

REPO = Path(__file__).resolve().parents[1]
SDPA = "torch.nn.functional.scaled_dot_product_attention"
MHA = "torch.nn.MultiheadAttention"
LN = "torch.nn.functional.layer_norm"
GELU = "torch.nn.functional.gelu"
FORBIDDEN = {"attention": [SDPA, MHA], "transformer": [LN, GELU]}
MODES = ["rlimits"] + (["bubblewrap"] if bubblewrap_available() else [])


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip()


# Each route computes the forbidden thing; `api` is what the run-time fence must name.
ROUTES = {
    "by_name": (SDPA, """
        import torch.nn.functional as F
        def run(q):
            return F.scaled_dot_product_attention(q, q, q)
    """),
    "aten_packet": (SDPA, """
        import torch
        def run(q):
            return torch.ops.aten.scaled_dot_product_attention(q, q, q)
    """),
    "aten_default_overload": (SDPA, """
        import torch
        def run(q):
            return torch.ops.aten.scaled_dot_product_attention.default(q, q, q)
    """),
    "aten_math_kernel": (SDPA, """
        import torch
        def run(q):
            return torch.ops.aten._scaled_dot_product_attention_math(q, q, q)[0]
    """),
    "aten_flash_kernel": (SDPA, """
        import torch
        def run(q):
            return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, q, q)[0]
    """),
    "c_binding": (SDPA, """
        import torch
        def run(q):
            return torch._C._nn.scaled_dot_product_attention(q, q, q)
    """),
    "original_behind_guard": (SDPA, """
        import torch.nn.functional as F
        def run(q):
            guard = F.scaled_dot_product_attention
            cells = [c.cell_contents for c in (guard.__closure__ or ())]
            original = next(c for c in cells if callable(c) and not isinstance(c, str))
            return original(q, q, q)
    """),
    "computed_getattr": (SDPA, """
        import torch
        def run(q):
            name = "scaled_dot_" + "product_attention"
            return getattr(torch.ops.aten, name)(q, q, q)
    """),
    "importlib_reload": (SDPA, """
        import importlib
        def run(q):
            fresh = importlib.import_module("torch._C._nn")
            return fresh.scaled_dot_product_attention(q, q, q)
    """),
    "sys_modules": (SDPA, """
        import sys
        def run(q):
            return sys.modules["torch._C._nn"].scaled_dot_product_attention(q, q, q)
    """),
    # an inference tensor in inference mode skips the refusing kernels' dispatch key: those
    # calls are watched another way
    "inference_mode": (SDPA, """
        import torch
        def run(q):
            with torch.inference_mode():
                t = q.clone()  # an inference tensor
                return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(t, t, t)[0]
    """),
    "inference_mode_decorator": (SDPA, """
        import torch
        @torch.autograd.inference_mode()
        def run(q):
            t = q.clone()
            return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(t, t, t)[0]
    """),
    "inference_mode_left_on": (SDPA, """
        import torch
        ON = torch.inference_mode()
        ON.__enter__()  # kept on for every call (it ends when ON is collected)
        def run(q):
            assert torch.is_inference_mode_enabled()
            return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, q, q)[0]
    """),
    "vmap": (SDPA, """
        import torch
        def run(q):
            flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
            return torch.vmap(lambda t: flash(t, t, t)[0])(q)
    """),
    "helper_in_another_module": (SDPA, None),  # attention.run calls masks.helper (below)
    "thread": ("starting a thread", """
        import threading
        import torch
        def run(q):
            out = []
            t = threading.Thread(target=lambda: out.append(
                torch.ops.aten.scaled_dot_product_attention(q, q, q)))
            t.start()
            t.join()
            return out[0] if out else q
    """),
}
HELPER = src("""
    import torch
    def helper(q):
        return torch.ops.aten.scaled_dot_product_attention(q, q, q)
""")
HONEST = src("""
    import math
    import torch
    def run(q):
        scores = q @ q.transpose(-2, -1) / math.sqrt(q.shape[-1])
        return torch.softmax(scores, dim=-1) @ q
""")


def route_sources(route: str) -> dict[str, str]:
    body = ROUTES[route][1]
    if body is None:
        return {"attention": src("""
            from exercises.masks import helper
            def run(q):
                return helper(q)
        """), "masks": HELPER}
    return {"attention": src(body), "masks": "def unused():\n    return 1\n"}


# -- the static check, alone --------------------------------------------------------------

@pytest.mark.parametrize("route", sorted(ROUTES))
def test_static_check_flags_every_route(route):
    found = check_submission(route_sources(route), FORBIDDEN)
    assert ("attention", "run") in found, route
    message = found[("attention", "run")].message("attention.run")
    assert "is not allowed in attention.run" in message
    assert SDPA in message  # the API is named, directly or as what the route could reach
    assert ("masks", "unused") not in found and ("masks", "helper") not in found  # masks may


def test_static_check_names_the_line_and_the_api():
    found = check_submission(route_sources("aten_math_kernel"), FORBIDDEN)[("attention", "run")]
    assert (found.file, found.line) == ("attention.py", 3)
    assert found.api == "torch.ops" and not found.direct
    assert found.message("attention.run") == (
        "torch.ops is not allowed in attention.run: attention.py line 3 reaches torch internals "
        f"through torch.ops, a dynamic route that could reach the APIs forbidden here ({SDPA}, "
        f"{MHA})")
    found = check_submission(route_sources("by_name"), FORBIDDEN)[("attention", "run")]
    assert found.message("attention.run") == (
        f"{SDPA} is not allowed in attention.run (attention.py line 3 uses {SDPA})")


@pytest.mark.parametrize("code", [
    "from torch.nn.functional import scaled_dot_product_attention as s\ndef run(q):\n    return s(q, q, q)\n",
    "from torch.nn import functional\ndef run(q):\n    return functional.scaled_dot_product_attention(q, q, q)\n",
    "import torch\nF = torch.nn.functional\nf = F.scaled_dot_product_attention\ndef run(q):\n    return f(q, q, q)\n",
    "import torch\ndef run(q):\n    return getattr(torch.nn.functional, 'scaled_dot_product_attention')(q, q, q)\n",
    "def run(q, mod):\n    return mod.scaled_dot_product_attention(q, q, q)\n",
    "import torch\ndef run(q):\n    return torch.nn.MultiheadAttention(4, 1)(q, q, q)[0]\n",
    "import torch\nclass Mine(torch.nn.MultiheadAttention):\n    pass\ndef run(q):\n    return Mine(4, 1)\n",
    "import torch\ndef run(q):\n    return torch.nn.functional.__dict__['scaled_dot_product_attention'](q, q, q)\n",
    "import functools\ndef run(q, torch):\n    return functools.reduce(getattr, ['ops', 'aten'], torch)\n",
    "import torch\ndef run(q):\n    return eval('torch.nn.functional.scaled_dot_product_attention')(q, q, q)\n",
    "import torch\ndef run(q):\n    return __import__('torch')._C._nn.scaled_dot_product_attention(q, q, q)\n",
    "import torch\nsetattr(torch.nn.functional, 'softmax', None)\ndef run(q):\n    return q\n",
])
def test_static_check_flags_aliases_and_dynamic_spellings(code):
    assert ("attention", "run") in check_submission({"attention": code}, FORBIDDEN), code


def test_static_check_leaves_honest_code_and_other_modules_alone():
    sources = {"attention": HONEST,
               "transformer": "import torch.nn.functional as F\n"
                              "def attend(q):\n    return F.scaled_dot_product_attention(q, q, q)\n",
               "masks": "import importlib\ndef dyn():\n    return importlib.import_module('math')\n"}
    assert check_submission(sources, FORBIDDEN) == {}  # sdpa is allowed in transformer
    dunders = "import torch\ndef run(q):\n    return torch.Tensor.__matmul__(q, q), torch.__version__\n"
    assert check_submission({"attention": dunders}, FORBIDDEN) == {}
    # a top-level binding taints only the functions that use it
    code = ("from torch.nn.functional import scaled_dot_product_attention as sdpa\n" + HONEST
            + "def cheat(q):\n    return sdpa(q, q, q)\n")
    assert set(check_submission({"attention": code}, FORBIDDEN)) == {("attention", "cheat"),
                                                                     ("attention", "sdpa")}


def test_a_source_too_deep_to_check_is_refused_as_a_whole():
    from autograder.forbidden_static import WHOLE_MODULE

    deep = "def run(x):\n    return x" + ".a" * 5000 + "\n"  # deeper than the analysis recurses
    found = check_submission({"attention": deep}, FORBIDDEN)
    assert list(found) == [("attention", WHOLE_MODULE)]
    assert "nested too deeply to be checked" in found[("attention", WHOLE_MODULE)].message("x")


def _submission_roots():
    return [REPO / "reference", REPO / "exercises"] + sorted(
        (REPO / "examples" / "submissions").iterdir())


@pytest.mark.parametrize("root", _submission_roots(), ids=lambda p: p.name)
def test_reference_stubs_and_examples_have_no_static_findings(root):
    from autograder.intake import load_submission

    settings = yaml.safe_load((REPO / "grading.yaml").read_text())
    forbidden = {m: c.get("forbidden", []) for m, c in settings["modules"].items()}
    modules = load_submission(root).modules
    assert check_submission(modules, forbidden) == {}


# -- the worker's run-time fences, alone ------------------------------------------------------

@pytest.fixture(scope="module", params=MODES)
def unchecked_worker(request):
    with Worker(request.param, timeout_s=20, forbidden=FORBIDDEN, static_check=False) as w:
        yield w


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_runtime_fence_refuses_every_route(unchecked_worker, route):
    api = ROUTES[route][0]
    assert unchecked_worker.load_submission(route_sources(route)) == {}
    q = torch.randn(1, 2, 4, 8)
    with pytest.raises(ForbiddenAPI) as info:
        unchecked_worker.call("attention", "run", (q,))
    assert str(info.value).startswith(f"{api} is not allowed in attention.run"), str(info.value)


def test_runtime_fence_names_the_operator_and_leaves_honest_code(unchecked_worker):
    unchecked_worker.load_submission({
        "attention": HONEST,
        "transformer": src("""
            import torch
            def norm(x):
                return torch.ops.aten.native_layer_norm(x, [x.shape[-1]], None, None, 1e-5)[0]
            def act(x):
                return torch.ops.aten.gelu.default(x)
            def attend(q):
                return torch.ops.aten.scaled_dot_product_attention(q, q, q)  # allowed here
        """),
    })
    q = torch.randn(1, 2, 4, 8)
    expected = torch.softmax(q @ q.transpose(-2, -1) / 8 ** 0.5, -1) @ q  # by hand
    assert torch.allclose(unchecked_worker.call("attention", "run", (q,)), expected, atol=1e-6)
    with pytest.raises(ForbiddenAPI, match=r"layer_norm is not allowed in transformer\.norm "
                                           r"\(its ATen operator aten::native_layer_norm ran\)"):
        unchecked_worker.call("transformer", "norm", (q,))
    with pytest.raises(ForbiddenAPI, match=r"gelu is not allowed in transformer\.act .*aten::gelu"):
        unchecked_worker.call("transformer", "act", (q,))
    assert torch.allclose(unchecked_worker.call("transformer", "attend", (q,)),
                          torch.nn.functional.scaled_dot_product_attention(q, q, q), atol=1e-6)


def test_removing_the_fence_is_itself_refused(unchecked_worker):
    unchecked_worker.load_submission({"attention": src("""
        import sys
        import torch
        def run(q):
            # the project is open source: the worker's fence is there to be found
            sys.modules["autograder.sandbox.child"].OP_FENCE._library._destroy()
            return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, q, q)[0]
    """)})
    with pytest.raises(ForbiddenAPI, match="the forbidden-API fence was removed in attention.run "
                                           r"\(the kernel refusing aten::\w+ was unregistered\)"):
        unchecked_worker.call("attention", "run", (torch.randn(1, 2, 4, 8),))


def test_popping_the_inference_mode_watch_is_itself_refused(unchecked_worker):
    unchecked_worker.load_submission({"attention": src("""
        import torch
        from torch.utils import _python_dispatch as d
        KEEP = []
        def run(q):
            KEEP.append(torch.inference_mode())
            KEEP[-1].__enter__()  # left on: the dispatch mode watches instead
            d._pop_mode()
            t = q.clone()  # an inference tensor: the refusing kernels do not see it
            return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(t, t, t)[0]
    """)})
    with pytest.raises(ForbiddenAPI, match="the forbidden-API fence was removed in attention.run "
                                           r"\(dispatch modes changed during the call\)"):
        unchecked_worker.call("attention", "run", (torch.randn(1, 2, 4, 8),))


# -- both layers together: the default worker --------------------------------------------------

def test_default_worker_refuses_statically_before_running(tmp_path):
    marker = tmp_path / "ran"
    code = (f"import torch\ndef run(q):\n    open({str(marker)!r}, 'w').close()\n"
            "    return torch.ops.aten.scaled_dot_product_attention(q, q, q)\n")
    with Worker("rlimits", timeout_s=20, forbidden=FORBIDDEN) as w:
        w.load_submission({"attention": code})
        with pytest.raises(ForbiddenAPI) as info:
            w.call("attention", "run", (torch.randn(1, 2, 4, 8),))
    assert info.value.api == SDPA
    assert str(info.value) == (f"{SDPA} is not allowed in attention.run (attention.py line 4 uses "
                               "torch.ops.aten.scaled_dot_product_attention)")
    assert not marker.exists()  # refused on the trusted side: the function never ran


def test_reference_and_examples_are_never_refused_when_graded(tmp_path):
    """Graded for real (static check, guards and the operator fence all on): the reference
    keeps full marks and no case of any example submission is refused as forbidden."""
    from autograder.config import load_config
    from autograder.demo import write_reference_submission
    from autograder.grading import grade_submissions
    from autograder.intake import load_submission
    from autograder.workers import worker_from_config

    config = load_config(REPO / "grading.yaml")
    # the reference as a student hands it in (imports exercises.*, not reference.*)
    roots = [write_reference_submission(tmp_path / "reference")] + sorted(
        (REPO / "examples" / "submissions").iterdir())
    entries = [(load_submission(root), root.name) for root in roots]
    workers = [worker_from_config(config).start(wait=False) for _ in entries]
    try:
        results = grade_submissions(entries, config, workers, seed=7)
    finally:
        for worker in workers:
            worker.close()
    reference = results[0]
    assert sum(f.score for f in reference.functions) == pytest.approx(
        sum(f.points for f in reference.functions))
    for result in results:
        refused = [c.name for f in result.functions for c in f.cases
                   if "is not allowed" in (c.case.message or "")]
        assert refused == [], f"{result.student}: {refused[:3]}"
