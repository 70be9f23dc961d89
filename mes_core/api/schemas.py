"""The API's request and response bodies (the seed's fields and shapes)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AckRequest",
    "BreakIn",
    "CalendarExceptionIn",
    "MachineCreate",
    "MachinePublic",
    "MachineUpdate",
    "RejectRequest",
    "RunCreate",
    "RunUpdate",
    "ScheduleIn",
    "ShiftIn",
]


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


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _aware(moment: datetime | None, name: str) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise ValueError(f"{name}: {moment.isoformat()} needs a time zone (e.g. Z or +01:00)")
    return moment


class BreakIn(_Strict):
    """A break at a fixed local time inside its shift."""

    start: time = Field(examples=["10:00"])
    minutes: int = Field(gt=0, le=1440, examples=[30])


class ShiftIn(_Strict):
    """One shift of the weekly schedule (the seed's fields; ``end`` at or before ``start``: the next day).

    ``break_minutes`` alone places one break at the shift's elapsed middle; ``breaks`` gives their local
    start times instead.
    """

    name: str = Field(min_length=1, max_length=100, examples=["First Shift"])
    start: time = Field(examples=["06:00"])
    end: time = Field(examples=["14:00"])
    break_minutes: int = Field(0, ge=0, le=1440)
    breaks: list[BreakIn] = Field(default_factory=list)
    days: list[Weekday] = Field(min_length=1, examples=[["mon", "tue", "wed", "thu", "fri"]])


class CalendarExceptionIn(_Strict):
    """A holiday (cancels the shifts starting in it), planned downtime (not planned time, wins over every
    shift), or an extra shift (a named shift instance); local wall-clock times, for one machine or all."""

    kind: Literal["holiday", "planned_downtime", "extra_shift"]
    start: datetime = Field(examples=["2026-12-24T00:00:00"])
    end: datetime = Field(examples=["2026-12-27T00:00:00"])
    name: str = Field("", max_length=100)
    machine_id: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _local_and_ordered(self) -> CalendarExceptionIn:
        for name in ("start", "end"):
            if getattr(self, name).tzinfo is not None:
                raise ValueError(
                    f"{name}: give local wall-clock time without a zone (the tenant's time zone)"
                )
        if self.end <= self.start:
            raise ValueError("end: must be after start")
        if self.kind == "extra_shift" and not self.name:
            raise ValueError("name: an extra shift needs a name")
        return self


class ScheduleIn(_Strict):
    """The seed's shift schedule, with the tenant's IANA time zone, the production day's local start, the
    break policy (``planned``: breaks are not planned time, the default; ``loss``: they are) and calendar
    exceptions (replaced only when given)."""

    shifts: list[ShiftIn]
    timezone: str | None = Field(None, max_length=64, examples=["Europe/Berlin"])
    day_start: time | None = Field(None, examples=["06:00"])
    break_policy: Literal["planned", "loss"] | None = None
    exceptions: list[CalendarExceptionIn] | None = None


class RunCreate(_Strict):
    """Start a production run (the seed's fields); ``at`` dates the start, ``status`` running skips setup."""

    machine_id: str = Field(min_length=1, max_length=200, examples=["HAAS-VF2-001"])
    job_number: str = Field(min_length=1, max_length=100, examples=["JOB-2026-0145"])
    part_number: str | None = Field(None, max_length=100, examples=["PN-4820"])
    program_name: str | None = Field(None, max_length=100, examples=["O0145"])
    planned_quantity: int | None = Field(None, ge=0, le=2**31 - 1, examples=[500])
    ideal_cycle_time_sec: float = Field(gt=0, le=10**7, examples=[42])
    status: Literal["setup", "running"] = "setup"
    operator_notes: str | None = Field(None, max_length=10_000)
    at: datetime | None = None

    @model_validator(mode="after")
    def _zoned(self) -> RunCreate:
        _aware(self.at, "at")
        return self


class RunUpdate(_Strict):
    """Change a run: status (running to resume, paused, completed, aborted; setup to resume a paused
    setup), quantities, notes; ``at`` dates the status change."""

    status: Literal["setup", "running", "paused", "completed", "aborted"] | None = None
    actual_quantity: int | None = Field(None, ge=0, le=2**31 - 1)
    rejected_quantity: int | None = Field(None, ge=0, le=2**31 - 1)
    planned_quantity: int | None = Field(None, ge=0, le=2**31 - 1)
    operator_notes: str | None = Field(None, max_length=10_000)
    at: datetime | None = None

    @model_validator(mode="after")
    def _zoned(self) -> RunUpdate:
        _aware(self.at, "at")
        return self


class RejectRequest(_Strict):
    """Mark parts of a machine rejected: those made at or before ``at`` (default now)."""

    quantity: int = Field(ge=1, le=1_000_000, examples=[2])
    at: datetime | None = None
    reason: str | None = Field(None, max_length=1000, examples=["burr on bore"])

    @model_validator(mode="after")
    def _zoned(self) -> RejectRequest:
        _aware(self.at, "at")
        return self
