"""The tenant's shift schedule: weekly shifts, breaks and their policy, calendar exceptions, current shift.

The schedule is stored as the user gave it (local wall-clock times in the tenant's IANA time zone) and turned
into a ``ShiftCalendar`` for every question about time; the calendar is rebuilt only when the schedule or
the time zone changes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from datetime import time as clock_time
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine

from mes_core.domain.shift_calendar import (
    BreakDef,
    CalendarError,
    CalendarException,
    ShiftCalendar,
    ShiftDef,
    ShiftInstance,
)
from mes_core.services.machines import NotFound
from mes_core.store import production, repository
from mes_core.store.engine import transaction
from mes_core.store.records import CalendarExceptionRow, ShiftRow

__all__ = [
    "add_exception",
    "calendar_for",
    "current_shift",
    "delete_exception",
    "get_schedule",
    "instance_public",
    "iso_utc",
    "list_exceptions",
    "put_schedule",
]

_LOCAL_FORMAT: Final = "%Y-%m-%dT%H:%M:%S"
_cache: dict[int, tuple[tuple[Any, ...], ShiftCalendar]] = {}
_cache_lock = threading.Lock()


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def iso_utc(t: float) -> str:
    """``t`` (UTC epoch seconds) as ISO 8601 with a Z, to the second (or finer when it has a fraction)."""
    moment = datetime.fromtimestamp(t, UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _hhmm(value: clock_time) -> str:
    return value.strftime("%H:%M")


def _parse_hhmm(text: str) -> clock_time:
    return clock_time.fromisoformat(text)


def _shift_def(row: ShiftRow) -> ShiftDef:
    breaks = tuple(
        BreakDef(start=_parse_hhmm(b["start"]), minutes=int(b["minutes"]))
        for b in json.loads(row.breaks_json)
    )
    return ShiftDef(
        name=row.name,
        start=_parse_hhmm(row.start),
        end=_parse_hhmm(row.end),
        days=frozenset(row.days.split(",")) if row.days else frozenset(),
        break_minutes=row.break_minutes,
        breaks=breaks,
    )


def _exception_def(row: CalendarExceptionRow) -> CalendarException:
    return CalendarException(
        kind=row.kind,  # type: ignore[arg-type]
        start=datetime.strptime(row.start_local, _LOCAL_FORMAT),
        end=datetime.strptime(row.end_local, _LOCAL_FORMAT),
        name=row.name,
        machine_id=row.machine_id,
    )


def _build(
    shifts: Sequence[ShiftDef],
    timezone: str,
    day_start: clock_time,
    break_policy: str,
    exceptions: Sequence[CalendarException],
) -> ShiftCalendar:
    return ShiftCalendar(
        shifts,
        timezone,
        day_start=day_start,
        break_policy=break_policy,  # type: ignore[arg-type]
        exceptions=exceptions,
    )


def _load(conn: Connection, tenant_id: int) -> ShiftCalendar:
    tenant = repository.get_tenant(conn, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} not found")
    schedule = production.get_schedule(conn, tenant_id)
    key = (tenant.timezone, None if schedule is None else schedule.updated_us)
    with _cache_lock:
        cached = _cache.get(tenant_id)
    if cached is not None and cached[0] == key:
        return cached[1]
    shift_rows = production.list_shifts(conn, tenant_id)
    exception_rows = production.list_exceptions(conn, tenant_id)
    calendar = _build(
        [_shift_def(r) for r in shift_rows],
        tenant.timezone,
        _parse_hhmm(schedule.day_start) if schedule else clock_time(0, 0),
        schedule.break_policy if schedule else "planned",
        [_exception_def(r) for r in exception_rows],
    )
    with _cache_lock:
        _cache[tenant_id] = (key, calendar)
    return calendar


def calendar_for(engine: Engine, tenant_id: int) -> ShiftCalendar:
    """The tenant's shift calendar (no shifts: nothing is planned)."""
    with transaction(engine) as conn:
        return _load(conn, tenant_id)


def _shift_public(row: ShiftRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "start": row.start,
        "end": row.end,
        "break_minutes": row.break_minutes,
        "breaks": json.loads(row.breaks_json),
        "days": row.days.split(",") if row.days else [],
    }


def _exception_public(row: CalendarExceptionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "start": row.start_local,
        "end": row.end_local,
        "name": row.name,
        "machine_id": row.machine_id,
    }


def get_schedule(engine: Engine, tenant_id: int) -> dict[str, Any]:
    """The schedule in the seed's shape (``shifts``) with the time zone, production-day start, break policy
    and calendar exceptions."""
    with transaction(engine) as conn:
        tenant = repository.get_tenant(conn, tenant_id)
        assert tenant is not None
        schedule = production.get_schedule(conn, tenant_id)
        shift_rows = production.list_shifts(conn, tenant_id)
        exception_rows = production.list_exceptions(conn, tenant_id)
    return {
        "timezone": tenant.timezone,
        "day_start": schedule.day_start if schedule else "00:00",
        "break_policy": schedule.break_policy if schedule else "planned",
        "shifts": [_shift_public(r) for r in shift_rows],
        "exceptions": [_exception_public(r) for r in exception_rows],
    }


def _check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone: {timezone!r} is not an IANA time zone such as 'Europe/Berlin'") from None


def _exception_row(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": item["kind"],
        "start_local": item["start"].strftime(_LOCAL_FORMAT),
        "end_local": item["end"].strftime(_LOCAL_FORMAT),
        "name": item.get("name") or "",
        "machine_id": item.get("machine_id"),
    }


def _stored_exception(row: CalendarExceptionRow) -> dict[str, Any]:
    return {k: getattr(row, k) for k in ("kind", "start_local", "end_local", "name", "machine_id")}


def _shift_row(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": item["name"],
        "start": _hhmm(item["start"]),
        "end": _hhmm(item["end"]),
        "break_minutes": int(item.get("break_minutes") or 0),
        "breaks_json": json.dumps(
            [{"start": _hhmm(b["start"]), "minutes": int(b["minutes"])} for b in item.get("breaks") or []]
        ),
        "days": ",".join(item["days"]),
    }


def _validate(
    shift_rows: Sequence[Mapping[str, Any]],
    exception_rows: Sequence[Mapping[str, Any]],
    timezone: str,
    day_start: str,
    break_policy: str,
) -> None:
    """Build the calendar the rows make; its errors (overlapping shifts, breaks outside their shift ...) are
    the request's errors."""
    fake_shifts = [ShiftRow(tenant_id=0, position=i, **row) for i, row in enumerate(shift_rows)]
    fake_exceptions = [CalendarExceptionRow(id=i, tenant_id=0, **row) for i, row in enumerate(exception_rows)]
    try:
        _build(
            [_shift_def(r) for r in fake_shifts],
            timezone,
            _parse_hhmm(day_start),
            break_policy,
            [_exception_def(r) for r in fake_exceptions],
        )
    except CalendarError as exc:
        raise ValueError(str(exc)) from None


def put_schedule(engine: Engine, tenant_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """Create or replace the schedule (the seed's ``POST /shifts``).

    ``body`` holds ``shifts`` and optionally ``timezone``, ``day_start``, ``break_policy`` and
    ``exceptions`` (replaced only when given).

    Raises:
        ValueError: names the field or the two overlapping shifts (a 4xx, nothing is stored).
    """
    names = [s["name"] for s in body["shifts"]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"shifts: the name {duplicates[0]!r} is given more than once")
    with transaction(engine) as conn:
        tenant = repository.get_tenant(conn, tenant_id)
        assert tenant is not None
        current = production.get_schedule(conn, tenant_id)
        timezone = body.get("timezone") or tenant.timezone
        _check_timezone(timezone)
        day_start = (
            _hhmm(body["day_start"]) if body.get("day_start") else (current.day_start if current else "00:00")
        )
        break_policy = body.get("break_policy") or (current.break_policy if current else "planned")
        shift_rows = [_shift_row(s) for s in body["shifts"]]
        given_exceptions = body.get("exceptions")
        exception_rows = (
            [_exception_row(e) for e in given_exceptions]
            if given_exceptions is not None
            else [_stored_exception(r) for r in production.list_exceptions(conn, tenant_id)]
        )
        _validate(shift_rows, exception_rows, timezone, day_start, break_policy)
        if timezone != tenant.timezone:
            production.set_timezone(conn, tenant_id, timezone)
        production.replace_schedule(
            conn,
            tenant_id,
            day_start=day_start,
            break_policy=break_policy,
            shift_rows=shift_rows,
            exception_rows=exception_rows if given_exceptions is not None else None,
            updated_us=_now_us(),
        )
    return get_schedule(engine, tenant_id)


def list_exceptions(engine: Engine, tenant_id: int) -> list[dict[str, Any]]:
    with transaction(engine) as conn:
        return [_exception_public(r) for r in production.list_exceptions(conn, tenant_id)]


def add_exception(engine: Engine, tenant_id: int, item: Mapping[str, Any]) -> dict[str, Any]:
    """Add a holiday, planned downtime or extra shift.

    Raises:
        ValueError: the exception is malformed or makes shifts overlap (nothing is stored).
        NotFound: it names a machine the tenant does not have.
    """
    row = _exception_row(item)
    with transaction(engine) as conn:
        if (
            row["machine_id"] is not None
            and repository.get_machine(conn, tenant_id, row["machine_id"]) is None
        ):
            raise NotFound(f"machine {row['machine_id']!r} not found")
        tenant = repository.get_tenant(conn, tenant_id)
        assert tenant is not None
        schedule = production.get_schedule(conn, tenant_id)
        shift_rows = [
            {k: getattr(r, k) for k in ("name", "start", "end", "break_minutes", "breaks_json", "days")}
            for r in production.list_shifts(conn, tenant_id)
        ]
        existing = [_stored_exception(r) for r in production.list_exceptions(conn, tenant_id)]
        _validate(
            shift_rows,
            [*existing, row],
            tenant.timezone,
            schedule.day_start if schedule else "00:00",
            schedule.break_policy if schedule else "planned",
        )
        new_id = production.add_exception(conn, tenant_id, row)
        production.touch_schedule(conn, tenant_id, _now_us())
    return _exception_public(CalendarExceptionRow(id=new_id, tenant_id=tenant_id, **row))


def delete_exception(engine: Engine, tenant_id: int, exception_id: int) -> None:
    """Raises NotFound when the tenant has no such exception."""
    with transaction(engine) as conn:
        if not production.delete_exception(conn, tenant_id, exception_id):
            raise NotFound(f"calendar exception {exception_id} not found")
        production.touch_schedule(conn, tenant_id, _now_us())


def instance_public(instance: ShiftInstance, calendar: ShiftCalendar) -> dict[str, Any]:
    """A shift instance as the API shows it: UTC and local instants, business date, breaks, planned time."""
    zone = ZoneInfo(calendar.timezone)
    planned = calendar.scheduled(instance.start, instance.end)
    return {
        "name": instance.name,
        "business_date": instance.business_date.isoformat(),
        "start": iso_utc(instance.start),
        "end": iso_utc(instance.end),
        "start_local": datetime.fromtimestamp(instance.start, zone).isoformat(),
        "end_local": datetime.fromtimestamp(instance.end, zone).isoformat(),
        "duration_s": instance.end - instance.start,
        "planned_s": sum(e - s for s, e in planned),
        "breaks": [{"start": iso_utc(s), "end": iso_utc(e)} for s, e in instance.breaks],
        "extra": instance.extra,
    }


def current_shift(
    engine: Engine, tenant_id: int, now: float, machine_id: str | None = None
) -> dict[str, Any] | None:
    """The shift instance running at ``now`` (None between shifts), with how far into it ``now`` is."""
    calendar = calendar_for(engine, tenant_id)
    instance = calendar.current(now, machine_id)
    if instance is None:
        return None
    public = instance_public(instance, calendar)
    public["elapsed_s"] = now - instance.start
    public["remaining_s"] = instance.end - now
    public["in_break"] = any(s <= now < e for s, e in instance.breaks)
    return public
