"""The server's grading queue: uploads from the gradebook's queue to the warm worker pool of
`autograder batch` (the same `jobs.grade_group_job` in the same spawned processes, or on a
Dask cluster with `--cluster`), and each result back into the gradebook.

One thread claims uploads (fairly across students, see `store.claim_next`) while fewer than
`QUEUED_PER_PROCESS` jobs per grading process are handed over (one grading, one waiting, so a
process never idles while the next job is claimed and read), and records each result as
it arrives: the gradebook row and the upload's status change in one commit each, so a SIGKILL
at any point leaves the upload ``queued`` or ``grading`` (requeued on restart) and never two
rows for one submission. A job that will wait anyway (every process already has one) takes
`WAITING_JOB_UPLOADS` uploads while the queue holds that many for every process, graded in one
suite run one after the other: collection, fixtures and the reference's outputs are shared,
about a tenth of a grade's CPU each. The queue's last uploads go alone, so that no process
idles at the end of a burst while another grades a group.
"""
from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent import futures
from pathlib import Path
from typing import Any

from autograder import __version__
from autograder.config import load_config
from autograder.fingerprint import GradeFingerprint, config_digest
from autograder.gradebook import Gradebook
from autograder.intake import Submission, SubmissionError, load_submission
from autograder.jobs import GradingSetup, grade_group_job, process_id, warm_process
from autograder.server import store
from autograder.server.waiting import UploadEvents

log = logging.getLogger(__name__)


# One `ast` parse at a time in the server process: CPython 3.11's ast construction run from two
# threads at once can fail with a spurious "SystemError: AST constructor recursion depth
# mismatch" (python/cpython#106905). Held by every intake (upload threads, the grading thread)
# and by quiz scoring (formula answers are parsed with `ast`).
AST_LOCK = threading.Lock()


def read_upload(folder: Path, filename: str, data: bytes) -> Submission:
    """Intake of uploaded bytes by `autograder grade`'s own rules (written to `folder` first)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_bytes(data)
    with AST_LOCK:
        return load_submission(path)


POOL_START_S = 120.0  # a spawned grading process imports torch and starts its worker
QUEUED_PER_PROCESS = 2  # handed-over jobs per grading process: the one it grades, the next one
WAITING_JOB_UPLOADS = 2  # uploads in a job handed over while every process has one already
PREPARED_KEPT = 1024  # uploads whose upload-time intake is kept for the grading thread


def _submission_timeout_s(setup: GradingSetup) -> float:
    return load_config(Path(setup.config_name)).limits.submission_timeout_s


class GradingService:
    """Grades queued uploads in the background; `wake()` after adding one."""

    def __init__(self, book: Gradebook, setup: GradingSetup, *, jobs: int = 1,
                 cluster: str | None = None, deadline_s: float | None = None):
        self.book, self.setup, self.jobs = book, setup, max(1, jobs)
        # A job past this is stuck (the sandbox's own limits end a slow submission well before):
        # waiting behind one whole grade, its own time limit, and a pool process's start-up.
        self.deadline_s = deadline_s or 2 * _submission_timeout_s(setup) + POOL_START_S
        self.fingerprint = GradeFingerprint(setup.grader, config_digest(setup.config_text))
        self._cluster_address = cluster
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._scratch = Path(tempfile.mkdtemp(prefix="autograder-serve-"))
        self._executor: Any = None
        self._dask: tuple[Any, Any] | None = None
        # upload id -> the Submission its upload-time intake read (this process's uploads only;
        # an upload without one, e.g. after a restart, is read again from the gradebook)
        self._prepared: OrderedDict[int, Submission] = OrderedDict()
        self._prepared_lock = threading.Lock()
        self._digests: dict[int, str] = {}  # upload id -> submission digest (the gradebook key)
        self._sent: dict[futures.Future, float] = {}  # job -> time.monotonic() it is overdue at
        self._warming: list[futures.Future] = []  # one no-op job per pool process (see `ready`)
        self.events = UploadEvents()  # wakes the requests long-polling an upload's status

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> GradingService:
        store.requeue(self.book)  # half-graded uploads of a killed server
        if self._cluster_address:
            from autograder.cluster import connect

            client, cluster = connect(self._cluster_address)
            self._dask = (client, cluster)
            self._executor = client.get_executor(pure=False)
        else:
            self._executor = self._local_pool()
            self._warm_pool()
        self._thread = threading.Thread(target=self._run, name="grading-queue", daemon=True)
        self._thread.start()
        return self

    def _local_pool(self) -> futures.ProcessPoolExecutor:
        # spawn: a fresh interpreter per grading process (forking after torch is unsafe); each
        # one starts its sandbox worker and imports the grading stack as it starts
        return futures.ProcessPoolExecutor(
            max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"),
            initializer=warm_process, initargs=(self.setup, WAITING_JOB_UPLOADS))

    def _warm_pool(self) -> None:
        """Start every grading process now rather than on the first uploads (a spawned pool
        starts a process per job handed to it while none is idle)."""
        self._warming = [self._executor.submit(process_id) for _ in range(self.jobs)]

    @property
    def ready(self) -> bool:
        """Every grading process has started its worker (always true on a Dask cluster)."""
        return all(job.done() for job in self._warming)

    def _replace_pool(self) -> None:
        if self._dask is None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._local_pool()
            self._warm_pool()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._executor is not None and self._dask is None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._dask is not None:  # the client's executor has no cancel_futures; closing ends it
            client, cluster = self._dask
            client.close()
            if cluster is not None:
                cluster.close()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def wake(self) -> None:
        self._wake.set()

    def queued(self, upload_id: int, submission: Submission) -> None:
        """A new upload and what its intake read (spares the grading thread reading it again);
        wakes the queue."""
        with self._prepared_lock:
            self._prepared[upload_id] = submission
            while len(self._prepared) > PREPARED_KEPT:  # claimed by another server process
                self._prepared.popitem(last=False)
        self.wake()

    # -- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        inflight: dict[futures.Future, list[store.Upload]] = {}
        while not self._stop.is_set():
            try:
                self._step(inflight)
            except Exception:  # noqa: BLE001 - e.g. the database briefly unreachable: keep serving
                log.exception("grading queue: retrying in 1 s")
                self._stop.wait(1.0)

    def _step(self, inflight: dict[futures.Future, list[store.Upload]]) -> None:
        """Claim while fewer than QUEUED_PER_PROCESS jobs per process are handed over, then
        record what finished (0.2 s at most)."""
        while len(inflight) < QUEUED_PER_PROCESS * self.jobs:
            size = self._job_size(len(inflight))
            group = self._claim(size, {u.student for group in inflight.values() for u in group})
            if not group:
                break
            future, graded = self._submit(group)
            if future is not None:
                inflight[future] = graded
        if not inflight:
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            return
        done, _ = futures.wait(list(inflight), timeout=0.2, return_when=futures.FIRST_COMPLETED)
        for future in done:
            self._record(inflight.pop(future), future)
        now = time.monotonic()
        overdue = [f for f in inflight if now > self._sent.get(f, now)]
        if overdue:
            self._abandon(inflight, overdue)

    def _job_size(self, handed_over: int) -> int:
        """Uploads in the next job: one while a process is free (it starts at once), else
        WAITING_JOB_UPLOADS while the queue holds a job that size for every process. So the
        queue's last uploads go as single jobs, and no process idles at the end while another
        grades a whole group alone."""
        if handed_over < self.jobs:
            return 1
        enough = store.queued_total(self.book) >= WAITING_JOB_UPLOADS * self.jobs
        return WAITING_JOB_UPLOADS if enough else 1

    def _claim(self, size: int, busy: set[str]) -> list[store.Upload]:
        """Up to `size` queued uploads of different students, none of them in `busy`."""
        group: list[store.Upload] = []
        while len(group) < size:
            claimed = store.claim_next(self.book, busy | {u.student for u in group})
            if claimed is None:
                break
            self.events.changed(claimed.id)
            group.append(claimed)
        return group

    def _abandon(self, inflight: dict[futures.Future, list[store.Upload]],
                 overdue: list[futures.Future]) -> None:
        """Stuck jobs: their uploads are errors; the pool's processes are killed and replaced,
        and the other uploads they held go back to the queue (no one else pays)."""
        for future in overdue:
            self._sent.pop(future, None)
            group = inflight.pop(future)
            each = " for each of its uploads" if len(group) > 1 else ""
            for upload in group:
                self._error(upload, f"grading took longer than {self.deadline_s:g} s{each} and was stopped",
                            self._digests.pop(upload.id, None))
        if self._dask is not None:
            return  # a cluster task cannot be killed from here: it runs on, unrecorded
        waiting = [upload for group in inflight.values() for upload in group]
        store.requeue(self.book, upload_ids=[u.id for u in waiting], claimed=True)
        for upload in waiting:
            self.events.changed(upload.id)
        inflight.clear()
        self._sent.clear()
        for process in list((getattr(self._executor, "_processes", None) or {}).values()):
            process.kill()
        self._replace_pool()

    def _read(self, upload: store.Upload) -> Submission:
        folder = self._scratch / str(upload.id)
        with self._prepared_lock:
            prepared = self._prepared.pop(upload.id, None)
        if prepared is not None:  # named as if read here, like an upload read after a restart
            return dataclasses.replace(prepared, path=folder / upload.filename)
        return read_upload(folder, upload.filename, store.content(self.book, upload.id))

    def _submit(self, group: list[store.Upload]) -> tuple[futures.Future | None, list[store.Upload]]:
        """Hand `group` over as one job: (its future, the uploads in it), or (None, []) when
        none of them could be read."""
        entries, graded = [], []
        for upload in group:
            try:
                submission = self._read(upload)
            except SubmissionError as exc:  # the intake at upload time passed: a changed rule
                self._error(upload, str(exc), None)
                continue
            self._digests[upload.id] = submission.digest
            entries.append((submission, upload.student))
            graded.append(upload)
        if not entries:
            return None, []
        try:
            future = self._executor.submit(grade_group_job, entries, secrets.randbits(31), self.setup,
                                           one_after_another=True)
        except (RuntimeError, futures.process.BrokenProcessPool):
            # A pool that cannot take work: a fresh one, and the uploads back in the queue.
            store.requeue(self.book, upload_ids=[u.id for u in graded], claimed=True)
            for upload in graded:
                self.events.changed(upload.id)
            self._replace_pool()
            raise
        # each upload may take one grade's deadline: the group's are graded one after the other
        self._sent[future] = time.monotonic() + self.deadline_s * len(graded)
        return future, graded

    def _record(self, group: list[store.Upload], future: futures.Future) -> None:
        self._sent.pop(future, None)
        try:
            outcomes = future.result()
        except Exception as exc:  # noqa: BLE001 - a lost pool process or cluster task
            outcomes = [("error", f"grading process lost: {type(exc).__name__}: {exc}")] * len(group)
            if isinstance(exc, futures.process.BrokenProcessPool):
                self._replace_pool()  # a broken pool refuses every later job
        for upload, (status, payload) in zip(group, outcomes, strict=True):
            shutil.rmtree(self._scratch / str(upload.id), ignore_errors=True)
            digest = self._digests.pop(upload.id, None)
            if status == "ok":
                self.book.record(payload, fingerprint=self.fingerprint)
                row = self.book.submission_id(upload.student, payload.digest, __version__)
                store.finish(self.book, upload.id, "graded", row)
                self.events.changed(upload.id)
            else:
                message = payload if status == "error" else f"grading is unavailable on the server: {payload}"
                self._error(upload, message, digest)

    def _error(self, upload: store.Upload, message: str, digest: str | None) -> None:
        self.book.record_error(upload.student, digest or upload.sha256, __version__,
                               upload.filename, message, fingerprint=self.fingerprint)
        store.finish(self.book, upload.id, "error",
                     self.book.submission_id(upload.student, digest or upload.sha256, __version__),
                     message.splitlines()[0] if message else "error")
        self.events.changed(upload.id)
