"""Turn a submission (folder, .py file, zip or notebook) into module sources for the worker.

Nothing here runs student code: files are read as text, zips are extracted with checks, and
notebooks are reduced to the statements their graded functions need (autograder.intake_notebook).
The result maps each contract module name to the source the worker imports under that name
(functions are found by name). Whatever cannot be read (a corrupt or hostile archive, a binary
named .py, a broken notebook, a file too large) raises SubmissionError with one line saying why.
"""
from __future__ import annotations

import ast
import hashlib
import keyword
import lzma
import os
import stat
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.contract import contract
from autograder.intake_imports import RUNTIME_MODULE, RUNTIME_SOURCE, rewrite_py_imports
from autograder.intake_notebook import QUALNAMES, NotebookError, notebook_module
from autograder.student_text import storable

CONTRACT = contract()  # module -> graded functions, as the stubs define them
MODULES = tuple(CONTRACT)
MAX_SOURCE_BYTES = 2 * 1024 * 1024  # one module or notebook's code
MAX_ZIP_MEMBERS = 200
MAX_ZIP_BYTES = 20 * 1024 * 1024  # all members, uncompressed
MAX_HELPER_MODULES = 20
MAX_MODULE_NAME = 64  # a helper's file name must fit the worker's file system (NAME_MAX 255)
# What a broken or hostile archive raises while it is read: bad CRC, overlapping or truncated
# entries, unsupported or encrypted compression, corrupt deflate/bz2/lzma streams.
ZIP_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, EOFError,
                   NotImplementedError, RuntimeError, ValueError, OSError)


class SubmissionError(ValueError):
    """The submission cannot be graded at all (unreadable, empty, malformed archive...)."""


@dataclass
class Submission:
    """What the worker receives: module name -> source, plus notes for the report."""

    path: Path
    kind: str  # "folder" | "py" | "zip" | "notebook"
    modules: dict[str, str]
    notes: list[str] = field(default_factory=list)
    module_errors: dict[str, str] = field(default_factory=dict)  # module -> why it is missing

    @property
    def digest(self) -> str:
        """sha256 over the module sources: the gradebook's submission key."""
        h = hashlib.sha256()
        for name in sorted(self.modules):
            h.update(name.encode() + b"\0" + self.modules[name].encode() + b"\0")
        return h.hexdigest()


def student_id(path: Path) -> str:
    """The student id a file or folder name gives: `alice.ipynb` -> `alice`.

    An undecodable byte of the name is kept as an escape (``b"al\\xffce"`` -> ``al\\xffce``),
    so the id can be printed and stored.
    """
    name = storable(path.name)
    for suffix in (".ipynb", ".zip", ".py"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def load_submission(path: Path | str) -> Submission:
    """Read a submission of any supported kind."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{_shown(path)}: no such file or folder")
    if not path.is_dir() and not path.is_file():  # a FIFO or a device: reading it never ends
        raise SubmissionError(f"{_shown(path)}: not a regular file or folder")
    if path.is_dir():
        files, notebook = _read_folder(path)
        return _from_notebook(path, "folder", *notebook) if notebook else _from_sources(path, "folder", files)
    suffix = path.suffix.lower()
    if suffix == ".py":
        return _from_single_py(path, _read_text(path))
    if suffix == ".ipynb":
        return _from_notebook(path, "notebook", *notebook_definitions(path))
    if suffix == ".zip":
        files, notes, notebook = read_zip(path)
        submission = _from_notebook(path, "zip", *notebook) if notebook else _from_sources(path, "zip", files)
        submission.notes[:0] = notes
        return submission
    raise SubmissionError(f"{_shown(path)}: expected a folder, a .py file, a .ipynb notebook or a .zip")


def _shown(path: Path | str) -> str:
    """A path as messages print it: undecodable bytes of its name escaped."""
    return storable(os.fsdecode(path))


def _read_bytes(path: Path, limit: int, what: str = "larger than") -> bytes:
    """At most `limit` bytes of a regular file (a sparse 2 GB file is refused by its size)."""
    try:
        if path.stat().st_size > limit:
            raise SubmissionError(f"{_shown(path)}: {what} {limit // 1024} KiB")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise SubmissionError(f"{_shown(path)}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > limit:  # it grew while being read
        raise SubmissionError(f"{_shown(path)}: {what} {limit // 1024} KiB")
    return data


def decode_source(data: bytes, where: str) -> str:
    """Python source as UTF-8; a compiled .pyc, a zipapp or other binary is refused by name."""
    if data.startswith(b"PK\x03\x04") or b"PK\x05\x06" in data[-65557:]:
        raise SubmissionError(f"{where}: a zip archive (a zipapp?), not Python source")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        binary = " (a compiled .pyc?)" if exc.start < 16 else ""
        raise SubmissionError(f"{where}: not UTF-8 text{binary} ({exc.reason} at byte {exc.start})") from None


def _read_text(path: Path) -> str:
    return decode_source(_read_bytes(path, MAX_SOURCE_BYTES), _shown(path))


def _from_single_py(path: Path, source: str) -> Submission:
    """One file: named after a module -> that module; otherwise it serves every module.

    It must compile: a syntax error is the file's, reported once with its line.
    """
    try:
        ast.parse(source, str(path))
    except SyntaxError as exc:
        where = f"{_shown(path)}:{exc.lineno}" + (f":{exc.offset}" if exc.offset else "")
        code = (exc.text or "").strip()
        raise SubmissionError(f"{where}: SyntaxError: {exc.msg}" + (f" ({code[:80]})" if code else "")) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, nesting the parser refuses
        raise SubmissionError(f"{_shown(path)}: not Python source ({type(exc).__name__}: {exc})") from None
    if path.stem in MODULES:
        roots = {f: f"{path.stem}.{f}" for f in CONTRACT[path.stem]}
        names = [path.stem]
    else:
        roots = {f: q for f, q in QUALNAMES.items()}
        names = list(MODULES)
    source, notes = rewrite_py_imports(source, path.name, roots, set(MODULES))
    modules = {RUNTIME_MODULE: RUNTIME_SOURCE} if notes else {}
    modules.update({name: source for name in names})
    return _finish(Submission(path, "py", modules, notes))


def _from_notebook(path: Path, kind: str, source: str, notes: list[str]) -> Submission:
    modules = {RUNTIME_MODULE: RUNTIME_SOURCE, **{name: source for name in MODULES}}
    return _finish(Submission(path, kind, modules, list(notes)))


def _read_folder(folder: Path) -> tuple[dict[str, str], tuple[str, list[str]] | None]:
    """`*.py` files of the folder (or of the one sub-folder that holds the modules), or its notebook."""
    candidates = [folder] + sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    for place in candidates:
        files = {p.stem: p for p in place.glob("*.py") if p.is_file() and not p.is_symlink()}
        if set(files) & set(MODULES):
            return {name: _read_text(p) for name, p in sorted(files.items())[: len(MODULES) + MAX_HELPER_MODULES]}, None
    notebooks = sorted(p for p in folder.glob("*.ipynb") if p.is_file())  # a FIFO would block
    if len(notebooks) == 1:
        return {}, notebook_definitions(notebooks[0])
    raise SubmissionError(f"{_shown(folder)}: no {', '.join(m + '.py' for m in MODULES)} found")


RESERVED = {"torch", "safetensors", "autograder", "exercises", "reference", "numpy", "pytest", RUNTIME_MODULE}


def _top_level_names(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def _from_sources(path: Path, kind: str, files: dict[str, str]) -> Submission:
    """Keep files whose names can be imported as modules without shadowing anything.

    Top-level imports of packages grading does not provide are replaced (intake_imports).
    """
    modules, notes = {}, []
    for name, source in files.items():
        if name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_") \
                and name not in sys.stdlib_module_names and name not in RESERVED \
                and len(name) <= MAX_MODULE_NAME:
            modules[name] = source
        elif len(name) > MAX_MODULE_NAME:
            notes.append(f"{storable(name[:40])}....py ignored: a module name longer than "
                         f"{MAX_MODULE_NAME} characters")
        else:
            notes.append(f"{storable(name)}.py ignored: its name shadows a library module or is not importable")
    for name, source in modules.items():
        graded = CONTRACT.get(name) or _top_level_names(source)  # a helper: all its functions
        roots = {f: f"{name}.{f}" for f in graded}
        modules[name], import_notes = rewrite_py_imports(source, f"{name}.py", roots, set(modules) | set(MODULES))
        notes += import_notes
    if any(modules[n] != files[n] for n in modules):
        modules = {RUNTIME_MODULE: RUNTIME_SOURCE, **modules}
    return _finish(Submission(path, kind, modules, notes))


def _finish(submission: Submission) -> Submission:
    for name in MODULES:
        if name not in submission.modules:
            submission.module_errors[name] = f"the submission has no {name}.py"
    if not set(submission.modules) & set(MODULES):
        raise SubmissionError(f"{_shown(submission.path)}: none of the modules {', '.join(MODULES)} found")
    return submission


# --- zip archives ----------------------------------------------------------------------------


def _safe_member_name(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path, or None when it must be refused."""
    name = info.filename.replace("\\", "/")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return None
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        return None
    return pure


def read_zip(path: Path) -> tuple[dict[str, str], list[str], tuple[str, list[str]] | None]:
    """Module sources from a zip, read in memory: no member is written anywhere.

    Refused members (absolute paths, `..`, symlinks) are skipped; member count and total size
    are bounded. The modules are taken from the shallowest folder that holds any of them.
    Returns the sources, notes naming each refused member, and (source, notes) of the
    archive's one notebook when it holds no module files.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_archive(path, archive)
    except SubmissionError:
        raise
    except ZIP_READ_ERRORS as exc:
        raise SubmissionError(f"{_shown(path)}: not a readable zip archive "
                              f"({type(exc).__name__}: {storable(exc)})") from None


def _read_archive(path: Path, archive: zipfile.ZipFile
                  ) -> tuple[dict[str, str], list[str], tuple[str, list[str]] | None]:
    """read_zip's work on an open archive (any zipfile error is read_zip's to report)."""
    notes: list[str] = []
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise SubmissionError(f"{_shown(path)}: {len(infos)} members, at most {MAX_ZIP_MEMBERS} allowed")
    if sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
        raise SubmissionError(f"{_shown(path)}: more than {MAX_ZIP_BYTES // 2**20} MiB uncompressed")
    by_folder: dict[PurePosixPath, dict[str, zipfile.ZipInfo]] = {}
    for info in infos:
        member = _safe_member_name(info)
        if member is None:
            notes.append(f"{storable(path.name)}: refused member {info.filename!r} (absolute path, '..' or link)")
            continue
        if info.is_dir() or member.suffix != ".py":
            continue
        if any(part.startswith(("__MACOSX", ".")) for part in member.parts):
            continue
        by_folder.setdefault(member.parent, {})[member.stem] = info
    holding = [f for f, files in by_folder.items() if set(files) & set(MODULES)]
    if not holding:
        notebooks = [i for i in infos if (m := _safe_member_name(i)) and m.suffix == ".ipynb"]
        if len(notebooks) == 1:
            notebook = notebook_definitions_from_text(
                archive.read(notebooks[0]).decode("utf-8", "replace"), notebooks[0].filename
            )
            return {}, notes, notebook
        raise SubmissionError(f"{_shown(path)}: no {', '.join(m + '.py' for m in MODULES)} in the archive")
    folder = min(holding, key=lambda f: len(f.parts))
    files = by_folder[folder]
    out = {}
    for stem, info in sorted(files.items())[: len(MODULES) + MAX_HELPER_MODULES]:
        where = f"{_shown(path)}: {info.filename!r}"
        if info.file_size > MAX_SOURCE_BYTES:
            raise SubmissionError(f"{where} is larger than {MAX_SOURCE_BYTES // 1024} KiB")
        out[stem] = decode_source(archive.read(info), where)
    return out, notes, None


# --- notebooks ---------------------------------------------------------------------------


def notebook_definitions(path: Path) -> tuple[str, list[str]]:
    """The module source a notebook is graded from, and notes on what was left out."""
    data = _read_bytes(path, 4 * MAX_SOURCE_BYTES, "notebook larger than")
    return notebook_definitions_from_text(data.decode("utf-8", errors="replace"), storable(path.name))


def notebook_definitions_from_text(text: str, name: str) -> tuple[str, list[str]]:
    try:
        return notebook_module(text, name)
    except NotebookError as exc:
        raise SubmissionError(str(exc)) from None
