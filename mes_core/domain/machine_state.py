"""Derives a machine's canonical state from the current values of its MTConnect signals (reference 2.6).

``derive_state`` is a pure function of the latest values; the ingest and services layers keep those values
and call it on every change. Breaks, time outside shifts and planned stops are not machine signals: the
shift calendar applies them afterwards, so ``derive_state`` never returns ``break``, ``no_shift`` or
``planned_stop``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from mes_core.domain.states import MachineState

__all__ = ["SignalValues", "derive_state"]


@dataclass(frozen=True, slots=True)
class SignalValues:
    """The latest value of each signal the state depends on, as the agent reported it.

    The string values are the MTConnect vocabulary, compared case-insensitively; ``None`` means never
    reported and counts like UNAVAILABLE, as does a value outside the vocabulary. ``active_faults`` counts
    the active Fault conditions (Warnings do not stop a machine). ``connected`` says whether the agent
    answered the last poll. ``feed_override`` is the programmed feed override in percent.

    Raises:
        ValueError: ``active_faults`` is not a non-negative integer, ``feed_override`` is negative or not a
            finite number, or ``connected`` is not a bool.
    """

    availability: str | None = None
    execution: str | None = None
    controller_mode: str | None = None
    functional_mode: str | None = None
    emergency_stop: str | None = None
    active_faults: int = 0
    connected: bool = True
    feed_override: float | None = None

    def __post_init__(self) -> None:
        faults = self.active_faults
        if isinstance(faults, bool) or not isinstance(faults, int) or faults < 0:
            raise ValueError(f"active_faults ({faults!r}) must be a non-negative integer")
        override = self.feed_override
        if override is not None and (
            isinstance(override, bool)
            or not isinstance(override, int | float)
            or not math.isfinite(override)
            or override < 0
        ):
            raise ValueError(f"feed_override ({override!r}) must be a finite number of percent >= 0, or None")
        if not isinstance(self.connected, bool):
            raise ValueError(f"connected ({self.connected!r}) must be a bool")


_RUNNING: Final[frozenset[str]] = frozenset({"ACTIVE"})
_INTERRUPTED: Final[frozenset[str]] = frozenset(
    # PROGRAM_OPTIONAL_STOP is the pre-1.4 spelling some adapters still send.
    {"FEED_HOLD", "INTERRUPTED", "OPTIONAL_STOP", "PROGRAM_OPTIONAL_STOP", "PROGRAM_STOPPED"}
)
_IDLE: Final[frozenset[str]] = frozenset({"READY", "STOPPED", "PROGRAM_COMPLETED", "WAIT"})
_MANUAL_MODES: Final[frozenset[str]] = frozenset({"MANUAL", "MANUAL_DATA_INPUT", "EDIT"})
_SETUP_MODES: Final[dict[str, str]] = {"SETUP": "setup", "TEARDOWN": "teardown", "MAINTENANCE": "maintenance"}


def _norm(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip().upper()
    return None if not stripped or stripped == "UNAVAILABLE" else stripped


def derive_state(v: SignalValues) -> tuple[MachineState, str | None]:
    """The canonical state of a machine whose signals have the values ``v``, and a detail.

    The first rule that matches decides:

    1. The agent did not answer -> ``no_data`` (``agent_unreachable``).
    2. The agent answers but reports Availability UNAVAILABLE -> ``off`` (``unavailable``): an agent that
       answers for a device it cannot reach means the machine (or its adapter) is switched off. A device
       without an Availability item (MTConnect 1.1) skips this rule.
    3. EmergencyStop TRIGGERED -> ``alarm`` (``emergency_stop``).
    4. Any active Fault condition -> ``alarm`` (``fault``).
    5. FunctionalMode SETUP, TEARDOWN or MAINTENANCE -> ``setup`` (``setup``, ``teardown``,
       ``maintenance``). Maintenance is planned work on a machine that is in its shift; whether that time
       is planned downtime is the calendar's business (planned stops come from it), so from the signals it
       counts like setup: planned busy time that is not run time, as the seed counts setup.
    6. Execution unknown (unreported, UNAVAILABLE, outside the vocabulary) -> ``no_data``
       (``execution_unavailable``).
    7. Execution ACTIVE:

       * FunctionalMode PROCESS_DEVELOPMENT -> ``warmup`` (``process_development``);
       * ControllerMode FEED_HOLD -> ``interrupted`` (``feed_hold``);
       * ControllerMode MANUAL, MANUAL_DATA_INPUT or EDIT -> ``setup`` (``manual``): jogging and MDI
         moves are no production;
       * feed override 0 % -> ``interrupted`` (``feed_override_zero``): nothing moves;
       * feed override below 100 % -> ``producing_reduced`` (``feed_override``);
       * otherwise (AUTOMATIC, SEMI_AUTOMATIC or unknown mode) -> ``producing`` (no detail).

    8. Execution FEED_HOLD, INTERRUPTED, OPTIONAL_STOP, PROGRAM_STOPPED -> ``interrupted``.
    9. Execution READY, STOPPED, PROGRAM_COMPLETED, WAIT -> ``idle``.

    In rules 8 and 9 the detail is the execution value in lower case (``feed_hold``, ``ready``, ...).

    Returns:
        ``(state, detail)``; the detail is a short lower-case reason, None for plain ``producing``.
    """
    if not v.connected:
        return MachineState.NO_DATA, "agent_unreachable"
    if v.availability is not None and v.availability.strip().upper() == "UNAVAILABLE":
        return MachineState.OFF, "unavailable"
    if _norm(v.emergency_stop) == "TRIGGERED":
        return MachineState.ALARM, "emergency_stop"
    if v.active_faults > 0:
        return MachineState.ALARM, "fault"
    functional_mode = _norm(v.functional_mode)
    if functional_mode in _SETUP_MODES:
        return MachineState.SETUP, _SETUP_MODES[functional_mode]
    execution = _norm(v.execution)
    if execution in _RUNNING:
        return _running(v, functional_mode)
    if execution in _INTERRUPTED:
        return MachineState.INTERRUPTED, execution.lower()
    if execution in _IDLE:
        return MachineState.IDLE, execution.lower()
    return MachineState.NO_DATA, "execution_unavailable"


def _running(v: SignalValues, functional_mode: str | None) -> tuple[MachineState, str | None]:
    if functional_mode == "PROCESS_DEVELOPMENT":
        return MachineState.WARMUP, "process_development"
    mode = _norm(v.controller_mode)
    if mode == "FEED_HOLD":
        return MachineState.INTERRUPTED, "feed_hold"
    if mode in _MANUAL_MODES:
        return MachineState.SETUP, "manual"
    override = v.feed_override
    if override is not None and override == 0:
        return MachineState.INTERRUPTED, "feed_override_zero"
    if override is not None and override < 100:
        return MachineState.REDUCED_SPEED, "feed_override"
    return MachineState.PRODUCING, None
