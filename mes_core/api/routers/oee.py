"""``/api/{tenant}/mes/oee``: aggregate, per machine, history with trend, comparisons, real-time.

``from``/``to`` take dates (whole business days in the tenant's time zone, ``to`` inclusive) or date-times;
``shift`` names a shift of the schedule, or ``current`` for the shift running now (real-time OEE).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from mes_core.api.deps import EngineDep, NowDep, TenantDep
from mes_core.services import oee

__all__ = ["router"]

router = APIRouter(prefix="/api/{tenant}/mes/oee", tags=["oee"])

FromQuery = Annotated[str | None, Query(alias="from", max_length=40, examples=["2026-02-01"])]
ToQuery = Annotated[str | None, Query(max_length=40, examples=["2026-02-21"])]
ShiftQuery = Annotated[str | None, Query(max_length=100, examples=["First Shift", "current"])]
MachinesQuery = Annotated[list[str] | None, Query(description="Repeat to name several machines.")]


@router.get("")
def aggregate(
    tenant: TenantDep,
    db: EngineDep,
    now: NowDep,
    from_: FromQuery = None,
    to: ToQuery = None,
    shift: ShiftQuery = None,
    machine_id: MachinesQuery = None,
) -> dict[str, dict[str, Any]]:
    """All machines (or those named), from summed components; ``mean_of_machine_oee`` is only an extra."""
    return {
        "data": oee.aggregate_oee(db, tenant.id, now, machine_ids=machine_id, from_=from_, to=to, shift=shift)
    }


@router.get("/history")
def history(
    tenant: TenantDep,
    db: EngineDep,
    now: NowDep,
    bucket: Literal["hour", "day", "week", "month"] = "day",
    from_: FromQuery = None,
    to: ToQuery = None,
    shift: ShiftQuery = None,
    machine_id: MachinesQuery = None,
) -> dict[str, dict[str, Any]]:
    return {
        "data": oee.history(
            db, tenant.id, now, bucket=bucket, machine_ids=machine_id, from_=from_, to=to, shift=shift
        )
    }


@router.get("/compare")
def compare(
    tenant: TenantDep,
    db: EngineDep,
    now: NowDep,
    by: Literal["machine", "shift", "period"],
    from_: FromQuery = None,
    to: ToQuery = None,
    shift: ShiftQuery = None,
    machine_id: MachinesQuery = None,
    periods: Annotated[
        str | None, Query(max_length=2000, examples=["2026-02-01/2026-02-07,2026-02-08/2026-02-14"])
    ] = None,
) -> dict[str, dict[str, Any]]:
    """Side by side: machines, shifts, or periods (``periods`` = from/to pairs separated by commas)."""
    pairs: list[tuple[str, str]] = []
    for item in (periods or "").split(","):
        if not item.strip():
            continue
        first, sep, second = item.strip().partition("/")
        if not sep or not first or not second:
            raise ValueError(f"periods: {item.strip()!r} is not FROM/TO")
        pairs.append((first, second))
    return {
        "data": oee.compare(
            db, tenant.id, now, by=by, machine_ids=machine_id, from_=from_, to=to, shift=shift, periods=pairs
        )
    }


@router.get("/{machine_id}")
def machine(
    machine_id: str,
    tenant: TenantDep,
    db: EngineDep,
    now: NowDep,
    from_: FromQuery = None,
    to: ToQuery = None,
    shift: ShiftQuery = None,
) -> dict[str, dict[str, Any]]:
    return {"data": oee.machine_oee(db, tenant.id, machine_id, now, from_=from_, to=to, shift=shift)}
