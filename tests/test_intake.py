"""Submission intake: folders, single files, zips (safely) and notebooks (definitions only)."""
import stat
import zipfile

import nbformat
import pytest

from autograder.intake import MODULES, SubmissionError, load_submission, student_id

HONEST = "import torch\n\ndef causal_mask(q_len, k_len=None, device=None):\n    return None\n"


def test_folder_with_modules(tmp_path):
    (tmp_path / "masks.py").write_text(HONEST)
    (tmp_path / "helpers.py").write_text("X = 1\n")
    sub = load_submission(tmp_path)
    assert sub.kind == "folder"
    assert set(sub.modules) == {"masks", "helpers"}
    assert "attention" in sub.module_errors


def test_modules_one_folder_down(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "masks.py").write_text(HONEST)
    assert set(load_submission(tmp_path).modules) == {"masks"}


def test_single_file_serves_every_module(tmp_path):
    path = tmp_path / "alice.py"
    path.write_text(HONEST)
    sub = load_submission(path)
    assert set(sub.modules) == set(MODULES)
    assert student_id(path) == "alice"


def test_zip_refuses_traversal_absolute_and_symlinks(tmp_path):
    archive = tmp_path / "bob.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../evil.py", "boom")
        zf.writestr("/tmp/abs.py", "boom")
        zf.writestr("modules/../../masks.py", "boom")
        link = zipfile.ZipInfo("attention.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("masks.py", HONEST)
    before = {p.name for p in tmp_path.iterdir()}
    sub = load_submission(archive)
    assert sub.modules == {"masks": HONEST}
    assert sum("refused member" in note for note in sub.notes) == 4
    assert {p.name for p in tmp_path.iterdir()} == before  # nothing was written anywhere


def test_zip_bomb_is_refused(tmp_path):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("masks.py", "#" * (30 * 2**20))
    with pytest.raises(SubmissionError, match="MiB uncompressed"):
        load_submission(archive)


def make_notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) if not c.startswith("#md") else nbformat.v4.new_markdown_cell(c)
                for c in cells]
    nbformat.write(nb, path)


def test_notebook_keeps_what_the_graded_functions_need_and_drops_demo_code(tmp_path):
    path = tmp_path / "carol.ipynb"
    make_notebook(path, [
        "from __future__ import annotations\nimport torch\n%matplotlib inline\n!pip install foo",
        "SCALE = 2.0\nx = torch.randn(3)\nprint('training...')\nfor _ in range(10**9): pass",
        "def gelu(x):\n    return x * SCALE",
        "def broken(:\n    pass",
        "%%bash\necho hi",
    ])
    sub = load_submission(path)
    source = sub.modules["transformer"]
    assert "from __future__ import annotations" in source
    assert "def gelu" in source and "SCALE = 2.0" in source
    assert "print(" not in source and "range(10**9)" not in source and "pip" not in source
    assert "import torch" not in source  # gelu does not use torch
    assert "echo hi" not in source
    compile(source, "carol", "exec")
    assert any("cell 4" in note and "SyntaxError" in note for note in sub.notes)
    assert any("cells 1 (1), 2 (3)" in note for note in sub.notes)  # import torch; x, print, loop


def test_not_a_submission(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(SubmissionError):
        load_submission(tmp_path / "notes.txt")
    with pytest.raises(SubmissionError, match="no such file"):
        load_submission(tmp_path / "missing.py")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(SubmissionError, match="not a readable zip"):
        load_submission(bad)
