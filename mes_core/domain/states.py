"""The canonical machine-state taxonomy of the MES and the seed's coarse machine status derived from it.

The state values are the names the twin's truth ledger uses, so the harness compares MES and truth by value;
this module is written independently of the twin (``mes_core`` never imports it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["NOT_PLANNED", "RUNNING", "MachineState", "MachineStatus", "status_of"]


class MachineState(StrEnum):
    """What a machine is doing, in the canonical taxonomy (reference section 2.6).

    ``derive_state`` produces the machine-signal states; ``BREAK``, ``NO_SHIFT`` and ``PLANNED_STOP`` come
    only from the shift calendar, which overrides the signal state outside planned busy time.
    """

    PRODUCING = "producing"
    """Running a program automatically at full speed: run time (APT)."""
    REDUCED_SPEED = "producing_reduced"
    """Running a program automatically with the feed override below 100 %: run time, a speed loss."""
    IDLE = "idle"
    """Ready, stopped or at the end of a program, without a fault."""
    SETUP = "setup"
    """Set-up, tear-down, maintenance or manual operation: planned time, not run time."""
    WARMUP = "warmup"
    """A warm-up or process-development program runs."""
    INTERRUPTED = "interrupted"
    """A program is held: feed hold, optional or program stop, an external interrupt, 0 % feed override."""
    PLANNED_STOP = "planned_stop"
    """Planned downtime from the calendar."""
    BREAK = "break"
    """A planned break inside a shift, from the calendar."""
    NO_SHIFT = "no_shift"
    """Outside every shift, from the calendar."""
    ALARM = "alarm"
    """An emergency stop or an active fault: unplanned downtime."""
    OFF = "off"
    """The agent answers but reports the machine unavailable: the machine is switched off."""
    NO_DATA = "no_data"
    """Nothing is known: the agent does not answer, or the machine's execution state is unavailable."""


RUNNING: Final[frozenset[MachineState]] = frozenset({MachineState.PRODUCING, MachineState.REDUCED_SPEED})
"""States that count as run time (ISO 22400 APT)."""

NOT_PLANNED: Final[frozenset[MachineState]] = frozenset(
    {MachineState.PLANNED_STOP, MachineState.BREAK, MachineState.NO_SHIFT}
)
"""States outside planned busy time: no shift, a planned break, planned downtime."""


class MachineStatus(StrEnum):
    """The seed's coarse machine status, as the status endpoint reports it."""

    ACTIVE = "ACTIVE"
    IDLE = "IDLE"
    ALARM = "ALARM"
    OFFLINE = "OFFLINE"


_STATUS: Final[dict[MachineState, MachineStatus]] = {
    MachineState.PRODUCING: MachineStatus.ACTIVE,
    MachineState.REDUCED_SPEED: MachineStatus.ACTIVE,
    MachineState.WARMUP: MachineStatus.ACTIVE,
    MachineState.IDLE: MachineStatus.IDLE,
    MachineState.SETUP: MachineStatus.IDLE,
    MachineState.INTERRUPTED: MachineStatus.IDLE,
    MachineState.PLANNED_STOP: MachineStatus.IDLE,
    MachineState.BREAK: MachineStatus.IDLE,
    MachineState.NO_SHIFT: MachineStatus.IDLE,
    MachineState.ALARM: MachineStatus.ALARM,
    MachineState.OFF: MachineStatus.OFFLINE,
    MachineState.NO_DATA: MachineStatus.OFFLINE,
}


def status_of(state: MachineState | str) -> MachineStatus:
    """The seed's status for ``state``.

    ACTIVE while a program runs (producing, at reduced speed, warming up); ALARM in alarm; OFFLINE when the
    machine is off or nothing is known; IDLE otherwise (idle, setup, interrupted, and the calendar's
    breaks, planned stops and time outside shifts, in which a powered machine stands still).

    Returns:
        The status.

    Raises:
        ValueError: ``state`` is not a machine state value.
    """
    try:
        canonical = MachineState(state)
    except ValueError:
        expected = ", ".join(member.value for member in MachineState)
        raise ValueError(f"unknown machine state {state!r}; expected one of {expected}") from None
    return _STATUS[canonical]
