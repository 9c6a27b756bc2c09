"""The worker protocol's replies: one class per kind, what a sender writes is what a reader gets."""
import ast
from pathlib import Path

import pytest

from autograder.sandbox import frames, layout, protocol
from autograder.sandbox.protocol import (
    Died,
    Forked,
    Importing,
    Killed,
    Loaded,
    Outcome,
    Ready,
    ReplyKind,
    Result,
    Strays,
    ZygoteError,
    read_reply,
)

REPLIES = [
    Ready(pid=2, import_s=1.5, vm_bytes=1 << 30, landlock=7, fences=["seccomp"]),
    Forked(gen=3, pid=41),
    Killed(gen=3),
    Strays(gen=None, count=2),
    Died(gen=3, status=9),
    ZygoteError(message="unknown op 'x'"),
    Importing(module="masks"),
    Loaded(errors={"masks": {"type": "SyntaxError", "message": "bad", "traceback": ""}},
           output="hi\n", fences=["seccomp"]),
    Result(4, Outcome.OK, None, output="", wall_s=0.25),
    Result(5, Outcome.ERROR, {"type": "ValueError", "message": "no", "traceback": ""}),
]


@pytest.mark.parametrize("reply", REPLIES, ids=lambda r: type(r).__name__)
def test_a_reply_survives_a_frame(reply):
    header, _ = frames.unpack_payload(frames.pack_frame(reply.header())[8:])
    assert header["kind"] == reply.kind.value
    assert read_reply(header) == reply


def test_every_kind_has_one_reply_class():
    assert sorted({type(r).kind.value for r in REPLIES}) == sorted(k.value for k in ReplyKind)
    assert len({type(r) for r in REPLIES}) == len(ReplyKind)


def test_an_unknown_kind_is_no_reply():
    assert read_reply({"kind": "redy"}) is None
    assert read_reply({"kind": ["ready"]}) is None
    assert read_reply({}) is None


def test_a_result_header_holds_its_outcome_under_its_own_key():
    assert Result(3, Outcome.OK, 5, output="", wall_s=0.1).header() == {
        "kind": "result", "seq": 3, "wall_s": 0.1, "output": "", "ok": 5}
    assert Result(3, Outcome.TOO_LARGE, "big").header() == {
        "kind": "result", "seq": 3, "too_large": "big"}
    # two outcome keys (a rigged frame): the first in Outcome's order wins
    both = read_reply({"kind": "result", "seq": 1, "error": {}, "ok": 1})
    assert both.outcome is Outcome.OK and both.detail == 1
    assert read_reply({"kind": "result", "seq": 1}).outcome is None


def test_a_missing_field_reads_as_none():
    assert read_reply({"kind": "died", "gen": 2}) == Died(gen=2, status=None)


def _sandbox_imports(path: Path) -> set[str]:
    """autograder modules a file imports (any level), as paths relative to autograder/."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autograder"):
            for alias in node.names:
                for name in (f"{node.module}.{alias.name}", node.module):
                    rel = name.removeprefix("autograder").lstrip(".").replace(".", "/")
                    if rel and (layout.PROJECT_ROOT / "autograder" / f"{rel}.py").is_file():
                        found.add(f"{rel}.py")
                        break
    return found


def test_the_worker_files_import_only_worker_files():
    """The one list copied into the sandbox holds every module the worker side imports."""
    root = layout.PROJECT_ROOT / "autograder"
    # the package's lazy re-export of the client runs only on the trusted side
    trusted_only = {"sandbox/__init__.py": {"sandbox/client.py"}}
    for name in layout.WORKER_FILES:
        missing = (_sandbox_imports(root / name) - set(layout.WORKER_FILES)
                   - trusted_only.get(name, set()))
        assert not missing, f"{name} imports {sorted(missing)}, not in layout.WORKER_FILES"
    assert "sandbox/protocol.py" in layout.WORKER_FILES
    for trusted in ("client", "lifecycle", "channels", "replies", "host", "probe", "layout"):
        assert f"sandbox/{trusted}.py" not in layout.WORKER_FILES
    assert protocol.MEMORY_EXIT == 87
