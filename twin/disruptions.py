"""What disrupts a machine's work: random failures and scripted events, as interrupts while it operates."""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import simpy

from twin.active_alarms import ActiveAlarms
from twin.alarm_catalog import AlarmCategory, AlarmDefinition, Severity, by_category, emergency_stop, find
from twin.config import EventConfig, FailureMode

__all__ = ["Disruption", "Disruptions", "Failure", "FeedHold", "PowerOff"]

ProcessGen = Generator[simpy.Event, Any, Any]

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


class Disruptions:
    """The disruptions of one machine's main process (``work``), and the operating state they wait for.

    The main process says when it operates (``set_operating``) and starts cutting (``cut_started``); a
    disruption interrupts it only while it operates, with a ``Disruption`` as the cause. Failures come
    after a random operating time per failure mode; advisory (not CRITICAL) alarms show without stopping it.
    """

    def __init__(
        self,
        env: simpy.Environment,
        work: simpy.Process,
        *,
        model: str,
        reliability: Sequence[FailureMode],
        rng: random.Random,
        alarms: ActiveAlarms,
        origin: float,
        cutting: Callable[[], bool],
    ) -> None:
        self._env = env
        self._work = work
        self._model = model
        self._reliability = reliability
        self._rng = rng
        self._alarms = alarms
        self._origin = origin
        self._cutting = cutting
        self.operating = False
        """Whether the main process is working (or ready to) in a shift, and so can be disrupted."""
        self._op_accum = 0.0
        self._op_since = 0.0
        self._resume: simpy.Event = env.event()
        self._cut: simpy.Event = env.event()

    @property
    def _now(self) -> float:
        return self._origin + float(self._env.now)

    # -- the operating state ----------------------------------------------------------------------

    def set_operating(self, operating: bool) -> None:
        """Start or stop the operating time (failures draw against it)."""
        if operating == self.operating:
            return
        if operating:
            self._op_since = self._now
            resume, self._resume = self._resume, self._env.event()
            resume.succeed()
        else:
            self._op_accum += self._now - self._op_since
        self.operating = operating

    def operating_seconds(self) -> float:
        """The time the machine has operated so far."""
        return self._op_accum + (self._now - self._op_since if self.operating else 0.0)

    def cut_started(self) -> None:
        """Wake what waits for the machine to cut (a feed hold)."""
        cut, self._cut = self._cut, self._env.event()
        cut.succeed()

    def interrupt(self, cause: Disruption) -> bool:
        """Interrupt the main process if the machine is operating; return whether it was."""
        if not self.operating:
            return False
        # Not operating from here on, so no second disruption lands while this one is being handled.
        self.set_operating(False)
        self._work.interrupt(cause)
        return True

    def _when_operating(self) -> ProcessGen:
        while not self.operating:
            yield self._resume

    def _when_cutting(self) -> ProcessGen:
        while not (self.operating and self._cutting()):
            yield self._cut if self.operating else self._resume

    # -- the sources ------------------------------------------------------------------------------

    def _advisory(self, alarm: AlarmDefinition, duration: float) -> ProcessGen:
        record = self._alarms.raise_alarm(alarm)
        yield self._env.timeout(duration)
        self._alarms.clear(alarm, record)

    def failures(self, mode: FailureMode) -> ProcessGen:
        """The random alarms of one failure mode: after an exponential operating time (mean MTBF) one of
        its category's alarms, repaired in an exponential time (mean MTTR)."""
        alarms = by_category(self._model, _category(mode.category))
        mtbf_s = mode.mtbf_hours * 3600.0
        mttr_s = mode.mttr_minutes * 60.0
        while True:
            target = self.operating_seconds() + self._rng.expovariate(1.0 / mtbf_s)
            while True:
                yield from self._when_operating()
                remaining = target - self.operating_seconds()
                if remaining <= _EPS:
                    break
                yield self._env.timeout(remaining)
            alarm = self._rng.choice(alarms)
            duration = self._rng.expovariate(1.0 / mttr_s)
            if alarm.severity is Severity.CRITICAL:
                self.interrupt(Failure(alarm, duration))
            else:
                self._env.process(self._advisory(alarm, duration))

    def scripted(self, event: EventConfig) -> ProcessGen:
        """A scripted E-stop, alarm, feed hold or power off, from its time on: sent when the machine next
        operates (a feed hold: when it next cuts).

        Raises:
            ValueError: an event of another kind.
        """
        kind = event.kind
        alarm: AlarmDefinition | None = None
        if kind == "estop":
            alarm = emergency_stop(self._model)
        elif kind == "alarm":
            alarm = find(self._model, event.code or "")
        duration = event.duration_s if event.duration_s is not None else self._default_repair(alarm)
        cause: Disruption
        if alarm is not None and alarm.severity is not Severity.CRITICAL:
            yield from self._when_operating()
            self._env.process(self._advisory(alarm, duration))
            return
        if alarm is not None:
            cause = Failure(alarm, duration)
        elif kind == "feed_hold":
            # A feed hold only means something while the machine is cutting: it waits for the next cut.
            while True:
                yield from self._when_cutting()
                if self.interrupt(FeedHold(duration)):
                    return
                yield self._env.timeout(0)
        elif kind == "power_off":
            cause = PowerOff(duration)
        else:
            raise ValueError(f"unknown event kind {kind!r}")
        while True:
            yield from self._when_operating()
            if self.interrupt(cause):
                return

    def _default_repair(self, alarm: AlarmDefinition | None) -> float:
        if alarm is not None:
            for mode in self._reliability:
                if mode.category == alarm.category.value:
                    return mode.mttr_minutes * 60.0
        return 300.0


def _category(name: str) -> AlarmCategory:
    try:
        return AlarmCategory(name)
    except ValueError:
        known = ", ".join(c.value for c in AlarmCategory)
        raise ValueError(f"unknown alarm category {name!r}; expected one of {known}") from None
