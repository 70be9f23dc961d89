"""The ingest path's writer: buffers observations, part events, states, alarms, gaps, cursors and status, and
writes them in one transaction per flush (never a commit per observation).

Observations are the bulk: on PostgreSQL they go through ``COPY ... FROM STDIN``, on SQLite through one
``executemany``, in both grouped by machine (a stable sort: each machine's rows keep their order), which
keeps the updates of the (tenant, machine, time) index local. Everything else is small and idempotent where
a replay could repeat it: part events, alarm onsets and gaps are ``INSERT ... ON CONFLICT DO NOTHING`` on
their unique keys, clears only touch open alarms, cursors and status are upserts. On SQLite the statements
that come by the thousand per flush (part events, cursors, status, state intervals) are compiled once and
run on plain tuples. Because an agent's cursor is written in the same transaction as the observations it
led to, a crash or failure loses both or neither.

With ``process=True`` the writing is done by a child process with its own engine on the same database
(SQLite's index upkeep is most of a busy ingestion's writing, and it then runs on another core, as a
database server would): a flush sends the batch through a pipe and waits for the child's commit. The rows
stay buffered here until the child says they are written; if the child dies (or hangs) meanwhile, the
agents' cursors tell whether its last transaction was committed (they are written in it), it is started
again, and an uncommitted batch stays buffered.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from select import select as wait_for_fds
from typing import Any, Final

import psycopg
from sqlalchemy import Connection, Engine, Table, Update, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from mes_core.store.engine import DATABASE_ERRORS, connect, describe_error, redact_url
from mes_core.store.errors import StoreError
from mes_core.store.schema import (
    agent_cursors,
    alarms,
    data_gaps,
    machine_status,
    part_events,
    state_intervals,
)

__all__ = ["OBSERVATION_COLUMNS", "PART_EVENT_COLUMNS", "BatchWriter"]

OBSERVATION_COLUMNS: Final = (
    "tenant_id",
    "machine_id",
    "ts_us",
    "instance_id",
    "seq",
    "item_id",
    "signal",
    "value",
    "num",
)
"""The order of an observation given as a tuple."""

PART_EVENT_COLUMNS: Final = (
    "tenant_id",
    "machine_id",
    "ts_us",
    "kind",
    "delta",
    "item_id",
    "instance_id",
    "seq",
)
"""The order of a part event given as a tuple."""

_OBSERVATION_WIDTH = len(OBSERVATION_COLUMNS)
_OBSERVATION_LIST = ", ".join(OBSERVATION_COLUMNS)
_SQLITE_INSERT_OBSERVATIONS = (
    f"INSERT INTO observations ({_OBSERVATION_LIST}) VALUES ({', '.join('?' * len(OBSERVATION_COLUMNS))})"
)
_PG_COPY_OBSERVATIONS = f"COPY observations ({_OBSERVATION_LIST}) FROM STDIN"
_BY_MACHINE = itemgetter(0, 1)
"""(tenant_id, machine_id) of an observation or part event tuple."""

CURSOR_COLUMNS: Final = ("tenant_id", "agent_url", "instance_id", "next_sequence", "updated_us")
STATUS_COLUMNS: Final = ("tenant_id", "machine_id", "updated_us", "status", "state", "values_json")
_STATE_COLUMNS: Final = ("tenant_id", "machine_id", "start_us", "end_us", "state", "detail")

Row = tuple[Any, ...]


def _sqlite_sql(
    table: Table, columns: tuple[str, ...], keys: tuple[str, ...] = (), update_columns: tuple[str, ...] = ()
) -> str:
    """The SQLite text of ``INSERT INTO table (columns) VALUES (?, ...)`` doing nothing on a conflict, or,
    with ``update_columns``, updating those from the new row on a conflict on ``keys``: compiled from the
    schema, run on tuples in the order of ``columns``."""
    statement = sqlite.insert(table).values({name: bindparam(name) for name in columns})
    if update_columns:
        statement = statement.on_conflict_do_update(
            index_elements=list(keys), set_={name: statement.excluded[name] for name in update_columns}
        )
    else:
        statement = statement.on_conflict_do_nothing()
    compiled = statement.compile(dialect=sqlite.dialect())
    if tuple(compiled.positiontup or ()) != columns:  # pragma: no cover - a change of SQLAlchemy's
        raise RuntimeError(f"unexpected parameter order {compiled.positiontup} for {table.name}")
    return str(compiled)


_SQLITE_PART_EVENTS = _sqlite_sql(part_events, PART_EVENT_COLUMNS)
_SQLITE_CURSORS = _sqlite_sql(
    agent_cursors, CURSOR_COLUMNS, ("tenant_id", "agent_url"), ("instance_id", "next_sequence", "updated_us")
)
_SQLITE_STATUS = _sqlite_sql(
    machine_status,
    STATUS_COLUMNS,
    ("tenant_id", "machine_id"),
    ("updated_us", "status", "state", "values_json"),
)
_MACHINE_STATES = and_(
    state_intervals.c.tenant_id == bindparam("t"), state_intervals.c.machine_id == bindparam("m")
)


def _end_latest_before(*ends: ColumnElement[bool]) -> Update:
    """End at ``at`` the machine's (tenant ``t``, machine ``m``) latest interval that began before ``at``,
    when its end satisfies ``ends``. The interval is found through the primary key, so the cost does not grow
    with the machine's history."""
    return (
        update(state_intervals)
        .where(
            _MACHINE_STATES,
            state_intervals.c.start_us
            == select(func.max(state_intervals.c.start_us))
            .where(_MACHINE_STATES, state_intervals.c.start_us < bindparam("at"))
            .scalar_subquery(),
            *ends,
        )
        .values(end_us=bindparam("at"))
    )


def _sqlite_form(statement: Update) -> tuple[str, tuple[str, ...]]:
    """The statement's SQLite text and the order of its parameters (run on tuples on the hot path)."""
    compiled = statement.compile(dialect=sqlite.dialect())
    return str(compiled), tuple(compiled.positiontup or ())


_CLOSE_STATE = _end_latest_before(state_intervals.c.end_us.is_(None))
"""Close the machine's open interval that began before ``at``, at ``at``."""
_SPLIT_STATE = _end_latest_before(
    or_(state_intervals.c.end_us.is_(None), state_intervals.c.end_us > bindparam("at"))
)
"""Before a new interval from ``at``: end the machine's latest interval that began before ``at`` there, when
it is open or (a change that arrives late, before the newest stored one) runs past ``at``."""
_BOUND_STATE = (
    update(state_intervals)
    .where(_MACHINE_STATES, state_intervals.c.start_us == bindparam("at"), state_intervals.c.end_us.is_(None))
    .values(
        end_us=select(func.min(state_intervals.c.start_us))
        .where(_MACHINE_STATES, state_intervals.c.start_us > bindparam("at"))
        .scalar_subquery()
    )
)
"""After a new interval from ``at``: it ends where the machine's next stored interval begins, if there is one
(a late change); otherwise it stays open."""
_SQLITE_CLOSE_STATE, _SQLITE_CLOSE_NAMES = _sqlite_form(_CLOSE_STATE)
_SQLITE_SPLIT_STATE, _SQLITE_SPLIT_NAMES = _sqlite_form(_SPLIT_STATE)
_SQLITE_BOUND_STATE, _SQLITE_BOUND_NAMES = _sqlite_form(_BOUND_STATE)
_SQLITE_STATE_OPEN = _sqlite_sql(
    state_intervals, _STATE_COLUMNS, ("tenant_id", "machine_id", "start_us"), ("state", "detail")
)


def _now_us() -> int:
    return time.time_ns() // 1000


def _as_tuples(
    rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]], columns: tuple[str, ...]
) -> list[Row]:
    out: list[Row] = []
    width = len(columns)
    for row in rows:
        if isinstance(row, Mapping):
            try:
                out.append(tuple([row[name] for name in columns]))
            except KeyError as error:
                raise ValueError(
                    f"row {row!r} has no {error.args[0]!r}: rows need {', '.join(columns)}"
                ) from None
        elif isinstance(row, tuple | list) and len(row) == width:
            out.append(tuple(row))
        else:
            raise ValueError(f"row {row!r} is not a mapping or a {width}-tuple ({', '.join(columns)})")
    return out


@dataclass
class _Buffers:
    """Everything not yet written, in the order it must be written."""

    observations: list[Row] = field(default_factory=list)
    part_events: list[Row] = field(default_factory=list)
    states: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # ("open" | "close", params)
    onsets: list[dict[str, Any]] = field(default_factory=list)
    clears: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    status: dict[tuple[int, str], Row] = field(
        default_factory=dict
    )  # the newest per machine (STATUS_COLUMNS)
    cursors: dict[tuple[int, str], Row] = field(default_factory=dict)  # the newest per agent (CURSOR_COLUMNS)

    def size(self) -> int:
        return (
            len(self.observations)
            + len(self.part_events)
            + len(self.states)
            + len(self.onsets)
            + len(self.clears)
            + len(self.gaps)
            + len(self.status)
            + len(self.cursors)
        )

    def put_back(self, newer: _Buffers) -> None:
        """Append ``newer`` (added while this was being written) after this one's rows; newer upserts win."""
        self.observations += newer.observations
        self.part_events += newer.part_events
        self.states += newer.states
        self.onsets += newer.onsets
        self.clears += newer.clears
        self.gaps += newer.gaps
        self.status.update(newer.status)
        self.cursors.update(newer.cursors)


class BatchWriter:
    """Buffers rows for the MES tables and writes them in one transaction per ``flush``.

    The ``add_*``, ``upsert_*``, ``clear_*`` and ``set_*`` methods only buffer (no I/O); the caller flushes on
    its own cadence, e.g. every second or when ``pending`` passes 10,000. When a flush fails, its transaction
    rolls back and every row stays buffered, ahead of rows added since, for the next flush: nothing is lost
    and nothing is written twice. A row the database keeps refusing (a value of the wrong type) therefore
    keeps failing flushes until ``discard`` drops the buffer.

    Thread-safe: one thread may flush (e.g. through ``asyncio.to_thread``) while others add.

    State intervals and alarm clears must be given in time order per machine, as the ingest sees them.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], int] = _now_us,
        process: bool = False,
        process_timeout_s: float = 120.0,
    ) -> None:
        """A writer to ``engine``'s database; ``clock`` gives "now" in UTC epoch microseconds (for
        ``updated_us`` when the caller does not pass one). With ``process`` the transactions run in a child
        process (see the module's docstring; call ``close`` when done), which is taken for dead when a
        flush gets no answer for ``process_timeout_s``.

        Raises:
            ValueError: ``process`` with an in-memory SQLite database (a child cannot open it).
        """
        self._engine = engine
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"
        self._buffers = _Buffers()
        self._lock = threading.Lock()  # guards self._buffers
        self._flush_lock = threading.Lock()  # one flush at a time
        self._process: _WriterProcess | None = None
        if process:
            database = engine.url.database
            if engine.dialect.name == "sqlite" and (not database or database == ":memory:"):
                raise ValueError("a writer process needs a database file or server, not in-memory SQLite")
            self._process = _WriterProcess(
                engine.url.render_as_string(hide_password=False), process_timeout_s
            )

    @property
    def process_pid(self) -> int | None:
        """The writer process's pid (None without one, or before it started)."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start the writer process now rather than at the first flush (nothing to do without one)."""
        if self._process is not None:
            with self._flush_lock:
                self._process.ensure()

    def close(self) -> None:
        """Stop the writer process, if any (what is still buffered stays buffered)."""
        if self._process is not None:
            with self._flush_lock:
                self._process.close()

    @property
    def pending(self) -> int:
        """The number of buffered rows and operations."""
        with self._lock:
            return self._buffers.size()

    def add_observations(self, rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]]) -> None:
        """Buffer observations: mappings with the ``observations`` columns, or tuples in the order of
        ``OBSERVATION_COLUMNS`` (the fast path).

        Raises:
            ValueError: a row lacks a column or has the wrong number of values (nothing is buffered).
        """
        if rows and all(type(row) is tuple and len(row) == _OBSERVATION_WIDTH for row in rows):
            batch: list[Row] = list(rows)  # type: ignore[arg-type]
        else:
            batch = _as_tuples(rows, OBSERVATION_COLUMNS)
        with self._lock:
            self._buffers.observations += batch

    def extend_observations(self, rows: list[Row]) -> None:
        """Buffer observations given as tuples in the order of ``OBSERVATION_COLUMNS``, unchecked: the
        ingest path's own rows, thousands per second (``add_observations`` checks each row)."""
        with self._lock:
            self._buffers.observations += rows

    def add_part_events(self, rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]]) -> None:
        """Buffer part events: mappings with the ``part_events`` columns, or tuples in the order of
        ``PART_EVENT_COLUMNS``. An event whose (tenant, machine, item, instance, seq) is already stored is
        ignored when written, so feeding the same events twice counts them once.

        Raises:
            ValueError: a row lacks a column or has the wrong number of values (nothing is buffered).
        """
        batch = _as_tuples(rows, PART_EVENT_COLUMNS)
        with self._lock:
            self._buffers.part_events += batch

    def upsert_state_interval(
        self, tenant_id: int, machine_id: str, start_us: int, state: str, detail: str | None = None
    ) -> None:
        """Buffer a new, open-ended state interval from ``start_us``.

        When written, the machine's open interval that started earlier is closed at ``start_us``; an interval
        already stored (a replay) is kept as it is.
        """
        params = {
            "tenant_id": tenant_id,
            "machine_id": machine_id,
            "start_us": start_us,
            "end_us": None,
            "state": state,
            "detail": detail,
        }
        with self._lock:
            self._buffers.states.append(("open", params))

    def close_state_interval(self, tenant_id: int, machine_id: str, end_us: int) -> None:
        """Buffer the closing of the machine's open state interval at ``end_us`` (no new interval opens)."""
        params = {"tenant_id": tenant_id, "machine_id": machine_id, "start_us": end_us}
        with self._lock:
            self._buffers.states.append(("close", params))

    def upsert_alarm_onset(
        self,
        tenant_id: int,
        machine_id: str,
        item_id: str,
        native_code: str,
        onset_us: int,
        *,
        category: str,
        severity: str,
        level: str,
        text: str | None = None,
    ) -> None:
        """Buffer an alarm's onset.

        The same onset (tenant, machine, item, native code, onset) written twice is stored once; the first one
        written wins.
        """
        params = {
            "tenant_id": tenant_id,
            "machine_id": machine_id,
            "item_id": item_id,
            "native_code": native_code,
            "category": category,
            "severity": severity,
            "level": level,
            "text": text,
            "onset_us": onset_us,
        }
        with self._lock:
            self._buffers.onsets.append(params)

    def clear_alarm(
        self,
        tenant_id: int,
        machine_id: str,
        item_id: str,
        native_code: str | None,
        clear_us: int,
        *,
        onset_us: int | None = None,
    ) -> None:
        """Buffer the clearing, at ``clear_us``, of a data item's open alarms.

        Cleared are the alarms with ``native_code`` (every code when None: an MTConnect Normal without a code
        clears the whole item) that began at or before ``clear_us`` (exactly at ``onset_us`` when given).
        Clears are written after the same flush's onsets; an alarm already cleared keeps its first clear, so
        a replay changes nothing.
        """
        params = {
            "tenant_id": tenant_id,
            "machine_id": machine_id,
            "item_id": item_id,
            "native_code": native_code,
            "clear_us": clear_us,
            "onset_us": onset_us,
        }
        with self._lock:
            self._buffers.clears.append(params)

    def add_gap(self, tenant_id: int, machine_id: str, start_us: int, end_us: int, reason: str) -> None:
        """Buffer a span without data for a machine; a gap starting at the same instant is stored once.

        Raises:
            ValueError: ``end_us`` is before ``start_us``.
        """
        if end_us < start_us:
            raise ValueError(f"gap end {end_us} is before its start {start_us}")
        params = {
            "tenant_id": tenant_id,
            "machine_id": machine_id,
            "start_us": start_us,
            "end_us": end_us,
            "reason": reason,
        }
        with self._lock:
            self._buffers.gaps.append(params)

    def set_cursor(
        self,
        tenant_id: int,
        agent_url: str,
        instance_id: int,
        next_sequence: int,
        *,
        updated_us: int | None = None,
    ) -> None:
        """Buffer where ingestion of an agent resumes (the last one set before a flush is written)."""
        row = (
            tenant_id,
            agent_url,
            instance_id,
            next_sequence,
            self._clock() if updated_us is None else updated_us,
        )
        with self._lock:
            self._buffers.cursors[(tenant_id, agent_url)] = row

    def set_status(
        self,
        tenant_id: int,
        machine_id: str,
        status: str,
        state: str,
        values_json: str | Mapping[str, Any],
        *,
        updated_us: int | None = None,
    ) -> None:
        """Buffer a machine's current status (the last one set before a flush is written); ``values_json`` is
        JSON text or a mapping to encode as JSON."""
        row = (
            tenant_id,
            machine_id,
            self._clock() if updated_us is None else updated_us,
            status,
            state,
            values_json if isinstance(values_json, str) else json.dumps(values_json),
        )
        with self._lock:
            self._buffers.status[(tenant_id, machine_id)] = row

    def discard(self) -> int:
        """Drop everything buffered and return how many rows and operations were dropped."""
        with self._lock:
            dropped, self._buffers = self._buffers.size(), _Buffers()
        return dropped

    def flush(self) -> int:
        """Write everything buffered in one transaction.

        Returns:
            The number of rows and operations written (0 when nothing was buffered).

        Raises:
            StoreError: the database failed; the transaction was rolled back and everything stays buffered
                (as it does when anything else interrupts the flush, which is re-raised as it is).
        """
        with self._flush_lock:
            with self._lock:
                batch, self._buffers = self._buffers, _Buffers()
            count = batch.size()
            if not count:
                return 0
            try:
                if self._process is not None:
                    self._process_write(batch)
                else:
                    with self._engine.begin() as connection:
                        self._write(connection, batch)
            except BaseException as error:
                with self._lock:
                    batch.put_back(self._buffers)
                    self._buffers = batch
                if isinstance(error, (*DATABASE_ERRORS, psycopg.Error, sqlite3.Error)):
                    where, reason = redact_url(self._engine.url), describe_error(error)
                    raise StoreError(
                        f"flush of {count} rows to {where!r} failed, kept for the next flush: {reason}"
                    ) from error
                raise
            return count

    def _process_write(self, batch: _Buffers) -> None:
        assert self._process is not None
        try:
            self._process.write(batch)
        except _ProcessLost as lost:
            if batch.cursors and self._committed(batch):
                return  # it died after its commit: the batch is written
            raise StoreError(f"{lost}; its last batch was not committed and is kept") from lost

    def _committed(self, batch: _Buffers) -> bool:
        """Whether ``batch`` was committed: the stored cursors are the ones it carries."""
        rows = list(batch.cursors.values())
        with self._engine.connect() as connection:
            for tenant_id, agent_url, instance_id, next_sequence, _ in rows:
                stored = connection.execute(
                    select(agent_cursors.c.instance_id, agent_cursors.c.next_sequence).where(
                        agent_cursors.c.tenant_id == tenant_id, agent_cursors.c.agent_url == agent_url
                    )
                ).first()
                if stored is None or tuple(stored) != (instance_id, next_sequence):
                    return False
        return True

    def _write(self, connection: Connection, batch: _Buffers) -> None:
        if not self._postgres:
            self._write_sqlite(connection, batch)
            return
        if batch.observations:
            self._copy_observations(connection, sorted(batch.observations, key=_BY_MACHINE))
        insert = postgresql.insert
        if batch.part_events:
            rows = [dict(zip(PART_EVENT_COLUMNS, row, strict=True)) for row in batch.part_events]
            connection.execute(insert(part_events).on_conflict_do_nothing(), rows)
        for kind, params in batch.states:
            self._write_state(connection, kind, params)
        if batch.onsets:
            connection.execute(insert(alarms).on_conflict_do_nothing(), batch.onsets)
        for params in batch.clears:
            self._write_clear(connection, params)
        if batch.gaps:
            connection.execute(insert(data_gaps).on_conflict_do_nothing(), batch.gaps)
        if batch.status:
            upsert = insert(machine_status)
            upsert = upsert.on_conflict_do_update(
                index_elements=["tenant_id", "machine_id"],
                set_={
                    name: upsert.excluded[name] for name in ("updated_us", "status", "state", "values_json")
                },
            )
            rows = [dict(zip(STATUS_COLUMNS, row, strict=True)) for row in batch.status.values()]
            connection.execute(upsert, rows)
        if batch.cursors:
            upsert = insert(agent_cursors)
            upsert = upsert.on_conflict_do_update(
                index_elements=["tenant_id", "agent_url"],
                set_={name: upsert.excluded[name] for name in ("instance_id", "next_sequence", "updated_us")},
            )
            rows = [dict(zip(CURSOR_COLUMNS, row, strict=True)) for row in batch.cursors.values()]
            connection.execute(upsert, rows)

    def _write_sqlite(self, connection: Connection, batch: _Buffers) -> None:
        """``_write`` on SQLite: the same statements in the same order, the frequent ones on tuples."""
        run = connection.exec_driver_sql
        if batch.observations:
            run(_SQLITE_INSERT_OBSERVATIONS, sorted(batch.observations, key=_BY_MACHINE))
        if batch.part_events:
            run(_SQLITE_PART_EVENTS, batch.part_events)
        for kind, params in batch.states:
            self._write_state(connection, kind, params)
        if batch.onsets:
            connection.execute(sqlite.insert(alarms).on_conflict_do_nothing(), batch.onsets)
        for params in batch.clears:
            self._write_clear(connection, params)
        if batch.gaps:
            connection.execute(sqlite.insert(data_gaps).on_conflict_do_nothing(), batch.gaps)
        if batch.status:
            run(_SQLITE_STATUS, list(batch.status.values()))
        if batch.cursors:
            run(_SQLITE_CURSORS, list(batch.cursors.values()))

    @staticmethod
    def _copy_observations(connection: Connection, rows: list[Row]) -> None:
        driver = connection.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        try:
            with driver.cursor() as cursor, cursor.copy(_PG_COPY_OBSERVATIONS) as copy:
                write_row = copy.write_row
                for row in rows:
                    write_row(row)
        except psycopg.Error:
            if driver.broken or driver.closed:
                connection.invalidate()  # the pool must not hand this connection out again
            raise

    def _write_state(self, connection: Connection, kind: str, params: dict[str, Any]) -> None:
        at = {"t": params["tenant_id"], "m": params["machine_id"], "at": params["start_us"]}
        sqlite_end, names, statement = (
            (_SQLITE_SPLIT_STATE, _SQLITE_SPLIT_NAMES, _SPLIT_STATE)
            if kind == "open"
            else (_SQLITE_CLOSE_STATE, _SQLITE_CLOSE_NAMES, _CLOSE_STATE)
        )
        if not self._postgres:
            connection.exec_driver_sql(sqlite_end, tuple(at[name] for name in names))
        else:
            connection.execute(statement, at)
        if kind != "open":
            return
        # Several changes at one instant (a /current bootstrap, one SHDR line): the last one is the state.
        if not self._postgres:
            row = tuple(params[name] for name in _STATE_COLUMNS)
            connection.exec_driver_sql(_SQLITE_STATE_OPEN, row)
            connection.exec_driver_sql(_SQLITE_BOUND_STATE, tuple(at[name] for name in _SQLITE_BOUND_NAMES))
            return
        insert = postgresql.insert(state_intervals)
        insert = insert.on_conflict_do_update(
            index_elements=["tenant_id", "machine_id", "start_us"],
            set_={"state": insert.excluded.state, "detail": insert.excluded.detail},
        )
        connection.execute(insert, params)
        connection.execute(_BOUND_STATE, at)

    @staticmethod
    def _write_clear(connection: Connection, params: dict[str, Any]) -> None:
        conditions = [
            alarms.c.tenant_id == params["tenant_id"],
            alarms.c.machine_id == params["machine_id"],
            alarms.c.item_id == params["item_id"],
            alarms.c.clear_us.is_(None),
            # Strictly before: a clear and a new onset of the same code at one instant (a warning turning into
            # a fault) close the old alarm, not the new one written in the same flush.
            alarms.c.onset_us < params["clear_us"],
        ]
        if params["native_code"] is not None:
            conditions.append(alarms.c.native_code == params["native_code"])
        if params["onset_us"] is not None:
            conditions.append(alarms.c.onset_us == params["onset_us"])
        connection.execute(update(alarms).where(*conditions).values(clear_us=params["clear_us"]))


# -- the writer process --------------------------------------------------------------------------------


class _ProcessLost(Exception):
    """The writer process died or stopped answering during a flush."""


class _WriterProcess:
    """The child that runs the flushes' transactions: ``python -c`` running ``_serve`` (no re-import of the
    parent's main module, unlike multiprocessing's spawn). Frames (an 8-byte length, then a pickle) go
    through two pipes: a batch in, ("ok",) or ("error", reason, is_database_error) back. Every write to and
    read from the child is bounded by ``timeout_s``, so a hung child cannot hang a flush."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._to_child = -1
        self._from_child = -1

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def ensure(self) -> None:
        """A running child, started (again) if needed."""
        if self._process is not None and self._process.poll() is None:
            return
        self.close()
        child_reads, to_child = os.pipe()
        from_child, child_writes = os.pipe()
        root = str(Path(__file__).resolve().parents[2])  # the child imports this very mes_core
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        code = "import sys; from mes_core.store.writer import _serve; _serve(*sys.argv[1:])"
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", code, self._url, str(child_reads), str(child_writes)],
                pass_fds=(child_reads, child_writes),
                env={**os.environ, "PYTHONPATH": path},
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            os.close(to_child)
            os.close(from_child)
            raise
        finally:
            os.close(child_reads)
            os.close(child_writes)
        os.set_blocking(to_child, False)
        self._to_child, self._from_child = to_child, from_child

    def write(self, batch: _Buffers) -> None:
        self.ensure()
        deadline = time.monotonic() + self._timeout_s
        try:
            _send(self._to_child, batch, deadline)
            reply = _receive(self._from_child, deadline)
        except (EOFError, OSError, TimeoutError) as error:
            self.close()
            raise _ProcessLost(f"the writer process ended or hung ({type(error).__name__})") from error
        if reply[0] != "ok":
            _, reason, database = reply
            if database:
                raise StoreError(f"the writer process could not write: {reason}")
            raise RuntimeError(f"the writer process failed: {reason}")

    def close(self) -> None:
        """Tell the child to stop (it finishes the batch it writes) and close the pipes; kill a child that
        does not end within 5 s (or the timeout, when shorter)."""
        process, to_child, from_child = self._process, self._to_child, self._from_child
        self._process, self._to_child, self._from_child = None, -1, -1
        if to_child >= 0:
            with contextlib.suppress(OSError, TimeoutError):
                _send(to_child, None, time.monotonic() + 1.0)
            os.close(to_child)
        if from_child >= 0:
            os.close(from_child)
        if process is not None:
            try:
                process.wait(min(5.0, self._timeout_s))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5.0)


_LENGTH = struct.Struct("!Q")


def _send(fd: int, message: object, deadline: float) -> None:
    """Write one frame to the non-blocking ``fd`` before ``deadline`` (TimeoutError after it)."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    data = memoryview(_LENGTH.pack(len(payload)) + payload)
    while data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not wait_for_fds([], [fd], [], remaining)[1]:
            raise TimeoutError("the writer process does not read")
        try:
            data = data[os.write(fd, data) :]
        except BlockingIOError:
            continue


def _receive(fd: int, deadline: float | None) -> Any:
    """Read one frame from ``fd`` (waiting until ``deadline``, or for ever with None); EOFError at its end."""
    header = _read(fd, _LENGTH.size, deadline)
    return pickle.loads(_read(fd, _LENGTH.unpack(header)[0], deadline))


def _read(fd: int, size: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    while size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not wait_for_fds([fd], [], [], remaining)[0]:
                raise TimeoutError("the writer process does not answer")
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("the pipe was closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _serve(url: str, receive_fd: str, send_fd: str) -> None:
    """The writer process: write each batch received in one transaction until told to stop (None) or the
    parent goes away."""
    receive, send = int(receive_fd), int(send_fd)
    engine = connect(url)  # the child's own engine
    writer = BatchWriter(engine)
    try:
        while True:
            try:
                batch = _receive(receive, None)
            except (EOFError, OSError):
                return
            if batch is None:
                return
            try:
                with engine.begin() as connection:
                    writer._write(connection, batch)
            except (*DATABASE_ERRORS, psycopg.Error, sqlite3.Error) as error:
                reply: tuple[Any, ...] = ("error", describe_error(error), True)
            except Exception as error:  # reported to the parent, which raises it
                reply = ("error", f"{type(error).__name__}: {error}", False)
            else:
                reply = ("ok",)
            data = pickle.dumps(reply)
            try:
                os.write(send, _LENGTH.pack(len(data)) + data)  # a few bytes: one write
            except OSError:  # the parent gave up on this batch (and closed the pipe): nothing to tell
                return
    finally:
        engine.dispose()
