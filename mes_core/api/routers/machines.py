"""``/api/{tenant}/mes/machines``: list, register, get, update, live status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mes_core.api.deps import EngineDep, NowDep, TenantDep
from mes_core.api.schemas import MachineCreate, MachinePublic, MachineUpdate, RejectRequest
from mes_core.services import machines, runs

__all__ = ["router"]

router = APIRouter(prefix="/api/{tenant}/mes/machines", tags=["machines"])


@router.get("")
def list_machines(tenant: TenantDep, db: EngineDep) -> dict[str, list[MachinePublic]]:
    return {"data": [MachinePublic.of(m) for m in machines.list_machines(db, tenant.id)]}


@router.post("", status_code=201)
def register_machine(body: MachineCreate, tenant: TenantDep, db: EngineDep) -> dict[str, MachinePublic]:
    machine = machines.register_machine(db, tenant.id, body.model_dump())
    return {"data": MachinePublic.of(machine)}


@router.get("/{machine_id}")
def get_machine(machine_id: str, tenant: TenantDep, db: EngineDep) -> dict[str, MachinePublic]:
    return {"data": MachinePublic.of(machines.get_machine(db, tenant.id, machine_id))}


@router.patch("/{machine_id}")
def update_machine(
    machine_id: str, body: MachineUpdate, tenant: TenantDep, db: EngineDep
) -> dict[str, MachinePublic]:
    changes = body.model_dump(exclude_unset=True)
    return {"data": MachinePublic.of(machines.update_machine(db, tenant.id, machine_id, changes))}


@router.get("/{machine_id}/status")
def machine_status(
    machine_id: str, tenant: TenantDep, db: EngineDep, now: NowDep
) -> dict[str, dict[str, Any]]:
    status = machines.machine_status(db, tenant.id, machine_id)
    status["current_run"] = runs.current_run(db, tenant.id, machine_id, now)
    return {"data": status}


@router.post("/{machine_id}/rejects", status_code=201)
def reject_parts(
    machine_id: str, body: RejectRequest, tenant: TenantDep, db: EngineDep, now: NowDep
) -> dict[str, dict[str, Any]]:
    """Mark parts the machine made (at or before ``at``) rejected, with or without a run."""
    at = body.at.timestamp() if body.at is not None else now
    return {"data": runs.mark_rejected(db, tenant.id, machine_id, at, body.quantity, body.reason, now)}
