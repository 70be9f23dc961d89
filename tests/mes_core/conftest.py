"""Database fixtures for the MES tests: every test that asks for ``db_url`` or ``store`` runs on both SQLite
(a temporary file) and PostgreSQL (a fresh schema in a database made for this test session, dropped at its
end; ``@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)`` picks one of the two).

PostgreSQL is found at ``$MESTWIN_TEST_PG``, an admin URL (default
``postgresql://postgres@127.0.0.1:5432/postgres``). When it cannot be reached the PostgreSQL cases are
skipped, and fail instead when ``CI=true``, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, make_url

from mes_core.store.engine import connect, migrate

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _admin_url() -> str:
    return os.environ.get("MESTWIN_TEST_PG", DEFAULT_ADMIN_URL)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The URL of an empty PostgreSQL database made for this session, dropped at its end."""
    admin_url = _admin_url()
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.Error as error:
        reason = f"PostgreSQL not reachable at {make_url(admin_url)!r}: {' '.join(str(error).split())}"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"mestwin_test_{os.getpid()}"
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database without tables: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mes.db'}"
    database: str = request.getfixturevalue("postgres_database")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    return f"{database}?options=-csearch_path%3D{schema}"


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    """An engine on a migrated, empty database (SQLite or PostgreSQL), disposed of after the test."""
    engine = connect(db_url)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
