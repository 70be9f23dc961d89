"""The truth ledger: what really happened on each machine, recorded by the twin as it happens."""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.states import MachineState

__all__ = ["AlarmRecord", "MachineLedger", "PartRecord", "RunRecord", "StateInterval", "TruthLedger"]


@dataclass(frozen=True, slots=True)
class StateInterval:
    """The machine was in ``state`` over ``[start, end)`` (UTC epoch seconds); ``detail`` refines it."""

    start: float
    end: float
    state: MachineState
    detail: str | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(slots=True)
class PartRecord:
    """One completed part. ``rejected_at`` is set when an operator rejects it (it is then scrap)."""

    start: float
    end: float
    ideal_cycle_s: float
    run_id: str
    good: bool = True
    rejected_at: float | None = None


@dataclass(slots=True)
class AlarmRecord:
    """One alarm from onset to clear (``clear`` is None while it is still active)."""

    onset: float
    code: str
    text: str
    category: str
    severity: str
    component: str
    clear: float | None = None


@dataclass(slots=True)
class RunRecord:
    """One production run and its lifecycle: ``events`` are (time, status) with status in
    setup, running, paused, completed."""

    run_id: str
    job_number: str
    part_number: str
    program: str
    planned_quantity: int
    ideal_cycle_s: float
    events: list[tuple[float, str]] = field(default_factory=list)
    good_parts: int = 0
    scrap_parts: int = 0

    @property
    def status(self) -> str:
        return self.events[-1][1] if self.events else "planned"


class MachineLedger:
    """The truth of one machine: a gap-free state timeline, its parts, alarms and runs."""

    def __init__(self, machine_id: str, model: str, start: float) -> None:
        self.machine_id = machine_id
        self.model = model
        self.intervals: list[StateInterval] = []
        self.parts: list[PartRecord] = []
        self.alarms: list[AlarmRecord] = []
        self.runs: list[RunRecord] = []
        self._state = MachineState.NO_SHIFT
        self._detail: str | None = None
        self._since = start
        self._closed = False

    @property
    def state(self) -> MachineState:
        return self._state

    @property
    def detail(self) -> str | None:
        return self._detail

    def set_state(self, t: float, state: MachineState, detail: str | None = None) -> None:
        """Enter ``state`` at ``t``; the previous state's interval ends there. Re-entering is a no-op.

        Raises:
            ValueError: the ledger is closed.
        """
        if self._closed:
            raise ValueError(f"the ledger of {self.machine_id} is closed; no state can follow")
        if state is self._state and detail == self._detail:
            return
        if t > self._since:
            self.intervals.append(StateInterval(self._since, t, self._state, self._detail))
        self._state, self._detail, self._since = state, detail, t

    def view(self, until: float) -> MachineLedger:
        """A closed copy of the ledger as of ``until``; this ledger goes on unchanged."""
        copy = MachineLedger(self.machine_id, self.model, self._since)
        copy.intervals = list(self.intervals)
        copy.parts = [p for p in self.parts if p.end <= until]
        copy.alarms = [a for a in self.alarms if a.onset <= until]
        copy.runs = self.runs
        copy._state, copy._detail, copy._since = self._state, self._detail, self._since
        copy.close(until)
        return copy

    def close(self, end: float) -> None:
        """End the timeline at ``end``: the open interval is closed there (idempotent)."""
        if self._closed:
            return
        if end > self._since:
            self.intervals.append(StateInterval(self._since, end, self._state, self._detail))
        self._closed = True


@dataclass
class TruthLedger:
    """Per-machine truth for a whole simulated period ``[start, end)``."""

    start: float
    end: float
    machines: dict[str, MachineLedger] = field(default_factory=dict)

    def close(self) -> None:
        for ledger in self.machines.values():
            ledger.close(self.end)

    def view(self, until: float) -> TruthLedger:
        """The truth so far, as a closed ledger ending at ``until``."""
        return TruthLedger(self.start, until, {k: m.view(until) for k, m in self.machines.items()})
