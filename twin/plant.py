"""A plant: the machines of one scenario on one SimPy environment, sharing operators and a shift calendar."""

from __future__ import annotations

import random
from collections.abc import Callable

import simpy

from twin.clock import local_midnights
from twin.config import PlantConfig
from twin.kpi import Span, merge_windows, subtract_windows
from twin.ledger import MachineLedger, TruthLedger
from twin.machine import Machine
from twin.machine_models import spec_for
from twin.observations import Sink
from twin.shift_calendar import ShiftCalendar, ShiftInstance
from twin.truth import TruthResult, truth_results

__all__ = ["Plant"]

Progress = Callable[[float, float], None]
"""Called with (twin seconds done, twin seconds in all) as the run advances."""


class Plant:
    """Builds every machine of a ``PlantConfig`` and runs them in virtual or real time.

    Wiring::

        PlantConfig ──> ShiftCalendar ──> shift instances ─┐
                    └─> Machine x N (own seeded RNG) <─────┘── observations ──> sink
                              │ operators: one PriorityResource (repairs before setups)
                              └─> TruthLedger (per machine) ──> truth_results()
    """

    def __init__(self, config: PlantConfig, sink: Sink, *, env: simpy.Environment | None = None) -> None:
        if config.duration_s <= 0:
            raise ValueError(f"duration ({config.duration_s} s) must be greater than 0")
        ids = [m.id for m in config.machines]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"machine ids must be unique; repeated: {', '.join(duplicates)}")
        self.config = config
        self.env = env if env is not None else simpy.Environment()
        self.calendar = ShiftCalendar(config.shifts, config.tz, config.day_start)
        self.shifts: list[ShiftInstance] = self.calendar.instances(config.start, config.end)
        self.ledger = TruthLedger(config.start, config.end)
        self._origin = config.start - float(self.env.now)
        self._planned_stops: dict[str, list[Span]] = {m.id: [] for m in config.machines}
        for event in config.events:
            if event.machine not in self._planned_stops:
                raise ValueError(f"event at {event.at} names unknown machine {event.machine!r}")
            if event.kind == "planned_stop":
                self._planned_stops[event.machine].append((event.at, event.at + (event.duration_s or 0.0)))
        operators = simpy.PriorityResource(self.env, capacity=max(1, config.operators))
        midnights = local_midnights(config.start, config.end, config.tz)
        self.machines: dict[str, Machine] = {}
        for machine_config in config.machines:
            spec = spec_for(machine_config.model)
            ledger = MachineLedger(machine_config.id, machine_config.model, config.start)
            self.ledger.machines[machine_config.id] = ledger
            self.machines[machine_config.id] = Machine(
                self.env,
                machine_config,
                spec,
                origin=self._origin,
                end=config.end,
                shifts=self.shifts,
                planned_stops=self._planned_stops[machine_config.id],
                ledger=ledger,
                sink=sink,
                rng=random.Random(f"{config.seed}/{machine_config.id}"),
                signal_rng=random.Random(f"{config.seed}/{machine_config.id}/signals"),
                operators=operators,
                events=[e for e in config.events if e.machine == machine_config.id],
                local_midnights=midnights,
            )

    @property
    def now(self) -> float:
        """The twin's current instant, UTC epoch seconds."""
        return self._origin + float(self.env.now)

    def advance(self, until: float) -> None:
        """Run the twin up to ``until`` (UTC epoch seconds, capped at the scenario end)."""
        target = min(until, self.config.end)
        if target > self.now:
            self.env.run(until=target - self._origin)

    def run(self, progress: Progress | None = None, step_s: float = 3600.0) -> TruthLedger:
        """Run the whole scenario and return the closed truth ledger.

        Args:
            progress: called after each step with (seconds done, seconds in all).
            step_s: twin seconds per step between progress calls.
        """
        total = self.config.duration_s
        while self.now < self.config.end:
            self.advance(self.now + step_s)
            if progress is not None:
                progress(self.now - self.config.start, total)
        self.ledger.close()
        return self.ledger

    @property
    def planned_stops(self) -> dict[str, list[Span]]:
        """Each machine's planned stops from the scenario's events, as UTC spans."""
        return {machine_id: list(spans) for machine_id, spans in self._planned_stops.items()}

    def scheduled(self, machine_id: str) -> list[Span]:
        """The machine's scheduled spans: shift instances minus breaks and planned stops, in the period."""
        start, end = self.config.start, self.config.end
        spans = merge_windows((max(s.start, start), min(s.end, end)) for s in self.shifts)
        holes: list[Span] = [(b.start, b.end) for s in self.shifts for b in s.breaks]
        holes += self._planned_stops[machine_id]
        return subtract_windows(spans, holes)

    def truth(self) -> list[TruthResult]:
        """Truth KPIs per machine for the period so far, each shift instance and each business day.

        Before the end, the figures cover the period up to now, and the run can go on afterwards.
        """
        if self.now >= self.config.end:
            self.ledger.close()
            ledger = self.ledger
        else:
            ledger = self.ledger.view(self.now)
        return truth_results(
            ledger, self.calendar, self.shifts, {m: self.scheduled(m) for m in self.machines}
        )

    def ledger_of(self, machine_id: str) -> MachineLedger:
        return self.ledger.machines[machine_id]
