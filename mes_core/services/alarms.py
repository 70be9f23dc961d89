"""Alarms: the active ones, history with filters, and acknowledgement (who, when)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from mes_core.services.machines import NotFound
from mes_core.store import repository
from mes_core.store.engine import transaction
from mes_core.store.records import Alarm

__all__ = ["acknowledge", "active_alarms", "alarm_history", "alarm_public"]


def _iso(us: int | None) -> str | None:
    return None if us is None else datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def alarm_public(alarm: Alarm) -> dict[str, Any]:
    """An alarm as the API shows it (instants in ISO 8601 UTC; duration while cleared)."""
    return {
        "id": alarm.id,
        "machine_id": alarm.machine_id,
        "category": alarm.category,
        "severity": alarm.severity,
        "level": alarm.level,
        "native_code": alarm.native_code or None,
        "text": alarm.text,
        "data_item_id": alarm.item_id,
        "onset": _iso(alarm.onset_us),
        "cleared": _iso(alarm.clear_us),
        "duration_s": None if alarm.clear_us is None else (alarm.clear_us - alarm.onset_us) / 1e6,
        "acknowledged_by": alarm.ack_by,
        "acknowledged_at": _iso(alarm.ack_us),
    }


def _check_machine(conn: Connection, tenant_id: int, machine_id: str | None) -> None:
    if machine_id is not None and repository.get_machine(conn, tenant_id, machine_id) is None:
        raise NotFound(f"machine {machine_id!r} not found")


def active_alarms(engine: Engine, tenant_id: int, machine_id: str | None = None) -> list[Alarm]:
    """The tenant's active alarms, of one machine when ``machine_id`` is given.

    Raises:
        NotFound: the tenant has no such machine (another tenant's machine is not found either).
    """
    with transaction(engine) as conn:
        _check_machine(conn, tenant_id, machine_id)
        return repository.active_alarms(conn, tenant_id, machine_id=machine_id)


def alarm_history(engine: Engine, tenant_id: int, **filters: Any) -> list[Alarm]:
    """Alarms filtered by machine_id, category, severity, from_us, to_us, limit, offset.

    Raises:
        ValueError: a bad filter (limit out of range, to before from).
        NotFound: the filter names a machine the tenant does not have.
    """
    with transaction(engine) as conn:
        _check_machine(conn, tenant_id, filters.get("machine_id"))
        return repository.alarm_history(conn, tenant_id, **filters)


def acknowledge(engine: Engine, tenant_id: int, alarm_id: int, who: str) -> Alarm:
    """Record who acknowledged an alarm and when; return it.

    Raises:
        NotFound: the tenant has no such alarm.
    """
    with transaction(engine) as conn:
        if not repository.acknowledge_alarm(conn, tenant_id, alarm_id, who, int(time.time() * 1e6)):
            raise NotFound(f"alarm {alarm_id} not found")
        alarm = repository.get_alarm(conn, tenant_id, alarm_id)
    if alarm is None:
        raise NotFound(f"alarm {alarm_id} not found")
    return alarm
