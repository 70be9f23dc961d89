"""The canonical machine-state taxonomy the twin records and the MES reproduces."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["NOT_PLANNED", "RUNNING", "MachineState"]


class MachineState(StrEnum):
    """What a machine is doing, as a person on the shop floor would say it.

    The value is the stable name used in truth files and reports.
    """

    PRODUCING = "producing"
    REDUCED_SPEED = "producing_reduced"
    IDLE = "idle"
    SETUP = "setup"
    WARMUP = "warmup"
    INTERRUPTED = "interrupted"
    PLANNED_STOP = "planned_stop"
    BREAK = "break"
    NO_SHIFT = "no_shift"
    ALARM = "alarm"
    OFF = "off"
    NO_DATA = "no_data"


RUNNING: frozenset[MachineState] = frozenset({MachineState.PRODUCING, MachineState.REDUCED_SPEED})
"""States that count as run time (ISO 22400 APT)."""

NOT_PLANNED: frozenset[MachineState] = frozenset(
    {MachineState.PLANNED_STOP, MachineState.BREAK, MachineState.NO_SHIFT}
)
"""States that are outside planned busy time (no shift, planned break, planned downtime)."""
