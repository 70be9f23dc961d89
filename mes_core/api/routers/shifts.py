"""``/api/{tenant}/mes/shifts``: the shift schedule, calendar exceptions, the current shift."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from mes_core.api.deps import EngineDep, NowDep, TenantDep
from mes_core.api.schemas import CalendarExceptionIn, ScheduleIn
from mes_core.services import shifts

__all__ = ["router"]

router = APIRouter(prefix="/api/{tenant}/mes/shifts", tags=["shifts"])


@router.get("")
def get_schedule(tenant: TenantDep, db: EngineDep) -> dict[str, dict[str, Any]]:
    return {"data": shifts.get_schedule(db, tenant.id)}


@router.post("")
def put_schedule(body: ScheduleIn, tenant: TenantDep, db: EngineDep) -> dict[str, dict[str, Any]]:
    """Create or replace the schedule; overlapping shifts are refused (422 naming both)."""
    return {"data": shifts.put_schedule(db, tenant.id, body.model_dump(exclude_none=True))}


@router.get("/current")
def current(
    tenant: TenantDep, db: EngineDep, now: NowDep, machine_id: str | None = None
) -> dict[str, dict[str, Any] | None]:
    """The shift running now (``data`` null between shifts)."""
    return {"data": shifts.current_shift(db, tenant.id, now, machine_id)}


@router.get("/exceptions")
def list_exceptions(tenant: TenantDep, db: EngineDep) -> dict[str, list[dict[str, Any]]]:
    return {"data": shifts.list_exceptions(db, tenant.id)}


@router.post("/exceptions", status_code=201)
def add_exception(body: CalendarExceptionIn, tenant: TenantDep, db: EngineDep) -> dict[str, dict[str, Any]]:
    return {"data": shifts.add_exception(db, tenant.id, body.model_dump())}


@router.delete("/exceptions/{exception_id}", status_code=204)
def delete_exception(
    exception_id: Annotated[int, Path(ge=1, le=2**63 - 1)], tenant: TenantDep, db: EngineDep
) -> None:
    shifts.delete_exception(db, tenant.id, exception_id)
