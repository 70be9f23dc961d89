"""The scenario file format: a pydantic model of the TOML, with its validation rules."""

from __future__ import annotations

import fnmatch
import re
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "AgentSpec",
    "BreakSpec",
    "CycleTimeSpec",
    "EventSpec",
    "FailureSpec",
    "FleetSpec",
    "Ix40Spec",
    "JobSpec",
    "MachineSpec",
    "MesSpec",
    "Scenario",
    "ScenarioInfo",
    "ShiftSpec",
    "Tolerances",
    "parse_duration",
]

ModelName = Literal["haas_vf2", "dmg_nlx2500", "index_ix40"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
AlarmCategoryName = Literal["emergency_stop", "axis", "spindle", "tool_change", "hydraulic", "communication"]
MachineEventKind = Literal[
    "estop", "alarm", "feed_hold", "operator_reject", "tool_change", "power_off", "planned_stop"
]
WireEventKind = Literal["agent_restart", "adapter_disconnect", "network_drop", "slow_responses"]
EventKind = Literal[MachineEventKind, WireEventKind]
SchemaVersion = Literal["1.3", "1.7", "1.8", "2.4", "2.7"]

_MACHINE_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")
_WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")

_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$"
)


def parse_duration(text: str) -> float:
    """Return the seconds in a duration such as ``8h``, ``90m``, ``2d``, ``1h30m`` or ``45s``.

    Raises:
        ValueError: the text is not such a duration, or it is zero.
    """
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration like 8h, 90m, 2d, 1h30m or 45s")
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = days * 86400 + hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"duration {text!r} must be greater than zero")
    return total


def _hhmm(value: object) -> object:
    if isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a local time like '06:00'") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ScenarioInfo(_Strict):
    """The ``[scenario]`` table: what, when and where."""

    name: str = Field(min_length=1, description="Short name, used in reports.", examples=["haas-one-shift"])
    description: str = Field("", description="What the scenario reproduces.")
    start: datetime = Field(
        description="Local date-time (no offset) at which the scenario starts, in `timezone`.",
        examples=["2026-03-02T06:00:00"],
    )
    timezone: str = Field(description="IANA time zone of the plant.", examples=["Europe/Berlin"])
    duration: str = Field(description="How long the scenario runs: 8h, 48h, 2d, 1h30m.", examples=["8h"])
    seed: int = Field(0, ge=0, description="Random seed: the same seed gives byte-identical output.")
    day_start: time | None = Field(
        None, description="Local time at which a business day starts (default: the earliest shift start)."
    )
    operators: int = Field(2, ge=1, description="Operators on the floor, shared by setups and repairs.")

    _check_day_start = field_validator("day_start", mode="before")(_hhmm)

    @field_validator("start")
    @classmethod
    def _naive(cls, value: datetime) -> datetime:
        if value.tzinfo is not None:
            raise ValueError("must be a local date-time without a UTC offset (the zone is `timezone`)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as 'Europe/Berlin'") from None
        return value

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def duration_s(self) -> float:
        return parse_duration(self.duration)


class BreakSpec(_Strict):
    """A break at a fixed local time inside a shift."""

    start: time = Field(description="Local start time of the break.", examples=["10:00"])
    minutes: int = Field(gt=0, description="Length of the break in minutes.", examples=[30])

    _check_start = field_validator("start", mode="before")(_hhmm)


class ShiftSpec(_Strict):
    """One shift of the weekly schedule, as in the MES's shift endpoint."""

    name: str = Field(min_length=1, examples=["First Shift"])
    start: time = Field(description="Local start time.", examples=["06:00"])
    end: time = Field(
        description="Local end time; at or before `start` means the next day.", examples=["14:00"]
    )
    break_minutes: int = Field(0, ge=0, description="Break length, placed at the shift's middle.")
    breaks: list[BreakSpec] = Field(default_factory=list, description="Breaks at fixed local times instead.")
    days: list[Weekday] = Field(
        default_factory=lambda: list(_WORKDAYS),
        min_length=1,
        description="Days on which the shift starts.",
    )

    _check_times = field_validator("start", "end", mode="before")(_hhmm)

    @model_validator(mode="after")
    def _one_way_to_give_breaks(self) -> ShiftSpec:
        total = sum(b.minutes for b in self.breaks)
        if self.breaks and self.break_minutes not in (0, total):
            raise ValueError(
                f"break_minutes ({self.break_minutes}) disagrees with the explicit breaks ({total} minutes); "
                "give one or the other"
            )
        return self


class AgentSpec(_Strict):
    """An MTConnect agent that fronts some machines."""

    name: str = Field(min_length=1, examples=["agent-bay-a"])
    port: int = Field(ge=1, le=65535, examples=[5000])
    machines: list[str] = Field(
        min_length=1, description="Machine ids or glob patterns (`VF2-*`) this agent fronts."
    )
    schema_version: SchemaVersion = Field("2.7", description="MTConnect schema version the agent speaks.")
    transport: Literal["inprocess", "shdr"] = Field(
        "inprocess", description="Feed the agent in process, or through SHDR adapters over TCP."
    )
    shdr_port: int | None = Field(
        None, ge=1, le=65535, description="First SHDR adapter port (transport shdr)."
    )
    buffer_size: int = Field(131072, ge=16, description="Observations the agent's buffer holds.")


class Ix40Spec(_Strict):
    """The iX4.0 REST endpoint serving the INDEX machines."""

    port: int = Field(9040, ge=1, le=65535)
    api_key: str = Field(
        "6f1c2a7e-0b7d-4c1e-9a55-3f0d2a4b8c11", description="API key (a UUIDv4) clients must present."
    )


class CycleTimeSpec(_Strict):
    """Actual cycle times around the ideal one (see twin.config.CycleModel)."""

    mean_factor: float = Field(1.05, gt=0, description="Mean actual/ideal cycle time.")
    cv: float = Field(0.03, ge=0, le=1, description="Coefficient of variation of the actual cycle time.")
    slow_probability: float = Field(0.02, ge=0, le=1, description="Share of slow cycles.")
    slow_factor: float = Field(1.4, ge=1, description="How much longer a slow cycle takes.")
    microstop_probability: float = Field(
        0.05, ge=0, le=1, description="Chance of a micro-stop after a cycle."
    )
    microstop_mean_s: float = Field(45.0, gt=0, description="Mean micro-stop length in seconds.")
    load_s: float = Field(4.0, ge=0, description="Part handling time between cycles, seconds.")


class JobSpec(_Strict):
    """A job (production order): one production run."""

    job_number: str = Field(min_length=1, examples=["JOB-2026-0145"])
    part_number: str = Field(min_length=1, examples=["PN-4820"])
    program: str = Field(min_length=1, examples=["O0145"])
    planned_quantity: int = Field(gt=0, examples=[500])
    ideal_cycle_time_s: float = Field(gt=0, examples=[42])
    cycle_time: CycleTimeSpec = Field(default_factory=CycleTimeSpec)
    scrap_rate: float = Field(0.01, ge=0, lt=1, description="Share of parts an operator rejects.")
    setup_minutes: float = Field(20.0, ge=0)
    reduced_speed_probability: float = Field(
        0.0, ge=0, le=1, description="Share of cycles at reduced override."
    )
    reduced_override_pct: int = Field(80, gt=0, le=100)
    tool_number: int = Field(1, ge=1)
    tool_life_parts: int = Field(400, gt=0, description="Parts per tool edge before a tool change.")
    tool_change_minutes: float = Field(3.0, ge=0)
    spindle_rpm: float = Field(3000.0, gt=0)
    feed_mm_min: float = Field(1200.0, gt=0)


class FailureSpec(_Strict):
    """Random alarms of one category."""

    category: AlarmCategoryName
    mtbf_hours: float = Field(gt=0, description="Mean operating hours between alarms of this category.")
    mttr_minutes: float = Field(gt=0, description="Mean repair (or, for warnings, active) time.")


class _MachineBase(_Strict):
    model: ModelName
    location: str = ""
    jobs: list[JobSpec] = Field(default_factory=list)
    reliability: list[FailureSpec] = Field(default_factory=list)
    warmup_minutes: float = Field(10.0, ge=0)
    power_off_outside_shifts: bool = True
    sample_interval_s: float = Field(
        5.0,
        ge=0.01,
        description="Seconds between samples of continuous signals (spindle load, feed, positions).",
    )


class MachineSpec(_MachineBase):
    """One machine."""

    id: str = Field(min_length=1, pattern=_MACHINE_ID.pattern, examples=["HAAS-VF2-001"])
    name: str = Field(min_length=1, examples=["Haas VF-2 #001"])
    ix40_machine_number: str | None = Field(None, description="INDEX machine number (index_ix40 only).")


class FleetSpec(_MachineBase):
    """``count`` identical machines, named by formats with ``{n}`` (1-based), e.g. ``VF2-{n:03d}``."""

    count: int = Field(gt=0, le=10000)
    id_format: str = Field(examples=["VF2-{n:03d}"])
    name_format: str = Field("{id}", examples=["Haas VF-2 #{n}"])

    @field_validator("id_format")
    @classmethod
    def _id_format(cls, value: str) -> str:
        try:
            ident = value.format(n=1)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            raise ValueError(f"{value!r} is not a format of `n` such as 'VF2-{{n:03d}}' ({exc})") from None
        if not _MACHINE_ID.fullmatch(ident):
            raise ValueError(f"{value!r} gives {ident!r}, not a machine id (letters, digits, _ . -)")
        return value

    @field_validator("name_format")
    @classmethod
    def _name_format(cls, value: str) -> str:
        try:
            value.format(n=1, id="ID")
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            raise ValueError(
                f"{value!r} is not a format of `n` and `id` such as 'Haas VF-2 #{{n}}' ({exc})"
            ) from None
        return value

    def expand(self) -> list[MachineSpec]:
        base = self.model_dump(exclude={"count", "id_format", "name_format"})
        machines = []
        for n in range(1, self.count + 1):
            ident = self.id_format.format(n=n)
            machines.append(MachineSpec(id=ident, name=self.name_format.format(n=n, id=ident), **base))
        return machines


class EventSpec(_Strict):
    """A timed event: on a machine (E-stop, alarm, feed hold...) or on an agent (restart, drop...)."""

    at: str = Field(
        description="Local date-time, or an offset from the start such as +3h15m.",
        examples=["2026-03-02T09:15:00", "+3h15m"],
    )
    kind: EventKind
    machine: str | None = Field(None, description="The machine (machine events).")
    agent: str | None = Field(
        None, description="The agent (agent_restart, adapter_disconnect, network_drop...)."
    )
    duration: str | None = Field(None, description="How long it lasts (feed hold, power off, stop, drop...).")
    code: str | None = Field(None, description="Native alarm code (kind alarm).")
    count: int = Field(1, ge=1, description="Parts rejected (kind operator_reject).")

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        if value.startswith("+"):
            try:
                parse_duration(value[1:])
            except ValueError:
                raise ValueError(f"{value!r} is not an offset like +3h15m") from None
        else:
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is neither a local date-time nor an offset like +3h15m"
                ) from None
            if parsed.tzinfo is not None:
                raise ValueError("must be a local date-time without a UTC offset")
        return value

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _target(self) -> EventSpec:
        wire = self.kind in WireEventKind.__args__  # type: ignore[attr-defined]
        if wire and self.agent is None:
            raise ValueError(f"kind {self.kind!r} needs an `agent`")
        if not wire and self.machine is None:
            raise ValueError(f"kind {self.kind!r} needs a `machine`")
        if self.kind == "alarm" and not self.code:
            raise ValueError("kind 'alarm' needs a native `code`")
        if self.kind in ("feed_hold", "power_off", "planned_stop", "network_drop") and self.duration is None:
            raise ValueError(f"kind {self.kind!r} needs a `duration`")
        return self


class MesSpec(_Strict):
    """How the MES reads the machines."""

    poll_interval_ms: int = Field(1000, ge=50, le=600000)
    mode: Literal["poll", "stream"] = "poll"
    step: str = Field("1m", description="Twin time per harness step in virtual time.")

    @field_validator("step")
    @classmethod
    def _step(cls, value: str) -> str:
        parse_duration(value)
        return value


class Tolerances(_Strict):
    """Allowed |MES - truth| per figure; parts and alarms must match exactly unless relaxed."""

    availability: float = Field(0.002, ge=0)
    performance: float = Field(0.002, ge=0)
    quality: float = Field(0.002, ge=0)
    oee: float = Field(0.002, ge=0)
    parts: int = Field(0, ge=0)
    alarms: int = Field(0, ge=0)


class Scenario(_Strict):
    """A whole scenario file."""

    scenario: ScenarioInfo
    shifts: list[ShiftSpec] = Field(default_factory=list)
    agents: list[AgentSpec] = Field(default_factory=list)
    ix40: Ix40Spec | None = None
    machines: list[MachineSpec] = Field(default_factory=list)
    fleets: list[FleetSpec] = Field(default_factory=list)
    events: list[EventSpec] = Field(default_factory=list)
    mes: MesSpec = Field(default_factory=MesSpec)
    tolerances: Tolerances = Field(default_factory=Tolerances)

    @property
    def all_machines(self) -> list[MachineSpec]:
        """The listed machines followed by every fleet's, expanded."""
        machines = list(self.machines)
        for fleet in self.fleets:
            machines += fleet.expand()
        return machines

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        machines = self.all_machines
        if not machines:
            raise ValueError("machines: a scenario needs at least one machine (`machines` or `fleets`)")
        ids = [m.id for m in machines]
        places = [f"machines[{i}].id" for i in range(len(self.machines))]
        places += [
            f"fleets[{i}].id_format" for i, fleet in enumerate(self.fleets) for _ in range(fleet.count)
        ]
        seen: set[str] = set()
        for ident, place in zip(ids, places, strict=True):
            if ident in seen:
                raise ValueError(f"{place}: machine id {ident!r} appears more than once")
            seen.add(ident)
        for index, machine in enumerate(self.machines):
            if machine.ix40_machine_number is not None and machine.model != "index_ix40":
                raise ValueError(f"machines[{index}].ix40_machine_number: only index_ix40 machines have one")
        names = [s.name for s in self.shifts]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ValueError(f"shifts[{index}].name: shift name {name!r} appears more than once")
        self._check_agents(ids)
        agents = {a.name for a in self.agents}
        for index, event in enumerate(self.events):
            if event.machine is not None and event.machine not in seen:
                raise ValueError(f"events[{index}].machine: unknown machine {event.machine!r}")
            if event.agent is not None and event.agent not in agents:
                raise ValueError(f"events[{index}].agent: unknown agent {event.agent!r}")
        return self

    def _check_agents(self, ids: list[str]) -> None:
        fronted: dict[str, str] = {}
        ports: dict[int, str] = {}
        for index, agent in enumerate(self.agents):
            if any(other.name == agent.name for other in self.agents[:index]):
                raise ValueError(f"agents[{index}].name: agent name {agent.name!r} appears more than once")
            if agent.port in ports:
                raise ValueError(
                    f"agents[{index}].port: {agent.port} is already used by {ports[agent.port]!r}"
                )
            ports[agent.port] = agent.name
            for pattern in agent.machines:
                matched = fnmatch.filter(ids, pattern)
                if not matched:
                    raise ValueError(f"agents[{index}].machines: {pattern!r} matches no machine")
                for ident in matched:
                    if ident in fronted and fronted[ident] != agent.name:
                        raise ValueError(
                            f"agents[{index}].machines: {ident!r} is already fronted by {fronted[ident]!r}"
                        )
                    fronted[ident] = agent.name

    def agent_machines(self, agent: AgentSpec) -> list[str]:
        """The ids of the machines ``agent`` fronts, in scenario order."""
        ids = [m.id for m in self.all_machines]
        chosen = {i for pattern in agent.machines for i in fnmatch.filter(ids, pattern)}
        return [i for i in ids if i in chosen]


PositiveFloat = Annotated[float, Field(gt=0)]
