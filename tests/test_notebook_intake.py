"""Notebooks are graded from what their graded functions need, one statement at a time; imports
of packages grading does not provide cost only the functions that use them (.py too); a .py
that does not compile is reported with its file and line.

Each case below is one the issue reproduced (demo/training/plot cells turning a correct notebook
into 0 points, helpers dropped) or an ordinary lab-notebook habit. Expected messages and values
are written by hand from the cells.
"""
from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest
import torch

from autograder.config import load_config
from autograder.demo import notebook_source
from autograder.intake import MODULES, SubmissionError, load_submission
from autograder.sandbox import StudentError, Worker


def write_notebook(path, cells):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(c[3:]) if c.startswith("#md") else nbformat.v4.new_code_cell(c)
                      for c in cells]
    nbformat.write(notebook, path)
    return path


# Cells of a messy lab notebook: everything here but the graded functions must not matter.
MESSY = [
    "#md # My lab\nNotes.",
    ("%matplotlib inline\n!pip install einops seaborn\nimport torch\nimport matplotlib.pyplot as plt\n"
     "import seaborn as sns"),
    "V, D, H, T = 4, 8, 2, 3\nP = {'w_q': torch.randn(D, D), 'w_k': torch.randn(D, undefined_width)}",
    "TEXT = open('data.txt').read()\nprint(len(TEXT))",
    "losses = []\nfor step in range(10**9):\n    losses.append(step)\nplt.plot(losses)\nsns.heatmap([[1, 2]])",
    "files = !ls\n%time x = torch.randn(3)\nx.sum()",
]


@pytest.fixture(scope="module")
def worker():
    with Worker("rlimits", timeout_s=20) as warm:
        yield warm


def call(worker, module, function, *args):
    try:
        return worker.call(module, function, args)
    except StudentError as exc:
        return f"{exc.type_name}: {exc.student_message}"


def test_helpers_are_kept_whatever_their_form_and_failures_cost_only_their_users(tmp_path, worker):
    path = write_notebook(tmp_path / "dana.ipynb", MESSY[:3] + [
        ("import math, re\nTensor = torch.Tensor\nBASE, EPS = 10000.0, 1e-5\n"
         "pat = re.compile(r'\\w+|[^\\w\\s]+')\nsqrt_2 = math.sqrt(2.0)"),
        ("def pretokenize(text: Tensor) -> list:\n    return pat.findall(text)\n\n"
         "gelu = lambda x: 0.5 * x * (1.0 + torch.erf(x / sqrt_2))\n\n"
         "def tokenize_word(word, merges):\n    return tuple(word)\n\napply_merges = tokenize_word\n\n"
         "def rope_inv_freq(head_dim, base=BASE):\n"
         "    return 1.0 / base ** (torch.arange(0, head_dim, 2) / head_dim)\n\n"
         "def layer_norm(x, weight, bias, eps=EPS):\n    return (x - x.mean()) / (x.var(unbiased=False) + eps).sqrt()"),
        "WIDTH = D * 2\n\ndef causal_mask(q_len, k_len=None, device=None):\n    return torch.ones(WIDTH)",
        "def split_heads(x, num_heads):\n    return P['w_q']",
        "from einops import rearrange\n\ndef merge_heads(x):\n    return rearrange(x, 'b h t d -> b t (h d)')",
    ] + MESSY[3:])
    submission = load_submission(path)
    assert worker.load_submission(submission.modules) == {}
    assert call(worker, "bpe", "pretokenize", "hi, you") == ["hi", ",", "you"]
    assert torch.allclose(call(worker, "transformer", "gelu", torch.tensor([0.0, 1.0])),
                          torch.tensor([0.0, 0.8413447]))
    assert call(worker, "bpe", "apply_merges", "ab", []) == ("a", "b")
    assert torch.allclose(call(worker, "positional", "rope_inv_freq", 4), torch.tensor([1.0, 0.01]))
    assert torch.allclose(call(worker, "transformer", "layer_norm", torch.tensor([1.0, 3.0]), None, None),
                          torch.tensor([-1.0, 1.0]), atol=1e-4)
    assert call(worker, "masks", "causal_mask", 1).shape == (16,)  # D from the demo cell, kept
    # P's statement failed: only split_heads, which reads P, says so, naming cell and statement
    message = call(worker, "attention", "split_heads", torch.ones(1), 2)
    assert message.startswith("NotebookCellError: split_heads needs 'P'"), message
    assert "dana.ipynb cell 3" in message and "line 2" in message and "undefined_width" in message
    message = call(worker, "attention", "merge_heads", torch.ones(1))
    assert message.startswith("ModuleNotFoundError: einops is not available where grading runs"), message
    notes = "\n".join(submission.notes)
    assert ("`import seaborn as sns` skipped: seaborn is not available where grading runs "
            "(no graded function needs it)") in notes
    assert ("`from einops import rearrange` not run: einops is not available where grading runs "
            "(needed by attention.merge_heads") in notes
    assert "top-level statements of cells 9 (2), 10 (4), 11 (1)" in notes  # data file, training, plots


def test_a_definition_that_fails_or_does_not_compile_is_named(tmp_path, worker):
    path = write_notebook(tmp_path / "erin.ipynb", [
        "import torch\n\ndef causal_mask(q_len: Tensor, k_len=None, device=None):\n    return 1",
        "def gelu(x):\n    return x\n",
        "def gelu(x):\n    return 0.5 * x * (1.0 + torch.erf(x / 2 ** 0.5)\n",
        "def padding_mask(token_ids, pad_id):\n    return token_ids == pad_id",
    ])
    submission = load_submission(path)
    assert worker.load_submission(submission.modules) == {}
    message = call(worker, "masks", "causal_mask", 2)
    assert message.startswith("NotebookCellError: causal_mask is not defined because erin.ipynb cell 1 "), message
    assert message.endswith(", line 3 (`def causal_mask(q_len: Tensor, k_len=None, device=None): ...`) "
                            "failed: NameError: name 'Tensor' is not defined"), message
    message = call(worker, "transformer", "gelu", torch.ones(1))
    assert message.startswith("NotebookCellError: gelu: erin.ipynb cell 3") and "does not compile (line 2" in message
    assert call(worker, "masks", "padding_mask", torch.tensor([0, 5]), 0).tolist() == [True, False]
    assert any("cell 3" in note and "SyntaxError at line 2" in note for note in submission.notes)


def test_a_statement_that_runs_forever_costs_only_its_users(tmp_path, worker):
    path = write_notebook(tmp_path / "finn.ipynb", [
        "import torch\nSTEPS = 0\nwhile True:\n    STEPS += 1",
        "def causal_mask(q_len, k_len=None, device=None):\n    return STEPS",
        "def padding_mask(token_ids, pad_id):\n    return token_ids == pad_id",
    ])
    submission = load_submission(path)
    assert worker.load_submission(submission.modules) == {}
    assert call(worker, "masks", "padding_mask", torch.tensor([1]), 1).tolist() == [True]
    assert call(worker, "masks", "causal_mask", 1) == 0  # STEPS = 0 kept, the endless loop not
    assert any("line 3: `while True: STEPS += 1` not run: it never ends" in n for n in submission.notes)


def test_a_statement_that_runs_too_long_is_stopped_and_named(tmp_path, worker):
    path = write_notebook(tmp_path / "gil.ipynb", [
        "import torch\nSTEPS = 0\nwhile STEPS >= 0:\n    STEPS += 1",
        "def causal_mask(q_len, k_len=None, device=None):\n    return STEPS",
        "def padding_mask(token_ids, pad_id):\n    return token_ids == pad_id",
    ])
    assert worker.load_submission(load_submission(path).modules) == {}
    assert call(worker, "masks", "padding_mask", torch.tensor([1]), 1).tolist() == [True]
    assert call(worker, "masks", "causal_mask", 1) > 0  # STEPS grew until the 2 s stop


def test_py_imports_of_unavailable_packages_cost_only_their_users(tmp_path, worker):
    path = tmp_path / "gus.py"
    path.write_text("import torch\nimport seaborn as sns\nfrom einops import (\n    rearrange,\n)\n\n"
                    "def padding_mask(token_ids, pad_id):\n    return token_ids == pad_id\n\n"
                    "def split_heads(x, num_heads):\n    return rearrange(x, 'b t (h d) -> b h t d', h=num_heads)\n\n"
                    "def oops():\n    raise ValueError('line 14')\n")
    submission = load_submission(path)
    source = submission.modules["masks"]
    assert source.count("\n") == path.read_text().count("\n")  # line numbers unchanged
    assert worker.load_submission(submission.modules) == {}
    assert call(worker, "masks", "padding_mask", torch.tensor([3]), 3).tolist() == [True]
    assert call(worker, "attention", "split_heads", torch.ones(1, 1, 4), 2) == (
        "ModuleNotFoundError: einops is not available where grading runs (gus.py line 3)")
    notes = "\n".join(submission.notes)
    assert "gus.py line 2: `import seaborn as sns` not run: seaborn is not available where grading runs " \
           "(no graded function needs it)" in notes
    assert "gus.py line 3: `from einops import ( rearrange, )` not run: einops is not available where grading " \
           "runs (needed by attention.split_heads: calls that use it fail with that message)" in notes
    with pytest.raises(StudentError, match="line 14"):
        worker.call("masks", "oops")


def test_folder_helper_module_imports_are_replaced_too(tmp_path, worker):
    (tmp_path / "hana").mkdir()
    (tmp_path / "hana" / "masks.py").write_text(
        "from helpers import ones\n\ndef causal_mask(q_len, k_len=None, device=None):\n    return ones(q_len)\n")
    (tmp_path / "hana" / "helpers.py").write_text(
        "import torch\nimport plotly\n\ndef ones(n):\n    return torch.ones(n)\n\ndef show(x):\n    plotly.show(x)\n")
    submission = load_submission(tmp_path / "hana")
    assert worker.load_submission(submission.modules) == {}
    assert call(worker, "masks", "causal_mask", 2).tolist() == [1.0, 1.0]
    assert any("helpers.py line 2: `import plotly` not run" in n and "needed by helpers.show" in n
               for n in submission.notes)


def test_a_single_py_that_does_not_compile_is_reported_against_its_line(tmp_path):
    path = tmp_path / "ivy.py"
    path.write_text("import torch\n\ndef causal_mask(q_len):\n    return torch.ones(q_len\n\n"
                    "def gelu(x):\n    return x\n")
    with pytest.raises(SubmissionError) as caught:
        load_submission(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:4:") and "SyntaxError" in message and "masks" not in message
    done = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 3
    assert done.stderr.strip().count("\n") == 0 and f"{path}:4:" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def messy_reference_notebook(path):
    """The reference pasted into a notebook, one cell per module, among the messy cells."""
    cells = list(MESSY[:3])
    for module in MODULES:
        cells.append(notebook_source(module))
        cells.append(f"# try it\nprint({module!r})\nresult = undefined_demo_name()")
    cells.append("tokenize_word = apply_merges\napply_merges = tokenize_word")  # an alias chain
    cells += MESSY[3:]
    return write_notebook(path, cells)


def test_correct_messy_notebook_grades_full_marks_through_the_cli(tmp_path):
    notebook = messy_reference_notebook(tmp_path / "kim.ipynb")
    results = tmp_path / "out" / "r.json"
    done = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(notebook), "--results",
                           str(results), "--seed", "1", "--quiet"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(results.read_text())
    lost = [t["name"] + ": " + t["output"][:200] for t in data["tests"] if t["score"] != t["max_score"]]
    assert not lost, "\n".join(lost[:10])
    assert data["score"] == pytest.approx(load_config().total_points) == 62
    assert "seaborn is not available where grading runs" in data["output"]
