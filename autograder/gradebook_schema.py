"""The gradebook's tables (SQLAlchemy Core) and the migrations that build them, in order.

Two views of the schema live here, each with one job:

- ``MIGRATIONS``: ``(version, step)`` pairs; ``step(connection)`` brings a version-(n-1)
  database to version n, on SQLite and PostgreSQL alike. Applied steps are never edited: to
  change the schema, append a step. Version 1 is the schema of the SQLite-only gradebook
  (files written by it open unchanged) and is compatible with the ``quiz_scores`` table that
  ``quiz score --gradebook`` creates on its own.
- ``TABLES``: the current shape, used to build queries (never to create tables).

Migrations are plain steps rather than an Alembic script directory: they run on open, in the
same transaction that records the version, in every process that opens the gradebook (a
batch, each server process, `quiz score`), with nothing to deploy beside the package.
"""
from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

Step = Callable[[sa.Connection], None]


def _v1_tables(metadata: sa.MetaData) -> None:
    """The version-1 tables, exactly the columns and keys the SQLite-only gradebook had."""
    sa.Table(
        "submissions", metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("student", sa.Text, nullable=False),
        sa.Column("submission_sha256", sa.Text, nullable=False),
        sa.Column("grader_version", sa.Text, nullable=False),
        sa.Column("source_path", sa.Text),
        sa.Column("score", sa.Float),
        sa.Column("max_score", sa.Float),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("sandbox", sa.Text),
        sa.Column("seed", sa.BigInteger),
        sa.Column("execution_time", sa.Float),
        sa.Column("notes", sa.Text, nullable=False, server_default="[]"),  # JSON list
        sa.Column("results_json", sa.Text, nullable=False),  # Gradescope results.json
        sa.Column("graded_at", sa.Text, nullable=False),  # ISO 8601, UTC
        sa.UniqueConstraint("student", "submission_sha256", "grader_version"),
        sa.CheckConstraint("status IN ('graded', 'error')", name="submissions_status"),
        sa.Index("submissions_by_student", "student", "graded_at"),
    )
    sa.Table(
        "cases", metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.Text, nullable=False),  # "<module>.<function>: <case>"
        sa.Column("module", sa.Text, nullable=False),
        sa.Column("function", sa.Text, nullable=False),
        sa.Column("case_name", sa.Text, nullable=False),
        sa.Column("weight", sa.Float, nullable=False, server_default="1.0"),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("status", sa.Text, nullable=False),  # passed | failed | not implemented | error
        sa.Column("mistake", sa.Text),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("hint", sa.Text),
        sa.Column("heatmap", sa.Text),  # JSON {"got", "expected"} or NULL
        sa.Index("cases_by_submission", "submission_id"),
    )
    sa.Table(
        "quiz_scores", metadata,
        sa.Column("student", sa.Text, primary_key=True),
        sa.Column("quiz", sa.Text, primary_key=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("scored_at", sa.Text, nullable=False),
    )


def _v2_tables(metadata: sa.MetaData) -> None:
    """The course server's tables: login tokens, the upload queue, quiz attempts, settings."""
    _v2_settings(metadata)
    sa.Table(
        "tokens", metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("student", sa.Text, nullable=False),  # the instructor's row: role 'instructor'
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("token_sha256", sa.Text, nullable=False, unique=True),  # never the token
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("revoked_at", sa.Text),
        sa.CheckConstraint("role IN ('student', 'instructor')", name="tokens_role"),
    )
    sa.Table(
        "uploads", metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("student", sa.Text, nullable=False),
        sa.Column("assignment", sa.Text, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),  # sanitised; shown escaped
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),  # of the upload's bytes
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("late", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("submitted_at", sa.Text, nullable=False),
        sa.Column("started_at", sa.Text),
        sa.Column("finished_at", sa.Text),
        sa.Column("claimed_by", sa.Text),  # "<host>:<pid>" of the server process grading it
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id", ondelete="SET NULL")),
        sa.Column("error", sa.Text),
        sa.CheckConstraint("status IN ('queued', 'grading', 'graded', 'error')", name="uploads_status"),
        sa.Index("uploads_by_status", "status", "submitted_at"),
        sa.Index("uploads_by_student", "student", "submitted_at"),
    )
    sa.Table(
        "quiz_attempts", metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("student", sa.Text, nullable=False),
        sa.Column("quiz", sa.Text, nullable=False),
        sa.Column("answers", sa.Text, nullable=False),  # JSON {question id: answer}
        sa.Column("results", sa.Text, nullable=False),  # JSON per-question scores
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("submitted_at", sa.Text, nullable=False),
        sa.Index("quiz_attempts_by_student", "student", "quiz"),
    )


def _v2_settings(metadata: sa.MetaData) -> None:
    """Server-wide values every server process shares (the session signing key)."""
    sa.Table(
        "settings", metadata,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def _create(*builds: Callable[[sa.MetaData], None]) -> Step:
    """A step creating the tables of the last `builds` (the earlier ones are what it refers to)."""
    def step(connection: sa.Connection) -> None:
        metadata = sa.MetaData()
        for build in builds[:-1]:
            build(metadata)
        known = set(metadata.tables)
        builds[-1](metadata)
        new = [t for name, t in metadata.tables.items() if name not in known]
        metadata.create_all(connection, tables=new, checkfirst=True)  # keeps a quiz CLI's quiz_scores
    return step


def _v2_fingerprints(connection: sa.Connection) -> None:
    """What a grade was made under (autograder.fingerprint): NULL for rows graded before."""
    for column in ("grader_fingerprint", "config_sha256"):
        connection.execute(sa.text(f"ALTER TABLE submissions ADD COLUMN {column} TEXT"))
    _create(_v1_tables, _v2_tables)(connection)


MIGRATIONS: list[tuple[int, Step]] = [
    (1, _create(_v1_tables)),
    (2, _v2_fingerprints),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]

schema_version = sa.Table(
    "schema_version", sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.Text, nullable=False),
)


def _current() -> sa.MetaData:
    metadata = sa.MetaData()
    _v1_tables(metadata)
    _v2_tables(metadata)
    submissions = metadata.tables["submissions"]
    submissions.append_column(sa.Column("grader_fingerprint", sa.Text))
    submissions.append_column(sa.Column("config_sha256", sa.Text))
    return metadata


TABLES = _current().tables
submissions = TABLES["submissions"]
cases = TABLES["cases"]
quiz_scores = TABLES["quiz_scores"]
tokens = TABLES["tokens"]
uploads = TABLES["uploads"]
quiz_attempts = TABLES["quiz_attempts"]
settings = TABLES["settings"]
