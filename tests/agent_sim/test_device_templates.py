"""Device templates and CuttingTool assets: valid in every schema version, carrying the twin's signals."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest
from lxml import etree

from agent_sim.agent import Agent, Asset, Request, Response
from agent_sim.assets import ASSET_TYPE, cutting_tool_xml
from agent_sim.buffer import ConditionState
from agent_sim.device_templates import (
    UNIT_SCALE,
    MachineDescription,
    device_template,
    devices_document,
)
from agent_sim.devices import load_devices
from agent_sim.render_xml import SCHEMA_VERSIONS
from twin.machine_models import IX40_EXTRA_SIGNALS, spec_for

MODELS = ("haas_vf2", "dmg_nlx2500", "index_ix40")
MACHINE_IDS = {"haas_vf2": "HAAS-VF2-001", "dmg_nlx2500": "DMG-NLX2500-001", "index_ix40": "INDEX-G220-001"}
CORE_SIGNALS = frozenset(
    {
        "availability",
        "emergency_stop",
        "execution",
        "controller_mode",
        "program",
        "part_count",
        "spindle_speed",
        "spindle_load",
        "path_feedrate",
        "x_pos",
        "cond_system",
    }
)
MODEL_SIGNALS = {
    "haas_vf2": {"y_pos", "z_pos"},
    "dmg_nlx2500": {"c_pos", "sub_spindle_speed"},
    "index_ix40": {"c_pos"},
}
TEMPERATURES = ("temp_hydraulic_oil", "temp_coolant", "temp_cooling_water", "temp_cabinet", "temp_ambient")
STAMP = "2024-03-04T05:06:07.000000Z"

# -- schemas --------------------------------------------------------------------------------------

_SCHEMAS: dict[tuple[str, str], etree.XMLSchema] = {}


def _schema_dir() -> Path | None:
    env = os.environ.get("MESTWIN_SHARED")
    root = Path(env) if env else Path(__file__).resolve().parents[3] / "shared"
    directory = root / "mtconnect" / "schemas"
    return directory if (directory / "xlink.xsd").is_file() else None


def schema(doc: str, version: str) -> etree.XMLSchema:
    """The XSD 1.0 variant of MTConnect<doc>_<version>, loaded once per run (Streams 2.x takes 0.2 s)."""
    cached = _SCHEMAS.get((doc, version))
    if cached is None:
        directory = _schema_dir()
        if directory is None:
            if os.environ.get("CI") == "true":
                pytest.fail("MTConnect XSDs not found: set MESTWIN_SHARED or check out ../shared")
            pytest.skip("MTConnect XSDs not found (set MESTWIN_SHARED or check out ../shared)")
        # etree.parse keeps the file's location, so the 1.7+ xs:import of xlink.xsd resolves next to it.
        cached = etree.XMLSchema(etree.parse(str(directory / f"MTConnect{doc}_{version}_1.0.xsd")))
        _SCHEMAS[(doc, version)] = cached
    return cached


def assert_valid(text: str, doc: str, version: str) -> None:
    xsd = schema(doc, version)
    if not xsd.validate(etree.fromstring(text.encode())):
        errors = "\n".join(f"line {e.line}: {e.message}" for e in list(xsd.error_log)[:10])
        pytest.fail(f"MTConnect{doc} {version} is not valid:\n{errors}")


# -- machines -------------------------------------------------------------------------------------


def machine(model: str, machine_id: str | None = None) -> MachineDescription:
    spec = spec_for(model)
    ident = machine_id or MACHINE_IDS[model]
    return MachineDescription(
        machine_id=ident,
        uuid=f"mestwin-{ident}",
        kind=spec.kind,
        manufacturer=spec.manufacturer,
        model_name=spec.model_name,
        controller=spec.controller,
        serial_number="SN-0001",
        axes=tuple((axis.name, axis.rotary) for axis in spec.axes),
        spindles=spec.spindles,
        conditions=spec.conditions,
        signals=spec.signals(),
    )


def all_machines() -> list[MachineDescription]:
    return [machine(model) for model in MODELS]


def make_agent(version: str) -> Agent:
    return Agent(
        devices_document(all_machines(), version), schema_version=version, sender="test", clock=lambda: 1.7e9
    )


def get(agent: Agent, path: str, **query: str) -> str:
    response = agent.handle(Request("GET", path, query))
    assert isinstance(response, Response)
    assert response.status == 200, response.body
    return response.body


def data_item(xml: str, item_id: str) -> etree._Element:
    found = etree.fromstring(xml).xpath(f'//DataItem[@id="{item_id}"]')
    assert len(found) == 1
    element: etree._Element = found[0]
    return element


# -- device documents -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("model", MODELS)
def test_devices_document_of_each_machine_is_valid_for_the_version(model: str, version: str) -> None:
    assert_valid(devices_document([machine(model)], version), "Devices", version)


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_devices_document_of_all_three_machines_is_valid_for_the_version(version: str) -> None:
    assert_valid(devices_document(all_machines(), version), "Devices", version)


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("model", MODELS)
def test_load_devices_reads_the_device_and_every_mapped_data_item(model: str, version: str) -> None:
    description = machine(model)
    template = device_template(description, version)
    devices = load_devices(devices_document([description], version))
    device = devices.device(description.machine_id)
    assert device is not None
    assert device.uuid == description.uuid
    for signal, item_id in template.signals.items():
        assert item_id in devices.items, signal
        assert devices.items[item_id].device_id == device.id


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("model", MODELS)
def test_signal_map_covers_the_core_signals_and_the_machines_axes(model: str, version: str) -> None:
    signals = device_template(machine(model), version).signals
    missing = (CORE_SIGNALS | MODEL_SIGNALS[model]) - signals.keys()
    assert not missing


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("model", MODELS)
def test_signal_map_holds_only_twin_signals_and_no_ix40_api_signals(model: str, version: str) -> None:
    description = machine(model)
    signals = device_template(description, version).signals
    assert set(signals) <= set(description.signals)
    served_by_ix40_api = set(IX40_EXTRA_SIGNALS) - {*TEMPERATURES, "spindle_motor_temp"}
    assert not served_by_ix40_api & signals.keys()
    assert "tool_life_pct" not in signals  # it travels in the CuttingTool asset


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_every_condition_component_of_every_machine_has_a_condition_item(version: str) -> None:
    for description in all_machines():
        template = device_template(description, version)
        for component in description.conditions:
            item_id = template.signals[f"cond_{component}"]
            assert data_item(template.xml, item_id).get("category") == "CONDITION"


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_index_temperatures_are_celsius_samples(version: str) -> None:
    template = device_template(machine("index_ix40"), version)
    for signal in (*TEMPERATURES, "spindle_motor_temp"):
        element = data_item(template.xml, template.signals[signal])
        assert (element.get("category"), element.get("type"), element.get("units")) == (
            "SAMPLE",
            "TEMPERATURE",
            "CELSIUS",
        )


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_ids_are_unique_across_three_machines_in_one_document(version: str) -> None:
    root = etree.fromstring(devices_document(all_machines(), version).encode())
    ids = [el.get("id") for el in root.iter() if el.get("id") is not None]
    assert len(ids) == len(set(ids))
    mapped = [i for m in all_machines() for i in device_template(m, version).signals.values()]
    assert len(mapped) == len(set(mapped))


@pytest.mark.parametrize(
    ("version", "signal", "expected"),
    [
        ("1.3", "line", ("LINE", None)),
        ("1.7", "line", ("LINE_NUMBER", "ABSOLUTE")),
        ("2.7", "line", ("LINE_NUMBER", "ABSOLUTE")),
        ("1.3", "spindle_speed", ("ROTARY_VELOCITY", "ACTUAL")),
        ("2.7", "spindle_speed", ("ROTARY_VELOCITY", "ACTUAL")),
        ("1.3", "spindle_override", ("ROTARY_VELOCITY_OVERRIDE", None)),
        ("2.7", "feed_override", ("PATH_FEEDRATE_OVERRIDE", "PROGRAMMED")),
        ("2.7", "rapid_override", ("PATH_FEEDRATE_OVERRIDE", "RAPID")),
        ("1.3", "part_count", ("PART_COUNT", "ALL")),
        ("1.3", "part_count_bad", ("PART_COUNT", "BAD")),
        ("2.7", "part_count_target", ("PART_COUNT", "TARGET")),
        ("1.3", "part_number", ("PART_ID", None)),
        ("1.8", "part_number", ("PART_KIND_ID", "PART_NUMBER")),
        ("1.7", "job", ("PROCESS_AGGREGATE_ID", "ORDER_NUMBER")),
        ("1.7", "cycle_time_last", ("PROCESS_TIMER", "PROCESS")),
        ("2.4", "work_offset", ("WORK_OFFSET", None)),
        ("2.7", "path_feedrate", ("PATH_FEEDRATE", "ACTUAL")),
    ],
)
def test_data_item_types_follow_the_version(
    version: str, signal: str, expected: tuple[str, str | None]
) -> None:
    template = device_template(machine("haas_vf2"), version)
    element = data_item(template.xml, template.signals[signal])
    assert (element.get("type"), element.get("subType")) == expected


@pytest.mark.parametrize(
    ("version", "signal"),
    [
        ("1.3", "job"),
        ("1.3", "cycle_time_last"),
        ("1.3", "work_offset"),
        ("1.7", "work_offset"),
        ("1.8", "work_offset"),
    ],
)
def test_signals_without_a_valid_type_in_the_version_are_left_out(version: str, signal: str) -> None:
    assert signal not in device_template(machine("haas_vf2"), version).signals


def test_mill_spindle_is_rotary_c_and_lathe_keeps_c_for_its_c_axis() -> None:
    mill = device_template(machine("haas_vf2"), "2.7")
    lathe = device_template(machine("dmg_nlx2500"), "2.7")
    assert data_item(mill.xml, mill.signals["spindle_speed"]).getparent().getparent().get("name") == "C"
    assert data_item(lathe.xml, lathe.signals["c_pos"]).getparent().getparent().get("name") == "C"
    assert data_item(lathe.xml, lathe.signals["spindle_speed"]).getparent().getparent().get("name") == "S"
    assert (
        data_item(lathe.xml, lathe.signals["sub_spindle_speed"]).getparent().getparent().get("name") == "S2"
    )


def test_path_feedrate_is_declared_in_millimetre_per_second_with_the_twins_scale() -> None:
    template = device_template(machine("haas_vf2"), "2.7")
    element = data_item(template.xml, template.signals["path_feedrate"])
    assert (element.get("units"), element.get("nativeUnits")) == ("MILLIMETER/SECOND", "MILLIMETER/MINUTE")
    assert UNIT_SCALE["path_feedrate"] == pytest.approx(1 / 60)


def test_device_carries_its_name_uuid_and_description() -> None:
    template = device_template(machine("dmg_nlx2500"), "2.7")
    root = etree.fromstring(template.xml)
    assert (root.get("name"), root.get("uuid")) == ("DMG-NLX2500-001", "mestwin-DMG-NLX2500-001")
    description = root.find("Description")
    assert description is not None
    assert (description.get("manufacturer"), description.get("model")) == ("DMG MORI", "NLX 2500")


def test_unknown_version_kind_or_repeated_machine_is_refused() -> None:
    with pytest.raises(ValueError, match=re.escape("'9.9'")):
        device_template(machine("haas_vf2"), "9.9")
    with pytest.raises(ValueError, match="'drilling'"):
        device_template(dataclasses.replace(machine("haas_vf2"), kind="drilling"), "2.7")
    with pytest.raises(ValueError, match="HAAS-VF2-001"):
        devices_document([machine("haas_vf2"), machine("haas_vf2")], "2.7")
    with pytest.raises(ValueError, match="'HAAS VF2'"):
        device_template(machine("haas_vf2", "HAAS VF2"), "1.3")


# -- the agent serving them ------------------------------------------------------------------------


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_agent_probe_current_and_assets_validate(version: str) -> None:
    agent = make_agent(version)
    assert_valid(get(agent, "/probe"), "Devices", version)
    current = get(agent, "/current")
    assert_valid(current, "Streams", version)
    assert "UNAVAILABLE" in current
    for index, description in enumerate(all_machines()):
        asset_id = f"{description.machine_id}-T{index + 1}"
        xml = cutting_tool_xml(asset_id, description.uuid, STAMP, index + 1, 42.5, 300, version)
        agent.add_asset(Asset(asset_id, ASSET_TYPE, description.uuid, STAMP, xml))
    assets = get(agent, "/assets")
    assert assets.count("<CuttingTool ") == 3
    assert_valid(assets, "Assets", version)
    assert_valid(get(agent, "/current"), "Streams", version)


_VALUES = {
    "availability": "AVAILABLE",
    "emergency_stop": "ARMED",
    "controller_mode": "AUTOMATIC",
    "functional_mode": "PRODUCTION",
    "execution": "ACTIVE",
    "program": "O01234",
    "program_comment": "ROUGH PASS",
    "block": "N20",
    "line": "2",
    "part_count": "12",
    "part_count_bad": "1",
    "part_count_target": "100",
    "cycle_time_last": "61.25",
    "spindle_override": "100",
    "feed_override": "100",
    "rapid_override": "100",
    "work_offset": "G54",
    "tool_number": "5",
    "job": "JOB-1001",
    "part_number": "PN-778-A",
}


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_current_with_a_twin_value_on_every_mapped_item_validates(version: str) -> None:
    agent = make_agent(version)
    for description in all_machines():
        for signal, item_id in device_template(description, version).signals.items():
            item = agent.model.items[item_id]
            value: object = ConditionState("NORMAL") if item.is_condition else _VALUES.get(signal, "12.5")
            assert agent.add(item, value, STAMP) is not None
    current = get(agent, "/current")
    assert_valid(current, "Streams", version)
    assert ">JOB-1001<" in current or version == "1.3"
    assert_valid(get(agent, "/sample", count="1000"), "Streams", version)


# -- cutting tools -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_cutting_tool_with_measurements_is_valid_in_an_assets_document(version: str) -> None:
    agent = make_agent(version)
    xml = cutting_tool_xml(
        "T7-A",
        "mestwin-HAAS-VF2-001",
        STAMP,
        7,
        100.0,
        250,
        version,
        functional_length_mm=120.5,
        cutting_diameter_mm=12,
    )
    agent.add_asset(Asset("T7-A", ASSET_TYPE, "mestwin-HAAS-VF2-001", STAMP, xml))
    body = get(agent, "/assets/T7-A")
    assert "<Measurements>" in body
    assert_valid(body, "Assets", version)


@pytest.mark.parametrize(
    ("pct", "remaining", "statuses"),
    [(100.0, "300", ["NEW", "AVAILABLE"]), (42.5, "128", ["USED", "AVAILABLE"]), (0.0, "0", ["EXPIRED"])],
)
def test_cutting_tool_counts_its_life_down_in_parts(pct: float, remaining: str, statuses: list[str]) -> None:
    root = etree.fromstring(cutting_tool_xml("T5", "uuid-1", STAMP, 5, pct, 300, "2.7"))
    life = root.find("CuttingToolLifeCycle/ToolLife")
    assert life is not None
    assert life.attrib == {"type": "PART_COUNT", "countDirection": "DOWN", "initial": "300", "limit": "300"}
    assert life.text == remaining
    assert [s.text for s in root.iterfind("CuttingToolLifeCycle/CutterStatus/Status")] == statuses
    assert root.findtext("CuttingToolLifeCycle/ProgramToolNumber") == "5"
    assert (root.get("assetId"), root.get("deviceUuid"), root.get("toolId")) == ("T5", "uuid-1", "T5")
    assert root.find("CuttingToolLifeCycle/Measurements") is None  # no geometry given, none invented


def test_cutting_tool_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match=re.escape("'0.9'")):
        cutting_tool_xml("T1", "u", STAMP, 1, 50.0, 10, "0.9")
    with pytest.raises(ValueError, match=r"\(-1\)"):
        cutting_tool_xml("T1", "u", STAMP, -1, 50.0, 10, "2.7")
    with pytest.raises(ValueError, match=r"\(0 parts\)"):
        cutting_tool_xml("T1", "u", STAMP, 1, 50.0, 0, "2.7")
    with pytest.raises(ValueError, match="nan"):
        cutting_tool_xml("T1", "u", STAMP, 1, float("nan"), 10, "2.7")


def test_ids_are_prefixed_with_a_safe_form_of_the_machine_id() -> None:
    template = device_template(machine("haas_vf2", "Cell 4/VF2"), "2.7")
    assert all(re.fullmatch(r"Cell_4_VF2_\w+", item_id) for item_id in template.signals.values())
    assert etree.fromstring(template.xml).get("name") == "Cell 4/VF2"
