"""Shared fixtures for the scenario tests: a tiny valid scenario, its broken variants, and the real CLI."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import run

ROOT = Path(__file__).resolve().parents[2]
"""The project root (where scenarios/ lives)."""

TINY = """\
[scenario]
name = "tiny"
start = "2026-03-02T06:00:00"
timezone = "Europe/Berlin"
duration = "8h"
seed = 1

[[shifts]]
name = "Early"
start = "06:00"
end = "14:00"

[[agents]]
name = "agent-a"
port = 5000
machines = ["MILL-1", "LATHE-1"]

[[machines]]
id = "MILL-1"
model = "haas_vf2"
name = "Mill 1"

[[machines]]
id = "LATHE-1"
model = "dmg_nlx2500"
name = "Lathe 1"
"""
"""The smallest valid scenario: one shift, one agent, a Haas VF-2 and a DMG NLX 2500."""

THIRD_MACHINE_VF3 = """
[[machines]]
id = "MILL-3"
model = "haas_vf3"
name = "Mill 3"
"""
"""A third machine (``machines[2]``) of a model that does not exist: the issue's example."""

EXAMPLE_MESSAGE = "machines[2].model: 'haas_vf3' is not one of haas_vf2, dmg_nlx2500, index_ix40"
"""The issue's example of the one line an invalid scenario gets."""


def tiny(*edits: tuple[str, str], append: str = "") -> str:
    """Return ``TINY`` with each ``(old, new)`` replaced (``old`` must occur) and ``append`` at the end."""
    text = TINY
    for old, new in edits:
        assert old in text, f"{old!r} is not in the tiny scenario"
        text = text.replace(old, new)
    return text + append


def _event(**fields: str) -> str:
    """Return an ``[[events]]`` table with string ``fields``."""
    return "\n[[events]]\n" + "".join(f'{key} = "{value}"\n' for key, value in fields.items())


@dataclass(frozen=True)
class BadCase:
    """A broken scenario and the field and reason its one-line message must name."""

    rule: str
    text: str
    field: str
    reason: str


BAD_CASES: tuple[BadCase, ...] = (
    BadCase(
        "unknown_model_is_named_with_the_allowed_ones", tiny(append=THIRD_MACHINE_VF3), EXAMPLE_MESSAGE, ""
    ),
    BadCase("invalid_toml_names_the_line", tiny(("seed = 1", "seed = ")), "invalid TOML", "line 6"),
    BadCase(
        "misspelt_field_is_unknown",
        tiny(("seed = 1", "sede = 1")),
        "scenario.sede: ",
        "unknown field",
    ),
    BadCase(
        "misspelt_top_level_table_is_unknown",
        tiny(append="\n[tolerance]\noee = 0.01\n"),
        "tolerance: ",
        "unknown field",
    ),
    BadCase(
        "missing_required_field",
        tiny(('timezone = "Europe/Berlin"\n', "")),
        "scenario.timezone: ",
        "is required",
    ),
    BadCase(
        "missing_required_machine_field",
        tiny(('name = "Lathe 1"\n', "")),
        "machines[1].name: ",
        "is required",
    ),
    BadCase(
        "bad_time_zone",
        tiny(('"Europe/Berlin"', '"Europe/Berln"')),
        "scenario.timezone: ",
        "'Europe/Berln' is not an IANA time zone",
    ),
    BadCase(
        "bad_duration_string",
        tiny(('duration = "8h"', 'duration = "8 hours"')),
        "scenario.duration: ",
        "'8 hours' is not a duration",
    ),
    BadCase(
        "zero_duration",
        tiny(('duration = "8h"', 'duration = "0h"')),
        "scenario.duration: ",
        "must be greater than zero",
    ),
    BadCase(
        "local_start_with_a_utc_offset_string",
        tiny(('"2026-03-02T06:00:00"', '"2026-03-02T06:00:00+01:00"')),
        "scenario.start: ",
        "without a UTC offset",
    ),
    BadCase(
        "local_start_with_a_toml_offset_date_time",
        tiny(('"2026-03-02T06:00:00"', "2026-03-02T05:00:00Z")),
        "scenario.start: ",
        "without a UTC offset",
    ),
    BadCase(
        "bad_shift_time",
        tiny(('start = "06:00"', 'start = "6am"')),
        "shifts[0].start: ",
        "'6am' is not a local time",
    ),
    BadCase(
        "bad_weekday",
        tiny(append='\n[[shifts]]\nname = "Late"\nstart = "14:00"\nend = "22:00"\ndays = ["monday"]\n'),
        "shifts[1].days[0]: ",
        "'monday' is not one of mon, tue, wed, thu, fri, sat, sun",
    ),
    BadCase(
        "duplicate_shift_names",
        tiny(append='\n[[shifts]]\nname = "Early"\nstart = "14:00"\nend = "22:00"\n'),
        "shifts[1].name: ",
        "'Early' appears more than once",
    ),
    BadCase(
        "overlapping_shifts_fail_the_build_step",
        tiny(append='\n[[shifts]]\nname = "Late"\nstart = "13:00"\nend = "22:00"\n'),
        "shifts: ",
        "'Late' overlaps shift 'Early'",
    ),
    BadCase(
        "duplicate_machine_ids",
        tiny(append='\n[[machines]]\nid = "MILL-1"\nmodel = "haas_vf2"\nname = "Mill 1 again"\n'),
        "machines[2].id: ",
        "'MILL-1' appears more than once",
    ),
    BadCase(
        "machine_id_with_a_space",
        tiny(('id = "MILL-1"', 'id = "MILL 1"')),
        "machines[0].id: ",
        "'MILL 1'",
    ),
    BadCase(
        "no_machines",
        '[scenario]\nname = "empty"\nstart = "2026-03-02T06:00:00"\ntimezone = "UTC"\nduration = "1h"\n',
        "machines: ",
        "needs at least one machine",
    ),
    BadCase(
        "ix40_machine_number_on_a_haas",
        tiny(('name = "Mill 1"', 'name = "Mill 1"\nix40_machine_number = "4711"')),
        "machines[0].ix40_machine_number: ",
        "only index_ix40 machines have one",
    ),
    BadCase(
        "agent_pattern_matching_no_machine",
        tiny(('["MILL-1", "LATHE-1"]', '["MILL-1", "LATHE-1", "ROBOT-*"]')),
        "agents[0].machines: ",
        "'ROBOT-*' matches no machine",
    ),
    BadCase(
        "machine_fronted_by_two_agents",
        tiny(append='\n[[agents]]\nname = "agent-b"\nport = 5001\nmachines = ["MILL-*"]\n'),
        "agents[1].machines: ",
        "'MILL-1' is already fronted by 'agent-a'",
    ),
    BadCase(
        "duplicate_agent_ports",
        tiny(
            append='\n[[machines]]\nid = "MILL-2"\nmodel = "haas_vf2"\nname = "Mill 2"\n'
            '\n[[agents]]\nname = "agent-b"\nport = 5000\nmachines = ["MILL-2"]\n'
        ),
        "agents[1].port: ",
        "5000 is already used by 'agent-a'",
    ),
    BadCase(
        "duplicate_agent_names",
        tiny(
            append='\n[[machines]]\nid = "MILL-2"\nmodel = "haas_vf2"\nname = "Mill 2"\n'
            '\n[[agents]]\nname = "agent-a"\nport = 5001\nmachines = ["MILL-2"]\n'
        ),
        "agents[1].name: ",
        "'agent-a' appears more than once",
    ),
    BadCase(
        "unknown_schema_version",
        tiny(("port = 5000", 'port = 5000\nschema_version = "9.9"')),
        "agents[0].schema_version: ",
        "'9.9' is not one of 1.3, 1.7, 1.8, 2.4, 2.7",
    ),
    BadCase(
        "event_naming_an_unknown_machine",
        tiny(append=_event(at="+1h", kind="estop", machine="MILL-9")),
        "events[0].machine: ",
        "unknown machine 'MILL-9'",
    ),
    BadCase(
        "event_at_an_unparsable_time",
        tiny(append=_event(at="tomorrow 9am", kind="estop", machine="MILL-1")),
        "events[0].at: ",
        "'tomorrow 9am' is neither a local date-time nor an offset",
    ),
    BadCase(
        "event_at_an_unparsable_offset",
        tiny(append=_event(at="+1 hour", kind="estop", machine="MILL-1")),
        "events[0].at: ",
        "'+1 hour' is not an offset like +3h15m",
    ),
    BadCase(
        "event_at_a_time_with_a_utc_offset",
        tiny(append=_event(at="2026-03-02T09:00:00Z", kind="estop", machine="MILL-1")),
        "events[0].at: ",
        "without a UTC offset",
    ),
    BadCase(
        "event_after_the_period",
        tiny(append=_event(at="2026-03-02T14:00:00", kind="estop", machine="MILL-1")),
        "events[0].at: ",
        "'2026-03-02T14:00:00' is outside the scenario's period",
    ),
    BadCase(
        "event_before_the_period",
        tiny(append=_event(at="2026-03-02T05:59:59", kind="estop", machine="MILL-1")),
        "events[0].at: ",
        "is outside the scenario's period",
    ),
    BadCase(
        "event_offset_past_the_end",
        tiny(append=_event(at="+8h", kind="estop", machine="MILL-1")),
        "events[0].at: ",
        "'+8h' is outside the scenario's period",
    ),
    BadCase(
        "unknown_event_kind_lists_every_kind",
        tiny(append=_event(at="+1h", kind="explode", machine="MILL-1")),
        "events[0].kind: ",
        "'explode' is not one of estop, alarm, feed_hold, operator_reject, tool_change, power_off, "
        "planned_stop, agent_restart, adapter_disconnect, network_drop, slow_responses",
    ),
    BadCase(
        "alarm_code_the_models_control_does_not_have",
        # SV0411 is a servo alarm of the DMG lathe's Fanuc control, not of the Haas control.
        tiny(append=_event(at="+1h", kind="alarm", machine="MILL-1", code="SV0411")),
        "events[0].code: ",
        "unknown alarm code 'SV0411' for machine model 'haas_vf2'",
    ),
    BadCase(
        "alarm_event_without_a_code",
        tiny(append=_event(at="+1h", kind="alarm", machine="MILL-1")),
        "events[0]: ",
        "needs a native `code`",
    ),
    BadCase(
        "feed_hold_without_a_duration",
        tiny(append=_event(at="+1h", kind="feed_hold", machine="MILL-1")),
        "events[0]: ",
        "needs a `duration`",
    ),
    BadCase(
        "event_with_a_bad_duration",
        tiny(append=_event(at="+1h", kind="feed_hold", machine="MILL-1", duration="two minutes")),
        "events[0].duration: ",
        "'two minutes' is not a duration",
    ),
    BadCase(
        "wire_event_needs_an_agent",
        tiny(append=_event(at="+1h", kind="agent_restart")),
        "events[0]: ",
        "kind 'agent_restart' needs an `agent`",
    ),
    BadCase(
        "wire_event_naming_an_unknown_agent",
        tiny(append=_event(at="+1h", kind="network_drop", agent="agent-z", duration="30s")),
        "events[0].agent: ",
        "unknown agent 'agent-z'",
    ),
    BadCase(
        "fleet_of_an_unknown_model",
        tiny(append='\n[[fleets]]\nmodel = "haas_vf3"\ncount = 2\nid_format = "VF3-{n}"\n'),
        "fleets[0].model: ",
        "'haas_vf3' is not one of haas_vf2, dmg_nlx2500, index_ix40",
    ),
    BadCase(
        "fleet_id_format_with_an_unknown_placeholder",
        tiny(append='\n[[fleets]]\nmodel = "haas_vf2"\ncount = 2\nid_format = "VF2-{x}"\n'),
        "fleets[0].id_format: ",
        "'VF2-{x}' is not a format of `n`",
    ),
    BadCase(
        "fleet_id_format_with_a_bad_spec",
        tiny(append='\n[[fleets]]\nmodel = "haas_vf2"\ncount = 2\nid_format = "VF2-{n:zz}"\n'),
        "fleets[0].id_format: ",
        "'VF2-{n:zz}' is not a format of `n`",
    ),
    BadCase(
        "fleet_id_format_giving_a_bad_id",
        tiny(append='\n[[fleets]]\nmodel = "haas_vf2"\ncount = 2\nid_format = "VF2 {n}"\n'),
        "fleets[0].id_format: ",
        "'VF2 1', not a machine id",
    ),
    BadCase(
        "fleet_name_format_with_an_unknown_placeholder",
        tiny(
            append='\n[[fleets]]\nmodel = "haas_vf2"\ncount = 2\nid_format = "VF2-{n}"\n'
            'name_format = "#{m}"\n'
        ),
        "fleets[0].name_format: ",
        "'#{m}' is not a format of `n` and `id`",
    ),
    BadCase(
        "fleet_id_format_without_n_repeats_ids",
        tiny(append='\n[[fleets]]\nmodel = "haas_vf2"\ncount = 2\nid_format = "VF2"\n'),
        "fleets[0].id_format: ",
        "'VF2' appears more than once",
    ),
    BadCase(
        "fleet_ids_colliding_with_a_listed_machine",
        tiny(append='\n[[fleets]]\nmodel = "haas_vf2"\ncount = 2\nid_format = "MILL-{n}"\n'),
        "fleets[0].id_format: ",
        "'MILL-1' appears more than once",
    ),
)
"""Broken scenarios, one rule each: every one is bad input (exit 2) with one line naming field and reason.

Tests parametrize over it with ``BAD_CASE_IDS``."""

BAD_CASE_IDS = [case.rule for case in BAD_CASES]


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[[str], Path]:
    """Return a function writing TOML text to a scenario file in ``tmp_path``."""

    def write(text: str, name: str = "scenario.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def run_mestwin(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (``python -m scenarios``) in a subprocess, on a narrow terminal, and return it."""
    return run("scenarios", *args)


@pytest.fixture
def mestwin() -> Callable[..., subprocess.CompletedProcess[str]]:
    """The real ``mestwin`` CLI as a subprocess (see ``run_mestwin``)."""
    return run_mestwin
