"""``/api/{tenant}/mes/runs``: start, list, get, update (pause, resume, complete), cycle times."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from mes_core.api.deps import EngineDep, NowDep, TenantDep
from mes_core.api.schemas import RunCreate, RunUpdate
from mes_core.services import runs

__all__ = ["router"]

router = APIRouter(prefix="/api/{tenant}/mes/runs", tags=["runs"])


def _seconds(moment: datetime | None, name: str) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"{name}: {moment.isoformat()} needs a time zone (e.g. Z or +01:00)")
    return moment.timestamp()


@router.get("")
def list_runs(
    tenant: TenantDep,
    db: EngineDep,
    now: NowDep,
    machine_id: str | None = None,
    status: Literal["setup", "running", "paused", "completed", "aborted"] | None = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> dict[str, list[dict[str, Any]]]:
    found = runs.list_runs(
        db,
        tenant.id,
        now,
        machine_id=machine_id,
        status=status,
        from_s=_seconds(from_, "from"),
        to_s=_seconds(to, "to"),
        limit=limit,
        offset=offset,
    )
    return {"data": found}


@router.post("", status_code=201)
def start_run(body: RunCreate, tenant: TenantDep, db: EngineDep, now: NowDep) -> dict[str, dict[str, Any]]:
    fields = body.model_dump()
    fields["at"] = _seconds(body.at, "at")
    return {"data": runs.start_run(db, tenant.id, fields, now)}


@router.get("/{run_id}")
def get_run(run_id: str, tenant: TenantDep, db: EngineDep, now: NowDep) -> dict[str, dict[str, Any]]:
    return {"data": runs.get_run(db, tenant.id, run_id, now)}


@router.patch("/{run_id}")
def update_run(
    run_id: str, body: RunUpdate, tenant: TenantDep, db: EngineDep, now: NowDep
) -> dict[str, dict[str, Any]]:
    """Illegal status changes are refused with 409 naming the run's current status."""
    changes = body.model_dump(exclude_unset=True)
    changes["at"] = _seconds(body.at, "at")
    return {"data": runs.update_run(db, tenant.id, run_id, changes, now)}


@router.get("/{run_id}/cycles")
def cycles(
    run_id: str,
    tenant: TenantDep,
    db: EngineDep,
    now: NowDep,
    bins: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, dict[str, Any]]:
    return {"data": runs.run_cycles(db, tenant.id, run_id, now, bins=bins)}
