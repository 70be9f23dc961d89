"""Store speed: 100,000 observations through ``BatchWriter`` against the bare driver, SQLite and PostgreSQL.

Run with ``.venv/bin/pytest benchmarks/test_store_speed.py --benchmark-only -s``. Both sides write the same
rows into the same migrated ``observations`` table (with its index) in 10,000-row transactions: on SQLite the
writer against raw ``sqlite3`` ``executemany`` (same pragmas), on PostgreSQL the writer's COPY against
psycopg's ``COPY ... FROM STDIN`` with ``write_row`` on its own connection. It prints, and stores in
``extra_info``, rows per second for each and the writer / baseline ratios. The table is emptied before each
round, untimed. PostgreSQL is ``$MESTWIN_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``),
in a database made for the run; its cases are skipped when it is unreachable (failed when ``CI=true``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, make_url

from mes_core.store import BatchWriter, connect, migrate
from mes_core.store.writer import OBSERVATION_COLUMNS

ROWS = 100_000
BATCH = 10_000
ROUNDS = 5
RESULTS: dict[str, float] = {}
_COLUMNS = ", ".join(OBSERVATION_COLUMNS)
_SQLITE_INSERT = f"INSERT INTO observations ({_COLUMNS}) VALUES ({', '.join('?' * len(OBSERVATION_COLUMNS))})"
_PG_COPY = f"COPY observations ({_COLUMNS}) FROM STDIN"

Row = tuple[Any, ...]


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    """100 machines x 20 data items, one observation per millisecond; a third carry text, all a number."""
    start = 1_772_434_800_000_000
    return [
        (
            1,
            f"M{i % 100:03d}",
            start + i * 1_000,
            1,
            i,
            f"item{i % 20}",
            "position",
            None if i % 3 else "ACTIVE",
            i * 0.25,
        )
        for i in range(ROWS)
    ]


def _batches(rows: list[Row]) -> Iterator[list[Row]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _empty(engine: Engine, statement: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(statement)


def _writer_run(engine: Engine, rows: list[Row]) -> None:
    writer = BatchWriter(engine)
    for batch in _batches(rows):
        writer.add_observations(batch)
        writer.flush()


# -- SQLite -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Path]]:
    """A migrated SQLite file and the engine on it."""
    path = tmp_path_factory.mktemp("store") / "bench.db"
    engine = connect(str(path))
    migrate(engine)
    yield engine, path
    engine.dispose()


def _sqlite_raw(path: Path, rows: list[Row]) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA synchronous=NORMAL")  # WAL is a property of the file, set by connect()
        for batch in _batches(rows):
            connection.executemany(_SQLITE_INSERT, batch)
            connection.commit()
    finally:
        connection.close()


def test_sqlite_raw_executemany(benchmark: Any, sqlite_store: tuple[Engine, Path], rows: list[Row]) -> None:
    engine, path = sqlite_store
    benchmark.pedantic(
        _sqlite_raw,
        args=(path, rows),
        setup=lambda: _empty(engine, "DELETE FROM observations"),
        rounds=ROUNDS,
    )
    RESULTS["sqlite_raw"] = ROWS / benchmark.stats.stats.min
    benchmark.extra_info["rows_per_s"] = round(RESULTS["sqlite_raw"])


def test_sqlite_writer(benchmark: Any, sqlite_store: tuple[Engine, Path], rows: list[Row]) -> None:
    engine, _ = sqlite_store
    benchmark.pedantic(
        _writer_run,
        args=(engine, rows),
        setup=lambda: _empty(engine, "DELETE FROM observations"),
        rounds=ROUNDS,
    )
    RESULTS["sqlite_writer"] = ROWS / benchmark.stats.stats.min
    benchmark.extra_info["rows_per_s"] = round(RESULTS["sqlite_writer"])


# -- PostgreSQL ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_store() -> Iterator[tuple[Engine, str]]:
    """A migrated PostgreSQL database made for this run (dropped after it), the engine and its libpq URL."""
    admin_url = os.environ.get("MESTWIN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.Error as error:
        reason = f"PostgreSQL not reachable at {make_url(admin_url)!r}: {' '.join(str(error).split())}"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"mestwin_bench_{os.getpid()}"
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        engine = connect(url)
        try:
            migrate(engine)
            yield engine, url
        finally:
            engine.dispose()
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_raw(url: str, rows: list[Row]) -> None:
    with psycopg.connect(url) as connection:
        for batch in _batches(rows):
            with connection.cursor() as cursor, cursor.copy(_PG_COPY) as copy:
                for row in batch:
                    copy.write_row(row)
            connection.commit()


def test_postgresql_raw_copy(benchmark: Any, postgres_store: tuple[Engine, str], rows: list[Row]) -> None:
    engine, url = postgres_store
    benchmark.pedantic(
        _postgres_raw, args=(url, rows), setup=lambda: _empty(engine, "TRUNCATE observations"), rounds=ROUNDS
    )
    RESULTS["postgresql_raw"] = ROWS / benchmark.stats.stats.min
    benchmark.extra_info["rows_per_s"] = round(RESULTS["postgresql_raw"])


def test_postgresql_writer(benchmark: Any, postgres_store: tuple[Engine, str], rows: list[Row]) -> None:
    engine, _ = postgres_store
    benchmark.pedantic(
        _writer_run, args=(engine, rows), setup=lambda: _empty(engine, "TRUNCATE observations"), rounds=ROUNDS
    )
    RESULTS["postgresql_writer"] = ROWS / benchmark.stats.stats.min
    benchmark.extra_info["rows_per_s"] = round(RESULTS["postgresql_writer"])


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    lines = ["", f"store benchmark ({ROWS:,} observations, {BATCH:,}-row transactions, best of {ROUNDS})"]
    for db, baseline in (("sqlite", "raw sqlite3 executemany"), ("postgresql", "raw psycopg COPY write_row")):
        writer, raw = RESULTS.get(f"{db}_writer"), RESULTS.get(f"{db}_raw")
        if writer is None or raw is None:
            continue
        lines += [
            f"  {db:<10} {'BatchWriter':<26} {writer:>10,.0f} rows/s",
            f"  {db:<10} {baseline:<26} {raw:>10,.0f} rows/s (same run)",
            f"  {db:<10} {'ratio writer / baseline':<26} {writer / raw:>10.3f}",
        ]
    if len(lines) == 2:
        return
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():  # type: ignore[union-attr]
        print("\n".join(lines))
