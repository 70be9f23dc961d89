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
    state_intervals,
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
    "interval_rows",
    "list_exceptions",
    "list_runs",
    "list_shifts",
    "open_run",
    "part_rows",
    "reject_rows",
    "rejects_of_run",
    "replace_schedule",
    "run_phases_of",
    "runs_overlapping",
    "set_timezone",
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


def interval_rows(
    conn: Connection, tenant_id: int, machine_id: str, from_us: int, to_us: int
) -> list[tuple[int, int | None, str]]:
    """``(start_us, end_us or None, state)`` of the machine's intervals overlapping ``[from_us, to_us)``."""
    si = state_intervals
    query = (
        select(si.c.start_us, si.c.end_us, si.c.state)
        .where(
            si.c.tenant_id == tenant_id,
            si.c.machine_id == machine_id,
            si.c.start_us < to_us,
            or_(si.c.end_us.is_(None), si.c.end_us > from_us),
        )
        .order_by(si.c.start_us)
    )
    return [tuple(row) for row in conn.execute(query)]


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
