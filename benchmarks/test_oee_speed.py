"""OEE query speed: one machine over 30 days and 100 machines over 30 days, SQLite and PostgreSQL.

Run with ``.venv/bin/pytest benchmarks/test_oee_speed.py --benchmark-only -s``. A module fixture stores a
realistic month, untimed: the tenant in Europe/Berlin with the seed's three 8-hour shifts (30-minute breaks,
Monday to Friday), 100 machines, one production run per machine and week with its ideal cycle time (55-75 s),
and per cycle a ``producing`` interval of 1.0-1.2 x the ideal cycle time, a part event at its end (2 % also
reported bad) and 10-20 s ``idle``; idle through breaks, a setup at the start of most days, an alarm in about
every second half-shift, idle and ``off`` at weekends. That is about 40,000 state intervals and 20,000 part
events per machine (4 and 2 million in all). Each machine's month is made once and written to both databases
with the raw driver (``executemany`` on SQLite, ``COPY`` on PostgreSQL), the tables' indexes built after the
load, then analysed (``VACUUM ANALYZE`` on PostgreSQL, as autovacuum would have done).

Timed, on each database: ``machine_oee`` for one machine over 2026-03-02..2026-03-31, without and with a shift
filter; the same answer through the HTTP API in process (httpx ``ASGITransport``); ``aggregate_oee`` of the
100 machines. Baseline, same run: the bare cost of fetching that machine's intervals and part events over the
period with the driver's own cursor (plain ``SELECT``, tuples out, no arithmetic), so the ratio says what an
answer costs against reading its rows. It prints a table and stores the medians and ratios in
``extra_info``. PostgreSQL is ``$MESTWIN_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``),
in a database made for the run; its cases are skipped when it is unreachable (failed when ``CI=true``).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as clock
from pathlib import Path
from typing import Any, Final

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, make_url

from mes_core.api.app import Settings, create_app
from mes_core.domain.shift_calendar import ShiftInstance
from mes_core.services.oee import aggregate_oee, machine_oee
from mes_core.services.shifts import calendar_for, put_schedule
from mes_core.services.tenants import create_tenant
from mes_core.store import connect, migrate
from mes_core.store.records import Run
from mes_core.store.writer import PART_EVENT_COLUMNS

ZONE: Final = "Europe/Berlin"
MACHINES: Final = int(os.environ.get("MESTWIN_OEE_BENCH_MACHINES", "100"))
"""Machines of the aggregate (CI runs fewer: storing the month is most of this file's time)."""
MACHINE: Final = "M001"
FROM, TO = "2026-03-02", "2026-03-31"
SHIFT: Final = "First Shift"
NOW: Final = datetime(2026, 4, 1, 12, tzinfo=UTC).timestamp()
WEEKDAYS: Final = ["mon", "tue", "wed", "thu", "fri"]
SEED_SHIFTS: Final = {
    "shifts": [
        {"name": name, "start": clock(start), "end": clock(end), "break_minutes": 30, "days": WEEKDAYS}
        for name, start, end in (("First Shift", 6, 14), ("Second Shift", 14, 22), ("Third Shift", 22, 6))
    ]
}
"""The seed's schedule as the service takes it (the API's schema has parsed the times)."""
ROUNDS: Final = 10
AGGREGATE_ROUNDS: Final = 3
RESULTS: dict[str, dict[str, float]] = {}
SETUP: dict[str, Store] = {}

_INTERVAL_COLUMNS: Final = ("tenant_id", "machine_id", "start_us", "end_us", "state", "detail")
_MACHINE_COLUMNS: Final = (
    "tenant_id",
    "machine_id",
    "name",
    "source",
    "agent_url",
    "device",
    "poll_interval_ms",
    "created_us",
    "updated_us",
)
_RUN_COLUMNS: Final = tuple(Run.__dataclass_fields__)
_ALARM_COLUMNS: Final = (
    "tenant_id",
    "machine_id",
    "item_id",
    "native_code",
    "category",
    "severity",
    "level",
    "text",
    "onset_us",
    "clear_us",
)
_ALARMS: Final = (
    ("spindle", "2001", "spindle overload"),
    ("axis", "1010", "X axis following error"),
    ("coolant", "3044", "coolant level low"),
    ("tool", "4100", "tool life expired"),
)
_S: Final = 1_000_000

Row = tuple[Any, ...]


# -- the month ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class MachineMonth:
    """One machine's stored month, as rows in the tables' column orders."""

    intervals: list[Row]
    parts: list[Row]
    alarms: list[Row]
    runs: list[Run]


class _Timeline:
    """Appends states at increasing instants (microseconds); equal states merge, empty intervals vanish."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.states: list[str] = []

    def at(self, t_us: int, state: str) -> None:
        if self.starts and t_us <= self.starts[-1]:
            t_us = self.starts[-1]
            self.starts.pop()
            self.states.pop()
        if self.states and self.states[-1] == state:
            return
        self.starts.append(t_us)
        self.states.append(state)

    @property
    def last(self) -> int:
        return self.starts[-1]

    def rows(self, tenant_id: int, machine_id: str) -> list[Row]:
        ends: list[int | None] = [*self.starts[1:], None]
        return [
            (tenant_id, machine_id, s, e, state, None)
            for s, e, state in zip(self.starts, ends, self.states, strict=True)
        ]


def _working_spans(instance: ShiftInstance) -> list[tuple[int, int]]:
    """The instance minus its breaks, in microseconds."""
    spans, start = [], round(instance.start * _S)
    for b_start, b_end in instance.breaks:
        spans.append((start, round(b_start * _S)))
        start = round(b_end * _S)
    spans.append((start, round(instance.end * _S)))
    return spans


def machine_month(
    tenant_id: int, machine_id: str, instances: Sequence[ShiftInstance], start_us: int, seed: int
) -> MachineMonth:
    """The machine's month: off until shortly before the first shift, then shift after shift as the module
    docstring describes; one run per ISO week, from an hour before its first shift to its last shift's end."""
    rng = random.Random(seed)
    line = _Timeline()
    parts: list[Row] = []
    alarm_rows: list[Row] = []
    runs: list[Run] = []
    line.at(start_us, "off")
    weeks: dict[tuple[int, int], list[ShiftInstance]] = {}
    for instance in instances:
        weeks.setdefault(instance.business_date.isocalendar()[:2], []).append(instance)
    seq = 0
    for n, week in enumerate(weeks.values()):
        ideal_s = rng.uniform(55.0, 75.0)
        run_start = round(week[0].start * _S) - 3600 * _S
        run_end = round(week[-1].end * _S)
        runs.append(
            Run(
                id=f"run-{machine_id}-{n}",
                tenant_id=tenant_id,
                machine_id=machine_id,
                job_number=f"JOB-{n + 1:03d}",
                part_number=f"P-{rng.randrange(1000, 9999)}",
                program_name=f"O{rng.randrange(1000, 9999)}",
                planned_quantity=1200,
                ideal_cycle_time_s=round(ideal_s, 1),
                status="completed",
                created_us=run_start,
                started_us=run_start,
                ended_us=run_end,
                updated_us=run_end,
                actual_quantity=None,
                rejected_quantity=0,
                operator_notes=None,
            )
        )
        ideal_s = round(ideal_s, 1)
        gap_start = line.last
        first = round(week[0].start * _S)
        if first - gap_start > 4 * 3600 * _S:  # the weekend: idle a while, switched off, idle again
            line.at(gap_start + 3600 * _S, "off")
        line.at(run_start + 1800 * _S, "idle")
        for instance in week:
            for k, (span_start, span_end) in enumerate(_working_spans(instance)):
                t = max(line.last, span_start)
                if k == 0 and instance.name == SHIFT and (instance is week[0] or rng.random() < 0.5):
                    line.at(t, "setup")
                    t += round(rng.uniform(1800 if instance is week[0] else 600, 3600) * _S)
                alarm_at = rng.randrange(t, span_end) if rng.random() < 0.5 else None
                while t < span_end:
                    if alarm_at is not None and t >= alarm_at:
                        category, code, text = rng.choice(_ALARMS)
                        clear = t + round(rng.uniform(180, 1200) * _S)
                        line.at(t, "alarm")
                        alarm_rows.append(
                            (
                                tenant_id,
                                machine_id,
                                "cond",
                                code,
                                category,
                                "CRITICAL",
                                "FAULT",
                                text,
                                t,
                                clear,
                            )
                        )
                        t, alarm_at = clear, None
                        continue
                    line.at(t, "producing")
                    t += round(ideal_s * (1.0 + 0.2 * rng.random()) * _S)
                    parts.append((tenant_id, machine_id, t, "total", 1, "pc", 1, seq))
                    if rng.random() < 0.02:
                        parts.append((tenant_id, machine_id, t, "bad", 1, "pcb", 1, seq))
                    seq += 1
                    line.at(t, "idle")
                    t += round((10.0 + 10.0 * rng.random()) * _S)
                line.at(max(line.last, span_end), "idle")  # breaks and the shift's end: idle
    return MachineMonth(line.rows(tenant_id, machine_id), parts, alarm_rows, runs)


# -- loading ------------------------------------------------------------------------------------------------


def _insert_sqlite(driver: Any, table: str, columns: Sequence[str], rows: list[Row]) -> None:
    marks = ", ".join("?" * len(columns))
    driver.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _insert_postgres(driver: Any, table: str, columns: Sequence[str], rows: list[Row]) -> None:
    with driver.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


_BULK_TABLES: Final = ("state_intervals", "part_events")
_SQLITE_INDEXES: Final = (
    "SELECT 'DROP INDEX ' || name, sql FROM sqlite_master"
    " WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN (?, ?)"
)
_POSTGRES_INDEXES: Final = (
    "SELECT 'ALTER TABLE ' || conrelid::regclass || ' DROP CONSTRAINT ' || quote_ident(conname),"
    "       'ALTER TABLE ' || conrelid::regclass || ' ADD CONSTRAINT ' || quote_ident(conname) || ' '"
    "       || pg_get_constraintdef(oid)"
    " FROM pg_constraint WHERE conrelid IN (%s::regclass, %s::regclass) AND contype IN ('p', 'u')"
    " UNION ALL"
    " SELECT 'DROP INDEX ' || quote_ident(indexname), indexdef FROM pg_indexes"
    " WHERE schemaname = current_schema() AND tablename IN (%s, %s)"
    " AND indexname NOT IN (SELECT conname FROM pg_constraint)"
)


def _drop_indexes(driver: Any, dialect: str) -> list[str]:
    """Drop the bulk tables' indexes (on PostgreSQL also their keys; SQLite cannot drop those); return the
    statements that build them again.

    Building an index once after the load is much faster than keeping it up to date row by row.
    """
    query, params = (
        (_SQLITE_INDEXES, _BULK_TABLES) if dialect == "sqlite" else (_POSTGRES_INDEXES, _BULK_TABLES * 2)
    )
    found = list(driver.execute(query, params).fetchall())
    for drop, _ in found:
        driver.execute(drop)
    driver.commit()
    return [build for _, build in found]


@dataclass(frozen=True, slots=True)
class Store:
    """A database holding the month: its engine and URL, the tenant, and what was stored."""

    engine: Engine
    url: str
    tenant_id: int
    token: str
    intervals: int
    parts: int
    alarms: int
    setup_s: float
    """Wall time to store the month in every database of the run (loaded together)."""


@dataclass(slots=True)
class _Loading:
    """A database being filled: its engine and URL, a driver connection, the tenant, the indexes to build."""

    engine: Engine
    url: str
    raw: Any
    tenant_id: int
    token: str
    indexes: list[str]

    @property
    def insert(self) -> Any:
        return _insert_sqlite if self.engine.dialect.name == "sqlite" else _insert_postgres


def _begin(engine: Engine, url: str, machine_ids: Sequence[str]) -> _Loading:
    tenant, token = create_tenant(engine, "acme", ZONE)
    put_schedule(engine, tenant.id, SEED_SHIFTS)
    raw = engine.raw_connection()
    loading = _Loading(
        engine, url, raw, tenant.id, token, _drop_indexes(raw.driver_connection, engine.dialect.name)
    )
    now_us = round(NOW * _S)
    loading.insert(
        raw.driver_connection,
        "machines",
        _MACHINE_COLUMNS,
        [(tenant.id, m, m, "mtconnect", "http://127.0.0.1:9", m, 1000, now_us, now_us) for m in machine_ids],
    )
    return loading


def _finish(loading: _Loading) -> None:
    driver = loading.raw.driver_connection
    for definition in loading.indexes:
        driver.execute(definition)
    driver.commit()
    if loading.engine.dialect.name == "postgresql":
        # A database in use has been vacuumed: the visibility map lets index-only scans skip the table.
        driver.autocommit = True  # VACUUM refuses to run inside a transaction
        driver.execute("VACUUM ANALYZE")
        driver.autocommit = False
    else:
        driver.execute("PRAGMA analysis_limit = 1000")  # statistics from a sample, as PostgreSQL does
        driver.execute("ANALYZE")
        driver.commit()


def store_month(databases: dict[str, tuple[Engine, str]]) -> dict[str, Store]:
    """Store the tenant, its schedule, machines, runs and month in each migrated, empty database (each
    machine's month is made once and written to all of them)."""
    began = time.perf_counter()
    machine_ids = [f"M{n + 1:03d}" for n in range(MACHINES)]
    loadings: dict[str, _Loading] = {}
    try:
        for name, (engine, url) in databases.items():
            loadings[name] = _begin(engine, url, machine_ids)
        first = next(iter(loadings.values()))
        assert len({x.tenant_id for x in loadings.values()}) == 1, "the rows carry one tenant id for all"
        calendar = calendar_for(first.engine, first.tenant_id)
        start = calendar.business_day(date.fromisoformat(FROM))[0]
        instances = calendar.instances(start, calendar.business_day(date.fromisoformat(TO))[1])
        intervals = parts = alarms = 0
        for n, machine_id in enumerate(machine_ids):
            month = machine_month(first.tenant_id, machine_id, instances, round(start * _S), seed=n)
            runs = [tuple(getattr(r, c) for c in _RUN_COLUMNS) for r in month.runs]
            for loading in loadings.values():
                driver = loading.raw.driver_connection
                loading.insert(driver, "state_intervals", _INTERVAL_COLUMNS, month.intervals)
                loading.insert(driver, "part_events", PART_EVENT_COLUMNS, month.parts)
                loading.insert(driver, "alarms", _ALARM_COLUMNS, month.alarms)
                loading.insert(driver, "runs", _RUN_COLUMNS, runs)
                driver.commit()
            intervals += len(month.intervals)
            parts += len(month.parts)
            alarms += len(month.alarms)
        for loading in loadings.values():
            _finish(loading)
    finally:
        for loading in loadings.values():
            loading.raw.close()
    setup_s = time.perf_counter() - began
    return {
        name: Store(x.engine, x.url, x.tenant_id, x.token, intervals, parts, alarms, setup_s)
        for name, x in loadings.items()
    }


class _Unreachable(Exception):
    """The PostgreSQL server does not answer; the message says where and why."""


@contextmanager
def _sqlite_database(directory: Path) -> Iterator[tuple[Engine, str]]:
    """A migrated SQLite file, its engine and URL."""
    url = f"sqlite:///{directory / 'oee.db'}"
    engine = connect(url)
    try:
        migrate(engine)
        yield engine, url
    finally:
        engine.dispose()


@contextmanager
def _postgresql_database() -> Iterator[tuple[Engine, str]]:
    """A migrated PostgreSQL database made for this run (dropped after it), its engine and URL.

    Raises:
        _Unreachable: the server does not answer.
    """
    admin_url = os.environ.get("MESTWIN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.Error as error:
        raise _Unreachable(
            f"PostgreSQL not reachable at {make_url(admin_url)!r}: {' '.join(str(error).split())}"
        ) from error
    name = f"mestwin_oee_bench_{os.getpid()}"
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


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Store], str]]:
    """The month in SQLite and, when its server answers, PostgreSQL (else why not), loaded in one pass."""
    with ExitStack() as stack:
        databases = {"sqlite": stack.enter_context(_sqlite_database(tmp_path_factory.mktemp("oee")))}
        unreachable = ""
        try:
            databases["postgresql"] = stack.enter_context(_postgresql_database())
        except _Unreachable as error:
            unreachable = str(error)
        yield store_month(databases), unreachable


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, stores: tuple[dict[str, Store], str]) -> Store:
    """Each database's month; PostgreSQL's cases are skipped when it is unreachable (failed when CI=true)."""
    found, unreachable = stores
    if request.param not in found:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(unreachable)
        pytest.skip(unreachable)
    return found[request.param]


# -- the measurements ---------------------------------------------------------------------------------------


def _bounds_us(store: Store) -> tuple[int, int]:
    """The period ``FROM``..``TO`` (whole business days) in microseconds."""
    calendar = calendar_for(store.engine, store.tenant_id)
    start = calendar.business_day(date.fromisoformat(FROM))[0]
    end = calendar.business_day(date.fromisoformat(TO))[1]
    return round(start * _S), round(end * _S)


def _record(benchmark: Any, store: Store, case: str) -> None:
    median_ms = benchmark.stats.stats.median * 1000
    RESULTS.setdefault(store.engine.dialect.name, {})[case] = median_ms
    SETUP[store.engine.dialect.name] = store
    benchmark.extra_info.update(
        database=store.engine.dialect.name,
        median_ms=round(median_ms, 2),
        state_intervals=store.intervals,
        part_events=store.parts,
        setup_s=round(store.setup_s, 1),
    )
    baseline = RESULTS[store.engine.dialect.name].get("raw_fetch")
    if baseline is not None and case != "raw_fetch":
        per_machine = median_ms / MACHINES if case == "aggregate" else median_ms
        benchmark.extra_info["ratio_to_raw_fetch"] = round(per_machine / baseline, 2)


_RAW_INTERVALS: Final = (
    "SELECT start_us, end_us, state FROM state_intervals WHERE tenant_id = {0} AND machine_id = {0}"
    " AND start_us < {0} AND (end_us IS NULL OR end_us > {0}) ORDER BY start_us"
)
_RAW_PARTS: Final = (
    "SELECT ts_us, kind, delta FROM part_events WHERE tenant_id = {0} AND machine_id = {0}"
    " AND ts_us > {0} AND ts_us <= {0} ORDER BY ts_us"
)


def test_raw_fetch_baseline(benchmark: Any, store: Store) -> None:
    """Baseline: the driver's cursor fetching one machine's month of intervals and part events."""
    lo_us, hi_us = _bounds_us(store)
    mark = "?" if store.engine.dialect.name == "sqlite" else "%s"
    queries = [
        (_RAW_INTERVALS.format(mark), (store.tenant_id, MACHINE, hi_us, lo_us)),
        (_RAW_PARTS.format(mark), (store.tenant_id, MACHINE, lo_us, hi_us)),
    ]
    raw = store.engine.raw_connection()
    try:
        driver: Any = raw.driver_connection

        def fetch() -> int:
            fetched = 0
            for sql, params in queries:
                cursor = driver.cursor()
                cursor.execute(sql, params)
                fetched += len(cursor.fetchall())
                cursor.close()
            driver.rollback()  # the service's transaction ends too
            return fetched

        rows = benchmark.pedantic(fetch, rounds=ROUNDS, warmup_rounds=1)
    finally:
        raw.close()
    assert rows > 50_000
    _record(benchmark, store, "raw_fetch")
    benchmark.extra_info["rows"] = rows


def test_machine_oee(benchmark: Any, store: Store) -> None:
    """``machine_oee``: one machine, 30 days, no shift filter."""
    answer = benchmark.pedantic(
        machine_oee,
        args=(store.engine, store.tenant_id, MACHINE, NOW),
        kwargs={"from_": FROM, "to": TO},
        rounds=ROUNDS,
        warmup_rounds=1,
    )
    assert answer["details"]["total_parts"] > 15_000
    _record(benchmark, store, "machine")


def test_machine_oee_one_shift(benchmark: Any, store: Store) -> None:
    """``machine_oee``: one machine, 30 days, the First Shift's instances only."""
    answer = benchmark.pedantic(
        machine_oee,
        args=(store.engine, store.tenant_id, MACHINE, NOW),
        kwargs={"from_": FROM, "to": TO, "shift": SHIFT},
        rounds=ROUNDS,
        warmup_rounds=1,
    )
    assert answer["shift"] == SHIFT
    _record(benchmark, store, "machine_shift")


class _InProcessApi:
    """The MES API app in this process, its lifespan entered, with an httpx client over ``ASGITransport``."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._app = create_app(Settings(url, migrate=False, clock=lambda: NOW))
        self._lifespan = self._app.router.lifespan_context(self._app)
        self._loop.run_until_complete(self._lifespan.__aenter__())
        transport = httpx.ASGITransport(app=self._app)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://mes")

    def get(self, path: str, headers: dict[str, str]) -> httpx.Response:
        return self._loop.run_until_complete(self._client.get(path, headers=headers))

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.run_until_complete(self._lifespan.__aexit__(None, None, None))
        self._loop.close()


def test_machine_oee_http(benchmark: Any, store: Store) -> None:
    """``GET /api/acme/mes/oee/M001?from&to`` through the whole API (auth, service, JSON), in process."""
    api = _InProcessApi(store.url)
    try:
        response = benchmark.pedantic(
            api.get,
            args=(
                f"/api/acme/mes/oee/{MACHINE}?from={FROM}&to={TO}",
                {"Authorization": f"Bearer {store.token}"},
            ),
            rounds=ROUNDS,
            warmup_rounds=1,
        )
    finally:
        api.close()
    assert response.status_code == 200, response.text
    _record(benchmark, store, "machine_http")


def test_aggregate_oee(benchmark: Any, store: Store) -> None:
    """``aggregate_oee``: all 100 machines, 30 days, from their summed components."""
    answer = benchmark.pedantic(
        aggregate_oee,
        args=(store.engine, store.tenant_id, NOW),
        kwargs={"from_": FROM, "to": TO},
        rounds=AGGREGATE_ROUNDS,
    )
    assert answer["machine_count"] == MACHINES
    _record(benchmark, store, "aggregate")


_CASES: Final = (
    ("raw_fetch", "raw driver fetch, 1 machine (baseline)"),
    ("machine", "machine_oee, 1 machine"),
    ("machine_shift", "machine_oee, 1 machine, First Shift"),
    ("machine_http", "GET /oee/{id}, 1 machine, in process"),
    ("aggregate", "aggregate_oee, 100 machines"),
)


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not RESULTS:
        return
    lines = ["", f"OEE benchmark ({FROM}..{TO}, medians; ratio: per machine / raw fetch of one machine)"]
    for store in list(SETUP.values())[:1]:
        databases = " and ".join(SETUP)
        lines.append(
            f"  the month: {MACHINES} machines, {store.intervals:,} state intervals, {store.parts:,} part"
            f" events, {store.alarms:,} alarms; stored in {store.setup_s:.0f} s ({databases}, one pass)"
        )
    for db, figures in RESULTS.items():
        baseline = figures.get("raw_fetch")
        for case, label in _CASES:
            if case not in figures:
                continue
            ms = figures[case]
            per_machine = ms / MACHINES if case == "aggregate" else ms
            ratio = f"{per_machine / baseline:6.2f}" if baseline else "     -"
            lines.append(f"  {db:<10} {label:<40} {ms:>9.1f} ms   x{ratio}")
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():  # type: ignore[union-attr]
        print("\n".join(lines))
