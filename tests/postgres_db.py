"""A fresh PostgreSQL database per test, on the server `.ci/run` starts.

The server is named by AUTOGRADER_TEST_POSTGRES (an admin URL with CREATEDB rights; default
postgresql://autograder:autograder@127.0.0.1:5432/postgres). Without a reachable server the
tests skip locally, but fail under CI=true: CI must prove the PostgreSQL path.
"""
from __future__ import annotations

import os
import secrets

import pytest

ADMIN_URL = os.environ.get("AUTOGRADER_TEST_POSTGRES",
                           "postgresql://autograder:autograder@127.0.0.1:5432/postgres")


def fresh_database() -> tuple[str, callable]:
    """(url of a new empty database, drop()) or skip/fail as the module doc says."""
    import psycopg

    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        message = f"no PostgreSQL server at {ADMIN_URL}: {str(exc).strip().splitlines()[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI must run the PostgreSQL tests)")
        pytest.skip(message)
    name = f"gradebook_{secrets.token_hex(6)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return f"{base}/{name}", drop


@pytest.fixture
def postgres_url():
    url, drop = fresh_database()
    yield url
    drop()
