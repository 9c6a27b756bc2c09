"""Fingerprints cached per submission hash (SQLite), so re-running on a grown class is cheap."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from autograder.similarity.fingerprint import WINDOW, K
from autograder.similarity.prints import SubmissionPrints

# Bump when normalisation or fingerprinting changes: old entries then simply stop matching.
VERSION = 1


class PrintCache:
    """digest -> SubmissionPrints; a missing or unreadable cache file is just empty."""

    def __init__(self, path: Path | None):
        self.path = path
        self.problem: str | None = None  # why the cache is off, for one line of output
        self._db = None
        if path is not None:
            try:
                self._db = sqlite3.connect(path)
                self._db.execute("CREATE TABLE IF NOT EXISTS prints (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            except sqlite3.Error as exc:  # read-only folder, not a database...: run without it
                self._db, self.problem = None, f"{path}: fingerprint cache not used ({exc})"

    @staticmethod
    def key(digest: str) -> str:
        return f"v{VERSION}-k{K}-w{WINDOW}-{digest}"

    def get(self, digest: str) -> SubmissionPrints | None:
        if self._db is None:
            return None
        try:
            row = self._db.execute("SELECT value FROM prints WHERE key = ?", (self.key(digest),)).fetchone()
            return SubmissionPrints.from_json(json.loads(row[0])) if row else None
        except (sqlite3.Error, ValueError, KeyError, TypeError):  # a damaged entry is recomputed
            return None

    def put(self, digest: str, prints: SubmissionPrints) -> None:
        if self._db is not None:
            try:
                with self._db:
                    self._db.execute("INSERT OR REPLACE INTO prints VALUES (?, ?)",
                                     (self.key(digest), json.dumps(prints.to_json())))
            except sqlite3.Error as exc:
                self._db, self.problem = None, f"{self.path}: fingerprint cache not used ({exc})"

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
