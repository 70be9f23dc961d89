"""mes_core.domain.machine_state: the canonical state from the current signal values (reference 2.6)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from mes_core.domain.machine_state import SignalValues, derive_state
from mes_core.domain.states import MachineState as S

RUNNING_MACHINE = SignalValues(
    availability="AVAILABLE",
    execution="ACTIVE",
    controller_mode="AUTOMATIC",
    functional_mode="PRODUCTION",
    emergency_stop="ARMED",
    feed_override=100,
)


def _state(**changes: Any) -> tuple[S, str | None]:
    """The state of the running machine with ``changes`` to its values."""
    return derive_state(replace(RUNNING_MACHINE, **changes))


def test_active_automatic_production_is_producing() -> None:
    assert derive_state(RUNNING_MACHINE) == (S.PRODUCING, None)


def test_an_unreachable_agent_is_no_data_whatever_it_said_last() -> None:
    assert _state(connected=False) == (S.NO_DATA, "agent_unreachable")
    assert _state(connected=False, availability="UNAVAILABLE") == (S.NO_DATA, "agent_unreachable")


def test_a_device_the_answering_agent_reports_unavailable_is_off() -> None:
    assert _state(availability="UNAVAILABLE") == (S.OFF, "unavailable")
    assert _state(availability="UNAVAILABLE", emergency_stop="TRIGGERED", active_faults=2) == (
        S.OFF,
        "unavailable",
    )


def test_everything_unavailable_is_no_data() -> None:
    assert derive_state(SignalValues()) == (S.NO_DATA, "execution_unavailable")
    assert _state(execution="UNAVAILABLE") == (S.NO_DATA, "execution_unavailable")
    assert _state(execution=None) == (S.NO_DATA, "execution_unavailable")
    assert _state(execution="DANCING") == (S.NO_DATA, "execution_unavailable")


def test_a_device_without_availability_is_judged_by_execution() -> None:
    """MTConnect 1.1 devices may publish no Availability: a missing value does not mean off."""
    assert _state(availability=None) == (S.PRODUCING, None)


def test_an_emergency_stop_is_an_alarm_before_everything_but_off() -> None:
    assert _state(emergency_stop="TRIGGERED") == (S.ALARM, "emergency_stop")
    assert _state(emergency_stop="TRIGGERED", functional_mode="SETUP", active_faults=1) == (
        S.ALARM,
        "emergency_stop",
    )


def test_an_active_fault_is_an_alarm() -> None:
    assert _state(active_faults=1, execution="STOPPED") == (S.ALARM, "fault")
    assert _state(active_faults=1, functional_mode="SETUP") == (S.ALARM, "fault")


@pytest.mark.parametrize(
    ("mode", "detail"), [("SETUP", "setup"), ("TEARDOWN", "teardown"), ("MAINTENANCE", "maintenance")]
)
def test_setup_teardown_and_maintenance_are_setup(mode: str, detail: str) -> None:
    assert _state(functional_mode=mode) == (S.SETUP, detail)
    assert _state(functional_mode=mode, execution="READY") == (S.SETUP, detail)


def test_process_development_while_active_is_warmup() -> None:
    assert _state(functional_mode="PROCESS_DEVELOPMENT") == (S.WARMUP, "process_development")
    assert _state(functional_mode="PROCESS_DEVELOPMENT", execution="READY") == (S.IDLE, "ready")


def test_feed_override_below_100_is_reduced_speed() -> None:
    assert _state(feed_override=80) == (S.REDUCED_SPEED, "feed_override")
    assert _state(feed_override=99.5) == (S.REDUCED_SPEED, "feed_override")
    assert _state(feed_override=120) == (S.PRODUCING, None)
    assert _state(feed_override=None) == (S.PRODUCING, None)


def test_a_zero_feed_override_holds_the_machine() -> None:
    assert _state(feed_override=0) == (S.INTERRUPTED, "feed_override_zero")


def test_manual_moves_are_setup_and_semi_automatic_is_production() -> None:
    for mode in ("MANUAL", "MANUAL_DATA_INPUT", "EDIT"):
        assert _state(controller_mode=mode) == (S.SETUP, "manual")
    assert _state(controller_mode="SEMI_AUTOMATIC") == (S.PRODUCING, None)
    assert _state(controller_mode=None) == (S.PRODUCING, None)
    assert _state(controller_mode="FEED_HOLD") == (S.INTERRUPTED, "feed_hold")
    assert _state(controller_mode="MANUAL", execution="READY") == (S.IDLE, "ready")


@pytest.mark.parametrize("execution", ["FEED_HOLD", "INTERRUPTED", "OPTIONAL_STOP", "PROGRAM_STOPPED"])
def test_held_programs_are_interrupted(execution: str) -> None:
    assert _state(execution=execution) == (S.INTERRUPTED, execution.lower())


@pytest.mark.parametrize("execution", ["READY", "STOPPED", "PROGRAM_COMPLETED", "WAIT"])
def test_stopped_without_fault_is_idle(execution: str) -> None:
    assert _state(execution=execution) == (S.IDLE, execution.lower())


def test_values_are_compared_case_insensitively() -> None:
    assert _state(execution="Active", availability="available", emergency_stop="triggered") == (
        S.ALARM,
        "emergency_stop",
    )
    assert _state(execution=" feed_hold ") == (S.INTERRUPTED, "feed_hold")


def test_the_calendar_states_never_come_from_signals() -> None:
    """Breaks, no shift and planned stops are applied from the shift calendar afterwards."""
    executions = [None, "READY", "ACTIVE", "FEED_HOLD", "STOPPED", "WAIT", "UNAVAILABLE"]
    modes = [None, "PRODUCTION", "SETUP", "MAINTENANCE", "PROCESS_DEVELOPMENT"]
    seen = {
        derive_state(SignalValues("AVAILABLE", execution, None, mode, None, faults, True, override))[0]
        for execution in executions
        for mode in modes
        for faults in (0, 1)
        for override in (None, 0, 50, 100)
    }
    assert not seen & {S.BREAK, S.NO_SHIFT, S.PLANNED_STOP}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("active_faults", -1),
        ("active_faults", 1.5),
        ("active_faults", True),
        ("feed_override", -5),
        ("feed_override", float("nan")),
        ("feed_override", float("inf")),
        ("connected", "yes"),
    ],
)
def test_bad_values_are_refused_by_name(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        SignalValues(**{field: value})  # type: ignore[arg-type]
