"""The queries behind shifts, production runs, rejects and OEE, each scoped to one tenant.

Like ``repository``, every function takes a SQLAlchemy ``Connection`` from ``engine.transaction``. The OEE
loaders return plain tuples rather than records: an OEE answer over a month reads tens of thousands of rows.
Instants are UTC epoch microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from mes_core.store.records import (
    CalendarExceptionRow,
    PartReject,
    Run,
    RunPhaseRow,
    ShiftRow,
    ShiftSchedule,
)
from mes_core.store.schema import (
    alarms,
    calendar_exceptions,
    part_events,
    part_rejects,
    run_phases,
    runs,
    shift_schedules,
    shifts,
    tenants,
)

__all__ = [
    "OPEN_RUN_STATUSES",
    "RUN_FIELDS",
    "add_exception",
    "alarm_onsets",
    "close_phase",
    "delete_exception",
    "get_run",
    "get_schedule",
    "insert_phase",
    "insert_reject",
    "insert_run",
    "list_exceptions",
    "list_runs",
    "list_shifts",
    "open_run",
    "part_rows",
    "part_totals",
    "reject_rows",
    "rejects_of_run",
    "replace_schedule",
    "run_phases_of",
    "runs_overlapping",
    "set_timezone",
    "state_totals",
    "touch_schedule",
    "update_run",
]

OPEN_RUN_STATUSES: Final = ("setup", "running", "paused")
"""The statuses of a run that has not ended."""

RUN_FIELDS: Final = frozenset(
    {"status", "ended_us", "actual_quantity", "rejected_quantity", "operator_notes", "planned_quantity"}
)
"""The run fields ``update_run`` may change."""


# -- shift schedule ----------------------------------------------------------------------------------------


def get_schedule(conn: Connection, tenant_id: int) -> ShiftSchedule | None:
    row = conn.execute(select(shift_schedules).where(shift_schedules.c.tenant_id == tenant_id)).first()
    return None if row is None else ShiftSchedule(**row._mapping)


def list_shifts(conn: Connection, tenant_id: int) -> list[ShiftRow]:
    query = select(shifts).where(shifts.c.tenant_id == tenant_id).order_by(shifts.c.position)
    return [ShiftRow(**row._mapping) for row in conn.execute(query)]


def list_exceptions(conn: Connection, tenant_id: int) -> list[CalendarExceptionRow]:
    query = (
        select(calendar_exceptions)
        .where(calendar_exceptions.c.tenant_id == tenant_id)
        .order_by(calendar_exceptions.c.start_local, calendar_exceptions.c.id)
    )
    return [CalendarExceptionRow(**row._mapping) for row in conn.execute(query)]


def replace_schedule(
    conn: Connection,
    tenant_id: int,
    *,
    day_start: str,
    break_policy: str,
    shift_rows: Sequence[Mapping[str, Any]],
    exception_rows: Sequence[Mapping[str, Any]] | None,
    updated_us: int,
) -> None:
    """Replace the tenant's shifts (and its exceptions, unless ``exception_rows`` is None) in one go."""
    conn.execute(delete(shift_schedules).where(shift_schedules.c.tenant_id == tenant_id))
    conn.execute(
        insert(shift_schedules).values(
            tenant_id=tenant_id, day_start=day_start, break_policy=break_policy, updated_us=updated_us
        )
    )
    conn.execute(delete(shifts).where(shifts.c.tenant_id == tenant_id))
    if shift_rows:
        conn.execute(
            insert(shifts),
            [{**row, "tenant_id": tenant_id, "position": i} for i, row in enumerate(shift_rows)],
        )
    if exception_rows is not None:
        conn.execute(delete(calendar_exceptions).where(calendar_exceptions.c.tenant_id == tenant_id))
        if exception_rows:
            conn.execute(
                insert(calendar_exceptions), [{**row, "tenant_id": tenant_id} for row in exception_rows]
            )


def add_exception(conn: Connection, tenant_id: int, row: Mapping[str, Any]) -> int:
    result = conn.execute(insert(calendar_exceptions).values(**row, tenant_id=tenant_id))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def delete_exception(conn: Connection, tenant_id: int, exception_id: int) -> bool:
    result = conn.execute(
        delete(calendar_exceptions).where(
            calendar_exceptions.c.tenant_id == tenant_id, calendar_exceptions.c.id == exception_id
        )
    )
    return bool(result.rowcount)


def touch_schedule(conn: Connection, tenant_id: int, updated_us: int) -> None:
    """Mark the tenant's schedule changed (its calendar is rebuilt), creating default settings if needed."""
    result = conn.execute(
        update(shift_schedules).where(shift_schedules.c.tenant_id == tenant_id).values(updated_us=updated_us)
    )
    if not result.rowcount:
        conn.execute(insert(shift_schedules).values(tenant_id=tenant_id, updated_us=updated_us))


def set_timezone(conn: Connection, tenant_id: int, timezone: str) -> None:
    conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(timezone=timezone))


# -- runs --------------------------------------------------------------------------------------------------


def insert_run(conn: Connection, run: Run) -> None:
    conn.execute(insert(runs).values(**{k: getattr(run, k) for k in Run.__dataclass_fields__}))


def get_run(conn: Connection, tenant_id: int, run_id: str) -> Run | None:
    row = conn.execute(select(runs).where(runs.c.tenant_id == tenant_id, runs.c.id == run_id)).first()
    return None if row is None else Run(**row._mapping)


def open_run(conn: Connection, tenant_id: int, machine_id: str) -> Run | None:
    """The machine's run that has not ended, if any (there is at most one)."""
    query = (
        select(runs)
        .where(
            runs.c.tenant_id == tenant_id,
            runs.c.machine_id == machine_id,
            runs.c.status.in_(OPEN_RUN_STATUSES),
        )
        .order_by(runs.c.started_us.desc())
    )
    row = conn.execute(query).first()
    return None if row is None else Run(**row._mapping)


def list_runs(
    conn: Connection,
    tenant_id: int,
    *,
    machine_id: str | None = None,
    status: str | None = None,
    from_us: int | None = None,
    to_us: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Run]:
    """The tenant's runs, newest first; ``from_us``/``to_us`` keep runs overlapping that range."""
    conditions = [runs.c.tenant_id == tenant_id]
    if machine_id is not None:
        conditions.append(runs.c.machine_id == machine_id)
    if status is not None:
        conditions.append(runs.c.status == status)
    if to_us is not None:
        conditions.append(runs.c.started_us < to_us)
    if from_us is not None:
        conditions.append(or_(runs.c.ended_us.is_(None), runs.c.ended_us > from_us))
    query = (
        select(runs)
        .where(*conditions)
        .order_by(runs.c.started_us.desc(), runs.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [Run(**row._mapping) for row in conn.execute(query)]


def runs_overlapping(
    conn: Connection, tenant_id: int, machine_id: str, from_us: int, to_us: int
) -> list[Run]:
    """The machine's runs whose span ``[started_us, ended_us]`` touches ``(from_us, to_us]``, oldest first."""
    query = (
        select(runs)
        .where(
            runs.c.tenant_id == tenant_id,
            runs.c.machine_id == machine_id,
            runs.c.started_us <= to_us,
            or_(runs.c.ended_us.is_(None), runs.c.ended_us > from_us),
        )
        .order_by(runs.c.started_us)
    )
    return [Run(**row._mapping) for row in conn.execute(query)]


def update_run(
    conn: Connection, tenant_id: int, run_id: str, changes: Mapping[str, Any], updated_us: int
) -> Run | None:
    unknown = set(changes) - RUN_FIELDS
    if unknown:
        raise ValueError(f"run fields cannot be changed: {', '.join(sorted(unknown))}")
    conn.execute(
        update(runs)
        .where(runs.c.tenant_id == tenant_id, runs.c.id == run_id)
        .values(**changes, updated_us=updated_us)
    )
    return get_run(conn, tenant_id, run_id)


def insert_phase(conn: Connection, tenant_id: int, run_id: str, status: str, start_us: int) -> None:
    """Append a phase to the run (phases are numbered; two may start at the same instant)."""
    count = conn.execute(
        select(func.count()).where(run_phases.c.tenant_id == tenant_id, run_phases.c.run_id == run_id)
    ).scalar_one()
    conn.execute(
        insert(run_phases).values(
            tenant_id=tenant_id, run_id=run_id, position=int(count), status=status, start_us=start_us
        )
    )


def close_phase(conn: Connection, tenant_id: int, run_id: str, end_us: int) -> None:
    """End the run's open phase at ``end_us``."""
    conn.execute(
        update(run_phases)
        .where(
            run_phases.c.tenant_id == tenant_id,
            run_phases.c.run_id == run_id,
            run_phases.c.end_us.is_(None),
        )
        .values(end_us=end_us)
    )


def run_phases_of(conn: Connection, tenant_id: int, run_ids: Sequence[str]) -> dict[str, list[RunPhaseRow]]:
    """The phases of each run, oldest first."""
    found: dict[str, list[RunPhaseRow]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return found
    query = (
        select(run_phases)
        .where(run_phases.c.tenant_id == tenant_id, run_phases.c.run_id.in_(list(run_ids)))
        .order_by(run_phases.c.run_id, run_phases.c.position)
    )
    for row in conn.execute(query):
        phase = RunPhaseRow(**row._mapping)
        found[phase.run_id].append(phase)
    return found


# -- rejects -----------------------------------------------------------------------------------------------


def insert_reject(
    conn: Connection,
    tenant_id: int,
    machine_id: str,
    ts_us: int,
    quantity: int,
    *,
    run_id: str | None,
    reason: str | None,
    created_us: int,
) -> PartReject:
    values = {
        "tenant_id": tenant_id,
        "machine_id": machine_id,
        "ts_us": ts_us,
        "quantity": quantity,
        "run_id": run_id,
        "reason": reason,
        "created_us": created_us,
    }
    key = conn.execute(insert(part_rejects).values(**values)).inserted_primary_key
    assert key is not None
    return PartReject(id=int(key[0]), **values)  # type: ignore[arg-type]


def rejects_of_run(conn: Connection, tenant_id: int, run_id: str) -> int:
    query = select(part_rejects.c.quantity).where(
        part_rejects.c.tenant_id == tenant_id, part_rejects.c.run_id == run_id
    )
    return sum(int(q) for (q,) in conn.execute(query))


def reject_rows(
    conn: Connection, tenant_id: int, machine_id: str, from_us: int, to_us: int
) -> list[tuple[int, int]]:
    """``(ts_us, quantity)`` of the machine's rejects in ``(from_us, to_us]``, by time."""
    query = (
        select(part_rejects.c.ts_us, part_rejects.c.quantity)
        .where(
            part_rejects.c.tenant_id == tenant_id,
            part_rejects.c.machine_id == machine_id,
            part_rejects.c.ts_us > from_us,
            part_rejects.c.ts_us <= to_us,
        )
        .order_by(part_rejects.c.ts_us)
    )
    return [(int(ts), int(q)) for ts, q in conn.execute(query)]


# -- OEE loaders -------------------------------------------------------------------------------------------

_CHUNK: Final = 200
"""Ranges per SQLite statement: inside every build's limits of 500 UNION ALL members and 999 parameters."""

Range = tuple[int, int]
"""``(from_us, to_us)``."""
StateTotal = tuple[int, str, int, int, int, int]
"""``(range_from_us, state, total_us, shortest_us, first_start_us, last_end_us)``: a state's intervals lying
wholly inside one range, their summed and shortest length, the first one's start and the last one's end."""
IntervalRow = tuple[int, int | None, str]
"""``(start_us, end_us or None while open, state)``: one stored state interval."""

# The intervals starting in a range: those ending inside it are summed per state, each one reaching past it
# (or still open) is a group of its own, keyed by its start. Every range is an index range scan of the
# covering index ``ix_state_intervals_oee``: on SQLite one UNION ALL member per range (joined to a VALUES
# list of many ranges, SQLite builds a Bloom filter over the whole table first), on PostgreSQL a LATERAL
# subquery per element of the ranges' arrays (a plain join gets a hash join over the machine's rows).
_SQLITE_STATE_TOTALS: Final = """
    SELECT :lo{n}, state, CASE WHEN end_us IS NULL OR end_us > :hi{n} THEN start_us END AS crossing,
           SUM(end_us - start_us), MIN(end_us - start_us), MIN(start_us), MAX(end_us)
    FROM state_intervals
    WHERE tenant_id = :t AND machine_id = :m AND start_us >= :lo{n} AND start_us < :hi{n}
    GROUP BY state, crossing
"""
_POSTGRES_STATE_TOTALS: Final = """
    SELECT r.lo, s.*
    FROM unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi) CROSS JOIN LATERAL (
        SELECT si.state, CASE WHEN si.end_us IS NULL OR si.end_us > r.hi THEN si.start_us END AS crossing,
               SUM(si.end_us - si.start_us), MIN(si.end_us - si.start_us), MIN(si.start_us), MAX(si.end_us)
        FROM state_intervals AS si
        WHERE si.tenant_id = %s AND si.machine_id = %s AND si.start_us >= r.lo AND si.start_us < r.hi
        GROUP BY si.state, crossing
    ) AS s
"""
# The interval running at an instant: the last one starting before it, if it has not ended.
_SQLITE_RUNNING_AT: Final = """
    SELECT * FROM (
        SELECT start_us, end_us, state FROM state_intervals
        WHERE tenant_id = :t AND machine_id = :m AND start_us < :at{n}
        ORDER BY start_us DESC LIMIT 1
    ) WHERE end_us IS NULL OR end_us > :at{n}
"""
_POSTGRES_RUNNING_AT: Final = """
    SELECT x.*
    FROM unnest(%s::bigint[]) AS p(at) CROSS JOIN LATERAL (
        SELECT si.start_us, si.end_us, si.state
        FROM state_intervals AS si
        WHERE si.tenant_id = %s AND si.machine_id = %s AND si.start_us < p.at
        ORDER BY si.start_us DESC
        LIMIT 1
    ) AS x
    WHERE x.end_us IS NULL OR x.end_us > p.at
"""
_SQLITE_PART_TOTALS: Final = """
    SELECT :lo{n}, kind, SUM(delta)
    FROM part_events
    WHERE tenant_id = :t AND machine_id = :m AND ts_us > :lo{n} AND ts_us <= :hi{n}
    GROUP BY kind
"""
_POSTGRES_PART_TOTALS: Final = """
    SELECT r.lo, s.*
    FROM unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi) CROSS JOIN LATERAL (
        SELECT pe.kind, SUM(pe.delta)
        FROM part_events AS pe
        WHERE pe.tenant_id = %s AND pe.machine_id = %s AND pe.ts_us > r.lo AND pe.ts_us <= r.hi
        GROUP BY pe.kind
    ) AS s
"""


def _per_row(
    conn: Connection,
    sqlite_member: str,
    postgres_sql: str,
    names: tuple[str, ...],
    rows: Sequence[tuple[int, ...]],
    key: tuple[int, str],
) -> list[tuple[Any, ...]]:
    """Run a query once for each of ``rows`` (instants named ``names``) for the machine ``key``, in one
    statement: on SQLite the UNION ALL of ``sqlite_member`` for each row (``{n}`` numbers its parameters), in
    chunks; on PostgreSQL ``postgres_sql`` with one array per column, then the key."""
    if not rows:
        return []
    if conn.dialect.name != "sqlite":
        columns = tuple(list(column) for column in zip(*rows, strict=True))
        return [tuple(row) for row in conn.exec_driver_sql(postgres_sql, columns + key)]
    found: list[tuple[Any, ...]] = []
    for at in range(0, len(rows), _CHUNK):
        chunk = rows[at : at + _CHUNK]
        statement = " UNION ALL ".join(sqlite_member.format(n=n) for n in range(len(chunk)))
        params: dict[str, Any] = {"t": key[0], "m": key[1]}
        for n, row in enumerate(chunk):
            params.update((f"{name}{n}", value) for name, value in zip(names, row, strict=True))
        found.extend(tuple(row) for row in conn.exec_driver_sql(statement, params))
    return found


def state_totals(
    conn: Connection, tenant_id: int, machine_id: str, ranges: Sequence[Range]
) -> tuple[list[StateTotal], list[IntervalRow]]:
    """The machine's state intervals over sorted disjoint ``ranges`` ``[from_us, to_us)``, summed where the
    detail does not matter.

    An interval starting in a range and ending inside it only adds to its range's total for its state. One
    that reaches past its range's end, or is still open, is returned as it is, and so is the interval
    running at the start of each range that does not begin where the one before it ends. A month of a
    machine is then a few hundred rows instead of tens of thousands, and the database does the adding.

    Returns:
        The totals by range and state, and the intervals returned as they are, by start.
    """
    key = (tenant_id, machine_id)
    starts = [(lo,) for n, (lo, _) in enumerate(ranges) if n == 0 or ranges[n - 1][1] != lo]
    running = _per_row(conn, _SQLITE_RUNNING_AT, _POSTGRES_RUNNING_AT, ("at",), starts, key)
    edges = {(int(start), None if end is None else int(end), str(state)) for start, end, state in running}
    totals: list[StateTotal] = []
    for lo, state, crossing, total, shortest, first_start, last_end in _per_row(
        conn, _SQLITE_STATE_TOTALS, _POSTGRES_STATE_TOTALS, ("lo", "hi"), ranges, key
    ):
        if crossing is None:
            totals.append((int(lo), str(state), int(total), int(shortest), int(first_start), int(last_end)))
        else:
            edges.add((int(crossing), None if last_end is None else int(last_end), str(state)))
    totals.sort()
    return totals, sorted(edges, key=lambda edge: edge[0])


def part_totals(
    conn: Connection, tenant_id: int, machine_id: str, ranges: Sequence[Range]
) -> list[tuple[int, str, int]]:
    """``(range_from_us, kind, sum of deltas)`` of the machine's part events in each of the sorted disjoint
    ``ranges`` ``(from_us, to_us]``, for every kind seen in a range, by range and kind."""
    key = (tenant_id, machine_id)
    rows = _per_row(conn, _SQLITE_PART_TOTALS, _POSTGRES_PART_TOTALS, ("lo", "hi"), ranges, key)
    return sorted((int(lo), str(kind), int(total)) for lo, kind, total in rows)


def part_rows(
    conn: Connection, tenant_id: int, machine_id: str, from_us: int, to_us: int
) -> list[tuple[int, str, int]]:
    """``(ts_us, kind, delta)`` of the machine's part events in ``(from_us, to_us]``, by time."""
    pe = part_events
    query = (
        select(pe.c.ts_us, pe.c.kind, pe.c.delta)
        .where(
            pe.c.tenant_id == tenant_id,
            pe.c.machine_id == machine_id,
            pe.c.ts_us > from_us,
            pe.c.ts_us <= to_us,
        )
        .order_by(pe.c.ts_us)
    )
    return [tuple(row) for row in conn.execute(query)]


def alarm_onsets(conn: Connection, tenant_id: int, machine_id: str, from_us: int, to_us: int) -> list[int]:
    """Onsets of the machine's alarms in ``[from_us, to_us)``, by time."""
    query = (
        select(alarms.c.onset_us)
        .where(
            and_(
                alarms.c.tenant_id == tenant_id,
                alarms.c.machine_id == machine_id,
                alarms.c.onset_us >= from_us,
                alarms.c.onset_us < to_us,
            )
        )
        .order_by(alarms.c.onset_us)
    )
    return [int(onset) for (onset,) in conn.execute(query)]
