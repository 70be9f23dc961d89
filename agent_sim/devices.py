"""MTConnect device models: read any MTConnectDevices document leniently, as the reference agent does.

Real device files break the XSD in small ways (missing header attributes, elements from a later version);
the agent accepts them all and serves them back. Only well-formedness is required.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from lxml import etree

__all__ = [
    "Component",
    "DataItem",
    "Device",
    "DeviceFileError",
    "DeviceModel",
    "element_name",
    "load_devices",
    "verify_devices",
]


class DeviceFileError(ValueError):
    """A devices document that cannot be used (not well-formed, or no Device in it)."""


_WORDS = {"AC": "AC", "DC": "DC", "PH": "PH", "URI": "URI", "MTCONNECT": "MTConnect"}
"""Words the schemas keep in capitals in element names (``VOLTAGE_AC`` -> ``VoltageAC``)."""


def element_name(data_type: str, representation: str | None = None) -> str:
    """Return the Streams element name of a data item type: ``PATH_FEEDRATE`` -> ``PathFeedrate``.

    Extension types keep their prefix (``x:FOO_BAR`` -> ``x:FooBar``); time series, data sets and tables get
    their suffix (``TimeSeries``, ``DataSet``, ``Table``) as cppagent writes them.
    """
    prefix = ""
    if ":" in data_type:
        prefix, data_type = data_type.split(":", 1)
        prefix += ":"
    name = "".join(_WORDS.get(part, part[:1] + part[1:].lower()) for part in data_type.split("_"))
    suffix = {"TIME_SERIES": "TimeSeries", "DATA_SET": "DataSet", "TABLE": "Table"}.get(
        representation or "", ""
    )
    return f"{prefix}{name}{suffix}"


@dataclass(frozen=True, slots=True)
class DataItem:
    """One data item of a device, as the device file declares it."""

    id: str
    name: str | None
    category: str
    type: str
    sub_type: str | None
    units: str | None
    representation: str
    discrete: bool
    source: str | None
    constant: str | None
    initial_value: str | None
    reset_triggers: tuple[str, ...]
    statistic: str | None
    composition_id: str | None
    component_id: str
    device_id: str
    element: str

    @property
    def is_condition(self) -> bool:
        return self.category == "CONDITION"

    @property
    def kind(self) -> str:
        """How its values are written in SHDR and in documents: SAMPLE, EVENT, CONDITION, MESSAGE,
        TIME_SERIES, DATA_SET, TABLE or ALARM."""
        if self.category == "CONDITION":
            return "CONDITION"
        if self.representation in ("TIME_SERIES", "DATA_SET", "TABLE"):
            return self.representation
        if self.type == "MESSAGE":
            return "MESSAGE"
        if self.type == "ALARM":
            return "ALARM"
        return self.category


@dataclass(slots=True)
class Component:
    """A component (or the device itself) that owns data items; ``element`` is its element name."""

    id: str
    element: str
    name: str | None
    device_id: str
    data_items: list[DataItem] = field(default_factory=list)


@dataclass(slots=True)
class Device:
    """A device: its identity, components in document order, and its XML (namespace-free) for probes."""

    id: str
    name: str
    uuid: str
    element: str
    components: list[Component]
    xml: str

    @property
    def data_items(self) -> Iterator[DataItem]:
        for component in self.components:
            yield from component.data_items


class DeviceModel:
    """Every device of an agent, with data item lookups by id, name and source."""

    def __init__(self, devices: Iterable[Device], namespaces: Mapping[str, str] | None = None) -> None:
        self.devices: list[Device] = list(devices)
        self.namespaces: dict[str, str] = dict(namespaces or {})
        """Extension namespaces of the source document (prefix -> URI), declared again in every document."""
        self.items: dict[str, DataItem] = {}
        self.components: dict[str, Component] = {}
        self._by_name: dict[tuple[str, str], DataItem] = {}
        self._by_source: dict[tuple[str, str], DataItem] = {}
        for device in self.devices:
            for component in device.components:
                self.components[component.id] = component
                for item in component.data_items:
                    self.items[item.id] = item
                    if item.name:
                        self._by_name.setdefault((device.id, item.name), item)
                    if item.source:
                        self._by_source.setdefault((device.id, item.source), item)

    def device(self, name_or_uuid: str) -> Device | None:
        """The device with this name or uuid (the reference agent accepts both)."""
        for device in self.devices:
            if name_or_uuid in (device.name, device.uuid):
                return device
        return None

    def lookup(self, device: Device, key: str) -> DataItem | None:
        """Find an adapter key in ``device``: by id, then name, then source (cppagent 2.7's order)."""
        item = self.items.get(key)
        if item is not None and item.device_id == device.id:
            return item
        return self._by_name.get((device.id, key)) or self._by_source.get((device.id, key))


def _strip_namespaces(root: etree._Element) -> None:
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
        for key in list(el.attrib):
            if "}" in key and not key.startswith("{http://www.w3.org/1999/xlink}"):
                value = el.attrib.pop(key)
                el.attrib[key.split("}", 1)[1]] = value
    etree.cleanup_namespaces(root)


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _source(el: etree._Element) -> str | None:
    source = el.find("Source")
    if source is None:
        return None
    return _text(source) or source.get("dataItemId")


def _data_item(el: etree._Element, component: Component, device_id: str) -> DataItem | None:
    ident = el.get("id")
    data_type = el.get("type")
    category = (el.get("category") or "").upper()
    if not ident or not data_type or category not in ("SAMPLE", "EVENT", "CONDITION"):
        return None  # the reference agent skips data items it cannot use; so do we
    representation = (el.get("representation") or "VALUE").upper()
    constraint_values = [v.text for v in el.iterfind("Constraints/Value") if v.text is not None]
    triggers = tuple(t.text.strip() for t in el.iterfind("ResetTrigger") if t.text)
    return DataItem(
        id=ident,
        name=el.get("name"),
        category=category,
        type=data_type,
        sub_type=el.get("subType"),
        units=el.get("units"),
        representation=representation,
        discrete=el.get("discrete") == "true" or representation == "DISCRETE",
        source=_source(el),
        constant=constraint_values[0] if len(constraint_values) == 1 else None,
        initial_value=_text(el.find("InitialValue")),
        reset_triggers=triggers,
        statistic=el.get("statistic"),
        composition_id=el.get("compositionId"),
        component_id=component.id,
        device_id=device_id,
        element=element_name(data_type, representation),
    )


def _walk(el: etree._Element, device_id: str, out: list[Component]) -> None:
    component = Component(el.get("id") or "", str(el.tag), el.get("name"), device_id)
    out.append(component)
    for item_el in el.iterfind("DataItems/DataItem"):
        item = _data_item(item_el, component, device_id)
        if item is not None:
            component.data_items.append(item)
    for child in el.iterfind("Components/*"):
        if isinstance(child.tag, str) and child.get("id"):
            _walk(child, device_id, out)


_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>\s*")


def load_devices(document: bytes | str, source: str = "<devices>") -> DeviceModel:
    """Parse an MTConnectDevices document (any schema version) into a ``DeviceModel``.

    Namespaces are dropped, the Header is ignored, and data items without an id, type or known category are
    skipped, as the reference agent does.

    Raises:
        DeviceFileError: the document is not well-formed XML or holds no Device.
    """
    data = document.encode("utf-8") if isinstance(document, str) else document
    parser = etree.XMLParser(remove_comments=True, resolve_entities=False, no_network=True, huge_tree=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise DeviceFileError(f"{source}: not well-formed XML: {exc}") from exc
    namespaces = {
        prefix: uri
        for prefix, uri in root.nsmap.items()
        if prefix
        and prefix not in ("m", "xsi", "xlink")
        and not uri.startswith("urn:mtconnect.org:MTConnectDevices")
    }
    _strip_namespaces(root)
    devices: list[Device] = []
    for el in root.iter("Device", "Agent"):
        ident = el.get("id") or el.get("uuid") or el.get("name")
        if not ident:
            continue
        components: list[Component] = []
        _walk(el, ident, components)
        components[0].id = components[0].id or ident
        xml = etree.tostring(el, encoding="unicode", with_tail=False)
        devices.append(
            Device(
                id=ident,
                name=el.get("name") or ident,
                uuid=el.get("uuid") or ident,
                element=str(el.tag),
                components=components,
                xml=xml,
            )
        )
    if not devices:
        raise DeviceFileError(f"{source}: no Device element in the document")
    # Extension types (x:FOO) become elements <x:Foo> in Streams; a prefix the file never declares (the NIST
    # test bed's agent had it in its configuration) gets a URN of our own so the documents stay well-formed.
    for device in devices:
        for item in device.data_items:
            if ":" in item.type:
                prefix = item.type.split(":", 1)[0]
                namespaces.setdefault(prefix, f"urn:mestwin:extension:{prefix}")
    return DeviceModel(devices, namespaces)


def verify_devices(model: DeviceModel, schema_version: str) -> DeviceModel:
    """Give every device the data items the reference agent adds when a device file lacks them.

    As cppagent's ``Agent::verifyDevice``: AVAILABILITY (id ``<device>_avail``), ASSET_CHANGED
    (``<device>_asset_chg``, from 1.2), ASSET_REMOVED (``<device>_asset_rem``, from 1.3) and ASSET_COUNT
    (``<device>_asset_count``, a data set, from 2.0). Devices that have them are left as they are.
    """
    major, minor = (int(x) for x in schema_version.split(".")[:2])
    version = (major, minor)
    wanted: list[tuple[str, str, str | None, tuple[int, int]]] = [("AVAILABILITY", "avail", None, (1, 0))]
    wanted += [
        ("ASSET_CHANGED", "asset_chg", "discrete", (1, 2)),
        ("ASSET_REMOVED", "asset_rem", None, (1, 3)),
    ]
    wanted += [("ASSET_COUNT", "asset_count", "DATA_SET", (2, 0))]
    changed = False
    documents = []
    for device in model.devices:
        types = {item.type for item in device.data_items}
        missing = [w for w in wanted if w[0] not in types and version >= w[3] and device.element != "Agent"]
        if not missing:
            documents.append(device.xml)
            continue
        changed = True
        el = etree.fromstring(device.xml)
        container = el.find("DataItems")
        if container is None:
            container = etree.Element("DataItems")
            el.insert(_data_items_position(el), container)
        for data_type, suffix, extra, _ in missing:
            item = etree.SubElement(container, "DataItem", category="EVENT", id=f"{device.id}_{suffix}")
            item.set("type", data_type)
            if extra == "discrete" and version >= (1, 5):  # the attribute exists from 1.5 on
                item.set("discrete", "true")
            elif extra == "DATA_SET":
                item.set("representation", "DATA_SET")
        documents.append(etree.tostring(el, encoding="unicode"))
    if not changed:
        return model
    rebuilt = load_devices(f"<Devices>{''.join(documents)}</Devices>")
    return DeviceModel(rebuilt.devices, model.namespaces)


def _data_items_position(device: etree._Element) -> int:
    """Where a new DataItems element goes: after Description and Configuration, as the schemas order it."""
    position = 0
    for index, child in enumerate(device):
        if isinstance(child.tag, str) and child.tag in ("Description", "Configuration"):
            position = index + 1
    return position
