"""mes_core.domain.signals: data items map to canonical signals by type, subtype and component, never by name.

The real device files are parsed here with lxml directly (not with the MES's or the agent's parsers), so
the mapping is checked against what real agents publish.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import pytest
from lxml import etree

from mes_core.domain.signals import ItemDescription, Signal, SignalMap, bind, classify
from tests.mes_core.shared import shared_dir


@dataclass(frozen=True, slots=True)
class Item:
    """A data item as a probe parser would describe it."""

    id: str
    type: str
    sub_type: str | None = None
    category: str | None = "EVENT"
    component_type: str | None = "Path"
    component_name: str | None = "path"
    name: str | None = None


def _local(tag: object) -> str | None:
    return etree.QName(tag).localname if isinstance(tag, str) else None


def device_items(device: etree._Element) -> list[Item]:
    """Every data item of one ``<Device>`` element, in document order, with its component's type and name."""
    items = []
    for element in device.iter():
        if _local(element.tag) != "DataItem":
            continue
        component = element.getparent().getparent()  # DataItem -> DataItems -> component
        items.append(
            Item(
                id=element.get("id"),
                type=element.get("type"),
                sub_type=element.get("subType"),
                category=element.get("category"),
                component_type=_local(component.tag),
                component_name=component.get("name"),
                name=element.get("name"),
            )
        )
    return items


def probe_devices(path: Path) -> dict[str, list[Item]]:
    """The devices of a devices file or probe response (not the agent's own ``<Agent>``), by device name."""
    root = etree.parse(str(path)).getroot()
    return {
        device.get("name"): device_items(device) for device in root.iter() if _local(device.tag) == "Device"
    }


def real_files() -> Iterator[Path]:
    """Every real device file and probe response in the shared data."""
    mtconnect = shared_dir() / "mtconnect"
    yield from sorted((mtconnect / "devices").glob("*.xml"))
    yield from sorted((mtconnect / "responses").glob("*probe*.xml"))


class Expected(NamedTuple):
    availability: str
    execution: str
    part_count: str | None
    spindle_speed: str | None


# What each real device must map, by primary item id; None where the device has no such item.
EXPECTED: dict[tuple[str, str], Expected] = {
    ("cppagent-demo_mazak-vrx-c600_1.7.xml", "Mazak"): Expected("avail", "execution", "PartCountAct", "Srpm"),
    ("cppagent-demo_okuma-mazak_2.7.xml", "OKUMA"): Expected(
        "Lavail", "Lpexecution", "Lppartcount", "LS1speed"
    ),
    ("cppagent-demo_okuma-mazak_2.7.xml", "Mazak"): Expected("avail", "execution", "PartCountAct", "Srpm"),
    ("cppagent-simulator_vmc-3axis.xml", "VMC-3Axis"): Expected("avail", "cn6", None, "c2"),
    ("cppagent-test_haas_1.1.xml", "Haas_1"): Expected("avail", "c3", "PartCount", "s1"),
    ("dmg-mori-mapps_nhc5000_2.x.xml", "DMG_MORI"): Expected(
        "DMGavail", "DMGexecution1", "DMGpart_count1", "DMGC5speed"
    ),
    ("haas-vf2-rs232-adapter_1.3.xml", "HAAS-VF2"): Expected("avail", "exec", "pc", "cs"),
    ("nist-smstestbed_8-machines_1.3.xml", "GFAgie01"): Expected(
        "GFAgie01-dtop_1", "GFAgie01-path_basic_2", None, None
    ),
    ("nist-smstestbed_8-machines_1.3.xml", "Mazak01"): Expected(
        "Mazak01-dtop_1", "Mazak01-path_13", "Mazak01-path_6", "Mazak01-C_5"
    ),
    ("nist-smstestbed_8-machines_1.3.xml", "Mazak03"): Expected(
        "Mazak03-dtop_1", "Mazak03-path_10", "Mazak03-path_96", "Mazak03-S_2"
    ),
    **{
        ("nist-smstestbed_8-machines_1.3.xml", f"Hurco0{n}"): Expected(
            f"Hurco0{n}-dtop_1", f"Hurco0{n}-path_5", f"Hurco0{n}-path_4", f"Hurco0{n}-C_1"
        )
        for n in (1, 2, 3, 4, 6)
    },
    ("mazak-smoothg_probe_agent-1.7.xml", "M12346"): Expected("avail", "execution", "PartCountAct", "Srpm"),
}


def _bound(file_name: str, device: str) -> tuple[SignalMap, list[Item]]:
    path = next(path for path in real_files() if path.name == file_name)
    items = probe_devices(path)[device]
    return bind(items), items


def test_the_expectations_cover_every_real_device() -> None:
    """Every device in the shared files is checked below; a new file must get its expectations."""
    found = {(path.name, name) for path in real_files() for name in probe_devices(path)}
    assert found == set(EXPECTED)


@pytest.mark.parametrize(("file_name", "device"), sorted(EXPECTED))
def test_real_devices_get_execution_availability_part_count_and_spindle(file_name: str, device: str) -> None:
    """Every real device gets availability and execution (every file, 1.1 included, has AVAILABILITY);
    part count and spindle speed wherever the device has them (the VMC-3Axis simulator and the GF Agie
    report no PART_COUNT, the GF Agie no spindle speed)."""
    signals, _ = _bound(file_name, device)
    expected = EXPECTED[(file_name, device)]
    assert signals.primary(Signal.AVAILABILITY) == expected.availability
    assert signals.primary(Signal.EXECUTION) == expected.execution
    assert signals.primary(Signal.PART_COUNT) == expected.part_count
    assert signals.primary(Signal.SPINDLE_SPEED) == expected.spindle_speed


@pytest.mark.parametrize(("file_name", "device"), sorted(EXPECTED))
def test_real_devices_map_a_part_count_whenever_they_have_one(file_name: str, device: str) -> None:
    """A device with a PART_COUNT item of subType ALL (or none) always gets a part_count signal."""
    signals, items = _bound(file_name, device)
    has_count = any(i.type == "PART_COUNT" and i.sub_type in (None, "ALL") for i in items)
    assert (signals.primary(Signal.PART_COUNT) is not None) == has_count


@pytest.mark.parametrize(("file_name", "device"), sorted(EXPECTED))
def test_every_condition_item_is_a_condition(file_name: str, device: str) -> None:
    signals, items = _bound(file_name, device)
    assert signals.conditions == tuple(i.id for i in items if i.category == "CONDITION")


@pytest.mark.parametrize(("file_name", "device"), sorted(EXPECTED))
def test_ids_and_names_do_not_matter(file_name: str, device: str) -> None:
    """Renaming every item (id and name) changes nothing but the ids in the map."""
    signals, items = _bound(file_name, device)
    renamed = [replace(item, id=f"item{n}", name=f"whatever{n}") for n, item in enumerate(items)]
    by_new_id = {f"item{n}": item.id for n, item in enumerate(items)}
    again = bind(renamed)
    for signal in Signal:
        assert tuple(by_new_id[i] for i in again.items_of(signal)) == signals.items_of(signal)


def test_the_hurco_program_status_is_its_execution() -> None:
    """The NIST Hurcos name their EXECUTION item Program_Status: the type decides, not the name."""
    signals, items = _bound("nist-smstestbed_8-machines_1.3.xml", "Hurco01")
    execution = signals.primary(Signal.EXECUTION)
    assert execution is not None
    assert next(i for i in items if i.id == execution).name == "Program_Status"
    assert signals.signal_of(execution) is Signal.EXECUTION


def test_the_okuma_spindle_load_is_the_main_spindles_not_the_b_axis() -> None:
    """The Okuma lists the B axis's LOAD before the spindle's: load follows the primary spindle speed."""
    signals, _ = _bound("cppagent-demo_okuma-mazak_2.7.xml", "OKUMA")
    assert signals.primary(Signal.SPINDLE_SPEED) == "LS1speed"
    assert signals.primary(Signal.SPINDLE_LOAD) == "LS1load"
    assert signals.primary(Signal.SPINDLE_OVERRIDE) == "LS1ovr"
    assert "LB1load" in signals.secondary(Signal.SPINDLE_LOAD)
    assert signals.secondary(Signal.SPINDLE_SPEED) == ("LS2speed", "LS6speed")


def test_the_okuma_controller_level_program_and_the_path_line() -> None:
    signals, _ = _bound("cppagent-demo_okuma-mazak_2.7.xml", "OKUMA")
    assert signals.primary(Signal.PROGRAM) == "Lpprogram"
    assert signals.primary(Signal.LINE) == "Lp1linenumber"  # LINE_NUMBER ABSOLUTE before the unsubtyped one
    assert signals.primary(Signal.TOOL_ASSET) == "Lp1ToolAssetId"
    assert signals.primary(Signal.FEED_RATE) == "Lp1Fact"  # not the PROGRAMMED Lp1Fcmd
    assert signals.signal_of("Lp1Fcmd") is None


def test_the_mazak_smoothg_rotary_c_carries_two_loads() -> None:
    """Known limit: the SmoothG's Rotary C (C axis and spindle in one) has Cload and Sload, alike in type
    and component; only their ids tell them apart, so the first in the document is primary."""
    signals, _ = _bound("mazak-smoothg_probe_agent-1.7.xml", "M12346")
    assert signals.items_of(Signal.SPINDLE_LOAD) == ("Cload", "Sload", "Bload")  # B: a rotary axis
    assert signals.primary(Signal.POSITION_Z) == "Zabs"
    assert signals.primary(Signal.POSITION_X) is None  # its X and Y publish no POSITION


def test_the_gf_agie_reports_positions_and_a_nonstandard_feed_override() -> None:
    signals, _ = _bound("nist-smstestbed_8-machines_1.3.xml", "GFAgie01")
    assert signals.primary(Signal.FEED_OVERRIDE) == "GFAgie01-controller_basic_2"  # subType OVERRIDE
    assert signals.primary(Signal.EMERGENCY_STOP) == "GFAgie01-dtop_2"  # on the Device
    assert signals.primary(Signal.PATH_POSITION) == "GFAgie01-path_basic_7"


def test_the_vmc_simulator_spindle_override_is_a_spindle_speed_override() -> None:
    signals, _ = _bound("cppagent-simulator_vmc-3axis.xml", "VMC-3Axis")
    assert signals.primary(Signal.SPINDLE_SPEED) == "c2"
    assert signals.primary(Signal.SPINDLE_OVERRIDE) == "c3"  # SPINDLE_SPEED subType OVERRIDE


# -- the twin's own devices, as its agent publishes them ----------------------------------------------------

TWIN_SIGNALS: dict[str, Signal] = {
    "availability": Signal.AVAILABILITY,
    "execution": Signal.EXECUTION,
    "controller_mode": Signal.CONTROLLER_MODE,
    "functional_mode": Signal.FUNCTIONAL_MODE,
    "emergency_stop": Signal.EMERGENCY_STOP,
    "part_count": Signal.PART_COUNT,
    "part_count_bad": Signal.PART_COUNT_BAD,
    "part_count_target": Signal.PART_COUNT_TARGET,
    "program": Signal.PROGRAM,
    "block": Signal.BLOCK,
    "line": Signal.LINE,
    "spindle_speed": Signal.SPINDLE_SPEED,
    "spindle_load": Signal.SPINDLE_LOAD,
    "spindle_override": Signal.SPINDLE_OVERRIDE,
    "path_feedrate": Signal.FEED_RATE,
    "feed_override": Signal.FEED_OVERRIDE,
    "rapid_override": Signal.RAPID_OVERRIDE,
    "x_pos": Signal.POSITION_X,
    "y_pos": Signal.POSITION_Y,
    "z_pos": Signal.POSITION_Z,
    "tool_number": Signal.TOOL_NUMBER,
    "cycle_time_last": Signal.CYCLE_TIME,
}


def _twin_cases() -> list[tuple[str, str]]:
    from agent_sim.render_xml import SCHEMA_VERSIONS
    from twin.alarm_catalog import MODELS

    return [(model, version) for model in MODELS for version in SCHEMA_VERSIONS]


@pytest.mark.parametrize(("model", "version"), _twin_cases())
def test_the_twins_devices_map_every_signal_the_mes_reads(model: str, version: str) -> None:
    """Each twin signal the MES reads is the primary item of its canonical signal, in every schema version
    the twin's agent serves; every condition is a condition; nothing else is primary."""
    from agent_sim.bridge import template_for
    from twin.config import MachineConfig

    template = template_for(MachineConfig(id="M-1", model=model, name="M 1"), version)
    signals = bind(device_items(etree.fromstring(template.xml)))
    primaries = {signals.primary(signal) for signal in Signal} - {None}
    for twin_signal, item_id in template.signals.items():
        if twin_signal in TWIN_SIGNALS:
            assert signals.primary(TWIN_SIGNALS[twin_signal]) == item_id, twin_signal
        elif twin_signal.startswith("cond_"):
            assert item_id in signals.conditions
        else:
            assert item_id not in primaries or signals.signal_of(item_id) is Signal.CONDITION, twin_signal
    assert {"availability", "execution", "part_count", "spindle_speed"} <= set(template.signals)


# -- rules on small inputs -------------------------------------------------------------------------------


def test_classify_by_type_and_subtype() -> None:
    assert classify(Item("a", "PART_COUNT", "ALL")) is Signal.PART_COUNT
    assert classify(Item("a", "PART_COUNT")) is Signal.PART_COUNT
    assert classify(Item("a", "PART_COUNT", "GOOD")) is Signal.PART_COUNT_GOOD
    assert classify(Item("a", "PART_COUNT", "BAD")) is Signal.PART_COUNT_BAD
    assert classify(Item("a", "PART_COUNT", "TARGET")) is Signal.PART_COUNT_TARGET
    assert classify(Item("a", "PART_COUNT", "REMAINING")) is None
    assert classify(Item("a", "PATH_FEEDRATE", "PROGRAMMED", "SAMPLE")) is None
    assert classify(Item("a", "PATH_FEEDRATE_OVERRIDE", "RAPID")) is Signal.RAPID_OVERRIDE
    assert classify(Item("a", "PATH_FEEDRATE_OVERRIDE", "JOG")) is None
    assert classify(Item("a", "TOOL_ID")) is Signal.TOOL_NUMBER
    assert classify(Item("a", "TOOL_NUMBER", "x:SUFFIX")) is None
    assert classify(Item("a", "PROCESS_TIMER", "PROCESS", "SAMPLE")) is Signal.CYCLE_TIME
    assert classify(Item("a", "PROCESS_TIMER", "DELAY", "SAMPLE")) is None
    assert classify(Item("a", "LOAD", None, "CONDITION", "Rotary", "S")) is Signal.CONDITION
    assert classify(Item("a", "execution", None, "event")) is Signal.EXECUTION  # case does not matter


def test_spindle_and_position_need_their_component() -> None:
    assert classify(Item("a", "ROTARY_VELOCITY", "ACTUAL", "SAMPLE", "Rotary", "C")) is Signal.SPINDLE_SPEED
    assert classify(Item("a", "ROTARY_VELOCITY", "ACTUAL", "SAMPLE", "Path", "p")) is None
    assert classify(Item("a", "ROTARY_VELOCITY", "PROGRAMMED", "SAMPLE", "Rotary", "C")) is None
    assert classify(Item("a", "LOAD", None, "SAMPLE", "Linear", "X")) is None
    assert classify(Item("a", "POSITION", "ACTUAL", "SAMPLE", "Linear", "Z1")) is Signal.POSITION_Z
    assert classify(Item("a", "POSITION", "COMMANDED", "SAMPLE", "Linear", "X")) is None
    assert classify(Item("a", "POSITION", "ACTUAL", "SAMPLE", "Linear", "W")) is None
    assert classify(Item("a", "POSITION", "ACTUAL", "SAMPLE", "Rotary", "X")) is None


def test_the_path_wins_over_the_controller_and_the_first_path_over_the_second() -> None:
    signals = bind(
        [
            Item("ctl_exec", "EXECUTION", component_type="Controller", component_name="ctl"),
            Item("p1_exec", "EXECUTION", component_name="path1"),
            Item("p2_exec", "EXECUTION", component_name="path2"),
        ]
    )
    assert signals.primary(Signal.EXECUTION) == "p1_exec"
    assert signals.secondary(Signal.EXECUTION) == ("p2_exec", "ctl_exec")
    assert signals.is_primary("p1_exec")
    assert not signals.is_primary("p2_exec")


def test_the_main_program_wins_and_the_device_availability_wins_over_the_agents() -> None:
    signals = bind(
        [
            Item("agent_avail", "AVAILABILITY", component_type="Agent", component_name="Agent"),
            Item("avail", "AVAILABILITY", component_type="Device", component_name="M"),
            Item("active", "PROGRAM", "ACTIVE"),
            Item("plain", "PROGRAM"),
            Item("main", "PROGRAM", "MAIN"),
            Item("sub", "PROGRAM", "x:SUB"),
        ]
    )
    assert signals.primary(Signal.AVAILABILITY) == "avail"
    assert signals.items_of(Signal.PROGRAM) == ("main", "plain", "active")
    assert signals.signal_of("sub") is None


def test_a_signal_map_is_a_read_only_mapping_of_item_ids() -> None:
    signals = bind([Item("e", "EXECUTION"), Item("other", "WORK_OFFSET")])
    assert dict(signals) == {"e": Signal.EXECUTION}
    assert len(signals) == 1
    assert "other" not in signals
    assert signals.primary(Signal.PART_COUNT) is None
    assert signals.secondary(Signal.PART_COUNT) == ()
    assert signals.conditions == ()
    assert "execution=e" in repr(signals)


def test_any_object_with_the_attributes_is_an_item_description() -> None:
    """A named tuple satisfies the protocol as well as a frozen dataclass does."""

    class Row(NamedTuple):
        id: str
        type: str
        sub_type: str | None
        category: str | None
        component_type: str | None
        component_name: str | None
        name: str | None

    row: ItemDescription = Row("x", "EXECUTION", None, "EVENT", "Path", "path", "Program_Status")
    assert classify(row) is Signal.EXECUTION


def test_repeated_or_empty_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="'dup'"):
        bind([Item("dup", "EXECUTION"), Item("dup", "WORK_OFFSET")])
    with pytest.raises(ValueError, match="''"):
        bind([Item("", "EXECUTION")])
