"""The sandboxed worker, in every mode this machine offers, against honest and hostile code.

One warm worker per mode serves every test (each test loads its own small submission), so the
interpreter start and torch import are paid once per mode.
"""
import os
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
import torch
from process_probe import pids_with, wait_until

from autograder.sandbox import (
    CallTimeout,
    ForbiddenAPI,
    MemoryLimit,
    NotImplementedYet,
    OutputTooLarge,
    RefusedValue,
    StudentError,
    Worker,
    WorkerDied,
    bubblewrap_available,
)

REPO = Path(__file__).resolve().parents[2]
HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
MODES = ["rlimits"] + (["bubblewrap"] if bubblewrap_available() else [])
SDPA = "torch.nn.functional.scaled_dot_product_attention"


@pytest.fixture(scope="module", params=MODES)
def worker(request):
    with Worker(request.param, timeout_s=5, memory_bytes=2 << 30, max_file_bytes=4 << 20,
                max_output_bytes=4096,
                forbidden={"attention": [SDPA, "torch.nn.MultiheadAttention"]}) as w:
        assert w.mode == request.param
        yield w


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip()


HONEST = {
    "masks": src("""
        import torch

        def causal_mask(q_len, k_len=None, device=None):
            k_len = q_len if k_len is None else k_len
            return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(k_len - q_len)

        def padding_mask(token_ids, pad_id):
            raise NotImplementedError("masks.padding_mask: not implemented yet")

        def broken(x):
            return helper(x)

        def helper(x):
            raise ValueError(f"bad input {x}")
    """),
    "bpe": src("""
        from exercises.masks import causal_mask          # the package spelling
        import masks                                     # the flat spelling: the same module

        def get_pair_counts(words):
            counts = {}
            for word, freq in words.items():
                for pair in zip(word, word[1:]):
                    counts[pair] = counts.get(pair, 0) + freq
            return counts

        def same_module():
            import exercises.masks
            return exercises.masks is masks and causal_mask is masks.causal_mask

        def echo(*args, **kwargs):
            print("echo", len(args), sorted(kwargs))
            return args, kwargs
    """),
}


def test_honest_submission_returns_correct_values(worker):
    assert worker.load_submission(HONEST) == {}
    got = worker.call("masks", "causal_mask", (3,), {"k_len": 5})
    assert type(got) is torch.Tensor
    assert torch.equal(got, torch.ones(3, 5, dtype=torch.bool).tril(2))
    words = {("l", "o", "w"): 5, ("l", "o"): 2}
    assert worker.call("bpe", "get_pair_counts", (words,)) == {("l", "o"): 7, ("o", "w"): 5}
    assert worker.call("bpe", "same_module") is True


def test_arguments_of_every_kind_arrive_intact(worker):
    worker.load_submission(HONEST)
    gen = torch.Generator().manual_seed(3)
    args = (torch.randn(2, 3).to(torch.bfloat16), torch.tensor([True, False]), float("nan"),
            {(1, 2): 3}, gen, torch.float16, torch.device("cpu"), b"\x00\x01")
    result = worker.invoke("bpe", "echo", args, {"temperature": 0.5})
    (got_args, got_kwargs) = result.value
    assert got_args[0].dtype == torch.bfloat16 and torch.equal(got_args[0], args[0])
    assert torch.equal(got_args[1], args[1])
    assert got_args[2] != got_args[2]  # nan
    assert got_args[3:4] == ({(1, 2): 3},) and got_args[5:] == args[5:]
    assert torch.equal(torch.rand(3, generator=got_args[4]), torch.rand(3, generator=gen))
    assert got_kwargs == {"temperature": 0.5}
    assert result.output == "echo 8 ['temperature']\n"


def test_tinylm_argument_reaches_student_code(worker):
    tinylm = pytest.importorskip("autograder.tinylm")
    lm = tinylm.TinyLM.random(vocab_size=6, dim=4, generator=torch.Generator().manual_seed(1))
    worker.load_submission({"decoding": src("""
        def last_logits(model, input_ids):
            return model(input_ids)[:, -1, :]
    """)})
    ids = torch.tensor([[1, 2, 3]])
    assert torch.equal(worker.call("decoding", "last_logits", (lm, ids)), lm(ids)[:, -1, :])


def test_stub_student_error_and_missing_function(worker):
    worker.load_submission(HONEST)
    with pytest.raises(NotImplementedYet, match="padding_mask: not implemented yet"):
        worker.call("masks", "padding_mask", (torch.zeros(2), 0))
    with pytest.raises(StudentError) as info:
        worker.call("masks", "broken", (7,))
    assert info.value.type_name == "ValueError" and "bad input 7" in info.value.message
    assert "helper" in info.value.traceback and "masks.py" in info.value.traceback
    assert "child.py" not in info.value.traceback  # student frames only
    with pytest.raises(StudentError, match="no function 'nope'"):
        worker.call("masks", "nope")


def test_import_errors_are_per_module(worker):
    errors = worker.load_submission({
        "masks": HONEST["masks"],
        "transformer": "def gelu(x:\n    return x\n",
        "attention": "raise RuntimeError('boom at import')\n",
        "positional": "import sys\nsys.exit(3)\n",
    })
    assert errors["transformer"]["type"] == "SyntaxError"
    assert errors["attention"]["type"] == "RuntimeError"
    assert errors["positional"]["type"] == "SystemExit"
    assert "masks" not in errors
    with pytest.raises(StudentError, match="transformer.py failed to import"):
        worker.call("transformer", "gelu", (torch.zeros(1),))
    assert worker.call("masks", "causal_mask", (2,)).shape == (2, 2)


def test_infinite_loop_times_out_and_the_worker_restarts(worker):
    worker.load_submission({"masks": HONEST["masks"] + src("""
        def spin(n):
            while True:
                n += 1
    """)})
    restarts = worker.restarts
    with pytest.raises(CallTimeout, match="did not finish within 1 s"):
        worker.call("masks", "spin", (0,), timeout_s=1)
    assert worker.call("masks", "causal_mask", (2,)).shape == (2, 2)
    assert worker.restarts == restarts + 1


def test_sys_exit_is_a_worker_death_then_restart(worker):
    case = HOSTILE / "submissions" / "pub-esc-sys-exit"
    modules = {p.stem: p.read_text() for p in sorted(case.glob("*.py"))}
    for name in modules:  # keep the payload's markers out of the host's /tmp
        modules[name] = modules[name].replace("/tmp/hostile-markers", "/nonexistent-markers")
    worker.load_submission(modules)
    q = torch.randn(1, 2, 3)
    with pytest.raises(WorkerDied, match="exited with status 0 during the call"):
        worker.call("attention", "scaled_dot_product_attention", (q, q, q))
    got = worker.call("masks", "causal_mask", (3,))
    assert torch.equal(got, torch.ones(3, 3, dtype=torch.bool).tril())
    worker.load_submission({"m": "import os\ndef f():\n    os._exit(4)\n"})
    with pytest.raises(WorkerDied, match="exited with status 4"):
        worker.call("m", "f")


def test_memory_bomb_hits_the_memory_limit(worker):
    worker.load_submission({"transformer": src("""
        def layer_norm(x, weight, bias, eps=1e-5):
            hoard = []
            while True:                       # address space grows 256 MiB at a time
                hoard.append(bytearray(256 << 20))
        def gelu(x):
            return 0.5 * x * (1 + __import__("torch").erf(x / 2 ** 0.5))
    """)})
    with pytest.raises((MemoryLimit, WorkerDied), match="memory"):
        worker.call("transformer", "layer_norm", (torch.zeros(1), None, None))
    x = torch.linspace(-2, 2, 5)
    assert torch.allclose(worker.call("transformer", "gelu", (x,)), torch.nn.functional.gelu(x))


def test_forbidden_api_is_refused_by_name(worker):
    worker.load_submission({
        "attention": src("""
            import torch
            from torch.nn.functional import scaled_dot_product_attention as sdpa  # bound at import

            def scaled_dot_product_attention(q, k, v, mask=None):
                return sdpa(q, k, v)

            def swallowed(q, k, v):
                try:
                    return torch.nn.functional.scaled_dot_product_attention(q, k, v)
                except Exception:
                    return q

            def module(q):
                class Mine(torch.nn.MultiheadAttention):
                    pass
                return Mine(4, 1)

            def manual(q, k, v):
                return torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, -1) @ v
        """),
        "transformer": src("""
            import torch.nn.functional as F

            def attend(q, k, v):
                return F.scaled_dot_product_attention(q, k, v)   # allowed here
        """),
    })
    q = torch.randn(1, 2, 4)
    with pytest.raises(ForbiddenAPI) as info:
        worker.call("attention", "scaled_dot_product_attention", (q, q, q))
    assert info.value.api == SDPA
    # refused by the trusted side's static check first (the run-time fences alone are tested
    # in tests/test_forbidden_routes.py)
    assert str(info.value) == (f"{SDPA} is not allowed in attention.scaled_dot_product_attention "
                               f"(attention.py line 5 uses {SDPA})")
    with pytest.raises(ForbiddenAPI, match="scaled_dot_product_attention is not allowed"):
        worker.call("attention", "swallowed", (q, q, q))  # caught by the student: still refused
    with pytest.raises(ForbiddenAPI, match="torch.nn.MultiheadAttention is not allowed"):
        worker.call("attention", "module", (q,))
    expected = torch.nn.functional.scaled_dot_product_attention(q, q, q)
    assert torch.allclose(worker.call("attention", "manual", (q, q, q)), expected, atol=1e-6)
    assert torch.allclose(worker.call("transformer", "attend", (q, q, q)), expected, atol=1e-6)


def test_tensor_subclass_is_refused_with_a_type_message(worker, tmp_path):
    zip_path = HOSTILE / "submissions" / "pub-cheat-lying-tensor-subclass.zip"
    with zipfile.ZipFile(zip_path) as zf:
        source = zf.read("positional.py").decode()
    source = source.replace("/tmp/hostile-markers", str(tmp_path))
    worker.load_submission({"positional": source})
    with pytest.raises(RefusedValue) as info:
        worker.call("positional", "sinusoidal_encoding", (4, 6))
    assert "returned a _LyingTensor (a torch.Tensor subclass); only plain tensors are accepted" \
        in str(info.value)


def test_output_is_captured_bounded_and_limited(worker):
    worker.load_submission({"m": src("""
        import sys
        def chatty(n):
            print("x" * n)
            print("to stderr", file=sys.stderr)
            return n
        def flood():
            while True:
                sys.stdout.write("y" * 65536)
    """)})
    result = worker.invoke("m", "chatty", (10,))
    assert result.value == 10 and result.output == "x" * 10 + "\nto stderr\n"
    long = worker.invoke("m", "chatty", (10_000,)).output
    assert long.startswith("x" * 4096) and "more bytes of output cut" in long
    with pytest.raises(OutputTooLarge):
        worker.call("m", "flood")
    assert worker.call("m", "chatty", (1,)) == 1






DAEMON = src("""
    import os, sys

    def spawn_daemon(marker, heartbeat):
        r, w = os.pipe2(os.O_CLOEXEC)
        if os.fork() == 0:                       # double fork + setsid, as in the hostile case
            try:
                os.setsid()                      # refused by the worker's seccomp filter
            except PermissionError:
                pass
            if os.fork() != 0:
                os._exit(0)
            code = ("import sys, time\\n"
                    "while True:\\n"
                    "    try:\\n"
                    "        open(sys.argv[2], 'a').write('beat\\\\n')\\n"
                    "    except OSError:\\n"
                    "        pass\\n"
                    "    time.sleep(0.05)\\n")
            os.execv(sys.executable, [sys.executable, "-c", code, marker, heartbeat])
        os.close(w)
        os.read(r, 1)                            # end of file once the daemon has exec'd
        os.wait()
        return True

    if os.environ.get("NEVER"):
        pass
""")


def test_daemon_started_in_a_call_does_not_survive_it(worker, tmp_path):
    marker = f"autograder-test-daemon-{os.getpid()}-{time.monotonic_ns()}"
    heartbeat = tmp_path / "heartbeat"
    worker.load_submission({"decoding": DAEMON})
    killed = worker.strays_killed
    assert worker.call("decoding", "spawn_daemon", (marker, str(heartbeat))) is True
    assert wait_until(lambda: not pids_with(marker)), "the daemon outlived its call"
    assert wait_until(lambda: worker.call("decoding", "spawn_daemon", (marker, "/dev/null"))
                     and worker.strays_killed >= killed + 1)


LINGERER = src("""
    import os, sys

    def spawn_child(marker):
        if os.fork() == 0:                       # a plain child of the call, never waited for
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", marker])
        return True

    def noop():
        return 0
""")


def test_child_left_by_a_call_dies_after_a_later_call(worker):
    """Not double-forked, so only the post-call sweep (at most every 0.1 s) can find it."""
    marker = f"autograder-test-lingerer-{os.getpid()}-{time.monotonic_ns()}"
    worker.load_submission({"decoding": LINGERER})
    assert worker.call("decoding", "spawn_child", (marker,)) is True
    assert wait_until(lambda: pids_with(marker)), "the child never started"
    time.sleep(0.15)                             # past the sweep interval
    worker.call("decoding", "noop")
    assert wait_until(lambda: not pids_with(marker), seconds=5), "the call's child outlived a later call"


def test_daemon_started_at_import_dies_with_the_worker(tmp_path):
    marker = f"autograder-test-daemon-{os.getpid()}-{time.monotonic_ns()}"
    heartbeat = tmp_path / "heartbeat"
    module = DAEMON.replace('if os.environ.get("NEVER"):\n    pass',
                            f"spawn_daemon({marker!r}, {str(heartbeat)!r})")
    for mode in MODES:  # rlimits without Landlock: the weakest fence must still kill daemons
        with Worker(mode, landlock=False) as w:
            assert w.load_submission({"decoding": module}) == {}
            assert wait_until(lambda: pids_with(marker)), "the daemon never started"
            if mode == "rlimits":  # shares the host's /tmp: the heartbeat is visible
                assert wait_until(lambda: heartbeat.exists())
        assert wait_until(lambda: not pids_with(marker)), f"daemon survived close() ({mode})"
        if heartbeat.exists():
            size = heartbeat.stat().st_size
            time.sleep(0.3)
            assert heartbeat.stat().st_size == size, "the heartbeat still grows"


LOOKER = src("""
    import os

    def look(repo):
        found = {}
        for path in (os.path.join(repo, "reference", "attention.py"),
                     os.path.join(repo, "autograder", "grading.py")):
            try:
                with open(path) as fh:
                    found[path] = fh.read(40)
            except OSError as exc:
                found[path] = type(exc).__name__
        for path in ("/work", repo, os.path.expanduser("~")):
            try:
                found[path] = sorted(os.listdir(path))[:5]
            except OSError as exc:
                found[path] = type(exc).__name__
        for name in ("reference", "autograder.grading", "quizzes"):
            try:
                __import__(name)
                found[name] = "imported"
            except ImportError as exc:
                found[name] = type(exc).__name__
        found["cwd"] = sorted(os.listdir("."))
        return found
""")


def test_submission_cannot_see_the_repository(worker):
    worker.load_submission({"bpe": LOOKER})
    found = worker.call("bpe", "look", (str(REPO),))
    for name in ("reference", "autograder.grading", "quizzes"):  # never importable
        assert found[name] == "ModuleNotFoundError", (name, found[name])
    assert found["cwd"] == ["bpe.py"]  # only its own module in its working directory
    if worker.mode == "bubblewrap" or worker.landlock_abi:
        # bubblewrap: the repository does not exist in there; Landlock: it may not be read
        for key in (str(REPO / "reference" / "attention.py"),
                    str(REPO / "autograder" / "grading.py"), "/work", str(REPO)):
            assert found[key] in ("FileNotFoundError", "PermissionError"), (key, found[key])


def test_a_later_submission_cannot_see_an_earlier_one(worker):
    worker.load_submission({"masks": "SECRET = 'alice'\nimport os\n"
                                     "open('notes.txt', 'w').write(SECRET)\n"})
    worker.load_submission({"bpe": LOOKER})
    assert worker.call("bpe", "look", (str(REPO),))["cwd"] == ["bpe.py"]


def test_the_child_inherits_a_frozen_heap_from_the_zygote(worker):
    """The zygote freezes what it imported before it forks: the child's collections walk only
    what the submission allocates (and copy none of the zygote's shared pages)."""
    worker.load_submission({"m": "import gc\ndef frozen():\n    return gc.get_freeze_count()\n"})
    assert worker.call("m", "frozen") > 10_000
