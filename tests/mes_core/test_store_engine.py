"""The store's engine: URLs, connection settings, clear errors, migrations that build exactly schema.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, text

from mes_core.errors import MesError
from mes_core.store import StoreError, connect, migrate, transaction
from mes_core.store.engine import MIGRATIONS_DIR, redact_url
from mes_core.store.schema import metadata, tenants


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))


def _head(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_migrate_builds_exactly_the_schema(db_url: str) -> None:
    """After migrate() the database has schema.py's tables, columns, keys and indexes and nothing else."""
    engine = connect(db_url)
    try:
        assert _differences(engine)  # an empty database differs: the comparison is not vacuous
        migrate(engine)
        assert _differences(engine) == []
        assert set(inspect(engine).get_table_names()) == set(metadata.tables) | {"alembic_version"}
        assert _head(engine) == "0003"
    finally:
        engine.dispose()


def test_migrate_twice_changes_nothing(store: Engine) -> None:
    """migrate() on a database already at head keeps its rows and its revision."""
    with transaction(store) as conn:
        conn.execute(tenants.insert().values(name="acme", token_hash="h" * 64, created_us=1))
    migrate(store)
    migrate(store)
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tenants)).scalar_one() == 1
    assert _head(store) == "0003"
    assert _differences(store) == []


def test_downgrade_to_base_removes_every_table(store: Engine) -> None:
    """The first revision's downgrade drops exactly what its upgrade made."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(store).get_table_names()) <= {"alembic_version"}
    migrate(store)
    assert _differences(store) == []


def test_migrate_refuses_tables_it_did_not_make(db_url: str) -> None:
    """A database with a foreign ``tenants`` table is a StoreError, not a half-migrated database."""
    engine = connect(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE tenants (x INTEGER)"))
        with pytest.raises(StoreError, match="cannot migrate database"):
            migrate(engine)
    finally:
        engine.dispose()


def test_sqlite_connections_are_wal_normal_with_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    """Every SQLite connection runs in WAL mode, synchronous=NORMAL, foreign keys on, 5 s busy timeout."""
    engine = connect(str(tmp_path / "plain-path.db"))  # a plain path is a SQLite file
    try:
        assert engine.dialect.name == "sqlite"
        with engine.connect() as conn:
            names = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names}
        assert pragma == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 5000}
        assert (tmp_path / "plain-path.db").exists()
    finally:
        engine.dispose()


def test_postgresql_urls_use_psycopg_and_pre_ping(postgres_database: str) -> None:
    """postgresql:// and postgres:// become postgresql+psycopg://, with connections checked before use."""
    for url in (postgres_database, postgres_database.replace("postgresql://", "postgres://", 1)):
        engine = connect(url)
        try:
            assert engine.url.drivername == "postgresql+psycopg"
            assert engine.pool._pre_ping
        finally:
            engine.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "database URL is empty"),
        ("mysql://admin:s3cret@db.example/mes", "unsupported database or driver 'mysql'"),
        ("postgresql+asyncpg://admin:s3cret@db.example/mes", "unsupported database or driver"),
        ("postgresql://admin:s3cret@db.example:port/mes", "is not a valid URL"),
    ],
)
def test_bad_urls_are_store_errors_without_the_password(url: str, message: str) -> None:
    """A bad URL is one StoreError (a MesError) naming the URL, with the password masked."""
    with pytest.raises(StoreError, match=message) as caught:
        connect(url)
    assert isinstance(caught.value, MesError)
    assert "s3cret" not in str(caught.value)
    if url:
        assert "admin:***@db.example" in str(caught.value)


def test_a_database_that_is_down_is_a_clear_store_error() -> None:
    """No server on the port: StoreError 'cannot open database URL: <driver's reason>', password masked."""
    with pytest.raises(
        StoreError, match=r"cannot open database 'postgresql\+psycopg://admin:\*\*\*@127.0.0.1:9/m"
    ):
        connect("postgresql://admin:s3cret@127.0.0.1:9/mes?connect_timeout=2")


def test_a_sqlite_file_that_cannot_be_opened_is_a_store_error(tmp_path: Path) -> None:
    """A SQLite path in a directory that does not exist is a StoreError naming the path."""
    with pytest.raises(
        StoreError, match=r"cannot open database 'sqlite:///.*/missing/mes\.db': unable to open"
    ):
        connect(f"sqlite:///{tmp_path}/missing/mes.db")


def test_transaction_turns_database_failures_into_store_errors(store: Engine) -> None:
    """A failing statement inside transaction() is a StoreError with the driver's error as its cause."""
    with pytest.raises(StoreError, match="failed") as caught, transaction(store) as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    assert caught.value.__cause__ is not None


def test_redact_url_masks_passwords_in_text_and_urls() -> None:
    """Passwords never reach a message, whether the URL parses or not."""
    assert redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert "pw" not in redact_url("x://u:pw@h:bad/db")
