"""The MES's own MTConnect XML parser: probe, current, sample and error documents of any agent 1.1..2.7,
bytes in, frozen values out.

Written to the standard and to what real agents send (reference/mtconnect.md 1.3-1.7): namespaces of any
version and prefix (extension namespaces such as ``x:`` included), error documents served with HTTP 200 by
old agents, legacy ``<Error errorCode=..>`` and 2.6+ typed errors, empty ``<Streams/>`` heartbeats and
timestamps without a zone (UTC). Nothing here does I/O or raises on bad input: a document that cannot be
used comes back as ``Unparsable`` with the reason.

A hostile document cannot make the parser fetch or expand anything: entities are not resolved, DTDs are
not loaded, the network is off, XInclude is never processed, and a document that declares a DOCTYPE is
refused (no MTConnect agent sends one).

The fast path is one lxml parse and one ``iter()`` walk of the streams (reference/performance.md 2a).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import NamedTuple

from lxml import etree

__all__ = [
    "AgentErrorDocument",
    "DataItemInfo",
    "DeviceInfo",
    "Header",
    "ProbeDocument",
    "StreamObservation",
    "StreamsDocument",
    "Unparsable",
    "parse_document",
    "parse_probe",
    "parse_streams",
]

UNAVAILABLE = "UNAVAILABLE"


# -- values ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataItemInfo:
    """One ``<DataItem>`` of a probe, with the component and device that own it."""

    id: str
    name: str | None
    type: str
    sub_type: str | None
    category: str
    """SAMPLE, EVENT or CONDITION."""
    units: str | None
    representation: str | None
    component_type: str
    """The owning component's element name: Device, Agent, Controller, Path, Linear, Rotary, Axes, Door..."""
    component_name: str | None
    component_id: str | None
    device_name: str
    device_uuid: str
    reset_triggers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One ``<Device>`` (or the ``<Agent>`` device of agents 1.7+) of a probe and all its data items."""

    name: str
    """The device's name ("" when the document gives none)."""
    uuid: str
    """The device's uuid ("" when the document gives none)."""
    id: str | None
    manufacturer: str | None
    model: str | None
    data_items: tuple[DataItemInfo, ...]
    is_agent: bool


@dataclass(frozen=True, slots=True)
class Header:
    """The ``<Header>`` of a devices or streams document. ``version`` is the agent software's version,
    not the schema version."""

    instance_id: int
    next_sequence: int | None
    first_sequence: int | None
    last_sequence: int | None
    buffer_size: int | None
    creation_time: str | None
    version: str | None


@dataclass(frozen=True, slots=True)
class ProbeDocument:
    """An ``MTConnectDevices`` document (the answer to /probe)."""

    schema_version: str | None
    """From the root namespace URN (``urn:mtconnect.org:MTConnectDevices:1.7`` -> ``1.7``)."""
    header: Header
    devices: tuple[DeviceInfo, ...]


class StreamObservation(NamedTuple):
    """One observation of a streams document.

    A named tuple rather than a frozen dataclass: it is as immutable, reads by attribute as fast, and is made
    about twenty times faster (a frozen dataclass sets each of its 18 fields through ``object.__setattr__``),
    which matters at thousands of documents per second. Build a changed copy with ``_replace``.
    """

    device_name: str
    device_uuid: str
    component_type: str
    component_name: str | None
    data_item_id: str
    name: str | None
    sequence: int
    timestamp: float
    """UTC epoch seconds; a timestamp without a zone is UTC; fractional seconds kept to the microsecond."""
    category: str
    """SAMPLE, EVENT or CONDITION."""
    element: str
    """The local element name: Execution, PartCount, Fault..."""
    value: str | None
    """The text; ``None`` when UNAVAILABLE. For conditions the condition's text (``None`` when it has none).
    A data set or table is written as SHDR writes it: ``a=1 b={two words} t={X=1 Y=2}``, a removed key as
    ``a=``."""
    sub_type: str | None
    reset_triggered: str | None
    level: str | None
    """CONDITION only: NORMAL, WARNING, FAULT or UNAVAILABLE."""
    condition_type: str | None
    """CONDITION only: the ``type`` attribute (SYSTEM, ACTUATOR...)."""
    native_code: str | None
    native_severity: str | None
    qualifier: str | None


@dataclass(frozen=True, slots=True)
class StreamsDocument:
    """An ``MTConnectStreams`` document (the answer to /current or /sample, or one streamed part)."""

    schema_version: str | None
    header: Header
    observations: tuple[StreamObservation, ...]
    """Sorted by sequence."""


@dataclass(frozen=True, slots=True)
class AgentErrorDocument:
    """An ``MTConnectError`` document, whatever the HTTP status it came with (old agents send 200)."""

    errors: tuple[tuple[str, str], ...]
    """(errorCode, message) per error, legacy ``<Error errorCode=..>`` and 2.6+ typed alike. The code is
    the ``errorCode`` attribute, or derived from the element name when absent (``OutOfRange`` ->
    ``OUT_OF_RANGE``; a legacy ``<Error>`` without one -> ``UNKNOWN``)."""

    def has(self, code: str) -> bool:
        """Whether any error has the code ``code`` (e.g. ``OUT_OF_RANGE``)."""
        return any(found == code for found, _ in self.errors)


@dataclass(frozen=True, slots=True)
class Unparsable:
    """A body that is not a usable MTConnect document, and why."""

    reason: str


# -- documents ---------------------------------------------------------------------------------------


def parse_probe(body: bytes) -> ProbeDocument | AgentErrorDocument | Unparsable:
    """Parse the answer to /probe.

    Returns:
        The devices document; the agent's error document (whatever the HTTP status); or ``Unparsable``
        for anything else (not well-formed, an HTML page, another document type, missing header fields).
    """
    root = _root(body)
    if isinstance(root, Unparsable):
        return root
    kind = _local(root.tag)
    if kind == "MTConnectError":
        return _errors(root)
    if kind != "MTConnectDevices":
        return Unparsable(f"expected an MTConnectDevices document, got <{kind}>")
    return _probe(root)


def parse_streams(body: bytes) -> StreamsDocument | AgentErrorDocument | Unparsable:
    """Parse the answer to /current or /sample, or one part of a streamed response.

    Returns:
        The streams document (observations sorted by sequence; none for an empty ``<Streams/>``); the
        agent's error document (whatever the HTTP status); or ``Unparsable`` for anything else.
    """
    root = _root(body)
    if isinstance(root, Unparsable):
        return root
    kind = _local(root.tag)
    if kind == "MTConnectError":
        return _errors(root)
    if kind != "MTConnectStreams":
        return Unparsable(f"expected an MTConnectStreams document, got <{kind}>")
    return _streams(root)


def parse_document(body: bytes) -> ProbeDocument | StreamsDocument | AgentErrorDocument | Unparsable:
    """Parse any MTConnect devices, streams or error document, by its root element.

    Returns:
        The parsed document, or ``Unparsable`` (assets documents included) with the reason.
    """
    root = _root(body)
    if isinstance(root, Unparsable):
        return root
    kind = _local(root.tag)
    if kind == "MTConnectStreams":
        return _streams(root)
    if kind == "MTConnectDevices":
        return _probe(root)
    if kind == "MTConnectError":
        return _errors(root)
    return Unparsable(f"not an MTConnect devices, streams or error document: <{kind}>")


# -- parsing -----------------------------------------------------------------------------------------

_HTML_START = (b"<!doctype html", b"<html")


def _looks_like_html(body: bytes) -> bool:
    return body[:64].lower().startswith(_HTML_START)


_PARSERS = threading.local()


def _parser() -> etree.XMLParser:
    """One safe parser per thread (making one per document cost half of a small document's parse)."""
    parser: etree.XMLParser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            collect_ids=False,
            remove_comments=True,
            remove_pis=True,
        )
        _PARSERS.parser = parser
    return parser


def _root(body: bytes) -> etree._Element | Unparsable:
    """The root element of a safely parsed document, or why there is none."""
    if body[:1].isspace():
        body = body.lstrip()  # an XML declaration must come first; tolerate a stray newline
    if not body:
        return Unparsable("empty body")
    if _looks_like_html(body):
        return Unparsable("an HTML page, not an MTConnect document")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        return Unparsable(f"not well-formed XML: {exc}")
    if _local(root.tag).lower() == "html":
        return Unparsable("an HTML page, not an MTConnect document")
    if root.getroottree().docinfo.doctype:
        return Unparsable("the document declares a DOCTYPE (DTDs and entities are refused)")
    return root


def _local(tag: object) -> str:
    """The local name of an element tag (``{urn:...}Header`` -> ``Header``)."""
    text = str(tag)
    return text[text.find("}") + 1 :]


_URN = re.compile(r"urn:mtconnect\.(?:org|com):MTConnect\w+:(\d+\.\d+(?:\.\d+)?)$")


def _schema_version(tag: str) -> str | None:
    if not tag.startswith("{"):
        return None
    match = _URN.match(tag[1 : tag.find("}")])
    return match.group(1) if match else None


def _child(element: etree._Element, local: str) -> etree._Element | None:
    for child in element.iterchildren(f"{{*}}{local}"):
        return child
    return None


def _int(element: etree._Element, attribute: str) -> int | str | None:
    """An integer attribute, ``None`` when absent, or the reason it cannot be read (a ``str``)."""
    raw = element.get(attribute)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return f"Header {attribute}={raw!r} is not an integer"


def _header(root: etree._Element, *, streams: bool) -> Header | Unparsable:
    element = _child(root, "Header")
    if element is None:
        return Unparsable(f"<{_local(root.tag)}> has no Header")
    required = ("instanceId", "nextSequence", "firstSequence", "lastSequence") if streams else ("instanceId",)
    numbers: dict[str, int | None] = {}
    for attribute in ("instanceId", "nextSequence", "firstSequence", "lastSequence", "bufferSize"):
        value = _int(element, attribute)
        if isinstance(value, str):
            return Unparsable(value)
        if value is None and attribute in required:
            return Unparsable(f"Header has no {attribute}")
        numbers[attribute] = value
    instance_id = numbers["instanceId"]
    assert instance_id is not None  # required above
    return Header(
        instance_id=instance_id,
        next_sequence=numbers["nextSequence"],
        first_sequence=numbers["firstSequence"],
        last_sequence=numbers["lastSequence"],
        buffer_size=numbers["bufferSize"],
        creation_time=element.get("creationTime"),
        version=element.get("version"),
    )


# -- errors ------------------------------------------------------------------------------------------

_ERROR_CODES = {
    "AssetNotFound": "ASSET_NOT_FOUND",
    "InternalError": "INTERNAL_ERROR",
    "InvalidParameterValue": "INVALID_PARAMETER_VALUE",
    "InvalidPath": "INVALID_PATH",
    "InvalidQueryParameter": "INVALID_QUERY_PARAMETER",
    "InvalidRequest": "INVALID_REQUEST",
    "InvalidURI": "INVALID_URI",
    "InvalidXPath": "INVALID_XPATH",
    "NoDevice": "NO_DEVICE",
    "OutOfRange": "OUT_OF_RANGE",
    "QueryError": "QUERY_ERROR",
    "TooMany": "TOO_MANY",
    "Unauthorized": "UNAUTHORIZED",
    "Unsupported": "UNSUPPORTED",
    "Error": "UNKNOWN",
}
"""Typed error elements of agents 2.6+ (cppagent ``error.hpp``) and their codes; acronyms such as XPath
and URI would not survive a mechanical CamelCase split."""
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _error_code(local: str) -> str:
    return _ERROR_CODES.get(local) or _CAMEL.sub("_", local).upper()


def _error(element: etree._Element) -> tuple[str, str]:
    local = _local(element.tag)
    code = (element.get("errorCode") or "").strip() or _error_code(local)
    message_element = None if local == "Error" else _child(element, "ErrorMessage")
    source = element if message_element is None else message_element
    return code, (source.text or "").strip()


def _errors(root: etree._Element) -> AgentErrorDocument:
    found: list[tuple[str, str]] = []
    for child in root.iterchildren(tag=etree.Element):
        local = _local(child.tag)
        if local == "Errors":
            found.extend(_error(error) for error in child.iterchildren(tag=etree.Element))
        elif local == "Error":  # very old agents put the Error directly under the root
            found.append(_error(child))
    return AgentErrorDocument(tuple(found))


# -- probe -------------------------------------------------------------------------------------------

_DEVICE_ELEMENTS = ("Device", "Agent")


def _probe(root: etree._Element) -> ProbeDocument | Unparsable:
    header = _header(root, streams=False)
    if isinstance(header, Unparsable):
        return header
    devices_element = _child(root, "Devices")
    if devices_element is None:
        return Unparsable("MTConnectDevices has no Devices")
    devices: list[DeviceInfo] = []
    for element in devices_element.iterchildren(tag=etree.Element):
        local = _local(element.tag)
        if local in _DEVICE_ELEMENTS:
            device = _device(element, local)
            if isinstance(device, Unparsable):
                return device
            devices.append(device)
    return ProbeDocument(_schema_version(root.tag), header, tuple(devices))


def _device(element: etree._Element, local: str) -> DeviceInfo | Unparsable:
    name = element.get("name") or ""
    uuid = element.get("uuid") or ""
    description = _child(element, "Description")
    items: list[DataItemInfo] = []
    for item in element.iter("{*}DataItem"):
        missing = [a for a in ("id", "category", "type") if not item.get(a)]
        if missing:
            return Unparsable(
                f"DataItem on line {item.sourceline} of device {name or uuid!r} has no {', '.join(missing)}"
            )
        owner = item.getparent()
        if owner is not None and _local(owner.tag) == "DataItems":
            owner = owner.getparent()
        if owner is None:  # pragma: no cover - a DataItem below a device always has a parent
            owner = element
        triggers = tuple(
            text.strip() for t in item.iterchildren("{*}ResetTrigger") if (text := t.text) and text.strip()
        )
        items.append(
            DataItemInfo(
                id=item.get("id", ""),
                name=item.get("name"),
                type=item.get("type", ""),
                sub_type=item.get("subType"),
                category=item.get("category", "").upper(),
                units=item.get("units"),
                representation=item.get("representation"),
                component_type=_local(owner.tag),
                component_name=owner.get("name"),
                component_id=owner.get("id"),
                device_name=name,
                device_uuid=uuid,
                reset_triggers=triggers,
            )
        )
    return DeviceInfo(
        name=name,
        uuid=uuid,
        id=element.get("id"),
        manufacturer=None if description is None else description.get("manufacturer"),
        model=None if description is None else description.get("model"),
        data_items=tuple(items),
        is_agent=local == "Agent",
    )


# -- streams -----------------------------------------------------------------------------------------

_CATEGORIES = {"Samples": "SAMPLE", "Events": "EVENT", "Condition": "CONDITION"}
_LEVELS = {"Normal": "NORMAL", "Warning": "WARNING", "Fault": "FAULT", "Unavailable": "UNAVAILABLE"}
_by_sequence = attrgetter("sequence")
_new = tuple.__new__
"""Makes a ``StreamObservation`` from a tuple of its fields in C (its ``__new__`` is a Python function)."""


_STAMPS: dict[str, float] = {}
"""Timestamp text -> epoch seconds, shared by the documents parsed one after another: the observations of
one adapter line, of one agent's devices and of a ``/current`` share their timestamps. A cache of a pure
function (so a thread parsing meanwhile reads nothing wrong), cleared when it passes ``_STAMPS_LIMIT``."""
_STAMPS_LIMIT = 16_384


def _epoch(raw: str) -> float | None:
    """UTC epoch seconds of an ISO 8601 timestamp (no zone = UTC; digits past the microsecond dropped)."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()  # for an aware datetime: (moment - epoch).total_seconds(), in C


def _quoted(text: str) -> str:
    return f"{{{text}}}" if not text or any(c.isspace() or c in "{}'\"=" for c in text) else text


def _entries(element: etree._Element) -> str:
    """A data set or table observation's entries, written as SHDR writes them."""
    words: list[str] = []
    for entry in element.iterchildren(tag=etree.Element):
        key = entry.get("key") or ""
        if entry.get("removed") == "true":
            words.append(f"{key}=")
        elif len(entry):  # a table row: its cells
            words.append(f"{key}={{{_entries(entry)}}}")
        else:
            words.append(f"{key}={_quoted(entry.text or '')}")
    return " ".join(words)


def _streams(root: etree._Element) -> StreamsDocument | Unparsable:
    header = _header(root, streams=True)
    if isinstance(header, Unparsable):
        return header
    streams = _child(root, "Streams")
    if streams is None:
        return Unparsable("MTConnectStreams has no Streams")
    observations = _observations(streams)
    if isinstance(observations, Unparsable):
        return observations
    observations.sort(key=_by_sequence)
    return StreamsDocument(_schema_version(root.tag), header, tuple(observations))


def _observations(streams: etree._Element) -> list[StreamObservation] | Unparsable:
    """Every observation below ``<Streams>``, in document order.

    One flat ``iter()`` walk: DeviceStream, ComponentStream and the category elements set the context of
    the observations after them; an element with a ``dataItemId`` under a category is an observation.
    """
    found: list[StreamObservation] = []
    stamps = _STAMPS
    if len(stamps) > _STAMPS_LIMIT:
        stamps.clear()
    device_name = device_uuid = component = ""
    component_name: str | None = None
    category: str | None = None
    category_element: etree._Element | None = None
    for element in streams.iter(tag=etree.Element):
        tag: str = element.tag
        local = tag[tag.find("}") + 1 :]
        get = element.get
        item_id = get("dataItemId")
        if item_id is None:
            if local == "DeviceStream":
                device_name, device_uuid = get("name") or "", get("uuid") or ""
                component, component_name, category = "", None, None
            elif local == "ComponentStream":
                component, component_name, category = get("component") or "", get("name"), None
            elif local in _CATEGORIES:
                category, category_element = _CATEGORIES[local], element
            elif category is not None and element.getparent() is category_element:
                return Unparsable(f"observation <{local}> on line {element.sourceline} has no dataItemId")
            continue  # DataSet entries, table cells and wrappers
        if category is None:
            return Unparsable(f"observation {item_id} is not inside Samples, Events or Condition")
        raw_sequence = get("sequence")
        try:
            sequence = int(raw_sequence)
        except (TypeError, ValueError):
            return Unparsable(f"observation {item_id} has no integer sequence ({raw_sequence!r})")
        raw_stamp = get("timestamp") or ""
        stamp = stamps.get(raw_stamp)
        if stamp is None:
            stamp = _epoch(raw_stamp)
            if stamp is None:
                return Unparsable(f"observation {item_id} (sequence {sequence}) has timestamp {raw_stamp!r}")
            stamps[raw_stamp] = stamp
        text = element.text
        if category == "CONDITION":
            found.append(
                _new(
                    StreamObservation,
                    (
                        device_name,
                        device_uuid,
                        component,
                        component_name,
                        item_id,
                        get("name"),
                        sequence,
                        stamp,
                        category,
                        local,
                        text or None,
                        get("subType"),
                        get("resetTriggered"),
                        _LEVELS.get(local) or local.upper(),
                        get("type"),
                        get("nativeCode"),
                        get("nativeSeverity"),
                        get("qualifier"),
                    ),
                )
            )
            continue
        if text == UNAVAILABLE:
            value: str | None = None
        elif len(element):
            value = _entries(element)
        else:
            value = text or ""
        name, sub_type = get("name"), get("subType")
        # Most samples and events carry only these attributes: the rarer ones are looked up only when the
        # element has more (each lookup costs as much when the attribute is absent).
        if len(element.attrib) > 3 + (name is not None) + (sub_type is not None):
            reset, code, severity = get("resetTriggered"), get("nativeCode"), get("nativeSeverity")
        else:
            reset = code = severity = None
        found.append(
            _new(
                StreamObservation,
                (
                    device_name,
                    device_uuid,
                    component,
                    component_name,
                    item_id,
                    name,
                    sequence,
                    stamp,
                    category,
                    local,
                    value,
                    sub_type,
                    reset,
                    None,
                    None,
                    code,
                    severity,
                    None,
                ),
            )
        )
    return found
