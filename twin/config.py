"""The twin's own configuration: plain frozen dataclasses that the scenario layer fills in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time as dtime
from zoneinfo import ZoneInfo

from twin.shift_calendar import ShiftDefinition

__all__ = [
    "CycleModel",
    "EventConfig",
    "EventKind",
    "FailureMode",
    "JobConfig",
    "MachineConfig",
    "PlantConfig",
]

EventKind = str
"""One of ``EVENT_KINDS``; kept as text so that scenario files and truth files read the same."""

EVENT_KINDS: tuple[str, ...] = (
    "estop",
    "alarm",
    "feed_hold",
    "operator_reject",
    "tool_change",
    "power_off",
    "planned_stop",
)


@dataclass(frozen=True, slots=True)
class CycleModel:
    """How long real cycles take around the ideal cycle time.

    A cycle lasts ``ideal x F`` where F is log-normal with mean ``mean_factor`` and coefficient of variation
    ``cv``; with probability ``slow_probability`` it is a slow cycle, ``slow_factor`` times longer. After a
    cycle, with probability ``microstop_probability`` the machine idles for an exponentially distributed
    micro-stop of mean ``microstop_mean_s``; ``load_s`` is the fixed part-handling time between cycles.
    """

    mean_factor: float = 1.05
    cv: float = 0.03
    slow_probability: float = 0.02
    slow_factor: float = 1.4
    microstop_probability: float = 0.05
    microstop_mean_s: float = 45.0
    load_s: float = 4.0


@dataclass(frozen=True, slots=True)
class JobConfig:
    """One job (production order) a machine runs: one production run in the MES."""

    job_number: str
    part_number: str
    program: str
    planned_quantity: int
    ideal_cycle_s: float
    cycle: CycleModel = field(default_factory=CycleModel)
    scrap_rate: float = 0.01
    setup_minutes: float = 20.0
    reduced_speed_probability: float = 0.0
    reduced_override_pct: int = 80
    tool_number: int = 1
    tool_life_parts: int = 400
    tool_change_minutes: float = 3.0
    spindle_rpm: float = 3000.0
    feed_mm_min: float = 1200.0


@dataclass(frozen=True, slots=True)
class FailureMode:
    """Random alarms of one category: mean time between (in operating hours) and mean time to repair."""

    category: str
    mtbf_hours: float
    mttr_minutes: float


@dataclass(frozen=True, slots=True)
class EventConfig:
    """A timed event injected into one machine at ``at`` (UTC epoch seconds).

    ``duration_s`` applies to feed holds, power-offs, planned stops and the repair of injected alarms and
    E-stops (``None``: drawn from the category's MTTR, or 5 minutes); ``code`` names the alarm's native code;
    ``count`` is the number of parts an operator rejects.
    """

    at: float
    machine: str
    kind: EventKind
    duration_s: float | None = None
    code: str | None = None
    count: int = 1


@dataclass(frozen=True, slots=True)
class MachineConfig:
    """One machine: its identity, model, jobs in order, reliability and behaviour outside production."""

    id: str
    model: str
    name: str
    location: str = ""
    jobs: tuple[JobConfig, ...] = ()
    reliability: tuple[FailureMode, ...] = ()
    warmup_minutes: float = 10.0
    power_off_outside_shifts: bool = True
    sample_interval_s: float = 5.0


@dataclass(frozen=True, slots=True)
class PlantConfig:
    """Everything the twin needs to simulate a plant from ``start`` for ``duration_s`` seconds."""

    start: float
    duration_s: float
    tz: ZoneInfo
    shifts: tuple[ShiftDefinition, ...]
    machines: tuple[MachineConfig, ...]
    seed: int = 0
    operators: int = 2
    day_start: dtime | None = None
    events: tuple[EventConfig, ...] = ()

    @property
    def end(self) -> float:
        """The end of the simulated period, UTC epoch seconds."""
        return self.start + self.duration_s
