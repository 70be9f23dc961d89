"""Turning a validated scenario into the twin's configuration."""

from __future__ import annotations

from datetime import datetime

from scenarios.loader import ScenarioError
from scenarios.model import EventSpec, JobSpec, MachineSpec, Scenario, parse_duration
from twin.clock import local_to_epoch
from twin.config import CycleModel, EventConfig, FailureMode, JobConfig, MachineConfig, PlantConfig
from twin.shift_calendar import BreakDefinition, ShiftCalendar, ShiftDefinition

__all__ = ["event_time", "plant_config"]

_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_WORKING_EVENTS = {"estop", "alarm", "feed_hold", "power_off"}
_MACHINE_EVENTS = {
    "estop",
    "alarm",
    "feed_hold",
    "operator_reject",
    "tool_change",
    "power_off",
    "planned_stop",
}


def event_time(scenario: Scenario, event: EventSpec) -> float:
    """Return an event's instant in UTC epoch seconds (``at`` is local, or an offset from the start)."""
    start = local_to_epoch(scenario.scenario.start, scenario.scenario.tz)
    if event.at.startswith("+"):
        return start + parse_duration(event.at[1:])
    return local_to_epoch(datetime.fromisoformat(event.at), scenario.scenario.tz)


def _job(spec: JobSpec) -> JobConfig:
    c = spec.cycle_time
    return JobConfig(
        job_number=spec.job_number,
        part_number=spec.part_number,
        program=spec.program,
        planned_quantity=spec.planned_quantity,
        ideal_cycle_s=spec.ideal_cycle_time_s,
        cycle=CycleModel(
            mean_factor=c.mean_factor,
            cv=c.cv,
            slow_probability=c.slow_probability,
            slow_factor=c.slow_factor,
            microstop_probability=c.microstop_probability,
            microstop_mean_s=c.microstop_mean_s,
            load_s=c.load_s,
        ),
        scrap_rate=spec.scrap_rate,
        setup_minutes=spec.setup_minutes,
        reduced_speed_probability=spec.reduced_speed_probability,
        reduced_override_pct=spec.reduced_override_pct,
        tool_number=spec.tool_number,
        tool_life_parts=spec.tool_life_parts,
        tool_change_minutes=spec.tool_change_minutes,
        spindle_rpm=spec.spindle_rpm,
        feed_mm_min=spec.feed_mm_min,
    )


def _machine(spec: MachineSpec) -> MachineConfig:
    return MachineConfig(
        id=spec.id,
        model=spec.model,
        name=spec.name,
        location=spec.location,
        jobs=tuple(_job(j) for j in spec.jobs),
        reliability=tuple(FailureMode(f.category, f.mtbf_hours, f.mttr_minutes) for f in spec.reliability),
        warmup_minutes=spec.warmup_minutes,
        power_off_outside_shifts=spec.power_off_outside_shifts,
        sample_interval_s=spec.sample_interval_s,
    )


def _shifts(scenario: Scenario) -> tuple[ShiftDefinition, ...]:
    return tuple(
        ShiftDefinition(
            name=s.name,
            start=s.start,
            end=s.end,
            days=frozenset(_WEEKDAYS[d] for d in s.days),
            break_minutes=0 if s.breaks else s.break_minutes,
            breaks=tuple(BreakDefinition(b.start, b.minutes) for b in s.breaks),
        )
        for s in scenario.shifts
    )


def plant_config(scenario: Scenario, source: str = "<scenario>") -> PlantConfig:
    """Return the twin's configuration for ``scenario``.

    Raises:
        ScenarioError: the scenario is well-formed but cannot be simulated (overlapping shifts, an alarm code
            the machine's control does not have, an event outside the period); the message names ``source``.
    """
    info = scenario.scenario
    start = local_to_epoch(info.start, info.tz)
    end = start + info.duration_s
    shifts = _shifts(scenario)
    try:
        instances = ShiftCalendar(shifts, info.tz, info.day_start).instances(start, end)
    except ValueError as exc:
        raise ScenarioError(f"{source}: shifts: {exc}") from exc
    machines = scenario.all_machines
    models = {m.id: m.model for m in machines}
    events: list[EventConfig] = []
    for index, event in enumerate(scenario.events):
        at = event_time(scenario, event)
        if not start <= at < end:
            raise ScenarioError(
                f"{source}: events[{index}].at: {event.at!r} is outside the scenario's period"
            )
        if event.kind not in _MACHINE_EVENTS or event.machine is None:
            continue
        if event.kind in _WORKING_EVENTS and not any(
            s.start <= at < s.end and s.in_break(at) is None for s in instances
        ):
            raise ScenarioError(
                f"{source}: events[{index}].at: {event.at!r} falls outside the shifts or in a break; "
                f"a {event.kind} needs a working machine"
            )
        if event.kind == "alarm":
            from twin.alarm_catalog import find

            try:
                find(models[event.machine], event.code or "")
            except ValueError as exc:
                raise ScenarioError(f"{source}: events[{index}].code: {exc}") from exc
        events.append(
            EventConfig(
                at=at,
                machine=event.machine,
                kind=event.kind,
                duration_s=parse_duration(event.duration) if event.duration else None,
                code=event.code,
                count=event.count,
            )
        )
    return PlantConfig(
        start=start,
        duration_s=info.duration_s,
        tz=info.tz,
        shifts=shifts,
        machines=tuple(_machine(m) for m in machines),
        seed=info.seed,
        operators=info.operators,
        day_start=info.day_start,
        events=tuple(events),
    )
