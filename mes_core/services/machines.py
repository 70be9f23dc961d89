"""Machines: registration, configuration and live status, always within one tenant."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from mes_core.store import repository
from mes_core.store.engine import transaction
from mes_core.store.records import Machine

__all__ = ["NotFound", "get_machine", "list_machines", "machine_status", "register_machine", "update_machine"]


class NotFound(LookupError):
    """The tenant has no such resource (another tenant's resources are not found either)."""


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def _check_source(fields: Mapping[str, Any]) -> None:
    source = fields.get("source", "mtconnect")
    if source == "mtconnect" and not fields.get("agent_url"):
        raise ValueError("agent_url: a machine with source 'mtconnect' needs the URL of its MTConnect agent")
    if source == "ix40":
        for field in ("ix40_base_url", "ix40_api_key", "ix40_machine_number"):
            if not fields.get(field):
                raise ValueError(f"{field}: a machine with source 'ix40' needs it")


def register_machine(engine: Engine, tenant_id: int, fields: Mapping[str, Any]) -> Machine:
    """Register a machine (the seed's fields); ``device`` defaults to ``machine_id``.

    Raises:
        ValueError: a field is missing for the machine's source.
        ConflictError: the tenant already has a machine with this id.
    """
    _check_source(fields)
    now = _now_us()
    data = dict(fields)
    if not data.get("device"):
        data["device"] = data["machine_id"]
    machine = Machine(tenant_id=tenant_id, created_us=now, updated_us=now, **data)
    with transaction(engine) as conn:
        repository.insert_machine(conn, machine)
    return machine


def get_machine(engine: Engine, tenant_id: int, machine_id: str) -> Machine:
    """Raises NotFound when the tenant has no such machine."""
    with transaction(engine) as conn:
        machine = repository.get_machine(conn, tenant_id, machine_id)
    if machine is None:
        raise NotFound(f"machine {machine_id!r} not found")
    return machine


def list_machines(engine: Engine, tenant_id: int) -> list[Machine]:
    with transaction(engine) as conn:
        return repository.list_machines(conn, tenant_id)


def update_machine(engine: Engine, tenant_id: int, machine_id: str, changes: Mapping[str, Any]) -> Machine:
    """Change some fields of a machine.

    Raises:
        NotFound: the tenant has no such machine.
        ValueError: the change leaves the machine without what its source needs.
    """
    current = get_machine(engine, tenant_id, machine_id)
    _check_source({**asdict(current), **changes})
    with transaction(engine) as conn:
        machine = repository.update_machine(conn, tenant_id, machine_id, changes, updated_us=_now_us())
    if machine is None:
        raise NotFound(f"machine {machine_id!r} not found")
    return machine


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine_status(engine: Engine, tenant_id: int, machine_id: str) -> dict[str, Any]:
    """The machine's live status in the seed's shape (status ACTIVE / IDLE / ALARM / OFFLINE, spindle,
    feed, program, axes, active tool, current run, last_updated).

    Raises:
        NotFound: the tenant has no such machine.
    """
    machine = get_machine(engine, tenant_id, machine_id)
    with transaction(engine) as conn:
        status = repository.get_status(conn, tenant_id, machine_id)
    values: dict[str, Any] = json.loads(status.values_json) if status is not None else {}

    def num(key: str) -> float | None:
        value = values.get(key)
        try:
            return None if value is None else float(value)
        except (TypeError, ValueError):
            return None

    tool = values.get("tool_number")
    if "spindle" in values:  # the ingestion stores the tracker's snapshot, already in the seed's shape
        shaped = {key: values.get(key) for key in ("spindle", "feed", "program", "axes", "active_tool")}
        return {
            "machine_id": machine.machine_id,
            "name": machine.name,
            "status": status.status if status is not None else "OFFLINE",
            "state": status.state if status is not None else "no_data",
            "last_updated": _iso(status.updated_us) if status is not None else None,
            **shaped,
            "current_run": None,
        }
    return {
        "machine_id": machine.machine_id,
        "name": machine.name,
        "status": status.status if status is not None else "OFFLINE",
        "state": status.state if status is not None else "no_data",
        "last_updated": _iso(status.updated_us) if status is not None else None,
        "spindle": {
            "speed_rpm": num("spindle_speed"),
            "load_pct": num("spindle_load"),
            "override_pct": num("spindle_override"),
        },
        "feed": {"rate_mm_min": num("feed_rate"), "override_pct": num("feed_override")},
        "program": {
            "name": values.get("program"),
            "block": values.get("block"),
            "comment": values.get("comment"),
        },
        "axes": {"x": num("position_x"), "y": num("position_y"), "z": num("position_z")},
        "active_tool": {"id": f"T{tool}" if tool not in (None, "") else None, "life_remaining_pct": None},
        "current_run": None,
    }
