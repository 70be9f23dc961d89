"""One CNC machine as SimPy processes: shifts, jobs and runs, cycles, tool wear, alarms and repairs.

Wiring (one ``Machine``)::

    _work (main process) ── cycles, setups, breaks, shift ends; interrupted by ─┐
    _failures (one per failure mode) ── random alarms by category ──────────────┤ Disruption
    _events (scripted) ── E-stop, alarm, feed hold, power off, reject, tool change ┘
    _sampler ── continuous signals while cutting (spindle load, feed, positions)
    _daily_reset (iX4.0 only) ── the machine's daily counters at local midnight

State goes to the truth ledger; signals go to the sink, on change.
"""

from __future__ import annotations

import math
import random
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import simpy

from twin.alarm_catalog import AlarmCategory, AlarmDefinition, Severity, by_category, emergency_stop, find
from twin.config import EventConfig, FailureMode, JobConfig, MachineConfig
from twin.ledger import AlarmRecord, MachineLedger, PartRecord, RunRecord
from twin.machine_models import ModelSpec
from twin.observations import Condition, Observation, Sink, Value
from twin.shift_calendar import ShiftInstance
from twin.states import MachineState

__all__ = ["Machine"]

ProcessGen = Generator[simpy.Event, Any, Any]
Span = tuple[float, float]

REPAIR_PRIORITY = 0
SETUP_PRIORITY = 1
WARM_FOR_S = 3600.0
"""A machine that has not cut for this long (or was switched off) warms up at its next shift start."""
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Failure:
    """A stopping (CRITICAL) alarm and how long its repair takes once an operator is there."""

    alarm: AlarmDefinition
    repair_s: float


@dataclass(frozen=True, slots=True)
class FeedHold:
    """The operator holds the feed for ``duration_s``; the cycle then resumes."""

    duration_s: float


@dataclass(frozen=True, slots=True)
class PowerOff:
    """The machine is switched off for ``duration_s``; the current cycle is lost."""

    duration_s: float


Disruption = Failure | FeedHold | PowerOff

# Three program segments per cycle: share of cycle time, block, comment, speed and feed factors, base load %.
_SEGMENTS: tuple[tuple[float, int, str, float, float, float], ...] = (
    (0.45, 100, "ROUGH", 0.85, 1.2, 55.0),
    (0.35, 200, "SEMI FINISH", 1.0, 1.0, 38.0),
    (0.20, 300, "FINISH PASS", 1.15, 0.6, 22.0),
)


class Machine:
    """A simulated CNC machine that records its truth and emits its signals."""

    def __init__(
        self,
        env: simpy.Environment,
        config: MachineConfig,
        spec: ModelSpec,
        *,
        origin: float,
        end: float,
        shifts: Sequence[ShiftInstance],
        planned_stops: Sequence[Span],
        ledger: MachineLedger,
        sink: Sink,
        rng: random.Random,
        signal_rng: random.Random | None = None,
        operators: simpy.PriorityResource,
        events: Sequence[EventConfig] = (),
        local_midnights: Sequence[float] = (),
    ) -> None:
        self.env = env
        self.config = config
        self.spec = spec
        self.ledger = ledger
        self._origin = origin
        self._end = end
        self._shifts = [s for s in shifts if s.end > origin and s.start < end]
        self._planned_stops = sorted(planned_stops)
        self._sink = sink
        self._rng = rng
        # Signals draw from their own stream, so the truth does not depend on the sampling rate.
        self._signal_rng = signal_rng if signal_rng is not None else random.Random(rng.random())
        self._operators = operators
        self._id = config.id
        self._last: dict[str, Value] = {}
        self._powered = False
        self._operating = False
        self._op_accum = 0.0
        self._op_since = 0.0
        self._resume: simpy.Event = env.event()
        self._cutting: tuple[float, float, float] | None = None
        self._jobs = list(config.jobs)
        self._job_index = 0
        self._run: RunRecord | None = None
        self._part_count = 0
        self._part_count_bad = 0
        self._tool_life = 100.0
        self._tool_change_due = False
        self._last_active: float | None = None
        self._setup_left = 0.0
        self._setup_begun = False
        self._shift: ShiftInstance | None = None
        self._pending_rejects = 0
        self._active: dict[str, AlarmRecord] = {}
        self._cut: simpy.Event = env.event()
        self._cycle_times: list[float] = []
        self._counters: dict[str, int] = {}
        self._temps: dict[str, float] = {}
        self._emit_initial()
        self.process = env.process(self._work())
        for mode in config.reliability:
            env.process(self._failures(mode))
        for event in events:
            env.process(self._event(event))
        env.process(self._sampler())
        if spec.ix40:
            env.process(self._daily_reset(local_midnights))

    # -- time, signals, state ---------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """The current instant, UTC epoch seconds."""
        return self._origin + float(self.env.now)

    def _until(self, t: float) -> simpy.Timeout:
        return self.env.timeout(max(0.0, t - self.now))

    def _emit(self, signal: str, value: Value, at: float | None = None) -> None:
        """Send ``value`` unless the signal already has it (events and samples are reported on change)."""
        last = self._last
        if signal in last and last[signal] == value:
            return
        last[signal] = value
        self._sink.emit(Observation(self.now if at is None else at, self._id, signal, value))

    def _set(self, state: MachineState, detail: str | None = None) -> None:
        self.ledger.set_state(self.now, state, detail)

    def _set_operating(self, operating: bool) -> None:
        if operating == self._operating:
            return
        if operating:
            self._op_since = self.now
            resume, self._resume = self._resume, self.env.event()
            resume.succeed()
        else:
            self._op_accum += self.now - self._op_since
        self._operating = operating

    def _operating_seconds(self) -> float:
        return self._op_accum + (self.now - self._op_since if self._operating else 0.0)

    def _emit_initial(self) -> None:
        self._emit("availability", "UNAVAILABLE")
        for c in self.spec.conditions:
            self._emit(f"cond_{c}", None)

    def _power_on(self) -> None:
        if self._powered:
            return
        self._powered = True
        spec = self.spec
        self._emit("availability", "AVAILABLE")
        self._emit("emergency_stop", "ARMED")
        self._emit("controller_mode", "AUTOMATIC")
        self._emit("functional_mode", "PRODUCTION")
        self._emit("execution", "READY")
        self._emit("part_count", self._part_count)
        self._emit("part_count_bad", self._part_count_bad)
        self._emit("spindle_speed", 0.0)
        self._emit("spindle_load", 0.0)
        self._emit("spindle_override", 100)
        self._emit("path_feedrate", 0.0)
        self._emit("feed_override", 100)
        self._emit("rapid_override", 100)
        self._emit("work_offset", spec.work_offsets[0])
        for axis in spec.axes:
            self._emit(f"{axis.name}_pos", 0.0 if axis.rotary else axis.high)
        for sub in spec.spindles[1:]:
            self._emit(f"{sub}_speed", 0.0)
        for c in spec.conditions:
            self._emit(f"cond_{c}", Condition("NORMAL"))
        job = self._current_job()
        if job is not None:
            self._emit_job(job)
        if spec.ix40:
            for name, value in self._counters.items():
                self._emit(name, value)
            self._bump("counter_power_on")
            self._emit("material_missing", False)
            for n in range(1, 9):
                self._emit(f"bde{n}", False)
            self._sample_temperatures(force=True)

    def _power_off(self) -> None:
        if not self._powered:
            return
        self._powered = False
        self._cutting = None
        for record in self._active.values():
            record.clear = self.now  # switching a control off clears its alarms
        self._active.clear()
        for signal in list(self._last):
            if signal != "availability" and self._last[signal] is not None:
                self._emit(signal, None)
        self._emit("availability", "UNAVAILABLE")

    def _emit_job(self, job: JobConfig) -> None:
        self._emit("program", job.program)
        self._emit("job", job.job_number)
        self._emit("part_number", job.part_number)
        self._emit("part_count_target", job.planned_quantity)
        self._emit("tool_number", job.tool_number)
        self._emit("tool_life_pct", round(self._tool_life, 1))

    def _bump(self, counter: str, by: int = 1) -> None:
        if not self.spec.ix40:
            return
        self._counters[counter] = self._counters.get(counter, 0) + by
        self._emit(counter, self._counters[counter])

    def _bde(self, button: int | None) -> None:
        if self.spec.ix40 and self._powered:
            for n in range(1, 9):
                self._emit(f"bde{n}", n == button)

    # -- the main process ---------------------------------------------------------------------------

    def _work(self) -> ProcessGen:
        for shift in self._shifts:
            if self.now < shift.start:
                yield from self._off_shift(shift.start)
            self._shift = shift
            yield from self._work_shift(shift)
            self._shift = None
        yield from self._off_shift(self._end)

    def _in_shift(self) -> bool:
        """Whether the machine should be working now: inside a shift, not in a break or planned stop."""
        shift, now = self._shift, self.now
        return (
            shift is not None
            and shift.start <= now < shift.end - _EPS
            and shift.in_break(now) is None
            and self._planned_stop_at(now) is None
        )

    def _off_shift(self, until: float) -> ProcessGen:
        self._set_operating(False)
        self._pause_run()
        self._set(MachineState.NO_SHIFT)
        if self.config.power_off_outside_shifts:
            self._power_off()
        elif self._powered:
            self._emit("execution", "READY")
        if until > self.now:
            yield self._until(until)

    def _work_shift(self, shift: ShiftInstance) -> ProcessGen:
        # A machine warms up after it was switched off or stood still for long, not between busy shifts.
        cold = not self._powered or self._last_active is None or self.now - self._last_active > WARM_FOR_S
        self._power_on()
        self._set_operating(self._in_shift())
        if self.config.warmup_minutes > 0 and cold:
            self._emit("program", self.spec.warmup_program)
            self._emit("execution", "ACTIVE")
            warmup = self.config.warmup_minutes * 60.0
            yield from self._spend_bounded(warmup, self._next_boundary(shift), MachineState.WARMUP)
            self._emit("execution", "READY")
            job = self._current_job()
            if job is not None:
                self._emit("program", job.program)
        while self.now < shift.end - _EPS:
            pause = shift.in_break(self.now)
            if pause is not None:
                yield from self._pause(pause.end, MachineState.BREAK, bde=4)
                continue
            stop = self._planned_stop_at(self.now)
            if stop is not None:
                yield from self._pause(min(stop[1], shift.end), MachineState.PLANNED_STOP, bde=5)
                continue
            self._set_operating(True)
            boundary = self._next_boundary(shift)
            job = self._current_job()
            if job is None:
                self._emit("execution", "READY")
                yield from self._spend_until(boundary, MachineState.IDLE, "no_job")
                continue
            if self._run is None:
                self._start_run(job)
            if self._setup_left > _EPS:
                yield from self._setup(job, boundary)
                continue
            if self._tool_change_due or self._tool_life <= 0.0:
                yield from self._tool_change(job)
                continue
            yield from self._cycle(job)
            yield from self._between_cycles(job, boundary)
        self._set_operating(False)

    def _next_boundary(self, shift: ShiftInstance) -> float:
        boundary = shift.end
        for b in shift.breaks:
            if b.start > self.now:
                boundary = min(boundary, b.start)
        for start, _ in self._planned_stops:
            if start > self.now:
                boundary = min(boundary, start)
                break
        return boundary

    def _planned_stop_at(self, t: float) -> Span | None:
        for span in self._planned_stops:
            if span[0] <= t < span[1]:
                return span
        return None

    def _pause(self, until: float, state: MachineState, bde: int) -> ProcessGen:
        self._set_operating(False)
        self._pause_run()
        self._set(state)
        self._emit("execution", "READY")
        self._bde(bde)
        yield self._until(until)
        self._bde(None)

    def _spend_bounded(
        self, duration: float, until: float, state: MachineState, detail: str | None = None
    ) -> Generator[simpy.Event, Any, float]:
        """Work in ``state`` for ``duration`` seconds but not past ``until``; disruptions suspend the work.

        Returns:
            The work left when ``until`` came first (0 when it was done).
        """
        remaining = duration
        while remaining > _EPS and self.now < until - _EPS:
            self._set(state, detail)
            step = min(remaining, until - self.now)
            began = self.now
            try:
                yield self.env.timeout(step)
                remaining -= step
            except simpy.Interrupt as irq:
                remaining -= self.now - began
                yield from self._disrupt(irq.cause)
        return max(0.0, remaining)

    def _spend(self, duration: float, state: MachineState, detail: str | None = None) -> ProcessGen:
        """Work in ``state`` for ``duration`` seconds; disruptions suspend the work, then it goes on."""
        yield from self._spend_bounded(duration, math.inf, state, detail)

    def _spend_until(self, until: float, state: MachineState, detail: str | None = None) -> ProcessGen:
        while self.now < until - _EPS:
            self._set(state, detail)
            try:
                yield self._until(until)
            except simpy.Interrupt as irq:
                yield from self._disrupt(irq.cause)

    # -- jobs, runs, setups ---------------------------------------------------------------------------

    def _current_job(self) -> JobConfig | None:
        return self._jobs[self._job_index] if self._job_index < len(self._jobs) else None

    def _start_run(self, job: JobConfig) -> None:
        self._run = RunRecord(
            run_id=f"{self.config.id}-R{self._job_index + 1:03d}",
            job_number=job.job_number,
            part_number=job.part_number,
            program=job.program,
            planned_quantity=job.planned_quantity,
            ideal_cycle_s=job.ideal_cycle_s,
        )
        self.ledger.runs.append(self._run)
        self._setup_left = max(job.setup_minutes * 60.0, _EPS * 2)
        self._setup_begun = False

    def _setup(self, job: JobConfig, boundary: float) -> ProcessGen:
        """Set the machine up for ``job`` with an operator, until done or until ``boundary`` comes."""
        run = self._run
        assert run is not None
        got_operator = yield from self._with_operator(SETUP_PRIORITY, boundary)
        if not got_operator:
            return
        if run.status != "setup":
            run.events.append((self.now, "setup"))
        if not self._setup_begun:
            self._setup_begun = True
            # Operators reset the part counters at a changeover.
            self._part_count = self._part_count_bad = 0
            self._emit("part_count", 0)
            self._emit("part_count_bad", 0)
            self._tool_life = 100.0
            self._tool_change_due = False
            self._emit_job(job)
            self._cycle_times.clear()
        self._emit("functional_mode", "SETUP")
        self._emit("controller_mode", "MANUAL")
        self._emit("execution", "READY")
        self._bde(1)
        try:
            self._setup_left = yield from self._spend_bounded(
                self._setup_left, boundary, MachineState.SETUP, "changeover"
            )
        finally:
            self._operators_release()
            self._bde(None)
        if self._setup_left <= _EPS:
            self._emit("functional_mode", "PRODUCTION")
            self._emit("controller_mode", "AUTOMATIC")

    def _tool_change(self, job: JobConfig) -> ProcessGen:
        self._tool_change_due = False
        self._emit("execution", "READY")
        yield from self._spend(job.tool_change_minutes * 60.0, MachineState.SETUP, "tool_change")
        self._tool_life = 100.0
        self._emit("tool_life_pct", 100.0)
        self._bump("counter_turret")

    def _pause_run(self) -> None:
        run = self._run
        if run is not None and run.events and run.status in ("setup", "running"):
            run.events.append((self.now, "paused"))

    def _mark_running(self) -> None:
        run = self._run
        if run is not None and run.status != "running":
            run.events.append((self.now, "running"))

    # -- operators ------------------------------------------------------------------------------

    _held: simpy.resources.resource.PriorityRequest | None = None

    def _with_operator(self, priority: int, until: float) -> Generator[simpy.Event, Any, bool]:
        """Wait (idle) for an operator, but not past ``until``; keep them until ``_operators_release``.

        Returns:
            Whether an operator came before ``until``.
        """
        while self.now < until - _EPS:
            request = self._operators.request(priority=priority)
            self._set(MachineState.IDLE, "waiting_operator")
            try:
                yield request | self._until(until)
            except simpy.Interrupt as irq:
                self._cancel(request)
                yield from self._disrupt(irq.cause)
                continue
            if request.triggered:
                self._held = request
                return True
            self._cancel(request)
            return False
        return False

    def _cancel(self, request: simpy.resources.resource.PriorityRequest) -> None:
        if request.triggered:
            self._operators.release(request)
        else:
            request.cancel()

    def _operators_release(self) -> None:
        if self._held is not None:
            self._operators.release(self._held)
            self._held = None

    # -- cycles -------------------------------------------------------------------------------------

    def _draw_cycle(self, job: JobConfig) -> float:
        model = job.cycle
        sigma2 = math.log1p(model.cv * model.cv)
        mu = math.log(model.mean_factor) - sigma2 / 2.0
        factor = self._rng.lognormvariate(mu, sigma2**0.5)
        if self._rng.random() < model.slow_probability:
            factor *= model.slow_factor
        return job.ideal_cycle_s * factor

    def _cycle(self, job: JobConfig) -> ProcessGen:
        duration = self._draw_cycle(job)
        reduced = job.reduced_speed_probability > 0 and self._rng.random() < job.reduced_speed_probability
        override = job.reduced_override_pct if reduced else 100
        duration *= 100.0 / override
        state = MachineState.REDUCED_SPEED if reduced else MachineState.PRODUCING
        self._mark_running()
        self._emit("feed_override", override)
        self._emit("spindle_override", override)
        self._emit("execution", "ACTIVE")
        started = self.now
        for share, block, comment, rpm_f, feed_f, load in _SEGMENTS:
            rpm = min(job.spindle_rpm * rpm_f, self.spec.max_spindle_rpm) * override / 100.0
            feed = job.feed_mm_min * feed_f * override / 100.0
            self._emit("block", f"N{block}")
            self._emit("line", block // 10)
            self._emit("program_comment", comment)
            self._emit("spindle_speed", round(rpm, 1))
            self._emit("path_feedrate", round(feed, 1))
            # A lathe with a sub-spindle hands the part over for the back-side finish.
            for sub in self.spec.spindles[1:]:
                self._emit(f"{sub}_speed", round(rpm, 1) if comment == "FINISH PASS" else 0.0)
            self._cutting = (rpm, feed, load)
            cut, self._cut = self._cut, self.env.event()
            cut.succeed()
            remaining = duration * share
            while remaining > _EPS:
                self._set(state)
                began = self.now
                try:
                    yield self.env.timeout(remaining)
                    remaining = 0.0
                except simpy.Interrupt as irq:
                    remaining -= self.now - began
                    self._cutting = None
                    if not isinstance(irq.cause, FeedHold):
                        yield from self._disrupt(irq.cause)
                        return
                    yield from self._feed_hold(irq.cause)
                    self._emit("feed_override", override)
                    self._emit("path_feedrate", round(feed, 1))
                    self._emit("execution", "ACTIVE")
                    self._cutting = (rpm, feed, load)
        self._cutting = None
        self._complete_part(job, started)

    def _complete_part(self, job: JobConfig, started: float) -> None:
        run = self._run
        assert run is not None
        now = self.now
        good = self._rng.random() >= job.scrap_rate
        rejected_at = None
        if good and self._pending_rejects > 0:
            # An operator who decided to reject parts rejects the next ones as they come off the machine.
            self._pending_rejects -= 1
            good, rejected_at = False, now
        self.ledger.parts.append(PartRecord(started, now, job.ideal_cycle_s, run.run_id, good, rejected_at))
        self._part_count += 1
        self._emit("part_count", self._part_count)
        if good:
            run.good_parts += 1
        else:
            run.scrap_parts += 1
            self._part_count_bad += 1
            self._emit("part_count_bad", self._part_count_bad)
        cycle = now - started
        self._emit("cycle_time_last", round(cycle, 3))
        if self.spec.ix40:
            self._cycle_times.append(cycle)
            self._emit("cycle_time_avg", round(sum(self._cycle_times) / len(self._cycle_times), 3))
            self._bump("counter_clamping")
        self._tool_life = max(0.0, self._tool_life - 100.0 / job.tool_life_parts)
        self._emit("tool_life_pct", round(self._tool_life, 1))
        self._emit("spindle_speed", 0.0)
        self._emit("path_feedrate", 0.0)
        self._emit("spindle_load", 0.0)
        for sub in self.spec.spindles[1:]:
            self._emit(f"{sub}_speed", 0.0)
        self._last_active = now
        if run.good_parts >= run.planned_quantity:
            run.events.append((now, "completed"))
            self._run = None
            self._job_index += 1
            self._emit("execution", "PROGRAM_COMPLETED")
            nxt = self._current_job()
            if nxt is not None:
                self._emit_job(nxt)

    def _between_cycles(self, job: JobConfig, boundary: float) -> ProcessGen:
        pause = job.cycle.load_s
        if self._rng.random() < job.cycle.microstop_probability:
            pause += self._rng.expovariate(1.0 / job.cycle.microstop_mean_s)
        if pause > 0:
            self._emit("execution", "READY")
            yield from self._spend(pause, MachineState.IDLE, "microstop")

    # -- disruptions ----------------------------------------------------------------------------

    def _disrupt(self, cause: object) -> ProcessGen:
        """Handle an interrupt's cause, then leave the machine operating again."""
        self._cutting = None
        if isinstance(cause, Failure):
            yield from self._stopping_alarm(cause)
        elif isinstance(cause, PowerOff):
            self._pause_run()
            self._set(MachineState.OFF, "power_off")
            self._power_off()
            yield self.env.timeout(cause.duration_s)
            if not self._in_shift():
                return  # switched on again with the next shift
            self._power_on()
        elif isinstance(cause, FeedHold):
            yield from self._feed_hold(cause)
        else:  # pragma: no cover - only the causes above are ever sent
            raise TypeError(f"unknown disruption {cause!r}")
        self._emit("execution", "READY")
        self._set(MachineState.IDLE)
        self._set_operating(self._in_shift())

    def _feed_hold(self, hold: FeedHold) -> ProcessGen:
        self._set(MachineState.INTERRUPTED, "feed_hold")
        self._emit("execution", "FEED_HOLD")
        self._emit("path_feedrate", 0.0)
        self._emit("feed_override", 0)
        yield self.env.timeout(hold.duration_s)
        self._set_operating(self._in_shift())

    def _stopping_alarm(self, failure: Failure) -> ProcessGen:
        alarm = failure.alarm
        record = self._raise(alarm)
        self._set(MachineState.ALARM, alarm.category.value)
        self._emit("execution", "STOPPED")
        self._emit("spindle_speed", 0.0)
        self._emit("spindle_load", 0.0)
        self._emit("path_feedrate", 0.0)
        estop = alarm.category.value == "emergency_stop"
        if estop:
            self._emit("emergency_stop", "TRIGGERED")
            self._bump("counter_estop")
        self._bde(3)
        # An operator already at the machine (for a setup) repairs it; otherwise one is called.
        request = None if self._held is not None else self._operators.request(priority=REPAIR_PRIORITY)
        if request is not None:
            yield request
        yield self.env.timeout(failure.repair_s)
        if request is not None:
            self._operators.release(request)
        self._bde(None)
        if estop:
            self._emit("emergency_stop", "ARMED")
        self._clear(alarm, record)

    def _raise(self, alarm: AlarmDefinition) -> AlarmRecord | None:
        """Record and signal an alarm; None when the same code is already active (a control shows an
        active alarm once, so a repeat is no new alarm)."""
        if alarm.code in self._active:
            return None
        record = AlarmRecord(
            onset=self.now,
            code=alarm.code,
            text=alarm.text,
            category=alarm.category.value,
            severity=alarm.severity.value,
            component=alarm.component,
        )
        self.ledger.alarms.append(record)
        self._active[alarm.code] = record
        level = "FAULT" if alarm.severity is Severity.CRITICAL else "WARNING"
        self._emit(
            f"cond_{alarm.component}",
            Condition(level, alarm.code, alarm.severity.value, alarm.text, alarm.category.value),
        )
        return record

    def _clear(self, alarm: AlarmDefinition, record: AlarmRecord | None) -> None:
        if record is None or self._active.get(alarm.code) is not record:
            return  # never raised, or already cleared (by a power-off)
        del self._active[alarm.code]
        record.clear = self.now
        self._emit(f"cond_{alarm.component}", Condition("NORMAL", alarm.code))

    def _interrupt(self, cause: Disruption) -> bool:
        """Interrupt the main process if the machine is operating; return whether it was."""
        if not self._operating:
            return False
        # Not operating from here on, so no second disruption lands while this one is being handled.
        self._set_operating(False)
        self.process.interrupt(cause)
        return True

    def _when_operating(self) -> ProcessGen:
        while not self._operating:
            yield self._resume

    def _when_cutting(self) -> ProcessGen:
        while not (self._operating and self._cutting is not None):
            yield self._cut if self._operating else self._resume

    def _advisory(self, alarm: AlarmDefinition, duration: float) -> ProcessGen:
        record = self._raise(alarm)
        yield self.env.timeout(duration)
        self._clear(alarm, record)

    def _failures(self, mode: FailureMode) -> ProcessGen:
        alarms = by_category(self.spec.model, _category(mode.category))
        mtbf_s = mode.mtbf_hours * 3600.0
        mttr_s = mode.mttr_minutes * 60.0
        while True:
            target = self._operating_seconds() + self._rng.expovariate(1.0 / mtbf_s)
            while True:
                yield from self._when_operating()
                remaining = target - self._operating_seconds()
                if remaining <= _EPS:
                    break
                yield self.env.timeout(remaining)
            alarm = self._rng.choice(alarms)
            duration = self._rng.expovariate(1.0 / mttr_s)
            if alarm.severity is Severity.CRITICAL:
                self._interrupt(Failure(alarm, duration))
            else:
                self.env.process(self._advisory(alarm, duration))

    def _event(self, event: EventConfig) -> ProcessGen:
        """One scripted event, in its own process so that a deferred event never holds back another."""
        if event.at > self.now:
            yield self._until(event.at)
        yield from self._apply(event)

    def _apply(self, event: EventConfig) -> ProcessGen:
        kind = event.kind
        if kind == "operator_reject":
            self._pending_rejects += event.count
            return
        if kind == "tool_change":
            self._tool_change_due = True
            return
        if kind == "planned_stop":
            return  # known in advance: the main loop and the calendar handle it
        alarm: AlarmDefinition | None = None
        if kind == "estop":
            alarm = emergency_stop(self.spec.model)
        elif kind == "alarm":
            alarm = find(self.spec.model, event.code or "")
        duration = event.duration_s if event.duration_s is not None else self._default_repair(alarm)
        cause: Disruption
        if alarm is not None and alarm.severity is not Severity.CRITICAL:
            yield from self._when_operating()
            self.env.process(self._advisory(alarm, duration))
            return
        if alarm is not None:
            cause = Failure(alarm, duration)
        elif kind == "feed_hold":
            # A feed hold only means something while the machine is cutting: it waits for the next cut.
            while True:
                yield from self._when_cutting()
                if self._interrupt(FeedHold(duration)):
                    return
                yield self.env.timeout(0)
        elif kind == "power_off":
            cause = PowerOff(duration)
        else:
            raise ValueError(f"unknown event kind {kind!r}")
        while True:
            yield from self._when_operating()
            if self._interrupt(cause):
                return

    def _default_repair(self, alarm: AlarmDefinition | None) -> float:
        if alarm is not None:
            for mode in self.config.reliability:
                if mode.category == alarm.category.value:
                    return mode.mttr_minutes * 60.0
        return 300.0

    # -- continuous signals -----------------------------------------------------------------------

    def _sampler(self) -> ProcessGen:
        interval = self.config.sample_interval_s
        rng = self._signal_rng
        yield self.env.timeout(rng.uniform(0.0, interval))
        ticks_per_minute = max(1, round(60.0 / interval))
        tick = 0
        axes = self.spec.axes
        positions = {a.name: (0.0 if a.rotary else a.high) for a in axes}
        emit = self._emit
        uniform, gauss = rng.uniform, rng.gauss
        signals = [(a.name, f"{a.name}_pos", a.low, a.high, 0.05 * (a.high - a.low)) for a in axes]
        while True:
            yield self.env.timeout(interval)
            tick += 1
            cutting = self._cutting
            if cutting is not None:
                now = self.now
                rpm, feed, load = cutting
                wear = 1.0 + 0.25 * (1.0 - self._tool_life / 100.0)
                emit("spindle_speed", round(rpm * (1.0 + uniform(-0.003, 0.003)), 1), now)
                emit("spindle_load", round(load * wear * (1.0 + gauss(0.0, 0.05)), 1), now)
                emit("path_feedrate", round(feed * (1.0 + uniform(-0.01, 0.01)), 1), now)
                for name, signal, low, high, step in signals:
                    value = min(high, max(low, positions[name] + uniform(-step, step)))
                    positions[name] = value
                    emit(signal, round(value, 3), now)
            if self.spec.ix40 and self._powered and tick % ticks_per_minute == 0:
                self._sample_temperatures()

    def _sample_temperatures(self, force: bool = False) -> None:
        base = {
            "temp_hydraulic_oil": 38.0,
            "temp_coolant": 24.0,
            "temp_cooling_water": 21.0,
            "temp_cabinet": 31.0,
            "temp_ambient": 22.0,
            "spindle_motor_temp": 35.0,
        }
        heat = 6.0 if self._cutting is not None else 0.0
        for name, b in base.items():
            current = self._temps.get(name, b)
            target = b + (heat if name in ("spindle_motor_temp", "temp_hydraulic_oil") else heat / 4)
            current += 0.2 * (target - current) + self._signal_rng.gauss(0.0, 0.05)
            self._temps[name] = current
            self._emit(name, round(current, 1))

    def _daily_reset(self, midnights: Sequence[float]) -> ProcessGen:
        for midnight in midnights:
            if midnight <= self.now:
                continue
            yield self._until(midnight)
            for name in list(self._counters):
                self._counters[name] = 0
                if self._powered:
                    self._emit(name, 0)


class _Missing:
    """A value no signal ever has, so the first emission of every signal goes out."""


_MISSING: Value = _Missing()  # type: ignore[assignment]


def _category(name: str) -> AlarmCategory:
    try:
        return AlarmCategory(name)
    except ValueError:
        known = ", ".join(c.value for c in AlarmCategory)
        raise ValueError(f"unknown alarm category {name!r}; expected one of {known}") from None
