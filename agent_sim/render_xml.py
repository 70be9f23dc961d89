"""MTConnect XML documents from string templates: Devices, Streams, Assets and Error, per schema version.

No element trees are built per request: every observation renders its own element once (cached on it), and
documents are joined from those fragments and a header template. The layout follows the reference agent
(cppagent 2.7 ``xml_printer.cpp``): header attribute order, streams ordered by device, component, category,
data item and sequence, empty ``<Streams/>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from agent_sim.buffer import UNAVAILABLE, ConditionState, DataSetState, Observation
from agent_sim.devices import Device, DeviceModel

__all__ = [
    "AGENT_VERSION",
    "SCHEMA_VERSIONS",
    "ErrorInfo",
    "HeaderInfo",
    "assets_document",
    "devices_document",
    "error_document",
    "observation_xml",
    "streams_document",
    "typed_error_name",
    "xml_escape",
]

AGENT_VERSION = "2.7.0.9"
"""The agent software version written in every header (cppagent's, whose semantics this agent follows)."""

SCHEMA_VERSIONS: tuple[str, ...] = ("1.3", "1.7", "1.8", "2.4", "2.7")

_CATEGORY_ORDER = {"SAMPLE": 0, "EVENT": 1, "CONDITION": 2}
_CATEGORY_ELEMENT = ("Samples", "Events", "Condition")


def xml_escape(text: str) -> str:
    """Escape text for XML content and double-quoted attributes."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&quot;")
    return text


@dataclass(frozen=True, slots=True)
class HeaderInfo:
    """What a header needs besides the document's own figures."""

    schema_version: str
    sender: str
    instance_id: int
    buffer_size: int
    device_model_change_time: str
    asset_buffer_size: int = 1024


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """One error: its code, message and, for 2.6+ typed errors, the request details."""

    code: str
    message: str
    parameter: str | None = None
    value: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    value_type: str | None = None
    asset_id: str | None = None


def _version_tuple(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def _root(doc: str, version: str, namespaces: Mapping[str, str] | None = None) -> str:
    urn = f"urn:mtconnect.org:MTConnect{doc}:{version}"
    extra = "".join(f' xmlns:{p}="{xml_escape(u)}"' for p, u in (namespaces or {}).items())
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<MTConnect{doc} xmlns:m="{urn}" xmlns="{urn}" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"{extra} '
        f'xsi:schemaLocation="{urn} http://schemas.mtconnect.org/schemas/MTConnect{doc}_{version}.xsd">'
    )


def _header(
    info: HeaderInfo,
    creation_time: str,
    *,
    buffer: bool = False,
    assets: tuple[int, int] | None = None,
    sequences: tuple[int, int, int] | None = None,
    model_change: bool = True,
    asset_counts: Mapping[str, int] | None = None,
) -> str:
    version = _version_tuple(info.schema_version)
    parts = [
        f'<Header creationTime="{creation_time}" sender="{xml_escape(info.sender)}" '
        f'instanceId="{info.instance_id}" version="{AGENT_VERSION}"'
    ]
    if version >= (1, 7) and model_change:
        parts.append(f' deviceModelChangeTime="{info.device_model_change_time}"')
    if assets is not None:
        parts.append(f' assetBufferSize="{assets[0]}" assetCount="{assets[1]}"')
    if buffer:
        parts.append(f' bufferSize="{info.buffer_size}"')
    if sequences is not None:
        nxt, first, last = sequences
        parts.append(f' nextSequence="{nxt}" firstSequence="{first}" lastSequence="{last}"')
    if not asset_counts:
        parts.append("/>")
        return "".join(parts)
    parts.append("><AssetCounts>")
    for asset_type, count in asset_counts.items():
        parts.append(f'<AssetCount assetType="{xml_escape(asset_type)}">{count}</AssetCount>')
    parts.append("</AssetCounts></Header>")
    return "".join(parts)


def devices_document(
    model: DeviceModel,
    devices: Sequence[Device],
    info: HeaderInfo,
    creation_time: str,
    asset_count: int,
    asset_counts: Mapping[str, int] | None = None,
) -> str:
    """The MTConnectDevices (probe) document for ``devices``.

    Below schema 2.0 the header lists ``asset_counts`` (assets per type) in ``<AssetCounts>``; from 2.0 on
    the reference agent reports them in the ASSET_COUNT data set instead, so they are left out.
    """
    counts = asset_counts if _version_tuple(info.schema_version) < (2, 0) else None
    header = _header(
        info, creation_time, buffer=True, assets=(info.asset_buffer_size, asset_count), asset_counts=counts
    )
    body = "".join(d.xml for d in devices)
    root = _root("Devices", info.schema_version, model.namespaces)
    return f"{root}{header}<Devices>{body}</Devices></MTConnectDevices>\n"


def _attrs(obs: Observation) -> str:
    item = obs.item
    out = f'dataItemId="{item.id}" timestamp="{obs.timestamp}"'
    if item.name:
        out += f' name="{xml_escape(item.name)}"'
    out += f' sequence="{obs.sequence}"'
    if item.sub_type:
        out += f' subType="{item.sub_type}"'
    if item.composition_id:
        out += f' compositionId="{item.composition_id}"'
    if item.statistic and obs.duration is not None:
        out += f' statistic="{item.statistic}" duration="{obs.duration:g}"'
    if obs.reset_triggered:
        out += f' resetTriggered="{obs.reset_triggered}"'
    if obs.attributes:
        out += f" {obs.attributes}"
    return out


def _entries(value: DataSetState, table: bool) -> str:
    parts = []
    for key, entry in value.entries:
        if entry is None:
            parts.append(f'<Entry key="{xml_escape(key)}" removed="true"/>')
        elif table and isinstance(entry, tuple):
            cells = "".join(f'<Cell key="{xml_escape(k)}">{xml_escape(str(v))}</Cell>' for k, v in entry)
            parts.append(f'<Entry key="{xml_escape(key)}">{cells}</Entry>')
        else:
            parts.append(f'<Entry key="{xml_escape(key)}">{xml_escape(str(entry))}</Entry>')
    return "".join(parts)


def observation_xml(obs: Observation) -> str:
    """The element of one observation (rendered once, then cached on the observation)."""
    cached = obs.xml
    if cached is not None:
        return cached
    item = obs.item
    value = obs.value
    if isinstance(value, ConditionState):
        level = value.level.capitalize() if value.level != UNAVAILABLE else "Unavailable"
        attrs = _attrs(obs) + f' type="{item.type}"'
        if value.native_code:
            attrs += f' nativeCode="{xml_escape(value.native_code)}"'
        if value.native_severity:
            attrs += f' nativeSeverity="{xml_escape(value.native_severity)}"'
        if value.condition_id and value.active:
            attrs += f' conditionId="{xml_escape(value.condition_id)}"'
        if value.qualifier:
            attrs += f' qualifier="{xml_escape(value.qualifier)}"'
        text = value.text
        xml = f"<{level} {attrs}>{xml_escape(text)}</{level}>" if text else f"<{level} {attrs}/>"
    elif isinstance(value, DataSetState):
        attrs = _attrs(obs) + f' count="{sum(1 for _, v in value.entries if v is not None)}"'
        xml = f"<{item.element} {attrs}>{_entries(value, item.representation == 'TABLE')}</{item.element}>"
    else:
        attrs = _attrs(obs)
        if item.representation in ("DATA_SET", "TABLE"):
            attrs += ' count="0"'  # an unavailable set: the XSDs require the count
        if obs.sample_count is not None and value != UNAVAILABLE:
            attrs += f' sampleCount="{obs.sample_count}"'
            if obs.sample_rate is not None:
                attrs += f' sampleRate="{obs.sample_rate:g}"'
        xml = f"<{item.element} {attrs}>{xml_escape(str(value))}</{item.element}>"
    obs.xml = xml
    return xml


def _stream_body(model: DeviceModel, observations: Iterable[Observation]) -> str:
    # Group by device, component, category; the reference agent orders by device id, component id (as
    # strings, not in document order), category, then data item id and sequence (Observation::operator<).
    groups: dict[str, dict[str, list[list[Observation]]]] = {}
    for obs in observations:
        item = obs.item
        components = groups.get(item.device_id)
        if components is None:
            components = groups[item.device_id] = {}
        categories = components.get(item.component_id)
        if categories is None:
            categories = components[item.component_id] = [[], [], []]
        categories[_CATEGORY_ORDER[item.category]].append(obs)
    if not groups:
        return "<Streams/>"
    parts = ["<Streams>"]
    devices = {device.id: device for device in model.devices}
    for device_id in sorted(groups):
        device = devices[device_id]
        components = groups[device_id]
        parts.append(f'<DeviceStream name="{xml_escape(device.name)}" uuid="{xml_escape(device.uuid)}">')
        for component_id in sorted(components):
            categories = components[component_id]
            component = model.components[component_id]
            name = f' name="{xml_escape(component.name)}"' if component.name else ""
            parts.append(
                f'<ComponentStream component="{component.element}"{name} componentId="{component.id}">'
            )
            for index, observations_of in enumerate(categories):
                if observations_of:
                    observations_of.sort(key=lambda o: (o.item.id, o.sequence))
                    tag = _CATEGORY_ELEMENT[index]
                    parts.append(f"<{tag}>{''.join(observation_xml(o) for o in observations_of)}</{tag}>")
            parts.append("</ComponentStream>")
        parts.append("</DeviceStream>")
    parts.append("</Streams>")
    return "".join(parts)


def streams_document(
    model: DeviceModel,
    observations: Iterable[Observation],
    info: HeaderInfo,
    creation_time: str,
    sequences: tuple[int, int, int],
) -> str:
    """An MTConnectStreams document (current or sample); ``sequences`` is (next, first, last)."""
    header = _header(info, creation_time, buffer=True, sequences=sequences)
    body = _stream_body(model, observations)
    return f"{_root('Streams', info.schema_version, model.namespaces)}{header}{body}</MTConnectStreams>\n"


def assets_document(assets: Iterable[str], info: HeaderInfo, creation_time: str, asset_count: int) -> str:
    """An MTConnectAssets document around already-rendered asset elements."""
    header = _header(info, creation_time, assets=(info.asset_buffer_size, asset_count))
    body = "".join(assets)
    inner = f"<Assets>{body}</Assets>" if body else "<Assets/>"
    return f"{_root('Assets', info.schema_version)}{header}{inner}</MTConnectAssets>\n"


_TYPED = {
    "ASSET_NOT_FOUND": "AssetNotFound",
    "INTERNAL_ERROR": "InternalError",
    "INVALID_REQUEST": "InvalidRequest",
    "INVALID_URI": "InvalidURI",
    "INVALID_XPATH": "InvalidXPath",
    "NO_DEVICE": "NoDevice",
    "OUT_OF_RANGE": "OutOfRange",
    "TOO_MANY": "TooMany",
    "UNAUTHORIZED": "Unauthorized",
    "UNSUPPORTED": "Unsupported",
    "INVALID_PARAMETER_VALUE": "InvalidParameterValue",
    "INVALID_QUERY_PARAMETER": "InvalidQueryParameter",
    "QUERY_ERROR": "QueryError",
}
"""The typed (2.6+) error element of each error code (cppagent ``Error::nameForCode``)."""


def typed_error_name(code: str) -> str:
    """The 2.6+ element name of an error code (``OUT_OF_RANGE`` -> ``OutOfRange``)."""
    return _TYPED.get(code, "InternalError")


def _typed_error(error: ErrorInfo, uri: str, request: str) -> str:
    tag = typed_error_name(error.code)
    parts = [f'<{tag} errorCode="{error.code}"><URI>{xml_escape(uri)}</URI>']
    if request:
        parts.append(f"<Request>{request}</Request>")
    parts.append(f"<ErrorMessage>{xml_escape(error.message)}</ErrorMessage>")
    if error.asset_id is not None:
        parts.append(f"<AssetId>{xml_escape(error.asset_id)}</AssetId>")
    if error.parameter is not None:
        parts.append(f'<QueryParameter name="{error.parameter}">')
        if error.value is not None:
            parts.append(f"<Value>{xml_escape(error.value)}</Value>")
        if error.value_type is not None:
            fmt = "uint64" if error.value_type == "unsigned_integer" else "int32"
            parts.append(f"<Type>{error.value_type}</Type><Format>{fmt}</Format>")
        if error.minimum is not None:
            parts.append(f"<Minimum>{error.minimum}</Minimum>")
        if error.maximum is not None:
            parts.append(f"<Maximum>{error.maximum}</Maximum>")
        parts.append("</QueryParameter>")
    parts.append(f"</{tag}>")
    return "".join(parts)


def error_document(
    errors: Sequence[ErrorInfo], info: HeaderInfo, creation_time: str, *, uri: str = "", request: str = ""
) -> str:
    """An MTConnectError document: legacy ``<Error>`` elements below schema 2.6, typed errors from 2.6 on.

    Where the reference agent and the XSDs disagree, this follows the reference agent: below 2.6 it writes
    codes such as ``INVALID_XPATH`` and ``INVALID_PARAMETER_VALUE`` that ``ErrorCodeType`` does not list, and
    from 2.6 on every typed error carries an ``errorCode`` attribute that the 2.6+ XSDs do not declare.
    """
    typed = _version_tuple(info.schema_version) >= (2, 6)
    # The Error header gains deviceModelChangeTime only with the typed errors (the 1.7-2.4 XSDs forbid it).
    header = _header(info, creation_time, buffer=True, model_change=typed)
    if typed:
        body = "".join(_typed_error(e, uri, request) for e in errors)
    else:
        body = "".join(f'<Error errorCode="{e.code}">{xml_escape(e.message)}</Error>' for e in errors)
    return f"{_root('Error', info.schema_version)}{header}<Errors>{body}</Errors></MTConnectError>\n"
