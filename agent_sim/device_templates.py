"""MTConnect device models for the twin's machines: one ``<Device>`` per machine, shaped like the real one.

A mill gets what the VMC-3Axis, Haas and Mazak files show: Linear X/Y/Z and the spindle as Rotary ``C`` under
Axes; a lathe gets Linear X/Z, the C axis as Rotary ``C`` and its spindles as Rotary ``S``, ``S2`` (the NIST
Mazak QuickTurn layout). Then a Controller (E-stop, mode, system and communication conditions) with one Path,
Systems (coolant, hydraulics, ...) and, from 1.7 on, Auxiliaries holding the tool changer or turret. The
device itself carries Availability, FunctionalMode and AssetChanged/AssetRemoved (with cppagent's
``<device>_asset_chg`` ids). Axis conditions are ACTUATOR, the others SYSTEM or COMMUNICATIONS.

Every data item type, subtype and component is one the chosen schema version's XSD knows, so the documents
validate; a twin signal with no fitting type in a version is left out of the signal map. Values the twin
does not report in the data item's MTConnect unit are listed in ``UNIT_SCALE``: the agent, like cppagent
without ``ConversionRequired``, does not convert ``nativeUnits``.

Choices per version (newer versions keep the 1.3 choice unless noted):

=====================  ==========================  =============================================
signal                 1.3                         1.7, 1.8, 2.4, 2.7
=====================  ==========================  =============================================
spindle_speed          ROTARY_VELOCITY ACTUAL      (same; SPINDLE_SPEED is deprecated since 1.2)
spindle_override       ROTARY_VELOCITY_OVERRIDE    (same)
line                   LINE                        LINE_NUMBER ABSOLUTE
work_offset            (none)                      WORK_OFFSET from 2.0 (a number in 1.7, 1.8)
cycle_time_last        (none)                      PROCESS_TIMER PROCESS, seconds
job                    (none)                      PROCESS_AGGREGATE_ID ORDER_NUMBER
part_number            PART_ID                     PART_KIND_ID PART_NUMBER
tool changer, turret   Actuator component          Auxiliaries > AutomaticToolChanger / Turret
cooling water, room    Systems / Device level       Systems > Cooling, Auxiliaries > Environmental
=====================  ==========================  =============================================

``tool_life_pct`` has no data item in any version: it travels in the CuttingTool asset (``assets.py``). The
iX4.0-only signals (``bde*``, ``counter_*``, ``material_missing``, ``cycle_time_avg``) are served by the iX4.0
API, not here; the INDEX temperatures are TEMPERATURE samples on the components they measure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from agent_sim.render_xml import AGENT_VERSION, SCHEMA_VERSIONS, xml_escape

__all__ = ["UNIT_SCALE", "DeviceTemplate", "MachineDescription", "device_template", "devices_document"]

UNIT_SCALE: Mapping[str, float] = MappingProxyType({"path_feedrate": 1.0 / 60.0})
"""Factor from the twin's unit to the data item's unit, per signal: the twin's feed is mm/min, MTConnect's
PATH_FEEDRATE is MILLIMETER/SECOND (declared with ``nativeUnits="MILLIMETER/MINUTE"``)."""

_NMTOKEN = re.compile(r"[\w.:-]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_ID = re.compile(r' id="([^"]+)"')


@dataclass(frozen=True, slots=True)
class MachineDescription:
    """A twin machine as plain data, filled by the caller from the twin's model spec."""

    machine_id: str
    """Becomes the device name, e.g. ``HAAS-VF2-001``."""
    uuid: str
    kind: str
    """``milling`` or ``turning``."""
    manufacturer: str
    model_name: str
    controller: str
    serial_number: str
    axes: tuple[tuple[str, bool], ...]
    """``(name, rotary)`` per axis, e.g. ``(("x", False), ("z", False), ("c", True))``."""
    spindles: tuple[str, ...]
    """The main spindle first: ``("spindle",)`` or ``("spindle", "sub_spindle")``."""
    conditions: tuple[str, ...]
    """Condition component names; the signal of ``x`` is ``cond_x``."""
    signals: tuple[str, ...]
    """Every twin signal name of the machine."""


@dataclass(frozen=True, slots=True)
class DeviceTemplate:
    """A machine's ``<Device>`` element (namespace-free XML) and where each twin signal goes."""

    xml: str
    signals: dict[str, str]
    """Twin signal name -> data item id, for the signals that have a data item in this schema version."""
    samples: frozenset[str] = frozenset()
    """The signals among them whose data item is a plain SAMPLE (one value, one SHDR field)."""


@dataclass(frozen=True, slots=True)
class _Item:
    key: str
    """The id suffix; for a ``mapped`` item also the twin signal it carries."""
    category: str
    type: str
    name: str | None = None
    sub_type: str | None = None
    units: str | None = None
    native_units: str | None = None
    composition: str | None = None
    constant: str | None = None
    discrete: bool = False
    mapped: bool = True


def _sample(
    signal: str,
    data_type: str,
    name: str,
    units: str,
    sub_type: str | None = None,
    *,
    native_units: str | None = None,
    composition: str | None = None,
) -> _Item:
    return _Item(signal, "SAMPLE", data_type, name, sub_type, units, native_units, composition)


def _event(
    signal: str, data_type: str, name: str, sub_type: str | None = None, units: str | None = None
) -> _Item:
    return _Item(signal, "EVENT", data_type, name, sub_type, units)


def _constant(key: str, data_type: str, name: str, value: str) -> _Item:
    return _Item(key, "EVENT", data_type, name, constant=value, mapped=False)


@dataclass(slots=True)
class _Component:
    element: str
    key: str
    name: str | None = None
    native_name: str | None = None
    items: list[_Item] = field(default_factory=list)
    children: list[_Component] = field(default_factory=list)
    compositions: list[tuple[str, str]] = field(default_factory=list)


class _Builder:
    """Picks the data items of one device for one schema version: only signals the machine has."""

    def __init__(self, machine: MachineDescription, version: tuple[int, int]) -> None:
        self.machine = machine
        self.version = version
        self.signals = frozenset(machine.signals)
        self.conditions = list(dict.fromkeys(machine.conditions))
        """Condition components not placed yet."""

    def since(self, major: int, minor: int) -> bool:
        return self.version >= (major, minor)

    def keep(self, *items: _Item) -> list[_Item]:
        return [item for item in items if not item.mapped or item.key in self.signals]

    def condition(self, component: str, data_type: str, name: str) -> list[_Item]:
        """The condition of ``component``, once: a component placed here is not placed again."""
        if component not in self.conditions:
            return []
        self.conditions.remove(component)
        return self.keep(_Item(f"cond_{component}", "CONDITION", data_type, name))

    def temperature(self, signal: str, name: str, composition: str | None = None) -> list[_Item]:
        return self.keep(_sample(signal, "TEMPERATURE", name, "CELSIUS", composition=composition))


def _axes(b: _Builder) -> _Component:
    machine = b.machine
    axes = _Component("Axes", "axes", "base")
    rotary_names = {name.upper() for name, rotary in machine.axes if rotary}
    for name, rotary in machine.axes:
        upper = name.upper()
        if rotary:
            items = b.keep(
                _sample(f"{name}_pos", "ANGLE", f"{upper}act", "DEGREE", "ACTUAL"),
                _constant(f"{name}_mode", "ROTARY_MODE", f"{upper}mode", "INDEX"),
            )
        else:
            items = b.keep(_sample(f"{name}_pos", "POSITION", f"{upper}act", "MILLIMETER", "ACTUAL"))
        items += b.condition(name, "ACTUATOR", f"{upper}servo_cond")
        axes.children.append(_Component("Rotary" if rotary else "Linear", f"{name}_axis", upper, items=items))
    for index, spindle in enumerate(machine.spindles):
        label = "S" if index == 0 else f"S{index + 1}"
        # A mill's spindle is Rotary C (VMC-3Axis, Mazak VRX); a lathe keeps C for its C axis (Mazak QTN).
        name = "C" if index == 0 and machine.kind == "milling" and "C" not in rotary_names else label
        component = _Component("Rotary", spindle, name, native_name=label)
        speed = "spindle_speed" if index == 0 else f"{spindle}_speed"
        items = b.keep(_sample(speed, "ROTARY_VELOCITY", f"{label}rpm", "REVOLUTION/MINUTE", "ACTUAL"))
        if index == 0:
            items += b.keep(
                _sample("spindle_load", "LOAD", f"{label}load", "PERCENT"),
                _event("spindle_override", "ROTARY_VELOCITY_OVERRIDE", f"{label}ovr", units="PERCENT"),
            )
            motor = None
            if "spindle_motor_temp" in b.signals and b.since(1, 7):  # Compositions arrive in 1.4
                motor = f"{spindle}_motor"
                component.compositions.append((motor, "MOTOR"))
            items += b.temperature("spindle_motor_temp", f"{label}temp", composition=motor)
        items.append(_constant(f"{spindle}_mode", "ROTARY_MODE", f"{label}mode", "SPINDLE"))
        items += b.condition(spindle, "SYSTEM", f"{label}_cond")
        component.items = items
        axes.children.append(component)
    return axes


def _path(b: _Builder) -> _Component:
    items = b.keep(
        _event("execution", "EXECUTION", "execution"),
        _event("program", "PROGRAM", "program"),
        _event("program_comment", "PROGRAM_COMMENT", "program_cmt"),
        _event("block", "BLOCK", "block"),
        # The twin's line is the block's position from the start of the program: ABSOLUTE, not INCREMENTAL.
        _event("line", "LINE_NUMBER", "line", "ABSOLUTE")
        if b.since(1, 4)
        else _event("line", "LINE", "line"),
        _event("part_count", "PART_COUNT", "PartCountAct", "ALL"),
        _event("part_count_bad", "PART_COUNT", "PartCountBad", "BAD"),
        _event("part_count_target", "PART_COUNT", "PartCountTarget", "TARGET"),
        _sample(
            "path_feedrate",
            "PATH_FEEDRATE",
            "Fact",
            "MILLIMETER/SECOND",
            "ACTUAL",
            native_units="MILLIMETER/MINUTE",
        ),
        _event("feed_override", "PATH_FEEDRATE_OVERRIDE", "Fovr", "PROGRAMMED", "PERCENT"),
        _event("rapid_override", "PATH_FEEDRATE_OVERRIDE", "Frapidovr", "RAPID", "PERCENT"),
        _event("tool_number", "TOOL_NUMBER", "Tool_number"),
    )
    if b.since(2, 0):
        # 1.7 and 1.8 type WorkOffset as a number; the twin reports the offset's name (G54).
        items += b.keep(_event("work_offset", "WORK_OFFSET", "work_offset"))
    if b.since(1, 7):
        items += b.keep(
            _sample("cycle_time_last", "PROCESS_TIMER", "cycle_time", "SECOND", "PROCESS"),
            _event("job", "PROCESS_AGGREGATE_ID", "job", "ORDER_NUMBER"),
            _event("part_number", "PART_KIND_ID", "part_number", "PART_NUMBER"),
        )
    else:
        items += b.keep(_event("part_number", "PART_ID", "part_number"))
    return _Component("Path", "path", "path", items=items)


def _controller(b: _Builder) -> _Component:
    items = b.keep(
        _event("emergency_stop", "EMERGENCY_STOP", "estop"),
        _event("controller_mode", "CONTROLLER_MODE", "mode"),
    )
    items += b.condition("system", "SYSTEM", "system_cond")
    items += b.condition("communication", "COMMUNICATIONS", "comms_cond")
    return _Component("Controller", "controller", "controller", items=items, children=[_path(b)])


_SYSTEMS = {
    # condition component -> element, temperature signal and its item name
    "coolant": ("Coolant", "temp_coolant", "coolant_temp"),
    "hydraulic": ("Hydraulic", "temp_hydraulic_oil", "hydraulic_oil_temp"),
    "pneumatic": ("Pneumatic", None, None),
    "lubrication": ("Lubrication", None, None),
    "electric": ("Electric", "temp_cabinet", "cabinet_temp"),
}


def _systems(b: _Builder) -> _Component | None:
    systems = _Component("Systems", "systems", "systems")
    for key, (element, temp_signal, temp_name) in _SYSTEMS.items():
        items = b.condition(key, "SYSTEM", f"{key}_cond")
        if temp_signal is not None and temp_name is not None:
            items += b.temperature(temp_signal, temp_name)
        if items:
            systems.children.append(_Component(element, key, key, items=items))
    water = b.temperature("temp_cooling_water", "cooling_water_temp")
    if water and b.since(1, 7):
        systems.children.append(_Component("Cooling", "cooling", "cooling", items=water))
    else:
        systems.items += water  # 1.3 has no Cooling component
    return systems if systems.children or systems.items else None


_TOOLING = {"tool_changer": ("AutomaticToolChanger", "atc"), "turret": ("Turret", "turret")}


def _auxiliaries(b: _Builder, device: _Component) -> None:
    tooling = []
    for key, (element, name) in _TOOLING.items():
        items = b.condition(key, "SYSTEM", f"{name}_cond")
        if items:
            # ToolingDelivery components arrive in 1.7; 1.3 knows only the generic Actuator.
            tooling.append(_Component(element if b.since(1, 7) else "Actuator", key, name, items=items))
    ambient = b.temperature("temp_ambient", "ambient_temp")
    if not b.since(1, 7):
        device.children += tooling
        device.items += ambient
        return
    if ambient:
        tooling.append(_Component("Environmental", "environmental", "environmental", items=ambient))
    if tooling:
        device.children.append(_Component("Auxiliaries", "auxiliaries", "auxiliaries", children=tooling))


def _safe_id(machine_id: str) -> str:
    safe = _UNSAFE.sub("_", machine_id.strip()) or "device"
    return safe if safe[0].isalpha() or safe[0] == "_" else f"m{safe}"


def _version(schema_version: str) -> tuple[int, int]:
    if schema_version not in SCHEMA_VERSIONS:
        raise ValueError(f"schema version {schema_version!r} is not one of {', '.join(SCHEMA_VERSIONS)}")
    major, minor = schema_version.split(".")
    return int(major), int(minor)


def _attr(name: str, value: str | None) -> str:
    return "" if value is None else f' {name}="{xml_escape(value)}"'


def _item_xml(item: _Item, prefix: str) -> str:
    attrs = (
        f'<DataItem category="{item.category}" id="{prefix}_{item.key}"'
        + _attr("name", item.name)
        + f' type="{item.type}"'
        + _attr("subType", item.sub_type)
        + _attr("units", item.units)
        + _attr("nativeUnits", item.native_units)
        + (' discrete="true"' if item.discrete else "")
        + _attr("compositionId", f"{prefix}_{item.composition}" if item.composition else None)
    )
    if item.constant is None:
        return attrs + "/>"
    return f"{attrs}><Constraints><Value>{xml_escape(item.constant)}</Value></Constraints></DataItem>"


def _content_xml(component: _Component, prefix: str, parts: list[str]) -> None:
    if component.items:
        parts.append("<DataItems>")
        parts.extend(_item_xml(item, prefix) for item in component.items)
        parts.append("</DataItems>")
    if component.children:
        parts.append("<Components>")
        for child in component.children:
            parts.append(
                f'<{child.element} id="{prefix}_{child.key}"'
                + _attr("name", child.name)
                + _attr("nativeName", child.native_name)
                + ">"
            )
            _content_xml(child, prefix, parts)
            parts.append(f"</{child.element}>")
        parts.append("</Components>")
    if component.compositions:
        parts.append("<Compositions>")
        parts.extend(f'<Composition id="{prefix}_{key}" type="{t}"/>' for key, t in component.compositions)
        parts.append("</Compositions>")


def _collect(component: _Component, keys: list[str], items: list[_Item]) -> None:
    keys.extend(key for key, _ in component.compositions)
    keys.extend(item.key for item in component.items)
    items.extend(component.items)
    for child in component.children:
        keys.append(child.key)
        _collect(child, keys, items)


def device_template(machine: MachineDescription, schema_version: str) -> DeviceTemplate:
    """Build the ``<Device>`` element of ``machine`` for ``schema_version``.

    Every id is prefixed with a safe form of the machine id, so several machines can share one agent.

    Returns:
        The device XML (namespace-free) and the map from twin signal to data item id.

    Raises:
        ValueError: an unknown schema version or machine kind, or a machine id that is no valid device name
            in 1.3 (an NMTOKEN there: no spaces).
    """
    version = _version(schema_version)
    if machine.kind not in ("milling", "turning"):
        raise ValueError(f"machine kind {machine.kind!r} is not 'milling' or 'turning'")
    if version < (1, 7) and not _NMTOKEN.fullmatch(machine.machine_id):
        raise ValueError(f"machine id {machine.machine_id!r} is not a valid device name in schema 1.3")
    b = _Builder(machine, version)
    prefix = _safe_id(machine.machine_id)
    device = _Component("Device", prefix)
    device.items = b.keep(
        _event("availability", "AVAILABILITY", "avail"),
        _event("functional_mode", "FUNCTIONAL_MODE", "fmode"),
        _Item("asset_chg", "EVENT", "ASSET_CHANGED", discrete=b.since(1, 5), mapped=False),
        _Item("asset_rem", "EVENT", "ASSET_REMOVED", mapped=False),
    )
    controller = _controller(b)
    device.children = [_axes(b), controller]
    systems = _systems(b)
    if systems is not None:
        device.children.append(systems)
    _auxiliaries(b, device)
    # Conditions the layout has no place for stay reported, on the controller, as SYSTEM conditions.
    for component in list(b.conditions):
        controller.items += b.condition(component, "SYSTEM", f"{component}_cond")

    keys: list[str] = []
    items: list[_Item] = []
    _collect(device, keys, items)
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"machine {machine.machine_id!r}: ids would repeat: {', '.join(repeated)}")

    description = (
        _attr("manufacturer", _manufacturer(machine.manufacturer, version))
        + _attr("model", machine.model_name)
        + _attr("serialNumber", machine.serial_number)
    )
    text = xml_escape(f"{machine.manufacturer} {machine.model_name}, {machine.controller}")
    parts = [
        f'<Device id="{prefix}" name="{xml_escape(machine.machine_id)}" uuid="{xml_escape(machine.uuid)}"',
        _attr("mtconnectVersion", schema_version) if version >= (1, 7) else "",
        f"><Description{description}>{text}</Description>",
    ]
    _content_xml(device, prefix, parts)
    parts.append("</Device>")
    xml = "".join(parts)
    signals = {item.key: f"{prefix}_{item.key}" for item in items if item.mapped}
    samples = frozenset(item.key for item in items if item.mapped and item.category == "SAMPLE")
    return DeviceTemplate(xml, signals, samples)


def _manufacturer(manufacturer: str, version: tuple[int, int]) -> str:
    # 1.3 types the attribute as an NMTOKEN; the full name stays in the Description text.
    if version >= (1, 7) or _NMTOKEN.fullmatch(manufacturer):
        return manufacturer
    return _UNSAFE.sub("_", manufacturer).strip("_") or "unknown"


def _agent_xml(uuid: str) -> str:
    ident = "mestwin_agent"
    return (
        f'<Agent id="{ident}" name="Agent" uuid="{xml_escape(uuid)}"><DataItems>'
        f'<DataItem category="EVENT" id="{ident}_avail" type="AVAILABILITY"/>'
        f'<DataItem category="EVENT" id="{ident}_device_added" type="DEVICE_ADDED"/>'
        f'<DataItem category="EVENT" id="{ident}_device_removed" type="DEVICE_REMOVED"/>'
        f'<DataItem category="EVENT" id="{ident}_device_changed" type="DEVICE_CHANGED"/>'
        f'<DataItem category="EVENT" discrete="true" id="{ident}_asset_chg" type="ASSET_CHANGED"/>'
        f'<DataItem category="EVENT" id="{ident}_asset_rem" type="ASSET_REMOVED"/>'
        "</DataItems></Agent>"
    )


def devices_document(
    machines: Sequence[MachineDescription],
    schema_version: str,
    *,
    creation_time: str = "2024-01-01T00:00:00Z",
    agent_uuid: str = "mestwin-agent",
) -> str:
    """A whole MTConnectDevices document holding one device per machine, valid for ``schema_version``.

    The header carries what the version's XSD requires (an agent reading the file ignores it). Schemas 1.7
    and 1.8 require the agent's own ``<Agent>`` device first, so it is written there, with ``agent_uuid``; an
    ``Agent`` given this document uses it instead of making its own. Other versions leave it to the agent.

    Raises:
        ValueError: as ``device_template``; no machines; or two machines whose names or ids would clash.
    """
    version = _version(schema_version)
    if not machines:
        raise ValueError("a devices document needs at least one machine")
    templates = [device_template(machine, schema_version) for machine in machines]
    agent = _agent_xml(agent_uuid) if (1, 7) <= version < (2, 0) else ""
    body = agent + "".join(t.xml for t in templates)
    names = [m.machine_id for m in machines]
    for label, values in (("device names", names), ("ids", _ID.findall(body))):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"{label} repeat across machines: {', '.join(repeated)}")
    urn = f"urn:mtconnect.org:MTConnectDevices:{schema_version}"
    model_change = f' deviceModelChangeTime="{creation_time}"' if version >= (1, 7) else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<MTConnectDevices xmlns:m="{urn}" xmlns="{urn}" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="{urn} '
        f'http://schemas.mtconnect.org/schemas/MTConnectDevices_{schema_version}.xsd">'
        f'<Header creationTime="{creation_time}" sender="mestwin" instanceId="1" version="{AGENT_VERSION}"'
        f'{model_change} assetBufferSize="1024" assetCount="0" bufferSize="131072"/>'
        f"<Devices>{body}</Devices></MTConnectDevices>\n"
    )
