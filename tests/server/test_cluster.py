"""`autograder serve --cluster local`: uploads graded on a Dask LocalCluster by the same job
as the local pool, each recorded once."""
from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from course_helpers import BANKS, STUDENTS, mistake_zip, reference_zip, wait_graded

from autograder.config import load_config
from autograder.gradebook import Gradebook
from autograder.jobs import GradingSetup
from autograder.server import tokens
from autograder.server.app import Settings, create_app
from autograder.server.grader import GradingService
from autograder.server.running import ServerHandle

pytest.importorskip("dask.distributed", reason="the cluster extra: pip install -e '.[cluster]'")


def test_uploads_are_graded_on_a_local_dask_cluster(tmp_path):
    book = Gradebook(tmp_path / "grades.sqlite")
    service = GradingService(book, GradingSetup.from_path(None), jobs=2, cluster="local")
    app = create_app(Settings(banks_dir=BANKS, book=book, grading=service, students=STUDENTS))
    server = ServerHandle(app, "127.0.0.1", 0, verbose=False).start()
    service.start()
    try:
        headers = {"Authorization": f"Bearer {tokens.issue(book, 'alice')}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_address[1]}", headers=headers,
                          timeout=30) as alice:
            ids = [alice.post("/api/submissions", files={"file": ("lab.zip", data)}).json()["id"]
                   for data in (reference_zip(tmp_path), mistake_zip(tmp_path, "attention.no_scale"))]
            graded = [wait_graded(alice, upload_id) for upload_id in ids]
        total = load_config().total_points
        assert [g["status"] for g in graded] == ["graded", "graded"]
        assert graded[0]["score"] == total and graded[1]["score"] < total
        assert book.query(sa.text("SELECT COUNT(*) FROM submissions"))[0][0] == 2
    finally:
        server.shutdown()
        server.server_close()
        service.stop()
        book.close()
