"""The queries the services make, each scoped to one tenant: a tenant never reads or changes another's rows.

Every function takes a SQLAlchemy ``Connection`` (from ``engine.transaction``, which commits and turns
database failures into ``StoreError``) and returns the frozen dataclasses of ``records`` (``part_totals``: a
dict).
Ranges are half-open, ``[from_us, to_us)``, in UTC epoch microseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, Final, TypeVar

from sqlalchemy import ColumnElement, Connection, Row, and_, func, insert, or_, select, update

from mes_core.store.errors import ConflictError
from mes_core.store.records import AgentCursor, Alarm, DataGap, Machine, MachineStatus, StateInterval, Tenant
from mes_core.store.schema import (
    agent_cursors,
    alarms,
    data_gaps,
    machine_status,
    machines,
    part_events,
    state_intervals,
    tenants,
)

__all__ = [
    "MACHINE_FIELDS",
    "MAX_PAGE",
    "acknowledge_alarm",
    "active_alarms",
    "alarm_history",
    "create_tenant",
    "data_gaps_between",
    "find_tenant_by_name",
    "find_tenant_by_token_hash",
    "get_alarm",
    "get_cursor",
    "get_machine",
    "get_status",
    "get_tenant",
    "insert_machine",
    "list_all_machines",
    "list_machines",
    "list_status",
    "part_totals",
    "state_intervals_between",
    "update_machine",
]

MACHINE_FIELDS: Final = frozenset(
    f.name for f in fields(Machine) if f.name not in ("tenant_id", "machine_id", "created_us", "updated_us")
)
"""The machine fields ``update_machine`` may change."""

MAX_PAGE: Final = 10_000
"""The largest ``limit`` of a paged query."""

_R = TypeVar("_R")


def _one(row: Row[Any] | None, record: Callable[..., _R]) -> _R | None:
    return None if row is None else record(**row._mapping)


def _check_range(from_us: int, to_us: int) -> None:
    if to_us < from_us:
        raise ValueError(f"range end {to_us} is before its start {from_us}")


# -- tenants ------------------------------------------------------------------------------------------------


def create_tenant(
    conn: Connection, name: str, token_hash: str, *, created_us: int, timezone: str = "UTC"
) -> int:
    """Create a tenant and return its id.

    Raises:
        ConflictError: a tenant with this name or token hash exists.
    """
    # Checked first so the usual conflict is a clear message, not a driver's constraint name.
    taken = conn.execute(
        select(tenants.c.name).where(or_(tenants.c.name == name, tenants.c.token_hash == token_hash))
    ).first()
    if taken is not None:
        what = f"name {name!r}" if taken.name == name else "this token"
        raise ConflictError(f"a tenant with {what} already exists")
    statement = (
        insert(tenants)
        .values(name=name, token_hash=token_hash, timezone=timezone, created_us=created_us)
        .returning(tenants.c.id)
    )
    return int(conn.execute(statement).scalar_one())


def get_tenant(conn: Connection, tenant_id: int) -> Tenant | None:
    """The tenant with this id, or None."""
    return _one(conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first(), Tenant)


def find_tenant_by_name(conn: Connection, name: str) -> Tenant | None:
    """The tenant with this name, or None."""
    return _one(conn.execute(select(tenants).where(tenants.c.name == name)).first(), Tenant)


def find_tenant_by_token_hash(conn: Connection, token_hash: str) -> Tenant | None:
    """The tenant whose API token hashes to ``token_hash``, or None."""
    row = conn.execute(select(tenants).where(tenants.c.token_hash == token_hash)).first()
    return _one(row, Tenant)


# -- machines -----------------------------------------------------------------------------------------------


def insert_machine(conn: Connection, machine: Machine) -> None:
    """Register ``machine`` in its tenant.

    Raises:
        ConflictError: the tenant already has a machine with this id.
        StoreError: (through ``transaction``) the tenant does not exist.
    """
    key = and_(machines.c.tenant_id == machine.tenant_id, machines.c.machine_id == machine.machine_id)
    if conn.execute(select(machines.c.machine_id).where(key)).first() is not None:
        raise ConflictError(f"machine {machine.machine_id!r} already exists")
    conn.execute(insert(machines).values({f.name: getattr(machine, f.name) for f in fields(Machine)}))


def get_machine(conn: Connection, tenant_id: int, machine_id: str) -> Machine | None:
    """The tenant's machine with this id, or None."""
    key = and_(machines.c.tenant_id == tenant_id, machines.c.machine_id == machine_id)
    return _one(conn.execute(select(machines).where(key)).first(), Machine)


def list_machines(conn: Connection, tenant_id: int) -> list[Machine]:
    """The tenant's machines, by machine id."""
    query = select(machines).where(machines.c.tenant_id == tenant_id).order_by(machines.c.machine_id)
    return [Machine(**row._mapping) for row in conn.execute(query)]


def list_all_machines(conn: Connection) -> list[Machine]:
    """Every tenant's machines, by tenant and machine id: for the ingestion supervisor only, which reads every
    registered machine; never for a request on behalf of a tenant."""
    query = select(machines).order_by(machines.c.tenant_id, machines.c.machine_id)
    return [Machine(**row._mapping) for row in conn.execute(query)]


def update_machine(
    conn: Connection, tenant_id: int, machine_id: str, changes: Mapping[str, Any], *, updated_us: int
) -> Machine | None:
    """Change some of a machine's fields (names in ``MACHINE_FIELDS``) and return the machine as it is now.

    Returns:
        The updated machine, or None when the tenant has no such machine.

    Raises:
        ValueError: a field name not in ``MACHINE_FIELDS``.
    """
    unknown = sorted(set(changes) - MACHINE_FIELDS)
    if unknown:
        raise ValueError(f"machine fields {unknown} cannot be changed; changeable: {sorted(MACHINE_FIELDS)}")
    key = and_(machines.c.tenant_id == tenant_id, machines.c.machine_id == machine_id)
    result = conn.execute(update(machines).where(key).values({**changes, "updated_us": updated_us}))
    if result.rowcount == 0:
        return None
    return get_machine(conn, tenant_id, machine_id)


# -- alarms -------------------------------------------------------------------------------------------------


def active_alarms(conn: Connection, tenant_id: int, *, machine_id: str | None = None) -> list[Alarm]:
    """The tenant's alarms not yet cleared (of one machine when given), oldest onset first."""
    conditions = [alarms.c.tenant_id == tenant_id, alarms.c.clear_us.is_(None)]
    if machine_id is not None:
        conditions.append(alarms.c.machine_id == machine_id)
    query = select(alarms).where(*conditions).order_by(alarms.c.onset_us, alarms.c.id)
    return [Alarm(**row._mapping) for row in conn.execute(query)]


def alarm_history(
    conn: Connection,
    tenant_id: int,
    *,
    machine_id: str | None = None,
    category: str | None = None,
    severity: str | None = None,
    from_us: int | None = None,
    to_us: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Alarm]:
    """The tenant's alarms, active or cleared, newest onset first, filtered by each argument given; the
    onset lies in ``[from_us, to_us)``.

    Raises:
        ValueError: ``limit`` is not in 1..MAX_PAGE, ``offset`` is negative, or ``to_us`` < ``from_us``.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit {limit} is not between 1 and {MAX_PAGE}")
    if offset < 0:
        raise ValueError(f"offset {offset} is negative")
    if from_us is not None and to_us is not None:
        _check_range(from_us, to_us)
    conditions: list[ColumnElement[bool]] = [alarms.c.tenant_id == tenant_id]
    for column, value in (
        (alarms.c.machine_id, machine_id),
        (alarms.c.category, category),
        (alarms.c.severity, severity),
    ):
        if value is not None:
            conditions.append(column == value)
    if from_us is not None:
        conditions.append(alarms.c.onset_us >= from_us)
    if to_us is not None:
        conditions.append(alarms.c.onset_us < to_us)
    query = (
        select(alarms)
        .where(*conditions)
        .order_by(alarms.c.onset_us.desc(), alarms.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [Alarm(**row._mapping) for row in conn.execute(query)]


def get_alarm(conn: Connection, tenant_id: int, alarm_id: int) -> Alarm | None:
    """The tenant's alarm with this id, or None."""
    row = conn.execute(select(alarms).where(alarms.c.tenant_id == tenant_id, alarms.c.id == alarm_id)).first()
    return None if row is None else Alarm(**row._mapping)


def acknowledge_alarm(conn: Connection, tenant_id: int, alarm_id: int, who: str, when_us: int) -> bool:
    """Record that ``who`` acknowledged the alarm at ``when_us``; a second acknowledgement keeps the first.

    Returns:
        True when the tenant has this alarm (now acknowledged), False when it has not.
    """
    key = and_(alarms.c.tenant_id == tenant_id, alarms.c.id == alarm_id)
    result = conn.execute(
        update(alarms).where(key, alarms.c.ack_us.is_(None)).values(ack_by=who, ack_us=when_us)
    )
    if result.rowcount:
        return True
    return conn.execute(select(alarms.c.id).where(key)).first() is not None


# -- states, parts, gaps ------------------------------------------------------------------------------------


def state_intervals_between(
    conn: Connection, tenant_id: int, machine_id: str, from_us: int, to_us: int
) -> list[StateInterval]:
    """The machine's state intervals that overlap ``[from_us, to_us)``, unclipped, by start.

    Raises:
        ValueError: ``to_us`` < ``from_us``.
    """
    _check_range(from_us, to_us)
    query = (
        select(state_intervals)
        .where(
            state_intervals.c.tenant_id == tenant_id,
            state_intervals.c.machine_id == machine_id,
            state_intervals.c.start_us < to_us,
            or_(state_intervals.c.end_us.is_(None), state_intervals.c.end_us > from_us),
        )
        .order_by(state_intervals.c.start_us)
    )
    return [StateInterval(**row._mapping) for row in conn.execute(query)]


def part_totals(
    conn: Connection, tenant_id: int, machine_id: str | None, from_us: int, to_us: int
) -> dict[str, int]:
    """The parts counted in ``[from_us, to_us)``, of one machine (every machine of the tenant when None).

    Returns:
        ``{kind: sum of deltas}`` for each kind of part event seen (e.g. ``{"good": 41, "scrap": 2}``).

    Raises:
        ValueError: ``to_us`` < ``from_us``.
    """
    _check_range(from_us, to_us)
    conditions = [
        part_events.c.tenant_id == tenant_id,
        part_events.c.ts_us >= from_us,
        part_events.c.ts_us < to_us,
    ]
    if machine_id is not None:
        conditions.append(part_events.c.machine_id == machine_id)
    query = (
        select(part_events.c.kind, func.sum(part_events.c.delta))
        .where(*conditions)
        .group_by(part_events.c.kind)
    )
    return {kind: int(total) for kind, total in conn.execute(query)}


def data_gaps_between(
    conn: Connection, tenant_id: int, machine_id: str, from_us: int, to_us: int
) -> list[DataGap]:
    """The machine's data gaps that overlap ``[from_us, to_us)``, unclipped, by start.

    Raises:
        ValueError: ``to_us`` < ``from_us``.
    """
    _check_range(from_us, to_us)
    query = (
        select(data_gaps)
        .where(
            data_gaps.c.tenant_id == tenant_id,
            data_gaps.c.machine_id == machine_id,
            data_gaps.c.start_us < to_us,
            data_gaps.c.end_us > from_us,
        )
        .order_by(data_gaps.c.start_us)
    )
    return [DataGap(**row._mapping) for row in conn.execute(query)]


# -- cursors and status -------------------------------------------------------------------------------------


def get_cursor(conn: Connection, tenant_id: int, agent_url: str) -> AgentCursor | None:
    """Where the tenant's ingestion of the agent at ``agent_url`` resumes, or None before its first flush."""
    key = and_(agent_cursors.c.tenant_id == tenant_id, agent_cursors.c.agent_url == agent_url)
    return _one(conn.execute(select(agent_cursors).where(key)).first(), AgentCursor)


def get_status(conn: Connection, tenant_id: int, machine_id: str) -> MachineStatus | None:
    """The machine's latest status, or None before its first."""
    key = and_(machine_status.c.tenant_id == tenant_id, machine_status.c.machine_id == machine_id)
    return _one(conn.execute(select(machine_status).where(key)).first(), MachineStatus)


def list_status(conn: Connection, tenant_id: int) -> list[MachineStatus]:
    """The latest status of each of the tenant's machines that has one, by machine id."""
    query = (
        select(machine_status)
        .where(machine_status.c.tenant_id == tenant_id)
        .order_by(machine_status.c.machine_id)
    )
    return [MachineStatus(**row._mapping) for row in conn.execute(query)]
