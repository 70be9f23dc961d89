"""Tiny builders for twin tests: one machine, one shift, readable overrides."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from twin.clock import local_to_epoch
from twin.config import CycleModel, EventConfig, FailureMode, JobConfig, MachineConfig, PlantConfig
from twin.observations import ListSink
from twin.plant import Plant
from twin.shift_calendar import ShiftDefinition

BERLIN = ZoneInfo("Europe/Berlin")
# Monday 2 March 2026, 06:00 local (05:00 UTC).
MONDAY_0600 = local_to_epoch(datetime(2026, 3, 2, 6, 0), BERLIN)
HOUR = 3600.0
WEEKDAYS = frozenset(range(5))

STEADY = CycleModel(mean_factor=1.0, cv=0.0, slow_probability=0.0, microstop_probability=0.0, load_s=0.0)
"""Cycles that last exactly the ideal cycle time, with nothing between them."""


def day_shift(break_minutes: int = 0, start: str = "06:00", end: str = "14:00") -> ShiftDefinition:
    return ShiftDefinition("Day", time.fromisoformat(start), time.fromisoformat(end), WEEKDAYS, break_minutes)


def job(**overrides: Any) -> JobConfig:
    base = JobConfig(
        job_number="J1",
        part_number="P1",
        program="O1000",
        planned_quantity=10_000,
        ideal_cycle_s=60.0,
        cycle=STEADY,
        scrap_rate=0.0,
        setup_minutes=0.0,
        tool_life_parts=100_000,
    )
    return replace(base, **overrides)


def machine(**overrides: Any) -> MachineConfig:
    base = MachineConfig(id="M1", model="haas_vf2", name="Mill", jobs=(job(),), warmup_minutes=0.0)
    return replace(base, **overrides)


def plant(
    machines: tuple[MachineConfig, ...] | None = None,
    *,
    hours: float = 8.0,
    shifts: tuple[ShiftDefinition, ...] | None = None,
    events: tuple[EventConfig, ...] = (),
    seed: int = 1,
    operators: int = 1,
    start: float = MONDAY_0600,
    tz: ZoneInfo = BERLIN,
) -> tuple[Plant, ListSink]:
    """Build a plant (not yet run) with a list sink."""
    sink = ListSink()
    config = PlantConfig(
        start=start,
        duration_s=hours * HOUR,
        tz=tz,
        shifts=shifts if shifts is not None else (day_shift(),),
        machines=machines if machines is not None else (machine(),),
        seed=seed,
        operators=operators,
        events=events,
    )
    return Plant(config, sink), sink


def ran(*args: Any, **kwargs: Any) -> tuple[Plant, ListSink]:
    """Build and run a plant."""
    p, sink = plant(*args, **kwargs)
    p.run()
    return p, sink


def failure(category: str, mtbf_hours: float, mttr_minutes: float) -> FailureMode:
    return FailureMode(category, mtbf_hours, mttr_minutes)
