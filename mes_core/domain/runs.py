"""The production-run lifecycle: setup -> running <-> paused -> completed (or aborted), and its phase times.

A setup may be paused too (a shift ends in the middle of a changeover) and resumed as setup.

A run's phases keep setup time apart from production time: the seed's run reports setup and run durations
separately, and cycle times and run-level OEE use only the running phases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "LEGAL_TRANSITIONS",
    "TERMINAL",
    "IllegalTransition",
    "RunPhase",
    "RunStatus",
    "Span",
    "phase_durations",
    "phases_from_events",
    "run_window_spans",
    "transition",
]

Span = tuple[float, float]
"""``[start, end)`` in UTC epoch seconds."""


class RunStatus(StrEnum):
    """Where a production run is in its lifecycle."""

    SETUP = "setup"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    ABORTED = "aborted"


LEGAL_TRANSITIONS: Final[dict[RunStatus, frozenset[RunStatus]]] = {
    RunStatus.SETUP: frozenset({RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.ABORTED}),
    RunStatus.RUNNING: frozenset({RunStatus.PAUSED, RunStatus.COMPLETED, RunStatus.ABORTED}),
    RunStatus.PAUSED: frozenset({RunStatus.SETUP, RunStatus.RUNNING, RunStatus.COMPLETED, RunStatus.ABORTED}),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.ABORTED: frozenset(),
}
"""For each status, the statuses a run may move to from it."""

TERMINAL: Final[frozenset[RunStatus]] = frozenset({RunStatus.COMPLETED, RunStatus.ABORTED})
"""Statuses nothing leaves; a phase in one of them is an end marker and lasts no time."""

_TIMED: Final[tuple[RunStatus, ...]] = (RunStatus.SETUP, RunStatus.RUNNING, RunStatus.PAUSED)


class IllegalTransition(ValueError):
    """A run was asked to move to a status it cannot reach from its current one."""

    def __init__(self, current: RunStatus, requested: RunStatus) -> None:
        self.current = current
        self.requested = requested
        allowed = ", ".join(sorted(LEGAL_TRANSITIONS[current])) or "nothing (it is finished)"
        super().__init__(
            f"run is {current.value}; it cannot become {requested.value} "
            f"(allowed from {current.value}: {allowed})"
        )


def transition(current: RunStatus, requested: RunStatus) -> RunStatus:
    """Check a lifecycle step.

    Returns:
        ``requested``, when the step from ``current`` is legal.

    Raises:
        IllegalTransition: the step is not legal (staying in the same status is not a step either).
    """
    if requested not in LEGAL_TRANSITIONS[current]:
        raise IllegalTransition(current, requested)
    return requested


@dataclass(frozen=True, slots=True)
class RunPhase:
    """The run was in ``status`` from ``start``; ``end`` is None while the phase is still open."""

    status: RunStatus
    start: float
    end: float | None


def phases_from_events(events: Sequence[tuple[float, RunStatus]]) -> list[RunPhase]:
    """Build the phases from a run's status changes ``(time, status)``, in time order.

    Each phase ends where the next begins; the last is open (``end`` None) unless it is terminal, which
    ends where it starts.

    Returns:
        The phases.

    Raises:
        ValueError: the first status is neither setup nor running, or the times go backwards.
        IllegalTransition: two consecutive statuses are not a legal step.
    """
    phases: list[RunPhase] = []
    for n, (t, status) in enumerate(events):
        if n == 0:
            if status not in (RunStatus.SETUP, RunStatus.RUNNING):
                raise ValueError(f"a run starts in setup or running, not {status.value}")
        else:
            previous = phases[-1]
            transition(previous.status, status)
            if t < previous.start:
                raise ValueError(
                    f"status {status.value} at {t} is before {previous.status.value} at {previous.start}"
                )
            phases[-1] = RunPhase(previous.status, previous.start, t)
        phases.append(RunPhase(status, t, t if status in TERMINAL else None))
    return phases


def _end(phase: RunPhase, now: float) -> float:
    if phase.end is None:
        return max(phase.start, now)
    if phase.end < phase.start:
        raise ValueError(f"{phase.status.value} phase ends ({phase.end}) before it starts ({phase.start})")
    return phase.end


def phase_durations(phases: Sequence[RunPhase], now: float) -> dict[RunStatus, float]:
    """Return the seconds a run spent in setup, running and paused.

    An open phase ends at ``now`` (or lasts 0 s when ``now`` is before its start, e.g. a clock slightly
    behind the machine's timestamps). Terminal phases last no time. The result always has the three keys
    setup, running and paused, so that setup time stays apart from production time.

    Raises:
        ValueError: a closed phase ends before it starts.
    """
    durations = dict.fromkeys(_TIMED, 0.0)
    for phase in phases:
        end = _end(phase, now)
        if phase.status not in TERMINAL:
            durations[phase.status] += end - phase.start
    return durations


def run_window_spans(phases: Sequence[RunPhase], now: float, status: RunStatus) -> list[Span]:
    """Return the spans the run spent in ``status``, sorted and merged; an open phase ends at ``now``.

    E.g. the running spans bound a run's production time and OEE; the paused spans are excluded from its
    cycle times. A terminal status has no spans.

    Raises:
        ValueError: a closed phase ends before it starts.
    """
    spans: list[Span] = []
    for phase in sorted(phases, key=lambda p: p.start):
        end = _end(phase, now)
        if phase.status != status or status in TERMINAL or end <= phase.start:
            continue
        if spans and phase.start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((phase.start, end))
    return spans
