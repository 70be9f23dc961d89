"""The API's request and response bodies (the seed's fields and shapes)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["AckRequest", "MachineCreate", "MachinePublic", "MachineUpdate"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class MachineCreate(_Strict):
    """Register a machine: ``source`` mtconnect (agent_url + machine_id, the device name or uuid at the agent,
    or ``device`` when it differs) or ix40 (API base URL, API key, INDEX machine number)."""

    name: str = Field(min_length=1, max_length=200, examples=["Haas VF-2 #001"])
    machine_id: str = Field(
        min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$", examples=["HAAS-VF2-001"]
    )
    agent_url: str | None = Field(
        None, max_length=500, pattern=r"^https?://", examples=["http://127.0.0.1:5000"]
    )
    device: str | None = Field(None, max_length=200, description="Device name or uuid at the agent.")
    type: str | None = Field(None, max_length=64, examples=["milling"])
    location: str | None = Field(None, max_length=200, examples=["Bay A, Position 3"])
    poll_interval_ms: int = Field(1000, ge=50, le=600_000)
    source: Literal["mtconnect", "ix40"] = "mtconnect"
    ix40_base_url: str | None = Field(None, max_length=500, pattern=r"^https?://")
    ix40_api_key: str | None = Field(None, max_length=200)
    ix40_machine_number: str | None = Field(None, max_length=64)


class MachineUpdate(_Strict):
    """Change a machine's configuration (any subset of the fields); required fields cannot be set to null."""

    @model_validator(mode="before")
    @classmethod
    def _no_null_for_required(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("name", "poll_interval_ms"):
                if name in data and data[name] is None:
                    raise ValueError(f"{name} cannot be null")
        return data

    name: str | None = Field(None, min_length=1, max_length=200)
    agent_url: str | None = Field(None, max_length=500, pattern=r"^https?://")
    device: str | None = Field(None, max_length=200)
    type: str | None = Field(None, max_length=64)
    location: str | None = Field(None, max_length=200)
    poll_interval_ms: int | None = Field(None, ge=50, le=600_000)
    ix40_base_url: str | None = Field(None, max_length=500, pattern=r"^https?://")
    ix40_api_key: str | None = Field(None, max_length=200)
    ix40_machine_number: str | None = Field(None, max_length=64)


class MachinePublic(BaseModel):
    machine_id: str
    name: str
    type: str | None
    location: str | None
    source: str
    agent_url: str | None
    device: str | None
    poll_interval_ms: int
    ix40_base_url: str | None
    ix40_machine_number: str | None

    @classmethod
    def of(cls, machine: Any) -> MachinePublic:
        return cls(**{name: getattr(machine, name) for name in cls.model_fields})


class AckRequest(_Strict):
    """Acknowledge an alarm."""

    acknowledged_by: str = Field(min_length=1, max_length=200, examples=["j.smith"])
