"""Write examples/submissions/: a small class for `autograder batch examples/submissions`.

    python examples/build_examples.py

- alice/        correct (the reference written as a student's six modules)
- bob/          attention.no_scale (scores not divided by sqrt(d_k))
- carol.ipynb   a lab notebook: correct, except a top-left aligned causal mask (masks.causal_top_left)
- dave.zip      transformer.variance_unbiased, zipped in a folder
- erin.py       one file, only decoding written, with decoding.top_k_strict
- mallory/      hostile: an endless loop in causal_mask and sys.exit inside attention
"""
from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import nbformat

from autograder.contract import exercise_modules
from autograder.demo import (
    notebook_source,
    write_mistake_submission,
    write_reference_submission,
)

OUT = Path(__file__).resolve().parent / "submissions"

TOP_LEFT_CAUSAL = '''\
def causal_mask(q_len, k_len=None, device=None):
    """My causal mask: query i sees keys j <= i."""
    k_len = q_len if k_len is None else k_len
    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril()
'''

HOSTILE = {
    "masks.py": "import torch\n\n\ndef causal_mask(q_len, k_len=None, device=None):\n"
                "    while True:  # never returns\n        pass\n",
    "attention.py": "import sys\n\n\ndef scaled_dot_product_attention(q, k, v, mask=None):\n"
                    "    sys.exit(0)  # tries to end the grader with a clean status\n",
}


def notebook_with_mistake(path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_markdown_cell("# Lab 2.3 submission (Carol)"))
    for module in exercise_modules():
        notebook.cells.append(nbformat.v4.new_markdown_cell(f"## {module}"))
        notebook.cells.append(nbformat.v4.new_code_cell(notebook_source(module)))
    notebook.cells.append(nbformat.v4.new_markdown_cell("I rewrote the causal mask:"))
    notebook.cells.append(nbformat.v4.new_code_cell(TOP_LEFT_CAUSAL))
    notebook.cells.append(nbformat.v4.new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt\n"
                                                    "plt.imshow(causal_mask(4, 6))"))
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index:02d}"  # stable ids: the file only changes when its content does
    nbformat.write(notebook, path)


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    write_reference_submission(OUT / "alice")
    write_mistake_submission(OUT / "bob", "attention.no_scale")
    notebook_with_mistake(OUT / "carol.ipynb")
    dave = write_mistake_submission(OUT / "_dave", "transformer.variance_unbiased")
    with zipfile.ZipFile(OUT / "dave.zip", "w") as archive:
        for file in sorted(dave.iterdir()):
            info = zipfile.ZipInfo(f"dave/{file.name}", date_time=(2026, 1, 1, 0, 0, 0))
            archive.writestr(info, file.read_text())
    shutil.rmtree(dave)
    erin = write_mistake_submission(OUT / "_erin", "decoding.top_k_strict")
    # one file: the correct decoding module, then the variants, then the wrong top_k_filter
    merged = (erin / "refcopy_decoding.py").read_text() + "\n\n" + (erin / "refmistake_decoding.py").read_text()
    merged = re.sub(r"from refcopy_decoding import (\([^)]*\)|[^\n]*)\n", "", merged)  # now one module
    body = "".join(line for line in merged.splitlines(keepends=True) if not line.startswith("from __future__"))
    alias = (erin / "decoding.py").read_text().splitlines()[-1].split(" import ")[1].split("  #")[0]
    variant, _, name = alias.partition(" as ")
    (OUT / "erin.py").write_text("from __future__ import annotations\n\n" + body + f"\n\n{name} = {variant}\n")
    shutil.rmtree(erin)
    (OUT / "mallory").mkdir()
    for name, source in HOSTILE.items():
        (OUT / "mallory" / name).write_text(source)


if __name__ == "__main__":
    main()
