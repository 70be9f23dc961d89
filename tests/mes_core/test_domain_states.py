"""mes_core.domain.states: the canonical state taxonomy, its groups, and the seed's status."""

from __future__ import annotations

import pytest

from mes_core.domain.states import NOT_PLANNED, RUNNING, MachineState, MachineStatus, status_of


def test_the_states_are_exactly_the_taxonomy() -> None:
    assert [state.value for state in MachineState] == [
        "producing",
        "producing_reduced",
        "idle",
        "setup",
        "warmup",
        "interrupted",
        "planned_stop",
        "break",
        "no_shift",
        "alarm",
        "off",
        "no_data",
    ]


def test_the_mes_states_are_the_twins_truth_states() -> None:
    """Defined independently, compared by value: the harness relies on the two agreeing."""
    from twin import states as truth

    assert {state.value for state in MachineState} == {state.value for state in truth.MachineState}
    assert {state.value for state in RUNNING} == {state.value for state in truth.RUNNING}
    assert {state.value for state in NOT_PLANNED} == {state.value for state in truth.NOT_PLANNED}


def test_running_and_not_planned() -> None:
    assert {MachineState.PRODUCING, MachineState.REDUCED_SPEED} == RUNNING
    assert {MachineState.PLANNED_STOP, MachineState.BREAK, MachineState.NO_SHIFT} == NOT_PLANNED
    assert not RUNNING & NOT_PLANNED


def test_the_statuses_are_the_seeds() -> None:
    assert [status.value for status in MachineStatus] == ["ACTIVE", "IDLE", "ALARM", "OFFLINE"]


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (MachineState.PRODUCING, MachineStatus.ACTIVE),
        (MachineState.REDUCED_SPEED, MachineStatus.ACTIVE),
        (MachineState.WARMUP, MachineStatus.ACTIVE),
        (MachineState.IDLE, MachineStatus.IDLE),
        (MachineState.SETUP, MachineStatus.IDLE),
        (MachineState.INTERRUPTED, MachineStatus.IDLE),
        (MachineState.PLANNED_STOP, MachineStatus.IDLE),
        (MachineState.BREAK, MachineStatus.IDLE),
        (MachineState.NO_SHIFT, MachineStatus.IDLE),
        (MachineState.ALARM, MachineStatus.ALARM),
        (MachineState.OFF, MachineStatus.OFFLINE),
        (MachineState.NO_DATA, MachineStatus.OFFLINE),
    ],
)
def test_status_of_every_state(state: MachineState, status: MachineStatus) -> None:
    assert status_of(state) is status
    assert status_of(state.value) is status


def test_status_of_an_unknown_state_names_it() -> None:
    with pytest.raises(ValueError, match="'running'"):
        status_of("running")


@pytest.mark.parametrize("module", ["states", "signals", "machine_state", "counters", "alarms"])
def test_the_domain_modules_import_only_the_standard_library_and_the_domain(module: str) -> None:
    """The domain is pure: no I/O library, no framework, nothing from the other mes_core layers."""
    import ast
    import sys
    from pathlib import Path

    import mes_core.domain

    source = Path(mes_core.domain.__file__).with_name(f"{module}.py").read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    outside = {
        name
        for name in imported
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("mes_core.domain")
    }
    assert not outside
    assert not imported & {"io", "os", "socket", "sqlite3", "pathlib", "urllib", "http", "asyncio"}
