"""``/api/{tenant}/mes/alarms``: active alarms, history with filters, acknowledge."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from mes_core.api.deps import EngineDep, TenantDep
from mes_core.api.schemas import AckRequest
from mes_core.services import alarms

__all__ = ["router"]

router = APIRouter(prefix="/api/{tenant}/mes/alarms", tags=["alarms"])

Category = Literal["emergency_stop", "axis", "spindle", "tool_change", "hydraulic", "communication", "other"]
SeverityName = Literal["CRITICAL", "WARNING", "INFO"]
_MAX_INT = 2**63 - 1
"""The largest integer a database column here holds."""


def _us(moment: datetime | None, name: str) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"{name}: {moment.isoformat()} needs a time zone (e.g. Z or +01:00)")
    return int(moment.timestamp() * 1_000_000)


@router.get("")
def active(
    tenant: TenantDep, db: EngineDep, machine_id: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    return {"data": [alarms.alarm_public(a) for a in alarms.active_alarms(db, tenant.id, machine_id)]}


@router.get("/history")
def history(
    tenant: TenantDep,
    db: EngineDep,
    machine_id: str | None = None,
    category: Category | None = None,
    severity: SeverityName | None = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=_MAX_INT)] = 0,
) -> dict[str, list[dict[str, Any]]]:
    found = alarms.alarm_history(
        db,
        tenant.id,
        machine_id=machine_id,
        category=category,
        severity=severity,
        from_us=_us(from_, "from"),
        to_us=_us(to, "to"),
        limit=limit,
        offset=offset,
    )
    return {"data": [alarms.alarm_public(a) for a in found]}


@router.post("/{alarm_id}/ack")
def acknowledge(
    alarm_id: Annotated[int, Path(ge=1, le=_MAX_INT)], body: AckRequest, tenant: TenantDep, db: EngineDep
) -> dict[str, dict[str, Any]]:
    return {"data": alarms.alarm_public(alarms.acknowledge(db, tenant.id, alarm_id, body.acknowledged_by))}
