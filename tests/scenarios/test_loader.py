"""Reading, validating and building scenarios: a valid file gives a Scenario and a twin config; anything else
gives a ScenarioError whose message is one line naming the file, the field and the reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scenarios.build import event_time, plant_config
from scenarios.loader import ScenarioError, format_location, load_scenario, scenario_from_dict
from scenarios.model import Scenario, parse_duration
from tests.scenarios.conftest import (
    BAD_CASE_IDS,
    BAD_CASES,
    EXAMPLE_MESSAGE,
    THIRD_MACHINE_VF3,
    TINY,
    BadCase,
    tiny,
)

SHIPPED = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.toml"))

WriteScenario = Callable[..., Path]


def _error(path: Path) -> str:
    """Load and build ``path`` as `mestwin validate` does; return the ScenarioError's message."""
    with pytest.raises(ScenarioError) as info:
        plant_config(load_scenario(path), str(path))
    return str(info.value)


def test_tiny_scenario_is_valid_and_builds(write_scenario: WriteScenario) -> None:
    """The fixture every broken case starts from is itself valid, so each case fails for its own reason."""
    path = write_scenario(TINY)
    scenario = load_scenario(path)
    config = plant_config(scenario, str(path))
    assert [m.id for m in config.machines] == ["MILL-1", "LATHE-1"]
    assert config.start == datetime(2026, 3, 2, 5, tzinfo=UTC).timestamp()
    assert config.duration_s == 8 * 3600


@pytest.mark.parametrize("bad_case", BAD_CASES, ids=BAD_CASE_IDS)
def test_bad_scenario_message_is_one_line_naming_file_field_and_reason(
    bad_case: BadCase, write_scenario: WriteScenario
) -> None:
    path = write_scenario(bad_case.text)
    message = _error(path)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert bad_case.field in message
    assert bad_case.reason in message


def test_issue_example_message(write_scenario: WriteScenario) -> None:
    """A third machine of model haas_vf3 gets exactly the message of the issue, after the file name."""
    path = write_scenario(tiny(append=THIRD_MACHINE_VF3))
    assert _error(path) == f"{path}: {EXAMPLE_MESSAGE}"


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert _error(path) == f"{path}: no such scenario file"


def test_directory_is_not_a_scenario_file(tmp_path: Path) -> None:
    assert _error(tmp_path) == f"{tmp_path}: is a directory, not a scenario file"


def test_file_that_is_not_utf8_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[scenario]\nname = "M\xfchle"\n')
    message = _error(path)
    assert message.startswith(f"{path}: cannot be read: ")
    assert "\n" not in message


def test_invalid_toml_names_line_and_column(write_scenario: WriteScenario) -> None:
    path = write_scenario(tiny(("seed = 1", "seed 1")))
    message = _error(path)
    assert message.startswith(f"{path}: invalid TOML: ")
    assert "line 6" in message
    assert "column" in message


def test_only_the_first_error_is_shown_and_the_rest_counted(write_scenario: WriteScenario) -> None:
    path = write_scenario(
        tiny(('"Europe/Berlin"', '"Mars/Olympus"'), ('duration = "8h"', 'duration = "8 h"'))
    )
    message = _error(path)
    assert "scenario.timezone: 'Mars/Olympus'" in message
    assert message.endswith("(and 1 more error)")


def test_scenario_from_dict_names_its_source() -> None:
    with pytest.raises(ScenarioError, match=r"^plant\.toml: scenario: is required$"):
        scenario_from_dict({"machines": [{"id": "M", "model": "haas_vf2", "name": "M"}]}, "plant.toml")


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("machines", 2, "model"), "machines[2].model"),
        (("scenario", "timezone"), "scenario.timezone"),
        (("events", 0, "kind", "literal['estop']"), "events[0].kind"),
        ((), ""),
    ],
)
def test_error_location_reads_as_a_field_path(loc: tuple[int | str, ...], path: str) -> None:
    assert format_location(loc) == path


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("8h", 28800), ("90m", 5400), ("2d", 172800), ("1h30m", 5400), ("45s", 45), ("1.5h", 5400)],
)
def test_duration_strings(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "8", "8 hours", "h", "30m1h", "0s", "-1h"])
def test_bad_duration_strings_are_value_errors_naming_the_text(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text)):
        parse_duration(text)


def test_fleet_expands_to_machines_with_ids_and_names_by_format(write_scenario: WriteScenario) -> None:
    """A fleet becomes ``count`` machines after the listed ones, ids by ``id_format``, names by
    ``name_format`` (with ``n`` and ``id``), sharing every other field; agents front them by pattern."""
    path = write_scenario(
        tiny(
            append='\n[[agents]]\nname = "agent-b"\nport = 5001\nmachines = ["VF2-*"]\n'
            '\n[[fleets]]\nmodel = "haas_vf2"\ncount = 3\nid_format = "VF2-{n:03d}"\n'
            'name_format = "Haas VF-2 #{n} ({id})"\nlocation = "Hall 2"\nwarmup_minutes = 5\n'
            '\n[[fleets.jobs]]\njob_number = "J-1"\npart_number = "P-1"\nprogram = "O1"\n'
            "planned_quantity = 10\nideal_cycle_time_s = 30\n"
        )
    )
    scenario = load_scenario(path)
    machines = scenario.all_machines
    assert [m.id for m in machines] == ["MILL-1", "LATHE-1", "VF2-001", "VF2-002", "VF2-003"]
    fleet = machines[2:]
    assert [m.name for m in fleet] == [
        "Haas VF-2 #1 (VF2-001)",
        "Haas VF-2 #2 (VF2-002)",
        "Haas VF-2 #3 (VF2-003)",
    ]
    assert {(m.model, m.location, m.warmup_minutes) for m in fleet} == {("haas_vf2", "Hall 2", 5)}
    assert all([j.job_number for j in m.jobs] == ["J-1"] for m in fleet)
    assert scenario.agent_machines(scenario.agents[1]) == ["VF2-001", "VF2-002", "VF2-003"]
    config = plant_config(scenario, str(path))
    assert [m.id for m in config.machines] == [m.id for m in machines]


def test_fleet_name_defaults_to_its_id() -> None:
    data = {
        "scenario": {"name": "f", "start": "2026-03-02T06:00:00", "timezone": "UTC", "duration": "1h"},
        "fleets": [{"model": "index_ix40", "count": 2, "id_format": "IX-{n}"}],
    }
    machines = scenario_from_dict(data).all_machines
    assert [(m.id, m.name) for m in machines] == [("IX-1", "IX-1"), ("IX-2", "IX-2")]


def test_event_times_are_local_or_offsets_from_the_start(write_scenario: WriteScenario) -> None:
    """``at`` is a local date-time in the scenario's zone or ``+duration`` from the start; both become UTC."""
    path = write_scenario(
        tiny(
            append='\n[[events]]\nat = "+1h30m"\nkind = "estop"\nmachine = "MILL-1"\n'
            '\n[[events]]\nat = "2026-03-02T06:00:00"\nkind = "alarm"\nmachine = "LATHE-1"\ncode = "SV0411"\n'
        )
    )
    scenario = load_scenario(path)
    start = datetime(2026, 3, 2, 5, tzinfo=UTC).timestamp()
    assert [event_time(scenario, e) for e in scenario.events] == [start + 5400, start]
    config = plant_config(scenario, str(path))
    assert [(e.machine, e.kind, e.at, e.code) for e in config.events] == [
        ("MILL-1", "estop", start + 5400, None),
        ("LATHE-1", "alarm", start, "SV0411"),
    ]


def test_wire_events_name_an_agent_and_do_not_reach_the_twin(write_scenario: WriteScenario) -> None:
    path = write_scenario(
        tiny(append='\n[[events]]\nat = "+2h"\nkind = "network_drop"\nagent = "agent-a"\nduration = "30s"\n')
    )
    scenario = load_scenario(path)
    assert scenario.events[0].agent == "agent-a"
    assert plant_config(scenario, str(path)).events == ()


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_scenario_loads_and_builds(path: Path) -> None:
    scenario = load_scenario(path)
    assert isinstance(scenario, Scenario)
    config = plant_config(scenario, str(path))
    assert len(config.machines) == len(scenario.all_machines) > 0


def test_break_minutes_that_disagree_with_explicit_breaks_are_refused(tmp_path: Path) -> None:
    text = (SHIPPED[0].parent / "haas_one_shift.toml").read_text(encoding="utf-8")
    text = text.replace(
        "break_minutes = 30\n", 'break_minutes = 45\nbreaks = [{ start = "10:00", minutes = 30 }]\n'
    )
    path = tmp_path / "breaks.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"shifts\[0\]: break_minutes \(45\) disagrees"):
        load_scenario(path)
