"""mes_core.domain.alarms: condition observations classify into the seed's categories and severities.

Checked on real alarms (NIST SMS test bed, Mazak's public agent, FANUC prefixes, SINUMERIK samples), each
with the component and condition type its agent's probe declares, and on every alarm of the twin's
catalogue, which the harness compares with the MES's classification.
"""

from __future__ import annotations

import csv

import pytest
from lxml import etree

from mes_core.domain.alarms import AlarmCategory, Severity, classify_alarm
from tests.mes_core.shared import shared_dir
from tests.mes_core.test_domain_signals import Item, device_items, probe_devices
from twin.alarm_catalog import AlarmDefinition

A = AlarmCategory


def _csv(name: str) -> list[dict[str, str]]:
    with (shared_dir() / "alarms" / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _nist_items() -> dict[str, list[Item]]:
    return probe_devices(shared_dir() / "mtconnect" / "devices" / "nist-smstestbed_8-machines_1.3.xml")


def _condition(items: list[Item], key: str) -> Item:
    """The condition item a CSV row names, by its name (the NIST files) or id (Mazak's)."""
    return next(i for i in items if i.category == "CONDITION" and key in (i.name, i.id))


def _classify_with(
    item: Item, level: str, code: str | None, severity: str | None, text: str | None
) -> tuple[AlarmCategory, Severity]:
    return classify_alarm(level, item.type, item.component_type, item.component_name, code, severity, text)


NIST_CASES: list[tuple[str, str, str, AlarmCategory]] = [
    ("GFAgie01", "logic", "00 EMERGENCY STOP BUTTON", A.EMERGENCY_STOP),
    ("GFAgie01", "logic", "11 GENERALLY EMERGENCY STOP", A.EMERGENCY_STOP),
    ("GFAgie01", "logic", "409 Safety: Acknowledgement  Emergency Stop not ok", A.EMERGENCY_STOP),
    ("GFAgie01", "logic", "17 TC NOT IN HOME POSITION", A.TOOL_CHANGE),
    ("GFAgie01", "logic", "20 TOOL CLAMPED INCORRECT", A.TOOL_CHANGE),
    ("GFAgie01", "logic", "71 T-Mag: Close charging door", A.TOOL_CHANGE),
    ("GFAgie01", "logic", "530 Tool magazine:      time out change arm", A.TOOL_CHANGE),
    ("GFAgie01", "logic", "921 TIME OUT HYDRAULIC", A.HYDRAULIC),
    ("GFAgie01", "logic", "69 COOLANT SWITCHED OFF", A.HYDRAULIC),
    ("GFAgie01", "logic", "47 PRELUBRICATION SPINDLE ACTIVE", A.SPINDLE),
    ("GFAgie01", "logic", "950 NC-CANCEL", A.OTHER),
    ("GFAgie01", "system", "Excessive servo lag in Y", A.AXIS),
    ("GFAgie01", "system", "Limit switch Z-", A.AXIS),
    ("GFAgie01", "system", "Axis angle not equal tilt angle", A.AXIS),
    ("GFAgie01", "system", "External emergency stop", A.EMERGENCY_STOP),
    ("GFAgie01", "system", "Tool not defined", A.TOOL_CHANGE),
    ("GFAgie01", "system", "File does not exist", A.OTHER),
    ("Mazak01", "servo_cond", "SERVO MALFUNCTION 1", A.AXIS),
    ("Mazak01", "servo_cond", "SPINDLE MALFUNCTION 2", A.SPINDLE),
    ("Mazak01", "Sload_cond", "STOP SPINDLE", A.SPINDLE),
    ("Mazak01", "Xtravel", "SOFT LIMIT", A.AXIS),
    ("Mazak01", "comms_cond", "DESIGNATED DIRECTORY NOT FOUND", A.COMMUNICATION),
    ("Mazak01", "logic_cond", "MAGAZINE DRUM MALFUNCTION", A.TOOL_CHANGE),
    ("Mazak01", "logic_cond", "NOT UNCLAMPED(SPDL ORI. UNFIN)", A.SPINDLE),
    ("Mazak01", "logic_cond", "ERROR (Y AXIS POS.MALF.)", A.AXIS),
    ("Mazak01", "logic_cond", "ERROR(DOOR OPEN)", A.OTHER),
    ("Mazak01", "motion_cond", "FEEDRATE ZERO", A.OTHER),
    ("Mazak01", "system_cond", "BATTERY ALARM", A.OTHER),
    ("Mazak03", "logic_cond", "LUBE LUBRICATION ALARM", A.HYDRAULIC),
    ("Mazak03", "logic_cond", "ATC ARM RETRACT SENSOR MALF.", A.TOOL_CHANGE),
    ("Mazak03", "S2load_cond", "STOP SPINDLE", A.SPINDLE),
]


@pytest.mark.parametrize(("device", "item", "message", "category"), NIST_CASES)
def test_nist_test_bed_alarms(device: str, item: str, message: str, category: AlarmCategory) -> None:
    """Real NIST alarms, with the component and condition type the test bed's probe gives their item."""
    rows = [r for r in _csv("nist_smstestbed_native_alarms.csv") if r["device"] == device]
    row = next(r for r in rows if r["condition_dataitem"] == item and r["message"] == message)
    condition = _condition(_nist_items()[device], item)
    severity = Severity.CRITICAL if row["level"] == "FAULT" else Severity.WARNING
    assert _classify_with(condition, row["level"], row["nativeCode"], None, message) == (category, severity)


def test_every_nist_alarm_classifies_and_every_emergency_stop_is_one() -> None:
    items = _nist_items()
    for row in _csv("nist_smstestbed_native_alarms.csv"):
        condition = _condition(items[row["device"]], row["condition_dataitem"])
        category, severity = _classify_with(
            condition, row["level"], row["nativeCode"], row["nativeSeverity"] or None, row["message"]
        )
        assert severity is (Severity.CRITICAL if row["level"] == "FAULT" else Severity.WARNING)
        if "EMERGENCY" in row["message"].upper():
            assert category is A.EMERGENCY_STOP, row["message"]


def test_the_mazak_smoothg_current_conditions() -> None:
    """The alarms in Mazak's public SmoothG /current, classified with the probe's items; its numeric
    nativeSeverity (50, 90) is the control's own scale and leaves the level to decide."""
    responses = shared_dir() / "mtconnect" / "responses"
    items = next(iter(probe_devices(responses / "mazak-smoothg_probe_agent-1.7.xml").values()))
    root = etree.parse(str(responses / "mazak-smoothg_current_agent-1.7.xml")).getroot()
    found = {}
    for element in root.iter():
        level = etree.QName(element.tag).localname if isinstance(element.tag, str) else ""
        if level not in ("Warning", "Fault"):
            continue
        condition = _condition(items, element.get("dataItemId"))
        found[element.get("nativeCode")] = _classify_with(
            condition, level, element.get("nativeCode"), element.get("nativeSeverity"), element.text
        )
    assert found == {
        "307": (A.HYDRAULIC, Severity.WARNING),  # COVER COOLANT OFF --> ON
        "333": (A.SPINDLE, Severity.WARNING),  # SET UP SW.MISS.OP.(SP.ORIENT)
        "230": (A.OTHER, Severity.CRITICAL),  # ILLEGAL MMS UNIT
        "351": (A.OTHER, Severity.WARNING),  # TOUCH SENSOR OFF
    }
    published = {row["nativeCode"] for row in _csv("mazak_public_agent_alarms.csv")}
    assert published == set(found)


@pytest.mark.parametrize(("prefix", "category"), [("SV", A.AXIS), ("SP", A.SPINDLE), ("OT", A.AXIS)])
def test_fanuc_prefixes(prefix: str, category: AlarmCategory) -> None:
    """FOCAS display prefixes SV (servo), SP (spindle), OT (overtravel) decide when nothing else does."""
    prefixes = {row["display_prefix"] for row in _csv("fanuc_focas_cnc_rdalmmsg2_alarm_types.csv")}
    assert prefix in prefixes
    code = f"{prefix}0417"
    assert classify_alarm("FAULT", "SYSTEM", "Controller", "controller", code, None, "") == (
        category,
        Severity.CRITICAL,
    )
    assert classify_alarm("FAULT", "SYSTEM", "Controller", "controller", None, None, f"{code} ABC") == (
        category,
        Severity.CRITICAL,
    )


def test_an_unknown_fanuc_prefix_is_other() -> None:
    assert classify_alarm("FAULT", "SYSTEM", "Controller", "c", "PS0010", None, "IMPROPER G-CODE") == (
        A.OTHER,
        Severity.CRITICAL,
    )


@pytest.mark.parametrize(
    ("number", "category"),
    [("2000", A.COMMUNICATION), ("27001", A.AXIS), ("710306", A.EMERGENCY_STOP), ("600124", A.AXIS)],
)
def test_sinumerik_samples(number: str, category: AlarmCategory) -> None:
    row = next(r for r in _csv("siemens_sinumerik_alarm_samples.csv") if r["alarm_number"] == number)
    text = row["text_as_published"]
    assert classify_alarm("FAULT", "SYSTEM", "Controller", "controller", number, None, text)[0] is category


# -- the twin's catalogue ----------------------------------------------------------------------------------

MILLS = {"haas_vf2"}


def agent_component(model: str, component: str) -> tuple[str, str]:
    """Where the twin's agent puts a condition (agent_sim.device_templates): component type and name."""
    if component in ("system", "communication"):
        return "Controller", "controller"
    if component in ("x", "y", "z"):
        return "Linear", component.upper()
    if component == "c":
        return "Rotary", "C"
    if component == "spindle":
        return "Rotary", "C" if model in MILLS else "S"
    if component == "sub_spindle":
        return "Rotary", "S2"
    return {
        "tool_changer": ("AutomaticToolChanger", "atc"),
        "turret": ("Turret", "turret"),
        "coolant": ("Coolant", "coolant"),
        "hydraulic": ("Hydraulic", "hydraulic"),
    }[component]


def _twin_alarms() -> list[tuple[str, AlarmDefinition]]:
    from twin.alarm_catalog import MODELS, catalog

    return [(model, alarm) for model in MODELS for alarm in catalog(model)]


@pytest.mark.parametrize(("model", "alarm"), _twin_alarms(), ids=lambda v: getattr(v, "code", v))
def test_every_twin_alarm_classifies_to_its_own_category_and_severity(
    model: str, alarm: AlarmDefinition
) -> None:
    """Fed as the harness feeds it: level FAULT for CRITICAL else WARNING, condition type SYSTEM, the
    component as the agent reports it, the severity as nativeSeverity."""
    level = "FAULT" if alarm.severity.value == "CRITICAL" else "WARNING"
    expected = (A(alarm.category.value), Severity(alarm.severity.value))
    component_type, component_name = agent_component(model, alarm.component)
    got = classify_alarm(
        level, "SYSTEM", component_type, component_name, alarm.code, alarm.severity, alarm.text
    )
    assert got == expected


# Twin alarms whose text alone does not tell their category: only the component does.
NEEDS_COMPONENT = {
    ("haas_vf2", "174"),  # TOOL LOAD EXCEEDED: the spindle's load, worded like a tool alarm
    ("haas_vf2", "113"),  # SHUTTLE IN FAULT: the tool changer's shuttle
    ("haas_vf2", "151"),  # LOW THRU SPINDLE COOLANT: coolant, naming the spindle
}


def test_twin_alarms_classify_by_text_alone_but_for_a_few() -> None:
    """With no component and no condition type, the text and code still decide all but NEEDS_COMPONENT."""
    wrong = set()
    for model, alarm in _twin_alarms():
        got = classify_alarm("FAULT", None, None, None, alarm.code, None, alarm.text)
        if got[0].value != alarm.category.value:
            wrong.add((model, alarm.code))
    assert wrong == NEEDS_COMPONENT


def _template_cases() -> list[tuple[str, str]]:
    from agent_sim.render_xml import SCHEMA_VERSIONS
    from twin.alarm_catalog import MODELS

    return [(model, version) for model in MODELS for version in SCHEMA_VERSIONS]


@pytest.mark.parametrize(("model", "version"), _template_cases())
def test_twin_alarms_classify_on_the_conditions_its_agent_publishes(model: str, version: str) -> None:
    """With the component and condition type of the twin's real device model in every schema version
    (1.3 puts the tool changer on a generic Actuator named ``atc``; axes carry ACTUATOR conditions)."""
    from agent_sim.bridge import template_for
    from twin.alarm_catalog import catalog
    from twin.config import MachineConfig

    template = template_for(MachineConfig(id="M-1", model=model, name="M 1"), version)
    items = {item.id: item for item in device_items(etree.fromstring(template.xml))}
    for alarm in catalog(model):
        condition = items[template.signals[f"cond_{alarm.component}"]]
        level = "FAULT" if alarm.severity.value == "CRITICAL" else "WARNING"
        expected = (A(alarm.category.value), Severity(alarm.severity.value))
        for condition_type in (condition.type, "SYSTEM"):
            got = classify_alarm(
                level,
                condition_type,
                condition.component_type,
                condition.component_name,
                alarm.code,
                alarm.severity,
                alarm.text,
            )
            assert got == expected, (alarm.code, alarm.text, condition)


# -- severity ----------------------------------------------------------------------------------------------


def test_severity_comes_from_the_native_severity_when_it_is_the_mes_scale() -> None:
    assert classify_alarm("WARNING", None, None, None, "1", "INFO", "x")[1] is Severity.INFO
    assert classify_alarm("WARNING", None, None, None, "1", "critical", "x")[1] is Severity.CRITICAL
    assert classify_alarm("FAULT", None, None, None, "1", "90", "x")[1] is Severity.CRITICAL
    assert classify_alarm("Warning", None, None, None, "1", None, "x")[1] is Severity.WARNING
    assert classify_alarm("Fault", None, None, None, "1", "", "x")[1] is Severity.CRITICAL


def test_a_normal_or_unavailable_condition_is_info() -> None:
    """Not an active alarm (a code being cleared): classified, with severity INFO."""
    assert classify_alarm("NORMAL", "SYSTEM", "Linear", "X", "103", None, None) == (A.AXIS, Severity.INFO)
    assert classify_alarm("unavailable", None, None, None, None, None, None) == (A.OTHER, Severity.INFO)


def test_an_unknown_level_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'ALARM'"):
        classify_alarm("ALARM", None, None, None, None, None, None)


# -- the rules on their own --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition_type", "component_type", "component_name", "text", "category"),
    [
        # The emergency stop wins over the component.
        ("SYSTEM", "Hydraulic", "hydraulic", "E-STOP CIRCUIT OPEN", A.EMERGENCY_STOP),
        # A Rotary: axis for axis conditions, spindle by name, else by text, else spindle.
        ("ACTUATOR", "Rotary", "S", "SPINDLE DRIVE FAULT", A.AXIS),
        ("ANGLE", "Rotary", "B", "B TRAVEL", A.AXIS),
        ("SYSTEM", "Rotary", "S1", "OVERTRAVEL", A.SPINDLE),
        ("SYSTEM", "Rotary", "C", "C-AXIS CLAMP ERROR", A.AXIS),
        ("SYSTEM", "Rotary", "C", "MOTOR OVERHEAT", A.SPINDLE),
        ("TEMPERATURE", "Rotary", "C1", None, A.SPINDLE),
        # The Axes container: spindle if the text says so, else axis.
        ("SYSTEM", "Axes", "base", "SPINDLE AMP ALARM", A.SPINDLE),
        ("ACTUATOR", "Axes", "base", "DRIVE NOT READY", A.AXIS),
        ("SYSTEM", "Lubrication", "lube", "LEVEL LOW", A.HYDRAULIC),
        ("SYSTEM", "ToolMagazine", "mag", "DOOR OPEN", A.TOOL_CHANGE),
        # The component's name, not a device's.
        ("SYSTEM", "Actuator", "atc", "SHUTTLE IN FAULT", A.TOOL_CHANGE),
        ("SYSTEM", "Device", "TOOL-GRINDER-2", "DOOR OPEN", A.OTHER),
        # The condition type.
        ("COMMUNICATIONS", "Controller", "controller", "CANNOT LOAD", A.COMMUNICATION),
        ("PRESSURE", "Controller", "controller", "LOW", A.HYDRAULIC),
        # Text, with word boundaries for short words.
        ("SYSTEM", "Controller", "controller", "REPAIR REQUIRED", A.OTHER),
        ("SYSTEM", "Controller", "controller", "ILLEGAL COMMON DATA (AXIAL)", A.OTHER),
        ("SYSTEM", "Controller", "controller", "TOOL LIFE LIMIT REACHED", A.TOOL_CHANGE),
        ("SYSTEM", "Controller", "controller", "Loss of connection to adapter", A.COMMUNICATION),
        ("SYSTEM", "Controller", "controller", "DRUCKLUFT: Druck zu niedrig", A.HYDRAULIC),
        ("SYSTEM", "Controller", "controller", "NOT-HALT", A.EMERGENCY_STOP),
    ],
)
def test_category_rules(
    condition_type: str, component_type: str, component_name: str, text: str | None, category: AlarmCategory
) -> None:
    assert (
        classify_alarm("FAULT", condition_type, component_type, component_name, None, None, text)[0]
        is category
    )


def test_the_categories_are_the_seeds_plus_other() -> None:
    from twin.alarm_catalog import AlarmCategory as TwinCategory

    assert {c.value for c in AlarmCategory} == {c.value for c in TwinCategory} | {"other"}
    assert [s.value for s in Severity] == ["CRITICAL", "WARNING", "INFO"]
