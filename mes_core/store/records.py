"""The rows the repository returns, as frozen dataclasses named after the tables they come from.

Instants are UTC epoch microseconds (``*_us``), as stored.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AgentCursor",
    "Alarm",
    "CalendarExceptionRow",
    "DataGap",
    "Machine",
    "MachineStatus",
    "PartReject",
    "Run",
    "RunPhaseRow",
    "ShiftRow",
    "ShiftSchedule",
    "StateInterval",
    "Tenant",
]


@dataclass(frozen=True, slots=True)
class Tenant:
    """A tenant: its machines, alarms and reports are visible only with its token."""

    id: int
    name: str
    timezone: str
    token_hash: str
    created_us: int


@dataclass(frozen=True, slots=True)
class Machine:
    """A registered machine and where to read it (an MTConnect agent, or the iX4.0 API)."""

    tenant_id: int
    machine_id: str
    name: str
    created_us: int
    updated_us: int
    type: str | None = None
    location: str | None = None
    source: str = "mtconnect"
    agent_url: str | None = None
    device: str | None = None
    poll_interval_ms: int = 1000
    ix40_base_url: str | None = None
    ix40_api_key: str | None = None
    ix40_machine_number: str | None = None


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm from onset to clear (``clear_us`` None while active), with its acknowledgement."""

    id: int
    tenant_id: int
    machine_id: str
    item_id: str
    native_code: str
    category: str
    severity: str
    level: str
    text: str | None
    onset_us: int
    clear_us: int | None
    ack_by: str | None
    ack_us: int | None


@dataclass(frozen=True, slots=True)
class StateInterval:
    """A machine's state from ``start_us`` to ``end_us`` (None while it lasts)."""

    tenant_id: int
    machine_id: str
    start_us: int
    end_us: int | None
    state: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class DataGap:
    """A span in which the MES has no data for a machine, and why (agent down, agent restart, ...)."""

    tenant_id: int
    machine_id: str
    start_us: int
    end_us: int
    reason: str


@dataclass(frozen=True, slots=True)
class AgentCursor:
    """Where ingestion of an agent resumes: its instance id and the next sequence to ask for."""

    tenant_id: int
    agent_url: str
    instance_id: int
    next_sequence: int
    updated_us: int


@dataclass(frozen=True, slots=True)
class MachineStatus:
    """A machine's latest status and state, and its latest signal values as JSON text."""

    tenant_id: int
    machine_id: str
    updated_us: int
    status: str
    state: str
    values_json: str


@dataclass(frozen=True, slots=True)
class ShiftSchedule:
    """A tenant's shift-schedule settings: the production day's local start and the break policy."""

    tenant_id: int
    day_start: str
    break_policy: str
    updated_us: int


@dataclass(frozen=True, slots=True)
class ShiftRow:
    """One shift of a weekly schedule in local wall-clock time (``HH:MM``); ``days`` comma-separated."""

    tenant_id: int
    name: str
    position: int
    start: str
    end: str
    break_minutes: int
    breaks_json: str
    days: str


@dataclass(frozen=True, slots=True)
class CalendarExceptionRow:
    """A holiday, planned downtime or extra shift, in local wall-clock time, for one machine or all."""

    id: int
    tenant_id: int
    kind: str
    start_local: str
    end_local: str
    name: str
    machine_id: str | None


@dataclass(frozen=True, slots=True)
class Run:
    """A production run on a machine, from its start (``started_us``) to its end (None while open)."""

    id: str
    tenant_id: int
    machine_id: str
    job_number: str
    part_number: str | None
    program_name: str | None
    planned_quantity: int | None
    ideal_cycle_time_s: float
    status: str
    created_us: int
    started_us: int
    ended_us: int | None
    updated_us: int
    actual_quantity: int | None
    rejected_quantity: int
    operator_notes: str | None


@dataclass(frozen=True, slots=True)
class RunPhaseRow:
    """A run was in ``status`` from ``start_us`` to ``end_us`` (None while it lasts)."""

    tenant_id: int
    run_id: str
    position: int
    status: str
    start_us: int
    end_us: int | None


@dataclass(frozen=True, slots=True)
class PartReject:
    """Parts of a machine marked rejected after they were counted, at ``ts_us`` (by the API or a run)."""

    id: int
    tenant_id: int
    machine_id: str
    ts_us: int
    quantity: int
    run_id: str | None
    reason: str | None
    created_us: int
