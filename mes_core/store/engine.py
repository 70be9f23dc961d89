"""Opens the MES database (SQLite or PostgreSQL) and brings its tables up to date with the Alembic migrations.

``connect`` turns a URL from the command line into a SQLAlchemy engine that has been seen to connect;
``migrate`` runs the migrations in ``migrations/`` up to head; ``transaction`` is the one way the repository's
callers open a transaction, so every database failure reaches them as a ``StoreError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, exc, make_url
from sqlalchemy.engine import URL

from mes_core.store.errors import StoreError

__all__ = [
    "DATABASE_ERRORS",
    "MIGRATIONS_DIR",
    "connect",
    "describe_error",
    "migrate",
    "redact_url",
    "transaction",
]

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory (env.py, versions/) shipped inside the package."""

DATABASE_ERRORS: Final = (exc.DBAPIError, exc.TimeoutError)
"""What a failing or unreachable database raises through SQLAlchemy (the driver's errors, a pool timeout); its
other exceptions are programming errors and pass through untranslated."""

_MIGRATION_LOCK: Final = 0x6D657374  # "mest": one PostgreSQL advisory lock so concurrent servers migrate once
_PASSWORD = re.compile(r"(//[^/@:]*:)[^/@]*@")
_SQLITE_DRIVERS: Final = ("sqlite", "sqlite+pysqlite")
_POSTGRES_DRIVERS: Final = ("postgresql", "postgres", "postgresql+psycopg")


def redact_url(url: str | URL) -> str:
    """The URL as text with its password replaced by ``***``, for messages and logs."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return _PASSWORD.sub(r"\1***@", url)


def describe_error(error: BaseException) -> str:
    """The driver's own message for a database error, on one line (SQLAlchemy's wrapper text removed)."""
    original = getattr(error, "orig", None) or error
    text = " ".join(str(original).split())
    return text or type(original).__name__


def _parse(url: str) -> URL:
    text = url.strip()
    if not text:
        raise StoreError("database URL is empty: use sqlite:///PATH, a file path, or postgresql://...")
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text).expanduser()))
    try:
        parsed = make_url(text)
    except (exc.ArgumentError, ValueError) as error:
        raise StoreError(f"database URL {redact_url(text)!r} is not a valid URL") from error
    if parsed.drivername in _SQLITE_DRIVERS:
        return parsed
    if parsed.drivername in _POSTGRES_DRIVERS:
        return parsed.set(drivername="postgresql+psycopg")
    raise StoreError(
        f"database URL {redact_url(parsed)!r} names an unsupported database or driver "
        f"{parsed.drivername!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=5000")  # first, so switching to WAL waits for a busy file
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def connect(url: str) -> Engine:
    """An engine for the database at ``url``, after one successful connection to it.

    ``url`` is ``sqlite:///PATH`` or a plain file path (SQLite: WAL journal, ``synchronous=NORMAL``,
    foreign keys on, a 5 s busy timeout on every connection), or ``postgresql://...`` (driven by psycopg 3,
    connections checked before use so a restarted server costs no failed request; ``connect_timeout`` 10 s
    unless the URL sets one). The tables are not touched: call ``migrate`` for that.

    Returns:
        The engine; the caller disposes of it.

    Raises:
        StoreError: the URL is empty, malformed or names another database, or the database cannot be reached
            (the message names the URL without its password and the driver's reason).
    """
    parsed = _parse(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed)
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
            engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    except (exc.ArgumentError, ValueError, TypeError) as error:
        raise StoreError(f"database URL {redact_url(parsed)!r} is not usable: {error}") from error
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except exc.SQLAlchemyError as error:
        engine.dispose()
        raise StoreError(f"cannot open database {redact_url(parsed)!r}: {describe_error(error)}") from error
    return engine


def migrate(engine: Engine) -> None:
    """Bring the database's tables up to the newest migration; a database already there is left as it is.

    On PostgreSQL the migration holds an advisory lock, so several servers starting at once migrate once.

    Raises:
        StoreError: the database failed or refused a migration (e.g. tables made by something else), or it is
            at a revision this code does not know (written by a newer version).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except (*DATABASE_ERRORS, CommandError) as error:
        raise StoreError(
            f"cannot migrate database {redact_url(engine.url)!r}: {describe_error(error)}"
        ) from error


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """A connection inside one transaction: committed when the block ends, rolled back when it raises.

    Raises:
        StoreError: the database failed (SQLAlchemy's exception is its ``__cause__``); the caller's own
            exceptions pass through unchanged.
    """
    try:
        with engine.begin() as connection:
            yield connection
    except DATABASE_ERRORS as error:
        raise StoreError(f"database {redact_url(engine.url)!r} failed: {describe_error(error)}") from error
