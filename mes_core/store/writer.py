"""The ingest path's writer: buffers observations, part events, states, alarms, gaps, cursors and status, and
writes them in one transaction per flush (never a commit per observation).

Observations are the bulk: on PostgreSQL they go through ``COPY ... FROM STDIN``, on SQLite through one
``executemany``. Everything else is small and idempotent where a replay could repeat it: part events, alarm
onsets and gaps are ``INSERT ... ON CONFLICT DO NOTHING`` on their unique keys, clears only touch open alarms,
cursors and status are upserts. Because an agent's cursor is written in the same transaction as the
observations it led to, a crash or failure loses both or neither.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg
from sqlalchemy import Connection, Engine, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from mes_core.store.engine import DATABASE_ERRORS, describe_error, redact_url
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

Row = tuple[Any, ...]


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
    status: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)  # the newest per machine
    cursors: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)  # the newest per agent

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

    def __init__(self, engine: Engine, *, clock: Callable[[], int] = _now_us) -> None:
        """A writer to ``engine``'s database; ``clock`` gives "now" in UTC epoch microseconds (for
        ``updated_us`` when the caller does not pass one)."""
        self._engine = engine
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"
        self._buffers = _Buffers()
        self._lock = threading.Lock()  # guards self._buffers
        self._flush_lock = threading.Lock()  # one flush at a time

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
        params = {
            "tenant_id": tenant_id,
            "agent_url": agent_url,
            "instance_id": instance_id,
            "next_sequence": next_sequence,
            "updated_us": self._clock() if updated_us is None else updated_us,
        }
        with self._lock:
            self._buffers.cursors[(tenant_id, agent_url)] = params

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
        params = {
            "tenant_id": tenant_id,
            "machine_id": machine_id,
            "updated_us": self._clock() if updated_us is None else updated_us,
            "status": status,
            "state": state,
            "values_json": values_json if isinstance(values_json, str) else json.dumps(values_json),
        }
        with self._lock:
            self._buffers.status[(tenant_id, machine_id)] = params

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

    def _write(self, connection: Connection, batch: _Buffers) -> None:
        if batch.observations:
            if self._postgres:
                self._copy_observations(connection, batch.observations)
            else:
                connection.exec_driver_sql(_SQLITE_INSERT_OBSERVATIONS, batch.observations)
        insert = postgresql.insert if self._postgres else sqlite.insert
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
            connection.execute(upsert, list(batch.status.values()))
        if batch.cursors:
            upsert = insert(agent_cursors)
            upsert = upsert.on_conflict_do_update(
                index_elements=["tenant_id", "agent_url"],
                set_={name: upsert.excluded[name] for name in ("instance_id", "next_sequence", "updated_us")},
            )
            connection.execute(upsert, list(batch.cursors.values()))

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
        machine = and_(
            state_intervals.c.tenant_id == params["tenant_id"],
            state_intervals.c.machine_id == params["machine_id"],
        )
        # The interval to close is the machine's latest before start_us, found through the primary key, so
        # the cost does not grow with the machine's history.
        latest = (
            select(func.max(state_intervals.c.start_us))
            .where(machine, state_intervals.c.start_us < params["start_us"])
            .scalar_subquery()
        )
        connection.execute(
            update(state_intervals)
            .where(machine, state_intervals.c.start_us == latest, state_intervals.c.end_us.is_(None))
            .values(end_us=params["start_us"])
        )
        if kind == "open":
            insert = postgresql.insert if self._postgres else sqlite.insert
            # Several changes at one instant (a /current bootstrap, one SHDR line): the last one is the state.
            statement = insert(state_intervals)
            statement = statement.on_conflict_do_update(
                index_elements=["tenant_id", "machine_id", "start_us"],
                set_={"state": statement.excluded.state, "detail": statement.excluded.detail},
            )
            connection.execute(statement, params)

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
