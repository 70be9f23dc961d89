"""What one machine reports: its signals on change, from power-on values to the ones sampled while it cuts."""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Sequence
from typing import Any

import simpy

from twin.config import JobConfig
from twin.machine_models import ModelSpec
from twin.observations import Condition, Observation, Sink, Value

__all__ = ["Cutting", "MachineSignals"]

ProcessGen = Generator[simpy.Event, Any, Any]
Cutting = tuple[float, float, float]
"""What the spindle cuts with: nominal speed (rpm), path feed rate (mm/min) and base spindle load (%)."""


class MachineSignals:
    """The signals of one machine, each sent to the sink when its value changes.

    It shows what the control shows (power, job, part counts, iX4.0 counters, BDE buttons, temperatures) but
    decides nothing: the machine tells it what happens. ``sampler`` and ``daily_reset`` are its own SimPy
    processes; they draw from ``rng``, the machine's signal stream, so the truth does not depend on them.
    """

    def __init__(
        self,
        env: simpy.Environment,
        spec: ModelSpec,
        sink: Sink,
        rng: random.Random,
        *,
        origin: float,
        machine_id: str,
    ) -> None:
        self._env = env
        self._spec = spec
        self._sink = sink
        self._rng = rng
        self._origin = origin
        self._id = machine_id
        self.powered = False
        """Whether the control is on (it reports signals other than availability only then)."""
        self._last: dict[str, Value] = {}
        self._counters: dict[str, int] = {}
        self._temps: dict[str, float] = {}
        self._cycle_times: list[float] = []

    @property
    def now(self) -> float:
        """The current instant, UTC epoch seconds."""
        return self._origin + float(self._env.now)

    def emit(self, signal: str, value: Value, at: float | None = None) -> None:
        """Send ``value`` unless the signal already has it (events and samples are reported on change)."""
        last = self._last
        if signal in last and last[signal] == value:
            return
        last[signal] = value
        self._sink.emit(Observation(self.now if at is None else at, self._id, signal, value))

    def initial(self) -> None:
        """Report the machine as it is before its first power-on: unavailable, with no conditions."""
        self.emit("availability", "UNAVAILABLE")
        for c in self._spec.conditions:
            self.emit(f"cond_{c}", None)

    def power_on(
        self, part_count: int, part_count_bad: int, job: JobConfig | None, tool_life: float, cutting: bool
    ) -> None:
        """Switch the control on: it reports every signal's current value (``job``: the job it is on)."""
        self.powered = True
        spec = self._spec
        self.emit("availability", "AVAILABLE")
        self.emit("emergency_stop", "ARMED")
        self.emit("controller_mode", "AUTOMATIC")
        self.emit("functional_mode", "PRODUCTION")
        self.emit("execution", "READY")
        self.emit("part_count", part_count)
        self.emit("part_count_bad", part_count_bad)
        self.emit("spindle_speed", 0.0)
        self.emit("spindle_load", 0.0)
        self.emit("spindle_override", 100)
        self.emit("path_feedrate", 0.0)
        self.emit("feed_override", 100)
        self.emit("rapid_override", 100)
        self.emit("work_offset", spec.work_offsets[0])
        for axis in spec.axes:
            self.emit(f"{axis.name}_pos", 0.0 if axis.rotary else axis.high)
        for sub in spec.spindles[1:]:
            self.emit(f"{sub}_speed", 0.0)
        for c in spec.conditions:
            self.emit(f"cond_{c}", Condition("NORMAL"))
        if job is not None:
            self.job(job, tool_life)
        if spec.ix40:
            for name, value in self._counters.items():
                self.emit(name, value)
            self.bump("counter_power_on")
            self.emit("material_missing", False)
            for n in range(1, 9):
                self.emit(f"bde{n}", False)
            self.sample_temperatures(cutting)

    def power_off(self) -> None:
        """Switch the control off: every signal it reported becomes unavailable."""
        self.powered = False
        for signal in list(self._last):
            if signal != "availability" and self._last[signal] is not None:
                self.emit(signal, None)
        self.emit("availability", "UNAVAILABLE")

    def job(self, job: JobConfig, tool_life: float) -> None:
        """Report the job the machine is on, and the life left of its tool (%)."""
        self.emit("program", job.program)
        self.emit("job", job.job_number)
        self.emit("part_number", job.part_number)
        self.emit("part_count_target", job.planned_quantity)
        self.emit("tool_number", job.tool_number)
        self.emit("tool_life_pct", round(tool_life, 1))

    def cycle(self, cycle_s: float) -> None:
        """Report a finished cycle: its time, and on iX4.0 the average since the changeover and a clamping."""
        self.emit("cycle_time_last", round(cycle_s, 3))
        if self._spec.ix40:
            self._cycle_times.append(cycle_s)
            self.emit("cycle_time_avg", round(sum(self._cycle_times) / len(self._cycle_times), 3))
            self.bump("counter_clamping")

    def changeover(self) -> None:
        """Start the average cycle time afresh, as at a changeover to the next job."""
        self._cycle_times.clear()

    def bump(self, counter: str, by: int = 1) -> None:
        """Count ``by`` on an iX4.0 daily counter (machines without them ignore it)."""
        if not self._spec.ix40:
            return
        self._counters[counter] = self._counters.get(counter, 0) + by
        self.emit(counter, self._counters[counter])

    def bde(self, button: int | None) -> None:
        """Light the iX4.0 BDE (operator terminal) ``button``, or none."""
        if self._spec.ix40 and self.powered:
            for n in range(1, 9):
                self.emit(f"bde{n}", n == button)

    def sampler(
        self, interval: float, cutting: Callable[[], Cutting | None], tool_life: Callable[[], float]
    ) -> ProcessGen:
        """Sample the continuous signals every ``interval`` seconds: spindle, feed and axis positions while
        ``cutting`` (a worn tool, by ``tool_life`` %, loads the spindle more), iX4.0 temperatures each
        minute."""
        rng = self._rng
        yield self._env.timeout(rng.uniform(0.0, interval))
        ticks_per_minute = max(1, round(60.0 / interval))
        tick = 0
        axes = self._spec.axes
        positions = {a.name: (0.0 if a.rotary else a.high) for a in axes}
        emit = self.emit
        uniform, gauss = rng.uniform, rng.gauss
        signals = [(a.name, f"{a.name}_pos", a.low, a.high, 0.05 * (a.high - a.low)) for a in axes]
        while True:
            yield self._env.timeout(interval)
            tick += 1
            values = cutting()
            if values is not None:
                now = self.now
                rpm, feed, load = values
                wear = 1.0 + 0.25 * (1.0 - tool_life() / 100.0)
                emit("spindle_speed", round(rpm * (1.0 + uniform(-0.003, 0.003)), 1), now)
                emit("spindle_load", round(load * wear * (1.0 + gauss(0.0, 0.05)), 1), now)
                emit("path_feedrate", round(feed * (1.0 + uniform(-0.01, 0.01)), 1), now)
                for name, signal, low, high, step in signals:
                    value = min(high, max(low, positions[name] + uniform(-step, step)))
                    positions[name] = value
                    emit(signal, round(value, 3), now)
            if self._spec.ix40 and self.powered and tick % ticks_per_minute == 0:
                self.sample_temperatures(cutting() is not None)

    def sample_temperatures(self, cutting: bool) -> None:
        """Move the iX4.0 temperatures a step towards their targets (warmer while ``cutting``)."""
        base = {
            "temp_hydraulic_oil": 38.0,
            "temp_coolant": 24.0,
            "temp_cooling_water": 21.0,
            "temp_cabinet": 31.0,
            "temp_ambient": 22.0,
            "spindle_motor_temp": 35.0,
        }
        heat = 6.0 if cutting else 0.0
        for name, b in base.items():
            current = self._temps.get(name, b)
            target = b + (heat if name in ("spindle_motor_temp", "temp_hydraulic_oil") else heat / 4)
            current += 0.2 * (target - current) + self._rng.gauss(0.0, 0.05)
            self._temps[name] = current
            self.emit(name, round(current, 1))

    def daily_reset(self, midnights: Sequence[float]) -> ProcessGen:
        """Reset the iX4.0 daily counters at each local midnight (reported while the control is on)."""
        for midnight in midnights:
            if midnight <= self.now:
                continue
            yield self._env.timeout(max(0.0, midnight - self.now))
            for name in list(self._counters):
                self._counters[name] = 0
                if self.powered:
                    self.emit(name, 0)
