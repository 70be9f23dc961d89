"""The rows the repository returns, as frozen dataclasses named after the tables they come from.

Instants are UTC epoch microseconds (``*_us``), as stored.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AgentCursor", "Alarm", "DataGap", "Machine", "MachineStatus", "StateInterval", "Tenant"]


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
