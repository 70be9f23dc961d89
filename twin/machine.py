"""One CNC machine as SimPy processes: shifts, jobs and runs, cycles, tool wear, alarms and repairs.

Wiring (one ``Machine``)::

    _work (main process) ── cycles, setups, breaks, shift ends; interrupted by ──────────┐
    Disruptions.failures (one per failure mode) ── random alarms by category ────────────┤ Disruption
    _event (scripted) ── reject, tool change; E-stop, alarm, feed hold, power off ───────┘ (Disruptions)
    MachineSignals.sampler ── continuous signals while cutting (spindle load, feed, positions)
    MachineSignals.daily_reset (iX4.0 only) ── the machine's daily counters at local midnight

The main process keeps its runs and parts in ``JobRuns`` (``twin.job_runs``) and the alarms the control
shows in ``ActiveAlarms`` (``twin.active_alarms``); ``Disruptions`` (``twin.disruptions``) tracks when it
operates. State goes to the truth ledger; signals go to the sink through ``MachineSignals``
(``twin.machine_signals``), on change.
"""

from __future__ import annotations

import math
import random
from collections.abc import Generator, Sequence
from typing import Any

import simpy

from twin.active_alarms import ActiveAlarms
from twin.config import EventConfig, JobConfig, MachineConfig
from twin.disruptions import Disruption, Disruptions, Failure, FeedHold, PowerOff
from twin.job_runs import JobRuns
from twin.ledger import MachineLedger
from twin.machine_models import ModelSpec
from twin.machine_signals import Cutting, MachineSignals
from twin.observations import Sink
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
        self._rng = rng
        # Signals draw from their own stream, so the truth does not depend on the sampling rate.
        signal_rng = signal_rng if signal_rng is not None else random.Random(rng.random())
        self._signals = MachineSignals(env, spec, sink, signal_rng, origin=origin, machine_id=config.id)
        self._emit = self._signals.emit  # bound once: the work emits on every step
        self._alarms = ActiveAlarms(ledger, self._signals)
        self._operators = operators
        self._cutting: Cutting | None = None
        self._runs = JobRuns(config, ledger, self._signals, rng)
        self._last_active: float | None = None
        self._setup_left = 0.0
        self._shift: ShiftInstance | None = None
        self._signals.initial()
        self.process = env.process(self._work())
        self._disruptions = Disruptions(
            env,
            self.process,
            model=spec.model,
            reliability=config.reliability,
            rng=rng,
            alarms=self._alarms,
            origin=origin,
            cutting=lambda: self._cutting is not None,
        )
        for mode in config.reliability:
            env.process(self._disruptions.failures(mode))
        for event in events:
            env.process(self._event(event))
        sampler = self._signals.sampler(
            config.sample_interval_s, lambda: self._cutting, lambda: self._runs.tool_life
        )
        env.process(sampler)
        if spec.ix40:
            env.process(self._signals.daily_reset(local_midnights))

    # -- time, signals, state ---------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """The current instant, UTC epoch seconds."""
        return self._origin + float(self.env.now)

    @property
    def _operating(self) -> bool:
        """Whether the main process is operating, so that a disruption can interrupt it."""
        return self._disruptions.operating

    def _until(self, t: float) -> simpy.Timeout:
        return self.env.timeout(max(0.0, t - self.now))

    def _set(self, state: MachineState, detail: str | None = None) -> None:
        self.ledger.set_state(self.now, state, detail)

    def _power_on(self) -> None:
        if self._signals.powered:
            return
        runs = self._runs
        self._signals.power_on(
            runs.part_count, runs.part_count_bad, runs.current(), runs.tool_life, self._cutting is not None
        )

    def _power_off(self) -> None:
        if not self._signals.powered:
            return
        self._cutting = None
        self._alarms.clear_all()  # switching a control off clears its alarms
        self._signals.power_off()

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
        self._disruptions.set_operating(False)
        self._runs.pause()
        self._set(MachineState.NO_SHIFT)
        if self.config.power_off_outside_shifts:
            self._power_off()
        elif self._signals.powered:
            self._emit("execution", "READY")
        if until > self.now:
            yield self._until(until)

    def _work_shift(self, shift: ShiftInstance) -> ProcessGen:
        # A machine warms up after it was switched off or stood still for long, not between busy shifts.
        cold = (
            not self._signals.powered
            or self._last_active is None
            or self.now - self._last_active > WARM_FOR_S
        )
        self._power_on()
        self._disruptions.set_operating(self._in_shift())
        if self.config.warmup_minutes > 0 and cold:
            self._emit("program", self.spec.warmup_program)
            # A warm-up program runs without making parts: process development, not production.
            self._emit("functional_mode", "PROCESS_DEVELOPMENT")
            self._emit("execution", "ACTIVE")
            warmup = self.config.warmup_minutes * 60.0
            yield from self._spend_bounded(warmup, self._next_boundary(shift), MachineState.WARMUP)
            self._emit("execution", "READY")
            self._emit("functional_mode", "PRODUCTION")
            job = self._runs.current()
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
            self._disruptions.set_operating(True)
            boundary = self._next_boundary(shift)
            job = self._runs.current()
            if job is None:
                self._emit("execution", "READY")
                yield from self._spend_until(boundary, MachineState.IDLE, "no_job")
                continue
            if self._runs.run is None:
                self._runs.start(job)
                self._setup_left = max(job.setup_minutes * 60.0, _EPS * 2)
            if self._setup_left > _EPS:
                yield from self._setup(job, boundary)
                continue
            if self._runs.tool_change_due or self._runs.tool_life <= 0.0:
                yield from self._tool_change(job)
                continue
            yield from self._cycle(job)
            yield from self._between_cycles(job, boundary)
        self._disruptions.set_operating(False)

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
        self._disruptions.set_operating(False)
        self._runs.pause()
        self._set(state)
        self._emit("execution", "READY")
        self._signals.bde(bde)
        yield self._until(until)
        self._signals.bde(None)

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

    def _setup(self, job: JobConfig, boundary: float) -> ProcessGen:
        """Set the machine up for ``job`` with an operator, until done or until ``boundary`` comes."""
        got_operator = yield from self._with_operator(SETUP_PRIORITY, boundary)
        if not got_operator:
            return
        self._runs.setting_up(job)
        self._emit("functional_mode", "SETUP")
        self._emit("controller_mode", "MANUAL")
        self._emit("execution", "READY")
        self._signals.bde(1)
        try:
            self._setup_left = yield from self._spend_bounded(
                self._setup_left, boundary, MachineState.SETUP, "changeover"
            )
        finally:
            self._operators_release()
            self._signals.bde(None)
        if self._setup_left <= _EPS:
            self._emit("functional_mode", "PRODUCTION")
            self._emit("controller_mode", "AUTOMATIC")

    def _tool_change(self, job: JobConfig) -> ProcessGen:
        self._runs.tool_change_due = False
        self._emit("execution", "READY")
        # The operator changes the tool in setup mode, as an MES watching FunctionalMode sees it.
        self._emit("functional_mode", "SETUP")
        yield from self._spend(job.tool_change_minutes * 60.0, MachineState.SETUP, "tool_change")
        self._emit("functional_mode", "PRODUCTION")
        self._runs.tool_changed()

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
        self._runs.running()
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
            self._disruptions.cut_started()
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
        """A part comes off the machine: the spindles stop, and the run may be complete."""
        now = self.now
        self._runs.part_done(job, started, now)
        self._emit("spindle_speed", 0.0)
        self._emit("path_feedrate", 0.0)
        self._emit("spindle_load", 0.0)
        for sub in self.spec.spindles[1:]:
            self._emit(f"{sub}_speed", 0.0)
        self._last_active = now
        self._runs.complete_if_done(now)

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
            self._runs.pause()
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
        self._disruptions.set_operating(self._in_shift())

    def _feed_hold(self, hold: FeedHold) -> ProcessGen:
        self._set(MachineState.INTERRUPTED, "feed_hold")
        self._emit("execution", "FEED_HOLD")
        self._emit("path_feedrate", 0.0)
        self._emit("feed_override", 0)
        yield self.env.timeout(hold.duration_s)
        self._disruptions.set_operating(self._in_shift())

    def _stopping_alarm(self, failure: Failure) -> ProcessGen:
        alarm = failure.alarm
        record = self._alarms.raise_alarm(alarm)
        self._set(MachineState.ALARM, alarm.category.value)
        self._emit("execution", "STOPPED")
        self._emit("spindle_speed", 0.0)
        self._emit("spindle_load", 0.0)
        self._emit("path_feedrate", 0.0)
        estop = alarm.category.value == "emergency_stop"
        if estop:
            self._emit("emergency_stop", "TRIGGERED")
            self._signals.bump("counter_estop")
        self._signals.bde(3)
        # An operator already at the machine (for a setup) repairs it; otherwise one is called.
        request = None if self._held is not None else self._operators.request(priority=REPAIR_PRIORITY)
        if request is not None:
            yield request
        yield self.env.timeout(failure.repair_s)
        if request is not None:
            self._operators.release(request)
        self._signals.bde(None)
        if estop:
            self._emit("emergency_stop", "ARMED")
        self._alarms.clear(alarm, record)

    def _interrupt(self, cause: Disruption) -> bool:
        """Interrupt the main process if the machine is operating; return whether it was."""
        return self._disruptions.interrupt(cause)

    def _event(self, event: EventConfig) -> ProcessGen:
        """One scripted event, in its own process so that a deferred event never holds back another."""
        if event.at > self.now:
            yield self._until(event.at)
        kind = event.kind
        if kind == "operator_reject":
            self._runs.pending_rejects += event.count
        elif kind == "tool_change":
            self._runs.tool_change_due = True
        # A planned stop is known in advance: the main loop and the calendar handle it.
        elif kind != "planned_stop":
            yield from self._disruptions.scripted(event)
